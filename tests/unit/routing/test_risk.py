"""Certified thresholds (SGR): hand-checked bounds, refusals, and the guarantee, simulated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import beta as beta_dist

from loopwise.errors import InvalidInput
from loopwise.routing.risk import (
    NEVER,
    Certificate,
    automation_error_curve,
    binomial_upper_bound,
    certify_threshold,
    min_calibration_size,
    sgr_min_size,
)

FloatArray = npt.NDArray[np.float64]


class TestMinCalibrationSize:
    def test_hand_checked(self) -> None:
        # (1 - 0.02)^n <= 0.1  <=>  n >= ln 0.1 / ln 0.98 = -2.302585 / -0.020203 = 113.97
        assert min_calibration_size(0.02, 0.1) == 114
        # ln 0.05 / ln 0.9 = -2.995732 / -0.105361 = 28.43
        assert min_calibration_size(0.1, 0.05) == 29

    def test_is_the_smallest_n_with_no_errors_that_passes(self) -> None:
        for alpha, delta in [(0.02, 0.1), (0.05, 0.05), (0.01, 0.2)]:
            n = min_calibration_size(alpha, delta)
            assert (1 - alpha) ** n <= delta < (1 - alpha) ** (n - 1)

    @pytest.mark.parametrize(("alpha", "delta"), [(0.0, 0.1), (0.1, 1.0), (-0.1, 0.1)])
    def test_refuses_targets_outside_the_open_unit_interval(
        self, alpha: float, delta: float
    ) -> None:
        with pytest.raises(InvalidInput):
            min_calibration_size(alpha, delta)


class TestBinomialUpperBound:
    def test_no_errors_has_a_closed_form(self) -> None:
        # P(0 errors | p) = (1 - p)^n = delta  =>  p = 1 - delta^(1/n)
        # n = 100, delta = 0.1: 1 - 0.1^0.01 = 1 - 0.977237 = 0.022763
        assert binomial_upper_bound(0, 100, 0.1) == pytest.approx(0.0227628, abs=1e-7)
        for n in [1, 10, 1000]:
            assert binomial_upper_bound(0, n, 0.05) == pytest.approx(1 - 0.05 ** (1 / n))

    @pytest.mark.parametrize(
        ("errors", "n", "delta"), [(1, 10, 0.1), (3, 100, 0.05), (50, 1000, 0.01)]
    )
    def test_is_the_clopper_pearson_bound(self, errors: int, n: int, delta: float) -> None:
        expected = beta_dist.ppf(1 - delta, errors + 1, n - errors)
        assert binomial_upper_bound(errors, n, delta) == pytest.approx(expected, rel=1e-12)
        assert binomial_upper_bound(errors, n, delta) > errors / n

    def test_edges(self) -> None:
        assert binomial_upper_bound(0, 0, 0.1) == 1.0
        assert binomial_upper_bound(5, 5, 0.1) == 1.0

    def test_more_confidence_or_more_errors_widen_it(self) -> None:
        assert binomial_upper_bound(2, 100, 0.01) > binomial_upper_bound(2, 100, 0.1)
        assert binomial_upper_bound(3, 100, 0.1) > binomial_upper_bound(2, 100, 0.1)


def perfect(m: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    return np.linspace(0.6, 1.0, m), np.ones(m, dtype=bool)


class TestCertifyThreshold:
    def test_too_few_items_cannot_be_certified(self) -> None:
        conf, correct = perfect(100)
        cert = certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert not cert.certified
        assert cert.threshold == NEVER
        assert (cert.n, cert.needed, cert.selected, cert.automation) == (100, 217, 0, 0.0)
        assert cert.explain() == (
            "cannot certify error <= 2.0% at 90%: 100 verified items, at least 217 needed; "
            "every item is reviewed"
        )
        assert cert.to_json()["threshold"] is None

    def test_a_perfect_model_certifies_the_lowest_threshold(self) -> None:
        conf, correct = perfect(1000)
        cert = certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert cert.certified
        assert cert.threshold == pytest.approx(0.6)
        assert (cert.selected, cert.errors, cert.automation) == (1000, 0, 1.0)
        # Clopper-Pearson with 0 errors of 1000 at 90%: 1 - 0.1^(1/1000) = 0.0023
        assert cert.bound == pytest.approx(1 - 0.1 ** (1 / 1000))
        assert cert.explain().startswith("threshold 0.6000 certified: error <= 2.0% with ")
        assert "0 errors in 1000 of 1000 verified items" in cert.explain()

    @pytest.mark.parametrize("m", [150, 300])
    def test_an_error_free_model_is_certified_or_told_how_many_are_needed(self, m: int) -> None:
        conf, correct = perfect(m)
        cert = certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert cert.certified or cert.needed > m
        assert "errs too often" not in cert.explain()

    def test_a_model_that_errs_often_at_every_confidence_is_not_certified(self) -> None:
        rng = np.random.default_rng(8)
        conf = rng.uniform(0.5, 1.0, size=2000)
        correct = rng.random(2000) < 0.9  # 10% errors whatever the confidence
        cert = certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert not cert.certified
        assert cert.needed <= cert.n
        assert "the model errs too often even when most confident" in cert.explain()

    def test_the_threshold_separates_right_from_wrong(self) -> None:
        # 600 correct items above 0.8, 400 items below with 50% errors
        rng = np.random.default_rng(3)
        conf = np.concatenate([rng.uniform(0.8, 1.0, 600), rng.uniform(0.5, 0.8, 400)])
        correct = np.concatenate([np.ones(600, dtype=bool), rng.random(400) < 0.5])
        cert = certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert cert.certified
        assert cert.threshold >= conf[:600].min() - 0.05
        assert cert.automation >= 0.6
        assert cert.errors / cert.selected <= 0.02
        assert cert.bound <= 0.02
        assert cert.selected == int((conf >= cert.threshold).sum())

    def test_ties_are_selected_together(self) -> None:
        conf = np.full(1000, 0.9)
        cert = certify_threshold(conf, np.ones(1000, dtype=bool), alpha=0.02, delta=0.1)
        assert (cert.threshold, cert.selected) == (0.9, 1000)

    def test_accepts_lists(self) -> None:
        conf, correct = perfect(1000)
        cert = certify_threshold(conf.tolist(), correct.tolist(), alpha=0.02, delta=0.1)
        assert cert.certified

    def test_to_json(self) -> None:
        conf, correct = perfect(1000)
        data = certify_threshold(conf, correct, alpha=0.02, delta=0.1).to_json()
        assert data["threshold"] == pytest.approx(0.6)
        assert data["method"] == "sgr"
        assert (data["n"], data["selected"], data["errors"], data["needed"]) == (1000, 1000, 0, 217)

    @pytest.mark.parametrize(
        ("alpha", "delta", "field"),
        [
            (0.0, 0.1, "alpha"),
            (1.0, 0.1, "alpha"),
            (1.5, 0.1, "alpha"),
            (math.nan, 0.1, "alpha"),
            (0.02, 0.0, "delta"),
            (0.02, 1.0, "delta"),
            (0.02, math.nan, "delta"),
            (0.02, -0.1, "delta"),
        ],
    )
    def test_refuses_targets_outside_the_open_unit_interval(
        self, alpha: float, delta: float, field: str
    ) -> None:
        conf, correct = perfect(1000)
        with pytest.raises(InvalidInput) as info:
            certify_threshold(conf, correct, alpha=alpha, delta=delta)
        assert info.value.field == field
        assert "strictly between 0 and 1" in info.value.message

    @pytest.mark.parametrize(
        ("conf", "correct"),
        [
            (np.ones(10), np.ones(9, dtype=bool)),
            (np.ones((10, 2)), np.ones((10, 2), dtype=bool)),
            (np.float64(0.9), True),
        ],
    )
    def test_refuses_mismatched_shapes(self, conf: Any, correct: Any) -> None:
        with pytest.raises(InvalidInput) as info:
            certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert info.value.field == "confidence"

    def test_refuses_nan_confidence(self) -> None:
        conf, correct = perfect(1000)
        conf[10] = np.nan
        with pytest.raises(InvalidInput) as info:
            certify_threshold(conf, correct, alpha=0.02, delta=0.1)
        assert info.value.field == "confidence"
        assert "NaN" in info.value.message


class TestTheGuarantee:
    """Confidence ``c = 0.5 + 0.5 * Beta(6, 1)`` and ``P(correct | c) = c`` (a calibrated model).

    The error rate among items at or above a threshold ``t`` is ``E[1 - c | c >= t]``; it is
    measured on a large test draw (2,000,000 items, using each item's expected error ``1 - c``
    to spare the Bernoulli noise). With alpha = 5% the best threshold (0.87) automates ~84%.
    """

    ALPHA, DELTA, M, RUNS = 0.05, 0.1, 1000, 300

    @staticmethod
    def draw(rng: np.random.Generator, size: int) -> FloatArray:
        return np.asarray(0.5 + 0.5 * rng.beta(6.0, 1.0, size=size), dtype=np.float64)

    def test_auto_decided_error_exceeds_alpha_at_most_delta_of_the_time(self) -> None:
        rng = np.random.default_rng(20240611)
        test = np.sort(self.draw(rng, 2_000_000))
        tail_error = np.cumsum((1.0 - test)[::-1])[::-1]  # sum of 1 - c over test[i:]

        def realised(threshold: float) -> tuple[float, float]:
            """Error rate and share auto-decided on the test draw at ``threshold``."""
            i = int(np.searchsorted(test, threshold, side="left"))
            kept = len(test) - i
            return (float(tail_error[i]) / kept if kept else 0.0), kept / len(test)

        violations = naive_violations = 0
        automation = []
        for _ in range(self.RUNS):
            conf = self.draw(rng, self.M)
            correct = rng.random(self.M) < conf
            cert = certify_threshold(conf, correct, alpha=self.ALPHA, delta=self.DELTA)
            error, share = realised(cert.threshold) if cert.certified else (0.0, 0.0)
            violations += error > self.ALPHA
            automation.append(share)
            # For contrast: the lowest threshold whose calibration error is <= alpha, no bound.
            order = np.argsort(-conf)
            running = np.cumsum(~correct[order]) / np.arange(1, self.M + 1)
            naive = conf[order][np.nonzero(running <= self.ALPHA)[0].max()]
            naive_violations += realised(float(naive))[0] > self.ALPHA

        # Binomial slack over 300 runs: 2.33 sd of a rate delta = 2.33 * sqrt(0.09 / 300) = 0.04
        assert violations / self.RUNS <= self.DELTA + 0.04  # measured 0.007 (2 of 300)
        # Substantial automation: measured mean 0.53 (the oracle threshold gives 0.84); SGR's
        # binary search starts at the median and certifies nothing in 20 of the 300 runs
        assert float(np.mean(automation)) > 0.4
        assert float(np.median(automation)) > 0.45  # measured 0.59
        # The simulation can see a violation: the unbounded rule misses alpha about half the time
        assert naive_violations / self.RUNS > 0.3  # measured 0.53


class TestAutomationErrorCurve:
    def test_hand_checked(self) -> None:
        conf = [0.95, 0.9, 0.8, 0.6]
        correct = [True, False, True, True]
        curve = automation_error_curve(conf, correct, [0.5, 0.85, 0.9, 0.99])
        assert curve == [
            {"threshold": 0.5, "automation": 1.0, "error": 0.25},
            {"threshold": 0.85, "automation": 0.5, "error": 0.5},
            {"threshold": 0.9, "automation": 0.5, "error": 0.5},
            {"threshold": 0.99, "automation": 0.0, "error": 0.0},
        ]

    def test_empty(self) -> None:
        assert automation_error_curve([], [], [0.5]) == [
            {"threshold": 0.5, "automation": 0.0, "error": 0.0}
        ]


def test_a_certificate_built_by_hand_explains_itself() -> None:
    cert = Certificate(0.02, 0.1, 0.8123, 0.0191, 1000, 600, 5, 0.6, 114)
    assert cert.certified
    assert cert.explain() == (
        "threshold 0.8123 certified: error <= 2.0% with probability >= 90% "
        "(5 errors in 600 of 1000 verified items; upper bound 1.91%)"
    )


def test_a_small_error_free_set_is_certified_from_the_first_passable_count() -> None:
    """359 verified items (a digits split): the search starts where an error-free set can pass
    at delta / ceil(log2 359) = 0.1 / 9, i.e. ceil(ln(0.0111) / ln(0.98)) = 223 items, so an
    error-free model is certified over every item rather than refused."""
    conf = np.linspace(0.6, 1.0, 359)
    cert = certify_threshold(conf, np.ones(359, dtype=bool), alpha=0.02, delta=0.1)
    assert cert.certified
    assert (cert.selected, cert.errors, cert.automation) == (359, 0, 1.0)
    assert sgr_min_size(0.02, 0.1) == 217
