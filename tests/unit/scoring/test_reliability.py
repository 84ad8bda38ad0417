"""Reliability bins from confidences and outcomes, and the expected calibration error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopwise.errors import InvalidInput
from loopwise.scoring.calibration import expected_calibration_error, reliability_bins
from loopwise.scoring.reliability import calibration_bins


def test_bins_by_hand() -> None:
    bins = calibration_bins([0.05, 0.55, 0.52, 0.65, 0.95, 0.93], [1, 1, 1, 0, 1, 0], n_bins=10)

    assert bins.edges == pytest.approx(np.linspace(0, 1, 11))
    assert bins.count.tolist() == [1, 0, 0, 0, 0, 2, 1, 0, 0, 2]
    filled = bins.count > 0
    assert bins.confidence[filled] == pytest.approx([0.05, 0.535, 0.65, 0.94])
    assert bins.accuracy[filled] == pytest.approx([1.0, 1.0, 0.0, 0.5])
    assert np.isnan(bins.confidence[~filled]).all()
    assert np.isnan(bins.accuracy[~filled]).all()
    assert bins.total == 6
    assert bins.ece == pytest.approx((0.95 + 2 * 0.465 + 0.65 + 2 * 0.44) / 6)


def test_each_bin_is_closed_on_the_right() -> None:
    bins = calibration_bins([0.0, 0.5, 0.5000001, 1.0], [True, True, False, True], n_bins=2)

    assert bins.count.tolist() == [2, 2]
    assert bins.accuracy.tolist() == [1.0, 0.5]


def test_perfect_calibration_has_no_error_and_over_confidence_shows() -> None:
    assert calibration_bins([0.75] * 4, [1, 1, 1, 0]).ece == pytest.approx(0.0)
    sure_but_wrong = calibration_bins([0.99, 0.99], [0, 0])
    assert sure_but_wrong.ece == pytest.approx(0.99)
    assert sure_but_wrong.accuracy[9] < sure_but_wrong.confidence[9]


def test_nothing_to_bin() -> None:
    bins = calibration_bins([], [], n_bins=5)

    assert bins.count.tolist() == [0] * 5
    assert bins.total == 0
    assert bins.ece is None


def test_agrees_with_the_calibration_report() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=500)
    targets = rng.integers(0, 3, size=500)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets

    bins = calibration_bins(confidence, correct, n_bins=10)

    assert bins.ece == pytest.approx(expected_calibration_error(probs, targets, bins=10))
    report = reliability_bins(probs, targets, bins=10)
    assert bins.count.tolist() == [b["count"] for b in report]


@pytest.mark.parametrize(
    ("confidence", "correct", "n_bins", "field"),
    [
        ([[0.5]], [[1]], 10, "confidence"),
        ([1.2], [1], 10, "confidence"),
        ([-0.1], [1], 10, "confidence"),
        ([float("nan")], [1], 10, "confidence"),
        (["high"], [1], 10, "confidence"),
        ([0.5, 0.6], [1], 10, "correct"),
        ([0.5], [2], 10, "correct"),
        ([0.5], [1], 0, "n_bins"),
        ([0.5], [1], True, "n_bins"),
    ],
)
def test_refuses_bad_input(confidence: Any, correct: Any, n_bins: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        calibration_bins(confidence, correct, n_bins)
    assert info.value.field == field
