"""Reviewer quality from gold (honeypot) answers: accuracy with a Wilson score interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a proportion ``correct / n``.

    Better behaved than the normal approximation near 0 and 1 and for small ``n`` (Wilson,
    1927; Brown, Cai and DasGupta, 2001). With no answers the interval is ``(0, 1)``.
    """
    if n < 0 or not 0 <= correct <= max(n, 0):
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class GoldScore:
    """A reviewer's record on gold items. ``below_floor``: the whole interval is under it."""

    answers: int
    correct: int
    accuracy: float | None
    low: float
    high: float
    below_floor: bool


def gold_score(correct: int, answers: int, *, floor: float, min_answers: int) -> GoldScore:
    """Score a reviewer; flag them only on evidence (``min_answers`` and the upper bound)."""
    low, high = wilson_interval(correct, answers)
    return GoldScore(
        answers=answers,
        correct=correct,
        accuracy=correct / answers if answers else None,
        low=low,
        high=high,
        below_floor=answers >= min_answers and high < floor,
    )
