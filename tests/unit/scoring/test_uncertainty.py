"""Uncertainty scores against values worked out by hand, their ranges and their direction."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.errors import InvalidInput
from loopwise.scoring import (
    check_probabilities,
    check_probability_row,
    confidence,
    entropy,
    kl_to_consensus,
    least_confidence,
    margin,
    vote_entropy,
)

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


def committee(*members: list[list[float]]) -> FloatArray:
    """Probabilities of ``m`` models over the same rows: shape ``(m, n, k)``."""
    return np.asarray(members, dtype=np.float64)


COMMITTEE_SCORES = [vote_entropy, kl_to_consensus]


class TestVoteEntropy:
    def test_hand_checked_values(self) -> None:
        votes = committee(
            [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]],
            [[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]],
            [[0.3, 0.7], [0.7, 0.3], [0.2, 0.8]],
        )
        # row 0: votes a, a, b -> shares (2/3, 1/3);
        #        H = -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.2703101 + 0.3662041 = 0.6365142;
        #        / ln min(3, 2) = / 0.6931472 -> 0.918296
        # row 1: votes a, b, a -> the same shares, 0.918296
        # row 2: votes b, b, b -> unanimous, 0
        assert vote_entropy(votes) == pytest.approx([0.918296, 0.918296, 0.0], abs=1e-6)

    def test_normalised_by_the_number_of_members_when_fewer_than_classes(self) -> None:
        # 2 members over k=4 classes voting c0 and c3: H(1/2, 1/2) = ln 2, / ln min(2, 4) = 1
        votes = committee([[0.7, 0.1, 0.1, 0.1]], [[0.1, 0.1, 0.1, 0.7]])
        assert vote_entropy(votes) == pytest.approx([1.0])

    def test_normalised_by_the_number_of_classes_when_fewer_than_members(self) -> None:
        # 4 members over k=3 voting c0, c1, c2, c2: shares (1/4, 1/4, 1/2)
        # H = 2 * 0.25 ln 4 + 0.5 ln 2 = 0.6931472 + 0.3465736 = 1.0397208; / ln 3 = 0.946395
        votes = committee(
            [[0.8, 0.1, 0.1]], [[0.1, 0.8, 0.1]], [[0.1, 0.1, 0.8]], [[0.2, 0.2, 0.6]]
        )
        assert vote_entropy(votes) == pytest.approx([0.946395], abs=1e-6)

    def test_only_the_votes_count_not_how_sure_the_members_are(self) -> None:
        sure = committee([[0.99, 0.01]], [[0.98, 0.02]])
        hesitant = committee([[0.51, 0.49]], [[0.55, 0.45]])
        assert vote_entropy(sure) == pytest.approx([0.0])
        assert vote_entropy(hesitant) == pytest.approx([0.0])

    def test_votes_spread_evenly_score_one(self) -> None:
        # 3 members, 3 classes, one vote each: H = ln 3, / ln 3 = 1
        votes = committee([[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]])
        assert vote_entropy(votes) == pytest.approx([1.0])


class TestKLToConsensus:
    def test_hand_checked_values(self) -> None:
        votes = committee([[1.0, 0.0], [0.9, 0.1]], [[0.5, 0.5], [0.8, 0.2]])
        # row 0: consensus (0.75, 0.25)
        #   KL((1, 0) || c)     = ln(1 / 0.75) = 0.2876821 (the 0 term clipped: 1e-12 * ln(4e-12))
        #   KL((.5, .5) || c)   = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25)
        #                       = -0.2027326 + 0.3465736 = 0.1438410
        #   mean                = 0.2157616
        # row 1: consensus (0.85, 0.15)
        #   KL((.9, .1) || c)   = 0.9 ln(0.9/0.85) + 0.1 ln(0.1/0.15)
        #                       = 0.0514426 - 0.0405465 = 0.0108961
        #   KL((.8, .2) || c)   = 0.8 ln(0.8/0.85) + 0.2 ln(0.2/0.15)
        #                       = -0.0484997 + 0.0575364 = 0.0090367
        #   mean                = 0.0099664
        assert kl_to_consensus(votes) == pytest.approx([0.2157616, 0.0099664], abs=1e-6)

    def test_three_members(self) -> None:
        votes = committee([[0.9, 0.1]], [[0.8, 0.2]], [[0.3, 0.7]])
        # consensus (2/3, 1/3)
        #   KL((.9, .1)) = 0.9 ln 1.35 + 0.1 ln 0.3 = 0.2700941 - 0.1203973 = 0.1496968
        #   KL((.8, .2)) = 0.8 ln 1.2  + 0.2 ln 0.6 = 0.1458572 - 0.1021651 = 0.0436921
        #   KL((.3, .7)) = 0.3 ln 0.45 + 0.7 ln 2.1 = -0.2395523 + 0.5193561 = 0.2798038
        #   mean = 0.4731927 / 3 = 0.1577309
        assert kl_to_consensus(votes) == pytest.approx([0.1577309], abs=1e-6)

    def test_sees_disagreement_in_confidence_that_votes_miss(self) -> None:
        votes = committee([[0.99, 0.01]], [[0.55, 0.45]])
        assert vote_entropy(votes) == pytest.approx([0.0])
        assert kl_to_consensus(votes)[0] > 0.05

    def test_is_not_bounded_by_one(self) -> None:
        # four one-hot members, one per class: consensus uniform, each KL = ln 4 = 1.386294
        votes = committee(*[[list(row)] for row in np.eye(4)])
        assert kl_to_consensus(votes) == pytest.approx([np.log(4)], abs=1e-9)
        assert kl_to_consensus(votes)[0] > 1.0

    def test_zeros_do_not_warn_or_give_nan(self) -> None:
        votes = committee([[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        out = kl_to_consensus(votes)
        # consensus (0.5, 0.5, 0): each member's KL = ln 2
        assert out == pytest.approx([np.log(2)], abs=1e-9)
        assert np.isfinite(out).all()


@pytest.mark.parametrize("score", COMMITTEE_SCORES, ids=lambda f: f.__name__)
class TestCommitteeScores:
    def test_identical_members_score_zero(self, score: Score) -> None:
        rng = np.random.default_rng(3)
        probs = rng.dirichlet(np.ones(4), size=50)
        out = score(np.stack([probs, probs, probs]))
        assert out.shape == (50,)
        assert out.dtype == np.float64
        assert out == pytest.approx(np.zeros(50), abs=1e-12)

    def test_more_disagreement_scores_higher(self, score: Score) -> None:
        agree = committee([[0.9, 0.1]], [[0.85, 0.15]], [[0.8, 0.2]])
        split = committee([[0.9, 0.1]], [[0.85, 0.15]], [[0.1, 0.9]])
        assert score(split)[0] > score(agree)[0]

    def test_range_on_random_committees(self, score: Score) -> None:
        rng = np.random.default_rng(11)
        m, k = 5, 3
        votes = rng.dirichlet(np.full(k, 0.5), size=(m, 1000))
        out = score(votes)
        assert out.shape == (1000,)
        assert out.min() >= 0.0
        assert out.max() <= np.log(min(m, k)) + 1e-9
        if score is vote_entropy:
            assert out.max() <= 1.0 + 1e-12

    def test_the_order_of_members_does_not_matter(self, score: Score) -> None:
        rng = np.random.default_rng(5)
        votes = rng.dirichlet(np.ones(3), size=(4, 20))
        assert score(votes[::-1]) == pytest.approx(score(votes), abs=1e-12)

    def test_an_empty_batch_gives_an_empty_score(self, score: Score) -> None:
        assert score(np.zeros((3, 0, 2))).shape == (0,)

    def test_a_single_member_is_refused(self, score: Score) -> None:
        with pytest.raises(InvalidInput) as info:
            score(committee([[0.5, 0.5], [0.9, 0.1]]))
        assert info.value.field == "committee"
        assert info.value.message == "a committee needs at least two members"

    @pytest.mark.parametrize("shape", [(2, 3), (2, 3, 1), (2, 1, 3, 2)])
    def test_other_shapes_are_refused(self, score: Score, shape: tuple[int, ...]) -> None:
        with pytest.raises(InvalidInput) as info:
            score(np.full(shape, 0.5))
        assert info.value.field == "committee"
        assert str(shape) in info.value.message


def test_the_committee_scores_are_exported() -> None:
    import loopwise.scoring

    assert {"kl_to_consensus", "vote_entropy"} <= set(loopwise.scoring.__all__)


class TestCheckProbabilityRow:
    """One item's probabilities: the error names the element, or the row for its sum."""

    def test_a_valid_row_comes_back_as_floats(self) -> None:
        assert check_probability_row([0, 1]) == (0.0, 1.0)
        assert check_probability_row([0.25, np.float32(0.75)]) == (0.25, 0.75)
        assert check_probability_row([0.333333, 0.333333, 0.333334]) == pytest.approx(
            (1 / 3,) * 3, abs=1e-5
        )

    @pytest.mark.parametrize(
        ("row", "field", "message"),
        [
            ([0.5, "x"], "p[1]", "must be a number"),
            ([False, 1.0], "p[0]", "must be a number"),
            ([0.5, math.nan], "p[1]", "NaN or infinity"),
            ([-0.1, 1.1], "p[0]", "outside [0, 1]"),
            ([0.9, 1.1], "p[1]", "outside [0, 1]"),
            ([0.5, 0.4], "p", "sums to 0.900000, not 1"),
        ],
    )
    def test_a_bad_row_names_its_place(self, row: list[Any], field: str, message: str) -> None:
        with pytest.raises(InvalidInput, match=re.escape(message)) as info:
            check_probability_row(row, field="p")
        assert info.value.field == field
