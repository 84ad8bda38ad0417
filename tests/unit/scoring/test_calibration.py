"""Calibrators on synthetic models whose miscalibration is known, and the measures of it."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.errors import InvalidInput
from loopwise.scoring.calibration import (
    CALIBRATORS,
    Calibrator,
    Identity,
    Isotonic,
    Sigmoid,
    TemperatureScaling,
    calibrator_from_json,
    expected_calibration_error,
    make_calibrator,
    reliability_bins,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
METHODS = ["none", "temperature", "isotonic", "sigmoid"]


def softmax(logits: FloatArray) -> FloatArray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


def overconfident(
    n: int, k: int = 3, *, sharpen: float = 2.0, seed: int = 0
) -> tuple[FloatArray, IntArray]:
    """Labels drawn from ``softmax(z)``; the model reports ``softmax(sharpen * z)``.

    The model is over-confident by exactly a temperature ``sharpen``: dividing its log
    probabilities by ``sharpen`` gives back the true probabilities.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(n, k))
    true = softmax(logits)
    targets = (rng.random(n)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    return softmax(sharpen * logits), np.asarray(np.minimum(targets, k - 1), dtype=np.int64)


def nll(probs: FloatArray, targets: IntArray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(targets)), targets], 1e-12, 1.0)).mean())


class TestExpectedCalibrationError:
    def test_hand_computed(self) -> None:
        probs = np.asarray([[0.95, 0.05], [0.92, 0.08], [0.35, 0.65], [0.55, 0.45]])
        targets = np.asarray([0, 1, 1, 1])
        # bin (0.9, 1.0]: confidences 0.95, 0.92 -> mean 0.935; right, wrong -> accuracy 0.5
        # bin (0.6, 0.7]: confidence 0.65, right -> |1 - 0.65| = 0.35
        # bin (0.5, 0.6]: confidence 0.55, wrong -> |0 - 0.55| = 0.55
        # ECE = (2 * 0.435 + 0.35 + 0.55) / 4 = 1.77 / 4 = 0.4425
        assert expected_calibration_error(probs, targets) == pytest.approx(0.4425)

    def test_fewer_bins_pool_more(self) -> None:
        probs = np.asarray([[0.95, 0.05], [0.92, 0.08], [0.35, 0.65], [0.55, 0.45]])
        targets = np.asarray([0, 1, 1, 1])
        # one bin: mean confidence (0.95 + 0.92 + 0.65 + 0.55) / 4 = 0.7675; accuracy 0.5
        assert expected_calibration_error(probs, targets, bins=1) == pytest.approx(0.2675)

    def test_a_perfectly_calibrated_set_scores_zero(self) -> None:
        # confidence 0.75 in each row, and 3 of 4 right
        probs = np.asarray([[0.75, 0.25]] * 4)
        assert expected_calibration_error(probs, np.asarray([0, 0, 0, 1])) == pytest.approx(0.0)

    def test_empty(self) -> None:
        assert expected_calibration_error(np.zeros((0, 2)), np.zeros(0, dtype=np.int64)) == 0.0


class TestReliabilityBins:
    def test_hand_computed(self) -> None:
        probs = np.asarray([[0.95, 0.05], [0.92, 0.08], [0.35, 0.65], [0.55, 0.45]])
        bins = reliability_bins(probs, np.asarray([0, 1, 1, 1]))
        assert len(bins) == 10
        assert [b["count"] for b in bins] == [0, 0, 0, 0, 0, 1, 1, 0, 0, 2]
        assert bins[9] == pytest.approx(
            {"low": 0.9, "high": 1.0, "count": 2, "confidence": 0.935, "accuracy": 0.5}
        )
        assert bins[6] == pytest.approx(
            {"low": 0.6, "high": 0.7, "count": 1, "confidence": 0.65, "accuracy": 1.0}
        )
        assert bins[0] == {"low": 0.0, "high": 0.1, "count": 0, "confidence": 0.0, "accuracy": 0.0}

    def test_edges_cover_the_unit_interval_and_certainty_lands_in_the_last_bin(self) -> None:
        bins = reliability_bins(np.asarray([[1.0, 0.0, 0.0]]), np.asarray([0]), bins=4)
        assert [(b["low"], b["high"]) for b in bins] == [
            (0.0, 0.25),
            (0.25, 0.5),
            (0.5, 0.75),
            (0.75, 1.0),
        ]
        assert [b["count"] for b in bins] == [0, 0, 0, 1]

    def test_counts_add_up(self) -> None:
        rng = np.random.default_rng(4)
        probs = rng.dirichlet(np.ones(4), size=1000)
        targets = rng.integers(0, 4, size=1000)
        assert sum(b["count"] for b in reliability_bins(probs, targets, bins=15)) == 1000


class TestTemperatureScaling:
    def test_recovers_a_known_temperature(self) -> None:
        probs, targets = overconfident(5000, sharpen=2.0, seed=0)
        fitted = TemperatureScaling().fit(probs, targets)
        assert fitted.temperature == pytest.approx(2.0, rel=0.1)  # measured 1.97

    def test_recovers_an_under_confident_temperature_too(self) -> None:
        probs, targets = overconfident(5000, sharpen=0.5, seed=2)
        fitted = TemperatureScaling().fit(probs, targets)
        assert fitted.temperature == pytest.approx(0.5, rel=0.1)  # measured 0.494

    def test_lowers_nll_and_ece_on_held_out_data(self) -> None:
        probs, targets = overconfident(5000, seed=0)
        test_probs, test_targets = overconfident(5000, seed=1)
        calibrated = TemperatureScaling().fit(probs, targets).transform(test_probs)
        # measured: NLL 0.844 -> 0.717, ECE 0.130 -> 0.008
        assert nll(calibrated, test_targets) < nll(test_probs, test_targets) - 0.05
        assert expected_calibration_error(test_probs, test_targets) > 0.1
        assert expected_calibration_error(calibrated, test_targets) < 0.03

    def test_keeps_every_predicted_class(self) -> None:
        probs, targets = overconfident(2000, k=4, seed=5)
        calibrated = TemperatureScaling().fit(probs, targets).transform(probs)
        assert (calibrated.argmax(axis=1) == probs.argmax(axis=1)).all()

    def test_a_temperature_of_one_changes_nothing(self) -> None:
        probs, _ = overconfident(100, seed=6)
        assert TemperatureScaling(1.0).transform(probs) == pytest.approx(probs, abs=1e-12)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("k", [2, 3])
def test_one_vs_rest_calibrators_lower_ece_of_an_overconfident_model(method: str, k: int) -> None:
    probs, targets = overconfident(5000, k=k, seed=10)
    test_probs, test_targets = overconfident(5000, k=k, seed=11)
    calibrated = make_calibrator(method).fit(probs, targets).transform(test_probs)
    before = expected_calibration_error(test_probs, test_targets)
    after = expected_calibration_error(calibrated, test_targets)
    # measured: k = 2: 0.093 -> 0.009 (isotonic), 0.005 (sigmoid);
    #           k = 3: 0.135 -> 0.015 (isotonic), 0.008 (sigmoid)
    assert before > 0.08
    assert after < before / 3


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [2, 4])
class TestEveryCalibrator:
    def fitted(self, method: str, k: int) -> tuple[Calibrator, FloatArray]:
        probs, targets = overconfident(1000, k=k, seed=k)
        test_probs, _ = overconfident(300, k=k, seed=k + 100)
        return make_calibrator(method).fit(probs, targets), test_probs

    def test_keeps_the_shape_and_rows_summing_to_one(self, method: str, k: int) -> None:
        calibrator, test_probs = self.fitted(method, k)
        out = calibrator.transform(test_probs)
        assert out.shape == (300, k)
        assert out.dtype == np.float64
        assert out.sum(axis=1) == pytest.approx(np.ones(300), abs=1e-9)
        assert out.min() >= 0.0
        assert out.max() <= 1.0

    def test_json_round_trip_gives_identical_outputs(self, method: str, k: int) -> None:
        calibrator, test_probs = self.fitted(method, k)
        data = json.loads(json.dumps(calibrator.to_json()))
        assert data["method"] == method
        restored = calibrator_from_json(data)
        assert type(restored) is type(calibrator)
        assert np.array_equal(restored.transform(test_probs), calibrator.transform(test_probs))

    def test_a_single_class_of_targets_does_not_crash(self, method: str, k: int) -> None:
        probs, _ = overconfident(200, k=k, seed=7)
        calibrator = make_calibrator(method).fit(probs, np.zeros(200, dtype=np.int64))
        out = calibrator.transform(probs)
        assert out.shape == (200, k)
        assert np.isfinite(out).all()
        assert out.sum(axis=1) == pytest.approx(np.ones(200), abs=1e-9)


def test_a_class_never_seen_in_the_targets_is_left_alone() -> None:
    probs, targets = overconfident(2000, k=3, seed=9)
    targets = np.where(targets == 2, 0, targets)  # no item of class 2
    calibrator = Isotonic().fit(probs, targets)
    assert calibrator.columns[2] is None
    assert calibrator.columns[0] is not None
    out = calibrator.transform(probs)
    assert out.sum(axis=1) == pytest.approx(np.ones(2000), abs=1e-9)


def test_two_classes_fit_one_column() -> None:
    probs, targets = overconfident(1000, k=2, seed=12)
    calibrator = Sigmoid().fit(probs, targets)
    assert calibrator.columns[0] is None
    assert calibrator.columns[1] is not None
    out = calibrator.transform(probs)
    assert out[:, 0] == pytest.approx(1.0 - out[:, 1])


class TestRegistry:
    def test_names(self) -> None:
        assert sorted(CALIBRATORS) == sorted(METHODS)
        assert isinstance(make_calibrator("none"), Identity)
        assert isinstance(make_calibrator("temperature"), TemperatureScaling)

    def test_an_unknown_method_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as info:
            make_calibrator("platt")
        assert info.value.field == "calibration"
        assert "unknown calibration 'platt'" in info.value.message
        assert "isotonic" in info.value.message

    def test_an_unknown_stored_method_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as info:
            calibrator_from_json({"method": "platt"})
        assert info.value.field == "calibration"

    @pytest.mark.parametrize("data", [None, {}])
    def test_nothing_stored_is_the_identity(self, data: dict[str, object] | None) -> None:
        assert isinstance(calibrator_from_json(data), Identity)

    def test_temperature_state(self) -> None:
        assert TemperatureScaling(1.7).to_json() == {"method": "temperature", "temperature": 1.7}
        restored = calibrator_from_json({"method": "temperature", "temperature": 1.7})
        assert isinstance(restored, TemperatureScaling)
        assert restored.temperature == 1.7
