"""Judge models on labelled sets and decide promotions. Pure functions over arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.core.entities import TrainingConfig

EPS = 1e-12


@dataclass(frozen=True)
class Evaluation:
    """A model's scores on one labelled set.

    ``correct`` is a boolean per item (same order as the targets), kept so that regressions on
    individual golden items can be counted.
    """

    n: int
    accuracy: float
    macro_f1: float
    log_loss: float
    correct: npt.NDArray[np.bool_]

    def metric(self, name: str) -> float:
        if name == "macro_f1":
            return self.macro_f1
        return self.accuracy

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": _finite(self.accuracy),
            "macro_f1": _finite(self.macro_f1),
            "log_loss": _finite(self.log_loss),
        }


def _finite(value: float) -> float | None:
    """JSON has no NaN: an empty set's scores are stored as null."""
    return round(value, 6) if np.isfinite(value) else None


def evaluate(probs: npt.NDArray[np.float64], targets: npt.NDArray[np.int64]) -> Evaluation:
    """Score probabilities ``(n, k)`` against target class indices ``(n,)``.

    ``accuracy`` and ``macro_f1`` (over classes present in targets or predictions): higher is
    better. ``log_loss``: lower is better, probabilities clipped at 1e-15.
    """
    n = len(targets)
    if n == 0:
        return Evaluation(0, float("nan"), float("nan"), float("nan"), np.zeros(0, dtype=bool))
    predicted = probs.argmax(axis=1)
    correct = predicted == targets
    f1s = []
    for c in np.union1d(np.unique(targets), np.unique(predicted)):
        tp = float(np.sum((predicted == c) & (targets == c)))
        fp = float(np.sum((predicted == c) & (targets != c)))
        fn = float(np.sum((predicted != c) & (targets == c)))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    picked = np.clip(probs[np.arange(n), targets], 1e-15, 1.0)
    return Evaluation(
        n=n,
        accuracy=float(correct.mean()),
        macro_f1=float(np.mean(f1s)),
        log_loss=float(-np.log(picked).mean()),
        correct=correct,
    )


@dataclass(frozen=True)
class GateResult:
    """The promotion gate's verdict, with every reason in words."""

    promote: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"promote": self.promote, "reasons": list(self.reasons)}


def promotion_gate(
    candidate: Evaluation,
    production: Evaluation | None,
    *,
    candidate_golden: Evaluation | None,
    production_golden: Evaluation | None,
    majority_share: float,
    config: TrainingConfig,
) -> GateResult:
    """Decide whether ``candidate`` replaces ``production``.

    A candidate is promoted when it is better overall on the held-out set (higher
    ``config.metric`` by at least ``config.min_improvement``; an exact tie is broken by lower
    log loss) and it does not regress on the golden set (golden accuracy not below
    production's). With no production model it must beat always predicting the majority class
    (``majority_share``) on the held-out set, when there is one.
    """
    name = config.metric
    reasons: list[str] = []
    if production is None:
        if candidate.n == 0:
            return GateResult(True, ("first model; no held-out labels to judge it yet",))
        if candidate.accuracy <= majority_share:
            return GateResult(
                False,
                (
                    f"held-out accuracy {candidate.accuracy:.4f} does not beat the majority-class "
                    f"baseline {majority_share:.4f}",
                ),
            )
        return GateResult(
            True,
            (
                f"first model; held-out accuracy {candidate.accuracy:.4f} beats the majority-class "
                f"baseline {majority_share:.4f}",
            ),
        )
    if candidate.n == 0:
        return GateResult(False, ("no held-out labels to compare the candidate with production",))
    cand, prod = candidate.metric(name), production.metric(name)
    gain = cand - prod
    tie = abs(gain) <= EPS and config.min_improvement <= 0
    if gain > EPS and gain >= config.min_improvement - EPS:
        better = True
        reasons.append(f"held-out {name} {cand:.4f} vs production {prod:.4f}: better")
    elif tie and candidate.log_loss < production.log_loss:
        better = True
        reasons.append(
            f"held-out {name} {cand:.4f} equals production; log loss {candidate.log_loss:.4f} "
            f"vs {production.log_loss:.4f}: better"
        )
    else:
        better = False
        required = (
            f" by the required {config.min_improvement:.4f}" if config.min_improvement > 0 else ""
        )
        reasons.append(f"held-out {name} {cand:.4f} vs production {prod:.4f}: not better{required}")
    golden_ok = True
    if candidate_golden is not None and production_golden is not None and candidate_golden.n > 0:
        newly_wrong = int(np.sum(production_golden.correct & ~candidate_golden.correct))
        fixed = int(np.sum(~production_golden.correct & candidate_golden.correct))
        golden_ok = candidate_golden.accuracy + EPS >= production_golden.accuracy
        verdict = "no regression" if golden_ok else "regression"
        reasons.append(
            f"golden accuracy {candidate_golden.accuracy:.4f} vs production "
            f"{production_golden.accuracy:.4f} ({fixed} fixed, {newly_wrong} newly wrong): "
            f"{verdict}"
        )
    return GateResult(better and golden_ok, tuple(reasons))
