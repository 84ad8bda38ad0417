"""Route a batch of predictions to auto-decision, human review or expert review.

Rules work on whole arrays: each raises the tier of the rows it matches, may make their priority
more urgent, and sets its reason bit. Reason texts are rendered only for the rows that are
written, so routing a large batch stays a handful of vectorised operations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from loopwise.core.entities import RoutingConfig
from loopwise.core.enums import Priority, Route
from loopwise.scoring import confidence as confidence_of
from loopwise.scoring import entropy

TIER_ROUTES = (Route.AUTO, Route.HUMAN, Route.EXPERT)


@dataclass(frozen=True)
class RoutingBatch:
    """What the rules see: the probabilities (aligned with ``labels``) of ``n`` predictions.

    ``probabilities`` is ``None`` when the project has no production model yet.
    """

    labels: tuple[str, ...]
    probabilities: npt.NDArray[np.float64] | None
    n: int

    @cached_property
    def confidence(self) -> npt.NDArray[np.float64]:
        """Top-class probability per row (zeros without a model); computed once per batch."""
        if self.probabilities is None:
            return np.zeros(self.n)
        return confidence_of(self.probabilities)


@dataclass
class Votes:
    """Mutable per-row state the rules write into (tier 0 auto, 1 human, 2 expert)."""

    tier: npt.NDArray[np.int8]
    priority: npt.NDArray[np.int8]
    reason_bits: npt.NDArray[np.uint32]

    @classmethod
    def empty(cls, n: int) -> Votes:
        return cls(
            tier=np.zeros(n, dtype=np.int8),
            priority=np.full(n, int(Priority.NORMAL), dtype=np.int8),
            reason_bits=np.zeros(n, dtype=np.uint32),
        )


class Rule(ABC):
    """One routing condition. Subclasses set ``name`` and implement ``apply`` and ``describe``."""

    name: str = "rule"

    @abstractmethod
    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        """Raise ``votes.tier`` (never lower it) for matching rows and set ``bit`` on them."""

    @abstractmethod
    def describe(self, batch: RoutingBatch, row: int) -> str:
        """Say in words why this rule matched ``row``."""


class NoModelRule(Rule):
    """Without a production model nothing can be decided automatically."""

    name = "no_model"

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None:
            np.maximum(votes.tier, 1, out=votes.tier)
            votes.reason_bits |= np.uint32(1 << bit)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        return "no production model yet"


@dataclass
class ConfidenceThresholdRule(Rule):
    """Below ``auto_threshold`` to people; below ``expert_threshold`` to experts.

    A threshold of 1.0 (or more) sends every prediction to people, even one of confidence 1.0.
    """

    auto_threshold: float
    expert_threshold: float | None = None
    name: str = field(default="confidence", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None:
            return
        conf = batch.confidence
        low = (
            np.ones(batch.n, dtype=bool)
            if self.auto_threshold >= 1.0
            else conf < self.auto_threshold
        )
        votes.tier[low] = np.maximum(votes.tier[low], 1)
        if self.expert_threshold is not None:
            very_low = conf < self.expert_threshold
            votes.tier[very_low] = 2
            low |= very_low
        votes.reason_bits[low] |= np.uint32(1 << bit)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        conf = float(batch.confidence[row])
        if self.expert_threshold is not None and conf < self.expert_threshold:
            return f"confidence {conf:.3f} below expert threshold {self.expert_threshold:.3f}"
        if self.auto_threshold >= 1.0:
            return f"threshold {self.auto_threshold:.3f}: every prediction is reviewed"
        return f"confidence {conf:.3f} below threshold {self.auto_threshold:.3f}"


@dataclass(frozen=True)
class RoutingOutcome:
    """The routing of ``n`` predictions: arrays plus a way to read each row's reasons."""

    routes: tuple[Route, ...]
    priority: npt.NDArray[np.int8]
    priority_score: npt.NDArray[np.float64]
    reason_bits: npt.NDArray[np.uint32]
    policy: RoutingPolicy
    batch: RoutingBatch

    def reasons(self, row: int) -> tuple[str, ...]:
        """Every reason behind row ``row``'s route, in rule order."""
        bits = int(self.reason_bits[row])
        found = [
            rule.describe(self.batch, row)
            for i, rule in enumerate(self.policy.rules)
            if bits & (1 << i)
        ]
        if not found and self.routes[row] is Route.AUTO:
            conf = float(self.batch.confidence[row])
            found.append(
                f"confidence {conf:.3f} at or above threshold {self.policy.auto_threshold:.3f}"
            )
        return tuple(found)


@dataclass
class RoutingPolicy:
    """An ordered list of rules and the version of the configuration they came from."""

    rules: Sequence[Rule]
    auto_threshold: float
    version: int = 1

    @classmethod
    def from_config(cls, config: RoutingConfig) -> RoutingPolicy:
        return cls(
            rules=[
                NoModelRule(),
                ConfidenceThresholdRule(config.auto_threshold, config.expert_threshold),
            ],
            auto_threshold=config.auto_threshold,
            version=config.version,
        )

    def route(self, batch: RoutingBatch) -> RoutingOutcome:
        """Route every row of ``batch``; the priority score is the normalised entropy."""
        if len(self.rules) > 32:
            raise ValueError("a routing policy holds at most 32 rules")
        votes = Votes.empty(batch.n)
        for bit, rule in enumerate(self.rules):
            rule.apply(batch, votes, bit)
        score = np.ones(batch.n) if batch.probabilities is None else entropy(batch.probabilities)
        routes = tuple(TIER_ROUTES[t] for t in votes.tier.tolist())
        return RoutingOutcome(
            routes=routes,
            priority=votes.priority,
            priority_score=score,
            reason_bits=votes.reason_bits,
            policy=self,
            batch=batch,
        )
