"""Uncertainty scores against values worked out by hand, their ranges and their direction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.errors import InvalidInput
from loopwise.scoring import check_probabilities, confidence, entropy, least_confidence, margin

FloatArray = npt.NDArray[np.float64]
Score = Callable[[FloatArray], FloatArray]
UNCERTAINTIES: list[Score] = [least_confidence, margin, entropy]

# Hand-worked values (natural logarithms):
#   [0.7, 0.2, 0.1]  least confidence (1 - 0.7) * 3/2 = 0.45; margin 1 - (0.7 - 0.2) = 0.5;
#                    entropy -(0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1) / ln 3
#                          = (0.2496725 + 0.3218876 + 0.2302585) / 1.0986123 = 0.729847
#   [0.9, 0.1]       least confidence 0.1 * 2 = 0.2; margin 1 - 0.8 = 0.2;
#                    entropy (0.0948245 + 0.2302585) / 0.6931472 = 0.468996
#   [0.4, 0.4, 0.2]  least confidence 0.6 * 3/2 = 0.9; margin 1 - 0 = 1 (a tie at the top);
#                    entropy (2 * 0.3665163 + 0.3218876) / 1.0986123 = 0.960230
#   [0.5, 0.5]       least confidence 1, margin 1, entropy 1 (uniform)
#   [0, 1, 0, 0]     least confidence 0, margin 0, entropy 0 (one-hot)
HAND_CHECKED = [
    # probs, confidence, least_confidence, margin, entropy
    ([0.7, 0.2, 0.1], 0.7, 0.45, 0.5, 0.729847),
    ([0.9, 0.1], 0.9, 0.2, 0.2, 0.468996),
    ([0.4, 0.4, 0.2], 0.4, 0.9, 1.0, 0.960230),
    ([0.5, 0.5], 0.5, 1.0, 1.0, 1.0),
    ([0.0, 1.0, 0.0, 0.0], 1.0, 0.0, 0.0, 0.0),
]


def matrix(*rows: list[float]) -> FloatArray:
    return np.asarray(rows, dtype=np.float64)


@pytest.mark.parametrize(
    ("row", "conf", "least", "marg", "ent"),
    HAND_CHECKED,
    ids=["0.7-0.2-0.1", "0.9-0.1", "0.4-0.4-0.2", "uniform2", "one-hot4"],
)
def test_scores_match_hand_computed_values(
    row: list[float], conf: float, least: float, marg: float, ent: float
) -> None:
    probs = matrix(row)
    assert confidence(probs) == pytest.approx([conf], abs=1e-12)
    assert least_confidence(probs) == pytest.approx([least], abs=1e-12)
    assert margin(probs) == pytest.approx([marg], abs=1e-12)
    assert entropy(probs) == pytest.approx([ent], abs=1e-6)


def test_scores_work_row_by_row_on_a_matrix() -> None:
    probs = matrix([0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3])
    assert confidence(probs) == pytest.approx([0.7, 0.8, 1 / 3])
    assert least_confidence(probs) == pytest.approx([0.45, 0.3, 1.0])
    assert margin(probs) == pytest.approx([0.5, 0.3, 1.0])
    for score in [confidence, *UNCERTAINTIES]:
        out = score(probs)
        assert out.shape == (3,)
        assert out.dtype == np.float64


@pytest.mark.parametrize("score", UNCERTAINTIES, ids=lambda f: f.__name__)
def test_the_order_of_classes_does_not_matter(score: Score) -> None:
    assert score(matrix([0.1, 0.2, 0.7])) == pytest.approx(score(matrix([0.7, 0.2, 0.1])))


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("score", UNCERTAINTIES, ids=lambda f: f.__name__)
def test_uniform_is_most_uncertain_and_one_hot_least(score: Score, k: int) -> None:
    uniform = np.full((1, k), 1.0 / k)
    one_hot = np.eye(k)
    assert score(uniform) == pytest.approx([1.0], abs=1e-12)
    assert score(one_hot) == pytest.approx(np.zeros(k), abs=1e-12)


def test_confidence_ranges_from_one_over_k_to_one() -> None:
    assert confidence(np.full((1, 4), 0.25)) == pytest.approx([0.25])
    assert confidence(np.eye(4)) == pytest.approx(np.ones(4))


@pytest.mark.parametrize("score", UNCERTAINTIES, ids=lambda f: f.__name__)
def test_scores_stay_in_zero_one_on_random_rows(score: Score) -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.full(6, 0.3), size=2000)
    out = score(probs)
    assert out.min() >= -1e-12
    assert out.max() <= 1.0 + 1e-12


@pytest.mark.parametrize("score", UNCERTAINTIES, ids=lambda f: f.__name__)
def test_higher_means_more_uncertain(score: Score) -> None:
    top = np.linspace(0.5, 1.0, 11)
    out = score(np.column_stack([top, 1.0 - top]))
    assert np.all(np.diff(out) < 0), "the surer the top class, the lower the uncertainty"
    assert np.all(np.diff(confidence(np.column_stack([top, 1.0 - top]))) > 0)


def test_empty_batches_give_empty_scores() -> None:
    probs = check_probabilities(np.zeros((0, 3)))
    for score in [confidence, *UNCERTAINTIES]:
        assert score(probs).shape == (0,)


class TestCheckProbabilities:
    def test_valid_input_comes_back_as_float64(self) -> None:
        checked = check_probabilities([[0.25, 0.75], [1.0, 0.0]])
        assert checked.dtype == np.float64
        assert checked.tolist() == [[0.25, 0.75], [1.0, 0.0]]

    def test_rows_within_tolerance_pass(self) -> None:
        assert check_probabilities([[0.50004, 0.5]]).shape == (1, 2)

    @pytest.mark.parametrize(
        ("probs", "field", "message"),
        [
            ([[0.5, 0.5], [0.5, 0.5], [np.nan, 1.0]], "probabilities[2]", "NaN or infinity"),
            ([[np.inf, 0.0], [0.5, 0.5]], "probabilities[0]", "NaN or infinity"),
            ([[0.5, 0.5], [1.1, -0.1]], "probabilities[1]", "outside [0, 1]"),
            ([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [2.0, 0.0]], "probabilities[3]", "outside"),
            ([[0.5, 0.5], [0.6, 0.3], [0.5, 0.5]], "probabilities[1]", "sums to 0.900000, not 1"),
            ([[0.5, 0.5], [0.6, 0.6], [0.1, 0.1]], "probabilities[1]", "sums to 1.200000"),
            ([[0.5002, 0.5]], "probabilities[0]", "sums to 1.000200, not 1"),
            ([0.5, 0.5], "probabilities", "must have shape (n, k) with k >= 2, got (2,)"),
            ([[1.0], [1.0]], "probabilities", "got (2, 1)"),
            ([[[0.5, 0.5]]], "probabilities", "got (1, 1, 2)"),
            (0.5, "probabilities", "got ()"),
        ],
    )
    def test_refusals_name_the_row(self, probs: Any, field: str, message: str) -> None:
        with pytest.raises(InvalidInput) as info:
            check_probabilities(probs)
        assert info.value.field == field
        assert message in info.value.message

    def test_the_field_prefix_is_the_callers(self) -> None:
        with pytest.raises(InvalidInput) as info:
            check_probabilities([[0.2, 0.2]], field="items[4].probabilities")
        assert info.value.field == "items[4].probabilities[0]"

    @pytest.mark.parametrize("probs", [[[0.5, 0.5], [1.0]], [["high", "low"]]])
    def test_input_that_is_not_a_matrix_of_numbers_is_refused(self, probs: Any) -> None:
        with pytest.raises(InvalidInput) as info:
            check_probabilities(probs)
        assert info.value.field is not None
        assert info.value.field.startswith("probabilities")
