"""Agreement coefficients against published worked examples, sklearn, and their properties."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import cohen_kappa_score

from loopwise.consensus.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_kappa,
    specific_agreement,
)
from loopwise.errors import InvalidInput

NAN = np.nan

# J. L. Fleiss, "Measuring nominal scale agreement among many raters", Psychological Bulletin
# 76(5), 1971, as worked in Wikipedia's "Fleiss' kappa" article: 10 subjects, 14 raters,
# 5 categories. P_bar = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# K. Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C: 4 observers,
# 12 units, nominal values, "*" = missing. Unit 12 has one value and is not pairable. The
# coincidence matrix has marginals n_c = (9, 13, 10, 5, 3), n = 40, and 8 off-diagonal
# (disagreeing) coincidences, so alpha = 1 - (n - 1) * 8 / (n^2 - sum n_c^2)
# = 1 - 39 * 8 / (1600 - 384) = 1 - 312 / 1216 = 0.743.
KRIPPENDORFF = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def _as_object(array: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """The same ratings as an object array of ints with ``None`` for missing."""
    return np.array([[None if np.isnan(v) else int(v) for v in row] for row in array], dtype=object)


class TestCohenKappa:
    def test_hand_computed_two_by_two(self) -> None:
        # 50 items: both yes 20, both no 15, A yes / B no 5, A no / B yes 10.
        # p_o = 35/50 = 0.7; A says yes 25/50, B says yes 30/50;
        # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
        a = ["yes"] * 20 + ["no"] * 15 + ["yes"] * 5 + ["no"] * 10
        b = ["yes"] * 20 + ["no"] * 15 + ["no"] * 5 + ["yes"] * 10
        assert cohen_kappa(a, b) == pytest.approx(0.4)

    @pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
    def test_matches_sklearn_on_random_labels(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, 4, size=200)
        b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 4, size=200))
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))

    def test_string_labels_match_sklearn(self) -> None:
        rng = np.random.default_rng(7)
        names = np.array(["cat", "dog", "bird"])
        a, b = names[rng.integers(0, 3, 60)], names[rng.integers(0, 3, 60)]
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))

    def test_perfect_agreement_is_one(self) -> None:
        assert cohen_kappa([1, 2, 3, 1], [1, 2, 3, 1]) == pytest.approx(1.0)

    def test_one_shared_label_is_defined_as_one(self) -> None:
        assert cohen_kappa(["a", "a", "a"], ["a", "a", "a"]) == 1.0

    def test_permuting_items_changes_nothing(self) -> None:
        rng = np.random.default_rng(3)
        a, b = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
        order = rng.permutation(40)
        assert cohen_kappa(a[order], b[order]) == pytest.approx(cohen_kappa(a, b))

    @pytest.mark.parametrize(
        ("a", "b"),
        [([1, 2, 3], [1, 2]), ([], []), ([1.0, NAN], [1.0, 2.0]), ([[1, 2]], [[1, 2]])],
        ids=["different-lengths", "empty", "missing", "not-1d"],
    )
    def test_refusals_name_the_field(self, a: npt.ArrayLike, b: npt.ArrayLike) -> None:
        with pytest.raises(InvalidInput) as caught:
            cohen_kappa(a, b)
        assert caught.value.field == "ratings"


class TestFleissKappa:
    def test_fleiss_1971_worked_example(self) -> None:
        assert fleiss_kappa(FLEISS_COUNTS) == pytest.approx(0.210, abs=5e-4)

    def test_unanimous_items_are_one(self) -> None:
        assert fleiss_kappa([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]]) == pytest.approx(1.0)

    def test_one_category_throughout_is_defined_as_one(self) -> None:
        assert fleiss_kappa([[4, 0], [4, 0]]) == 1.0

    def test_permuting_items_changes_nothing(self) -> None:
        shuffled = np.asarray(FLEISS_COUNTS)[np.random.default_rng(0).permutation(10)]
        assert fleiss_kappa(shuffled) == pytest.approx(fleiss_kappa(FLEISS_COUNTS))

    def test_two_raters_agree_with_scott_pi_form(self) -> None:
        # With m = 2, Fleiss' kappa is Scott's pi: the rows below have p_o = 3/4 and category
        # shares 5/8 and 3/8, so p_e = 25/64 + 9/64 = 34/64 and
        # kappa = (48/64 - 34/64) / (30/64) = 14/30.
        assert fleiss_kappa([[2, 0], [0, 2], [1, 1], [2, 0]]) == pytest.approx(14 / 30)

    @pytest.mark.parametrize(
        "counts",
        [
            [[2, 1], [1, 1]],
            [[1, 0], [0, 1]],
            [[2, -1], [1, 0]],
            [[1.5, 0.5], [1, 1]],
            [1, 2, 3],
            [[]],
        ],
        ids=["unequal-rows", "one-rater", "negative", "fractional", "1d", "empty"],
    )
    def test_refusals_name_the_field(self, counts: npt.ArrayLike) -> None:
        with pytest.raises(InvalidInput) as caught:
            fleiss_kappa(counts)
        assert caught.value.field == "counts"


class TestKrippendorffAlpha:
    def test_krippendorff_2011_example_with_missing_data(self) -> None:
        assert krippendorff_alpha(KRIPPENDORFF) == pytest.approx(1 - 312 / 1216)
        assert krippendorff_alpha(KRIPPENDORFF) == pytest.approx(0.743, abs=5e-4)

    def test_none_in_object_array_equals_nan(self) -> None:
        assert krippendorff_alpha(_as_object(KRIPPENDORFF)) == pytest.approx(
            krippendorff_alpha(KRIPPENDORFF)
        )

    def test_string_labels(self) -> None:
        names = {1.0: "a", 2.0: "b", 3.0: "c", 4.0: "d", 5.0: "e"}
        labelled = np.array(
            [[None if np.isnan(v) else names[v] for v in row] for row in KRIPPENDORFF],
            dtype=object,
        )
        assert krippendorff_alpha(labelled) == pytest.approx(krippendorff_alpha(KRIPPENDORFF))

    def test_units_with_one_value_are_ignored(self) -> None:
        extra = np.full((4, 1), NAN)
        extra[2, 0] = 4.0
        widened = np.hstack([KRIPPENDORFF, extra])
        assert krippendorff_alpha(widened) == pytest.approx(krippendorff_alpha(KRIPPENDORFF))

    def test_permuting_units_and_raters_changes_nothing(self) -> None:
        rng = np.random.default_rng(1)
        shuffled = KRIPPENDORFF[rng.permutation(4)][:, rng.permutation(12)]
        assert krippendorff_alpha(shuffled) == pytest.approx(krippendorff_alpha(KRIPPENDORFF))

    def test_perfect_agreement_is_one(self) -> None:
        perfect = np.array([[1, 2, 3, NAN], [1, 2, NAN, 4], [NAN, 2, 3, 4]])
        assert krippendorff_alpha(perfect) == pytest.approx(1.0)

    def test_one_label_throughout_is_defined_as_one(self) -> None:
        assert krippendorff_alpha([["x", "x"], ["x", "x"]]) == 1.0

    @pytest.mark.parametrize(
        "reliability",
        [[1, 2, 3], [[1.0, NAN], [NAN, 2.0]]],
        ids=["1d", "nothing-pairable"],
    )
    def test_refusals_name_the_field(self, reliability: npt.ArrayLike) -> None:
        with pytest.raises(InvalidInput) as caught:
            krippendorff_alpha(reliability)
        assert caught.value.field == "reliability"


class TestPairwiseKappa:
    def test_each_pair_is_cohen_over_shared_items(self) -> None:
        result = pairwise_kappa(KRIPPENDORFF)
        assert sorted(result) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
        for (i, j), value in result.items():
            both = ~np.isnan(KRIPPENDORFF[i]) & ~np.isnan(KRIPPENDORFF[j])
            expected = cohen_kappa_score(KRIPPENDORFF[i, both], KRIPPENDORFF[j, both])
            assert value == pytest.approx(expected)

    def test_none_in_object_array_equals_nan(self) -> None:
        as_nan, as_none = pairwise_kappa(KRIPPENDORFF), pairwise_kappa(_as_object(KRIPPENDORFF))
        assert as_none == pytest.approx(as_nan)

    def test_pairs_without_shared_items_are_left_out(self) -> None:
        ratings = np.array([[1, 2, NAN, NAN], [NAN, NAN, 1, 2], [1, 2, 1, 2]])
        assert sorted(pairwise_kappa(ratings)) == [(0, 2), (1, 2)]

    def test_perfect_agreement_is_one(self) -> None:
        assert pairwise_kappa([["a", "b", "c"]] * 3) == pytest.approx(
            {(0, 1): 1.0, (0, 2): 1.0, (1, 2): 1.0}
        )

    def test_refuses_one_dimensional_input(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            pairwise_kappa([1, 2, 3])
        assert caught.value.field == "ratings"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_complete_raters_alpha_approaches_scott_pi(seed: int) -> None:
    """Alpha = 1 - (n - 1)/n * (1 - pi) for two raters without missing data (Krippendorff)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, 30)
    b = np.where(rng.random(30) < 0.7, a, rng.integers(0, 3, 30))
    counts = np.zeros((30, 3))
    np.add.at(counts, (np.arange(30), a), 1)
    np.add.at(counts, (np.arange(30), b), 1)
    pi = fleiss_kappa(counts)
    n = 60
    alpha = krippendorff_alpha(np.stack([a, b]).astype(np.float64))
    assert alpha == pytest.approx(1 - (n - 1) / n * (1 - pi))


class TestSpecificAgreement:
    """``specific_agreement``: per category, agreeing rater pairs over the pairs involving it."""

    def test_hand_computed_table_with_an_unused_category(self) -> None:
        # Categories a, b, c; m_i = raters of item i.
        #   item 0: [3, 0, 0]  m=3
        #   item 1: [2, 1, 0]  m=3
        #   item 2: [1, 1, 0]  m=2
        # a: agreeing 3*2 + 2*1 + 1*0 = 8, pairs 3*(3-1) + 2*(3-1) + 1*(2-1) = 11  -> 8/11
        # b: agreeing 0   + 1*0 + 1*0 = 0, pairs 0       + 1*(3-1) + 1*(2-1) = 3   -> 0
        # c: nobody used it: 0 pairs -> nan
        result = specific_agreement([[3, 0, 0], [2, 1, 0], [1, 1, 0]])
        assert result.shape == (3,)
        assert result[:2] == pytest.approx([8 / 11, 0.0])
        assert np.isnan(result[2])

    def test_two_raters_reduce_to_positive_and_negative_agreement(self) -> None:
        # Two raters on 50 items (the Cohen example above): both yes 20, both no 15, split 15.
        # Uebersax: positive agreement 2a / (2a + b + c) = 40/55, negative 2d / (2d + b + c)
        # = 30/45.
        counts = [[2, 0]] * 20 + [[0, 2]] * 15 + [[1, 1]] * 15
        assert specific_agreement(counts) == pytest.approx([40 / 55, 30 / 45])

    def test_items_with_fewer_than_two_ratings_are_ignored(self) -> None:
        # Category b occurs only on items with one rating (or none): no pair involves it, so
        # it is nan rather than 0; a is as if those items were absent: 2*1 / (2*1) = 1.
        result = specific_agreement([[2, 0], [0, 1], [0, 0], [1, 0]])
        assert result[0] == pytest.approx(1.0)
        assert np.isnan(result[1])
        assert np.array_equal(
            specific_agreement([[2, 0], [1, 1], [0, 1]]),
            specific_agreement([[2, 0], [1, 1]]),
        )

    def test_unanimous_categories_are_one_and_a_split_item_lowers_both(self) -> None:
        # a: agreeing 2 + 0 = 2 of pairs 2 + 1 = 3; b: 2 + 0 = 2 of 2 + 1 = 3.
        assert specific_agreement([[2, 0], [0, 2]]) == pytest.approx([1.0, 1.0])
        assert specific_agreement([[2, 0], [0, 2], [1, 1]]) == pytest.approx([2 / 3, 2 / 3])

    def test_pair_weighted_mean_is_fleiss_observed_agreement(self) -> None:
        # With m = 14 raters per item, category j has 13 * N_j pairs (N_j its column total),
        # so sum_j s_j N_j / sum_j N_j is the mean share of agreeing pairs: Fleiss' P_bar,
        # 0.378 in the 1971 worked example.
        totals = np.asarray(FLEISS_COUNTS).sum(axis=0)
        result = specific_agreement(FLEISS_COUNTS)
        assert float(result @ totals / totals.sum()) == pytest.approx(0.378, abs=5e-4)
        # Category 0 by hand: n(n-1) over items = 2+42+6+2+30 = 82 (from 2,7,3,2,6);
        # pairs 13 * (2+7+3+2+6) = 13 * 20 = 260.
        assert result[0] == pytest.approx(82 / 260)

    def test_permuting_items_changes_nothing(self) -> None:
        shuffled = np.asarray(FLEISS_COUNTS)[np.random.default_rng(2).permutation(10)]
        assert specific_agreement(shuffled) == pytest.approx(specific_agreement(FLEISS_COUNTS))

    @pytest.mark.parametrize(
        "counts",
        [
            [1, 2, 3],
            [[[1, 1]]],
            [[2, -1], [1, 1]],
            [[NAN, 2], [1, 1]],
            [[np.inf, 2], [1, 1]],
        ],
        ids=["1d", "3d", "negative", "nan", "inf"],
    )
    def test_refusals_name_the_field(self, counts: npt.ArrayLike) -> None:
        with pytest.raises(InvalidInput) as caught:
            specific_agreement(counts)
        assert caught.value.field == "counts"

    def test_non_numeric_counts_are_refused_with_the_field(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            specific_agreement([["a", "b"], ["c", "d"]])
        assert caught.value.field == "counts"

    def test_fractional_counts_are_refused_like_fleiss(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            specific_agreement([[1.5, 0.5], [1.0, 1.0]])
        assert caught.value.field == "counts"
