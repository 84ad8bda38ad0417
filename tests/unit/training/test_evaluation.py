"""Scores on labelled sets, worked out by hand, and the promotion gate's decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loopwise.core.entities import TrainingConfig
from loopwise.training import Evaluation, GateResult, evaluate, promotion_gate

# Five items, three classes. Predicted (argmax) = [0, 0, 1, 2, 0]; targets = [0, 1, 1, 2, 2].
#   accuracy 3/5 = 0.6
#   F1 class 0: tp 1, fp 2, fn 0 -> 2/(2+2+0) = 1/2
#   F1 class 1: tp 1, fp 0, fn 1 -> 2/(2+0+1) = 2/3
#   F1 class 2: tp 1, fp 0, fn 1 -> 2/3;   macro F1 = (1/2 + 2/3 + 2/3) / 3 = 11/18
#   log loss -(ln 0.7 + ln 0.3 + ln 0.8 + ln 0.6 + ln 0.25) / 5 = -ln(0.0252) / 5 = 0.7361823
HAND_PROBS = np.asarray(
    [
        [0.7, 0.2, 0.1],
        [0.6, 0.3, 0.1],
        [0.1, 0.8, 0.1],
        [0.2, 0.2, 0.6],
        [0.5, 0.25, 0.25],
    ]
)
HAND_TARGETS = np.asarray([0, 1, 1, 2, 2], dtype=np.int64)
EMPTY = Evaluation(0, math.nan, math.nan, math.nan, np.zeros(0, dtype=bool))


def scores(
    accuracy: float,
    *,
    macro_f1: float | None = None,
    log_loss: float = 0.5,
    n: int = 10,
) -> Evaluation:
    """An evaluation on a held-out set of ``n`` items, built from its summary numbers."""
    correct = np.arange(n) < round(accuracy * n)
    return Evaluation(
        n=n,
        accuracy=accuracy,
        macro_f1=accuracy if macro_f1 is None else macro_f1,
        log_loss=log_loss,
        correct=correct,
    )


def golden(*correct: bool) -> Evaluation:
    flags = np.asarray(correct, dtype=bool)
    return Evaluation(len(flags), float(flags.mean()), float(flags.mean()), 0.5, flags)


def gate(
    candidate: Evaluation,
    production: Evaluation | None,
    *,
    candidate_golden: Evaluation | None = None,
    production_golden: Evaluation | None = None,
    majority_share: float = 0.5,
    metric: str = "accuracy",
    min_improvement: float = 0.0,
) -> GateResult:
    return promotion_gate(
        candidate,
        production,
        candidate_golden=candidate_golden,
        production_golden=production_golden,
        majority_share=majority_share,
        config=TrainingConfig(metric=metric, min_improvement=min_improvement),
    )


class TestEvaluate:
    def test_hand_computed_scores(self) -> None:
        result = evaluate(HAND_PROBS, HAND_TARGETS)
        assert result.n == 5
        assert result.accuracy == pytest.approx(0.6)
        assert result.macro_f1 == pytest.approx(11 / 18)
        assert result.log_loss == pytest.approx(0.7361823, abs=1e-7)
        assert result.correct.tolist() == [True, False, True, True, False]

    def test_macro_f1_skips_classes_absent_from_targets_and_predictions(self) -> None:
        # Class 2 is never the target nor the prediction: F1 over classes 0 and 1 only.
        # Class 0: tp 1, fp 1, fn 0 -> 2/3; class 1: tp 0 -> 0; macro F1 = 1/3.
        probs = np.asarray([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1]])
        result = evaluate(probs, np.asarray([0, 1], dtype=np.int64))
        assert result.accuracy == pytest.approx(0.5)
        assert result.macro_f1 == pytest.approx(1 / 3)

    def test_perfect_predictions(self) -> None:
        result = evaluate(np.eye(3), np.asarray([0, 1, 2], dtype=np.int64))
        assert (result.accuracy, result.macro_f1, result.log_loss) == (1.0, 1.0, 0.0)

    def test_log_loss_clips_zero_probabilities(self) -> None:
        result = evaluate(np.asarray([[1.0, 0.0]]), np.asarray([1], dtype=np.int64))
        assert result.log_loss == pytest.approx(-math.log(1e-15))
        assert math.isfinite(result.log_loss)

    def test_an_empty_set_has_no_scores(self) -> None:
        result = evaluate(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
        assert result.n == 0
        assert math.isnan(result.accuracy)
        assert result.correct.shape == (0,)
        assert result.to_json() == {"n": 0, "accuracy": None, "macro_f1": None, "log_loss": None}

    def test_to_json_rounds_to_six_places(self) -> None:
        assert evaluate(HAND_PROBS, HAND_TARGETS).to_json() == {
            "n": 5,
            "accuracy": 0.6,
            "macro_f1": 0.611111,
            "log_loss": 0.736182,
        }

    def test_metric_by_name(self) -> None:
        result = scores(0.8, macro_f1=0.7)
        assert result.metric("accuracy") == 0.8
        assert result.metric("macro_f1") == 0.7


class TestFirstModel:
    def test_beats_the_majority_baseline(self) -> None:
        result = gate(scores(0.8), None, majority_share=0.6)
        assert result.promote
        assert result.reasons == (
            "first model; held-out accuracy 0.8000 beats the majority-class baseline 0.6000",
        )

    @pytest.mark.parametrize("accuracy", [0.6, 0.5])
    def test_equal_or_below_the_baseline_is_refused(self, accuracy: float) -> None:
        result = gate(scores(accuracy), None, majority_share=0.6)
        assert not result.promote
        assert result.reasons == (
            f"held-out accuracy {accuracy:.4f} does not beat the majority-class baseline 0.6000",
        )

    def test_without_held_out_labels_it_is_promoted(self) -> None:
        result = gate(EMPTY, None, majority_share=0.0)
        assert result.promote
        assert result.reasons == ("first model; no held-out labels to judge it yet",)


class TestAgainstProduction:
    def test_better_is_promoted(self) -> None:
        result = gate(scores(0.9), scores(0.8))
        assert result.promote
        assert result.reasons == ("held-out accuracy 0.9000 vs production 0.8000: better",)

    def test_worse_is_refused(self) -> None:
        result = gate(scores(0.7), scores(0.8))
        assert not result.promote
        assert result.reasons == ("held-out accuracy 0.7000 vs production 0.8000: not better",)

    def test_an_exact_tie_is_broken_by_lower_log_loss(self) -> None:
        result = gate(scores(0.8, log_loss=0.30), scores(0.8, log_loss=0.40))
        assert result.promote
        assert result.reasons == (
            "held-out accuracy 0.8000 equals production; log loss 0.3000 vs 0.4000: better",
        )

    @pytest.mark.parametrize("log_loss", [0.40, 0.50])
    def test_a_tie_without_lower_log_loss_is_refused(self, log_loss: float) -> None:
        result = gate(scores(0.8, log_loss=log_loss), scores(0.8, log_loss=0.40))
        assert not result.promote
        assert result.reasons == ("held-out accuracy 0.8000 vs production 0.8000: not better",)

    def test_the_gate_uses_the_configured_metric(self) -> None:
        candidate = scores(0.9, macro_f1=0.6)
        production = scores(0.8, macro_f1=0.7)
        assert gate(candidate, production, metric="accuracy").promote
        result = gate(candidate, production, metric="macro_f1")
        assert not result.promote
        assert result.reasons == ("held-out macro_f1 0.6000 vs production 0.7000: not better",)

    def test_a_gain_under_min_improvement_is_refused(self) -> None:
        result = gate(scores(0.83), scores(0.8), min_improvement=0.05)
        assert not result.promote
        assert result.reasons == (
            "held-out accuracy 0.8300 vs production 0.8000: not better by the required 0.0500",
        )

    def test_a_gain_over_min_improvement_is_promoted(self) -> None:
        assert gate(scores(0.9), scores(0.8), min_improvement=0.05).promote

    def test_with_min_improvement_a_tie_is_not_broken_by_log_loss(self) -> None:
        result = gate(scores(0.8, log_loss=0.1), scores(0.8, log_loss=0.9), min_improvement=0.05)
        assert not result.promote

    def test_a_gain_of_exactly_min_improvement_is_promoted(self) -> None:
        # One more item right out of ten held-out items: 8/10 against 7/10.
        targets = np.zeros(10, dtype=np.int64)
        candidate = evaluate(np.asarray([[0.9, 0.1]] * 8 + [[0.1, 0.9]] * 2), targets)
        production = evaluate(np.asarray([[0.9, 0.1]] * 7 + [[0.1, 0.9]] * 3), targets)
        assert (candidate.accuracy, production.accuracy) == (0.8, 0.7)
        assert gate(candidate, production, min_improvement=0.1).promote

    def test_no_held_out_labels_refuses_against_production(self) -> None:
        result = gate(EMPTY, scores(0.8))
        assert not result.promote
        assert result.reasons == ("no held-out labels to compare the candidate with production",)


class TestGolden:
    def test_a_golden_regression_blocks_a_better_candidate(self) -> None:
        result = gate(
            scores(0.9),
            scores(0.8),
            candidate_golden=golden(True, False, False, True),
            production_golden=golden(True, True, True, False),
        )
        assert not result.promote
        assert result.reasons == (
            "held-out accuracy 0.9000 vs production 0.8000: better",
            "golden accuracy 0.5000 vs production 0.7500 (1 fixed, 2 newly wrong): regression",
        )

    def test_a_golden_improvement_with_a_better_holdout_is_promoted(self) -> None:
        result = gate(
            scores(0.9),
            scores(0.8),
            candidate_golden=golden(True, True, True, True),
            production_golden=golden(False, True, True, False),
        )
        assert result.promote
        assert result.reasons[1] == (
            "golden accuracy 1.0000 vs production 0.5000 (2 fixed, 0 newly wrong): no regression"
        )

    def test_an_equal_golden_accuracy_is_no_regression(self) -> None:
        result = gate(
            scores(0.9),
            scores(0.8),
            candidate_golden=golden(True, False, True),
            production_golden=golden(False, True, True),
        )
        assert result.promote
        assert result.reasons[1].endswith("(1 fixed, 1 newly wrong): no regression")

    def test_a_golden_improvement_does_not_rescue_a_worse_holdout(self) -> None:
        result = gate(
            scores(0.7),
            scores(0.8),
            candidate_golden=golden(True, True),
            production_golden=golden(False, False),
        )
        assert not result.promote
        assert result.reasons[1].endswith("(2 fixed, 0 newly wrong): no regression")

    def test_an_empty_golden_set_is_not_judged(self) -> None:
        result = gate(scores(0.9), scores(0.8), candidate_golden=EMPTY, production_golden=EMPTY)
        assert result.promote
        assert len(result.reasons) == 1

    def test_to_json(self) -> None:
        result = gate(scores(0.9), scores(0.8))
        assert result.to_json() == {
            "promote": True,
            "reasons": ["held-out accuracy 0.9000 vs production 0.8000: better"],
        }
