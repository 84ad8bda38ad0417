"""Compile a project's :class:`RoutingConfig` into rules and route batches of predictions.

Rules work on whole arrays (see :mod:`loopwise.routing.rules`); reason texts are rendered only
for the rows that are written, so routing a large batch stays a handful of vectorised steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from loopwise.core.enums import Route
from loopwise.core.policy import RoutingConfig
from loopwise.routing.risk import Certificate
from loopwise.routing.rules import (
    PRIORITY,
    TIER,
    AlwaysReviewRule,
    CertifiedThresholdRule,
    ClassThresholdRule,
    ConfidenceThresholdRule,
    ExpertThresholdRule,
    FieldRule,
    NoModelRule,
    OODRule,
    QASampleRule,
    RoutingBatch,
    Rule,
    Votes,
)
from loopwise.scoring import entropy

TIER_ROUTES = (Route.AUTO, Route.HUMAN, Route.EXPERT)
MAX_RULES = 32


@dataclass(frozen=True)
class RoutingOutcome:
    """The routing of ``n`` predictions: arrays, plus each row's reasons and rule names."""

    tier: npt.NDArray[np.int8]
    priority: npt.NDArray[np.int8]
    priority_score: npt.NDArray[np.float64]
    reason_bits: npt.NDArray[np.uint32]
    policy: RoutingPolicy
    batch: RoutingBatch

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        """Each row's route; built once (callers index it row by row)."""
        return tuple(TIER_ROUTES[t] for t in self.tier.tolist())

    def route(self, row: int) -> Route:
        return TIER_ROUTES[int(self.tier[row])]

    def rules(self, row: int) -> tuple[str, ...]:
        """The names of the rules that fired on row ``row``, in rule order."""
        return self.rules_of(int(self.reason_bits[row]))

    def rules_of(self, bits: int) -> tuple[str, ...]:
        """The names of the rules whose reason bits are set in ``bits``, in rule order."""
        return tuple(rule.name for i, rule in enumerate(self.policy.rules) if bits >> i & 1)

    def reasons(self, row: int) -> tuple[str, ...]:
        """Every reason behind row ``row``'s route, in rule order."""
        bits = int(self.reason_bits[row])
        found = [
            rule.describe(self.batch, row)
            for i, rule in enumerate(self.policy.rules)
            if bits & (1 << i)
        ]
        if not found and self.tier[row] == 0:
            found.append(self.policy.auto_reason(self.batch, row))
        return tuple(found)

    def all_rules(self) -> list[tuple[str, ...]]:
        """:meth:`rules` of every row (each combination of rules is spelled out once)."""
        names: dict[int, tuple[str, ...]] = {}
        out = []
        for bits in self.reason_bits.tolist():
            found = names.get(bits)
            if found is None:
                found = names[bits] = self.rules_of(bits)
            out.append(found)
        return out

    def all_reasons(self) -> list[tuple[str, ...]]:
        """:meth:`reasons` of every row, the same texts; only the rules that fired are asked."""
        rules = self.policy.rules
        fired: dict[int, list[Rule]] = {}
        batch, auto_reason = self.batch, self.policy.auto_reason
        out = []
        for row, (bits, tier) in enumerate(
            zip(self.reason_bits.tolist(), self.tier.tolist(), strict=True)
        ):
            which = fired.get(bits)
            if which is None:
                which = fired[bits] = [rule for i, rule in enumerate(rules) if bits >> i & 1]
            if which:
                out.append(tuple([rule.describe(batch, row) for rule in which]))
            elif tier == 0:
                out.append((auto_reason(batch, row),))
            else:
                out.append(())
        return out


@dataclass
class RoutingPolicy:
    """An ordered list of rules and the version of the configuration they came from."""

    rules: Sequence[Rule]
    version: int = 1
    auto_threshold: float = 0.9
    certified: Certificate | None = None

    @classmethod
    def from_config(
        cls,
        config: RoutingConfig,
        labels: Sequence[str] = (),
        *,
        certificate: Certificate | None = None,
    ) -> RoutingPolicy:
        """Rules in order: no model; confidence (certified when ``config.target_error`` is set
        and a certificate is given; with a target but no certificate yet, everything is
        reviewed); expert threshold; per-class thresholds; always-review classes;
        out-of-distribution; business rules; QA sampling last."""
        rules: list[Rule] = [NoModelRule()]
        if config.target_error is not None:
            if certificate is None:
                rules.append(
                    CertifiedThresholdRule(
                        float("inf"),
                        "no certified threshold yet: verify items and recalibrate; "
                        "every item is reviewed",
                    )
                )
            else:
                rules.append(CertifiedThresholdRule(certificate.threshold, certificate.explain()))
        else:
            rules.append(ConfidenceThresholdRule(config.auto_threshold))
        if config.expert_threshold is not None:
            rules.append(ExpertThresholdRule(config.expert_threshold))
        if config.class_thresholds:
            rules.append(ClassThresholdRule(dict(config.class_thresholds)))
        if config.always_review:
            rules.append(AlwaysReviewRule(tuple(config.always_review)))
        if config.ood is not None:
            rules.append(OODRule(TIER[config.ood.route], PRIORITY[config.ood.priority]))
        rules.extend(FieldRule(spec) for spec in config.rules)
        if config.qa_sample > 0:
            rules.append(QASampleRule(config.qa_sample))
        if len(rules) > MAX_RULES:
            raise ValueError(f"a routing policy holds at most {MAX_RULES} rules")
        return cls(
            rules=rules,
            version=config.version,
            auto_threshold=config.auto_threshold,
            certified=certificate if config.target_error is not None else None,
        )

    def auto_reason(self, batch: RoutingBatch, row: int) -> str:
        if self.certified is not None:
            conf = float(batch.model_confidence[row])
            return (
                f"model confidence {conf:.4f} at or above certified threshold "
                f"{self.certified.threshold:.4f} (error <= {self.certified.alpha:.1%} at "
                f"{1 - self.certified.delta:.0%} confidence)"
            )
        conf = float(batch.confidence[row])
        return f"confidence {conf:.3f} at or above threshold {self.auto_threshold:.3f}"

    def route(self, batch: RoutingBatch) -> RoutingOutcome:
        """Route every row of ``batch``; the priority score is the normalised entropy."""
        if len(self.rules) > MAX_RULES:
            raise ValueError(f"a routing policy holds at most {MAX_RULES} rules")
        votes = Votes.empty(batch.n)
        for bit, rule in enumerate(self.rules):
            rule.apply(batch, votes, bit)
        score = np.ones(batch.n) if batch.probabilities is None else entropy(batch.probabilities)
        return RoutingOutcome(
            tier=votes.tier,
            priority=votes.priority,
            priority_score=score,
            reason_bits=votes.reason_bits,
            policy=self,
            batch=batch,
        )
