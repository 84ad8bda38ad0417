"""Reviewer quality from gold answers (``loopwise.queue.quality``): the Wilson interval and
the evidence needed to flag someone."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from loopwise.queue import gold_score, wilson_interval


def wilson_by_hand(k: int, n: int, z: float) -> tuple[float, float]:
    """The textbook formula, written out independently of the code under test."""
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_eight_of_ten_matches_the_published_interval() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(8, 10), (1, 3), (0, 10), (10, 10), (37, 50), (2, 200)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_agrees_with_scipy(k: int, n: int, confidence: float) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(k, n, confidence) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_agrees_with_the_formula_at_95_percent() -> None:
    z = 1.959963984540054
    for k, n in [(3, 7), (50, 60), (1, 1)]:
        assert wilson_interval(k, n) == pytest.approx(wilson_by_hand(k, n, z), abs=1e-9)


def test_the_edges_stay_inside_zero_and_one() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4)
    assert high == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_more_confidence_and_fewer_answers_widen_the_interval() -> None:
    narrow = wilson_interval(8, 10, 0.9)
    wide = wilson_interval(8, 10, 0.99)
    assert wide[0] < narrow[0]
    assert wide[1] > narrow[1]
    small = wilson_interval(4, 5)
    large = wilson_interval(80, 100)
    assert small[1] - small[0] > large[1] - large[0]


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_impossible_counts_are_refused(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="correct"):
        wilson_interval(k, n)


def test_gold_score_flags_only_with_enough_answers() -> None:
    few = gold_score(0, 9, floor=0.8, min_answers=10)
    assert (few.answers, few.correct, few.accuracy, few.below_floor) == (9, 0, 0.0, False)
    enough = gold_score(0, 10, floor=0.8, min_answers=10)
    assert enough.below_floor is True
    assert (enough.low, enough.high) == pytest.approx(wilson_interval(0, 10))


def test_gold_score_flags_only_when_the_whole_interval_is_below_the_floor() -> None:
    # 6/10: accuracy 0.6 is below 0.8, but the upper bound (0.83) is not: no flag yet.
    unsure = gold_score(6, 10, floor=0.8, min_answers=5)
    assert unsure.accuracy == pytest.approx(0.6)
    assert unsure.high > 0.8
    assert unsure.below_floor is False
    # 12/20: the upper bound (0.78) is below 0.8: flagged.
    sure = gold_score(12, 20, floor=0.8, min_answers=5)
    assert sure.high < 0.8
    assert sure.below_floor is True
    assert gold_score(20, 20, floor=0.8, min_answers=5).below_floor is False


def test_gold_score_with_no_answers() -> None:
    none = gold_score(0, 0, floor=0.8, min_answers=1)
    assert (none.accuracy, none.low, none.high, none.below_floor) == (None, 0.0, 1.0, False)
