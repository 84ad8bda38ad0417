"""Certify an auto-decision threshold: at most ``alpha`` errors among auto-decided items, with
probability at least ``1 - delta`` over the draw of the human-verified calibration set.

Method: selection with guaranteed risk (SGR), Y. Geifman and R. El-Yaniv, "Selective
Classification for Deep Neural Networks", NeurIPS 2017. Candidate thresholds are the
calibration confidences; a binary search visits at most ``z = ceil(log2 m)`` of them, and each
is accepted when the exact binomial tail (Clopper-Pearson) rejects "error rate above alpha" at
level ``delta / z`` (Bonferroni over the visited thresholds). The lowest accepted threshold is
returned. The search skips thresholds that keep fewer items than could pass the test even with
no error (a bound fixed by m, alpha and delta alone), so small verified sets are not wasted on
probes that cannot succeed. On the bundled data it automates more than a Bonferroni correction
over a fixed grid of 101 thresholds (see ``docs/benchmarks.md``), because it pays for ~11 tests,
not 101.

Written here rather than taken from a library: no maintained package implements it, and it is
thirty lines over ``scipy.stats.binom``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from loopwise.errors import InvalidInput

NEVER = math.inf
"""The threshold that auto-decides nothing (every confidence is below it)."""


def check_risk_target(alpha: float, delta: float) -> None:
    """Refuse ``alpha`` or ``delta`` outside the open interval (0, 1)."""
    for name, value in (("alpha", alpha), ("delta", delta)):
        if not (isinstance(value, int | float) and 0.0 < value < 1.0):
            raise InvalidInput(f"must be strictly between 0 and 1, got {value!r}", field=name)


def min_calibration_size(alpha: float, delta: float) -> int:
    """Fewest verified items that can certify ``alpha`` at all: all of them auto-decided and
    none wrong, ``(1 - alpha)^n <= delta``."""
    check_risk_target(alpha, delta)
    return math.ceil(math.log(delta) / math.log1p(-alpha))


def _fewest_passing(alpha: float, level: float) -> int:
    """Fewest auto-decided items that pass the binomial test at ``level`` with no error."""
    return math.ceil(math.log(level) / math.log1p(-alpha))


def sgr_min_size(alpha: float, delta: float) -> int:
    """Fewest verified items with which :func:`certify_threshold` can certify anything: all of
    them error-free at the per-test level ``delta / ceil(log2 m)``."""
    m = min_calibration_size(alpha, delta)
    while m < _fewest_passing(alpha, delta / max(1, math.ceil(math.log2(m)))):
        m += 1
    return m


def binomial_upper_bound(errors: int, n: int, delta: float) -> float:
    """Clopper-Pearson upper confidence bound (level ``1 - delta``) on an error rate seen as
    ``errors`` out of ``n``. Range [0, 1]; 1.0 when ``n`` is 0."""
    if n == 0:
        return 1.0
    if errors >= n:
        return 1.0
    return float(beta_dist.ppf(1.0 - delta, errors + 1, n - errors))


@dataclass(frozen=True)
class Certificate:
    """The outcome of certifying a threshold.

    ``threshold`` is ``NEVER`` (``inf``) when the target cannot be certified: then everything is
    reviewed, and ``needed`` says how many verified items would be required at the least.
    ``bound`` is the Clopper-Pearson upper bound (at ``1 - delta``) on the error rate of the
    calibration items at or above the threshold; ``automation`` is their share.
    """

    alpha: float
    delta: float
    threshold: float
    bound: float
    n: int
    selected: int
    errors: int
    automation: float
    needed: int
    method: str = "sgr"

    @property
    def certified(self) -> bool:
        return math.isfinite(self.threshold)

    def explain(self) -> str:
        if self.certified:
            return (
                f"threshold {self.threshold:.4f} certified: error <= {self.alpha:.1%} with "
                f"probability >= {1 - self.delta:.0%} ({self.errors} errors in {self.selected} "
                f"of {self.n} verified items; upper bound {self.bound:.2%})"
            )
        if self.n < self.needed:
            return (
                f"cannot certify error <= {self.alpha:.1%} at {1 - self.delta:.0%}: "
                f"{self.n} verified items, at least {self.needed} needed; every item is reviewed"
            )
        return (
            f"cannot certify error <= {self.alpha:.1%} at {1 - self.delta:.0%} with {self.n} "
            "verified items: among the most confident predictions errors are too frequent to "
            "bound below the target with this many items (the model errs too often even when "
            "most confident, or more verified items are needed); every item is reviewed"
        )

    def to_json(self) -> dict[str, float | int | str | None]:
        return {
            "alpha": self.alpha,
            "delta": self.delta,
            "threshold": self.threshold if self.certified else None,
            "bound": self.bound,
            "n": self.n,
            "selected": self.selected,
            "errors": self.errors,
            "automation": self.automation,
            "needed": self.needed,
            "method": self.method,
        }


def certify_threshold(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, *, alpha: float, delta: float
) -> Certificate:
    """Choose the lowest confidence threshold whose auto-decision error is certified <= ``alpha``.

    Parameters
    ----------
    confidence:
        Shape ``(m,)``: the score routing thresholds (higher = more confident), for human-verified
        items the model did not train on.
    correct:
        Shape ``(m,)``: whether the model's prediction matched the verified label.
    alpha, delta:
        Target error rate among auto-decided items, and the allowed probability of missing it.
    """
    check_risk_target(alpha, delta)
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if conf.shape != ok.shape or conf.ndim != 1:
        raise InvalidInput(
            "confidence and correct must be 1-D arrays of one length", field="confidence"
        )
    if np.isnan(conf).any():
        raise InvalidInput("contains NaN", field="confidence")
    m = len(conf)
    needed = sgr_min_size(alpha, delta)
    none = Certificate(alpha, delta, NEVER, 1.0, m, 0, 0, 0.0, needed)
    if m < needed:
        return none
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    wrong_prefix = np.cumsum(~ok[order])  # errors among the top-i items, i = index + 1
    z = max(1, math.ceil(math.log2(m)))
    level = delta / z
    best: int | None = None
    # Index into sorted_conf (descending): threshold = sorted_conf[idx]. Thresholds keeping fewer
    # items than could pass even error-free are skipped: a bound fixed before looking at the
    # labels, so the search still makes at most z tests and the union bound holds.
    lo, hi = _fewest_passing(alpha, level) - 1, m - 1
    for _ in range(z):
        if lo > hi:
            break
        mid = (lo + hi + 1) // 2
        lam = sorted_conf[mid]
        selected = int(np.searchsorted(-sorted_conf, -lam, side="right"))  # ties included
        errors = int(wrong_prefix[selected - 1])
        if binom.cdf(errors, selected, alpha) <= level:
            best = mid
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:
        return none
    lam = float(sorted_conf[best])
    selected = int(np.searchsorted(-sorted_conf, -lam, side="right"))
    errors = int(wrong_prefix[selected - 1])
    return Certificate(
        alpha=alpha,
        delta=delta,
        threshold=lam,
        bound=binomial_upper_bound(errors, selected, delta),
        n=m,
        selected=selected,
        errors=errors,
        automation=selected / m,
        needed=needed,
    )


def automation_error_curve(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, thresholds: npt.ArrayLike
) -> list[dict[str, float]]:
    """For each threshold: the share auto-decided and their error rate (0 when none)."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    out = []
    for lam in np.asarray(thresholds, dtype=np.float64):
        sel = conf >= lam
        n = int(sel.sum())
        out.append(
            {
                "threshold": float(lam),
                "automation": n / len(conf) if len(conf) else 0.0,
                "error": float((~ok[sel]).mean()) if n else 0.0,
            }
        )
    return out
