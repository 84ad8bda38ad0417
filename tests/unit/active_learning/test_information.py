"""``bait``: the greedy batch that most lowers the predictive variance over the pool, checked
against the variance computed from scratch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import sparse

from loopwise.active_learning import Bait, Pool
from loopwise.active_learning.information import (
    INTERCEPT_RIDGE,
    fisher_blocks,
    fits,
    with_intercept,
)
from loopwise.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]


def random_pool(n: int, d: int, k: int, seed: int, labelled: int = 5) -> Pool:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n + labelled, d))
    weights = rng.normal(size=(d, k))
    logits = features @ weights
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    known = probs[n:] if labelled else None
    return Pool(features[:n], probs[:n], features[n:], labelled_probabilities=known)


def predictive_variance(pool: Pool, chosen: list[int], ridge: float = 1.0) -> float:
    """``sum_blocks tr(G^-1 F)`` with the labelled items and ``chosen`` counted, from scratch."""
    x = with_intercept(pool.features)
    assert pool.probabilities is not None
    weights = fisher_blocks(pool.probabilities)
    prior = np.full(x.shape[1], ridge)
    prior[-1] = INTERCEPT_RIDGE
    known = with_intercept(pool.labelled)
    assert pool.labelled_probabilities is not None
    known_weights = fisher_blocks(pool.labelled_probabilities)
    total = 0.0
    for b in range(weights.shape[1]):
        fisher = (x * weights[:, b, None]).T @ x / len(x)
        precision = np.diag(prior) + (known * known_weights[:, b, None]).T @ known
        picked = x[chosen]
        precision += (picked * weights[chosen, b, None]).T @ picked
        total += float(np.trace(np.linalg.solve(precision, fisher)))
    return total


def brute_force_greedy(pool: Pool, n: int) -> list[int]:
    chosen: list[int] = []
    for _ in range(n):
        left = [i for i in range(len(pool)) if i not in chosen]
        chosen.append(min(left, key=lambda i: predictive_variance(pool, [*chosen, i])))
    return chosen


@pytest.mark.parametrize(("k", "seed"), [(2, 0), (3, 1), (4, 2), (2, 3)])
def test_each_pick_lowers_the_variance_most_as_recomputed_from_scratch(k: int, seed: int) -> None:
    pool = random_pool(25, 4, k, seed)
    assert Bait().query(pool, 6, seed=0).tolist() == brute_force_greedy(pool, 6)


def test_two_classes_make_one_block_of_weight_p_times_one_minus_p() -> None:
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    np.testing.assert_allclose(fisher_blocks(probs), [[0.25], [0.09], [0.0]])
    three = np.array([[0.5, 0.25, 0.25]])
    np.testing.assert_allclose(fisher_blocks(three), [[0.25, 0.1875, 0.1875]])


def test_a_copy_of_a_pick_is_worth_less_than_an_item_as_uncertain_elsewhere() -> None:
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    probs = np.full((4, 2), 0.5)
    assert Bait().query(Pool(rows, probs), 2, seed=0).tolist() == [0, 2]


def test_an_item_like_a_labelled_one_says_less_than_a_new_one() -> None:
    rows = np.array([[2.0, 0.0], [0.0, 2.0]])
    probs = np.full((2, 2), 0.5)
    uncertain = np.full((3, 2), 0.5)
    pool = Pool(rows, probs, np.array([[2.0, 0.0]] * 3), labelled_probabilities=uncertain)
    assert Bait().query(pool, 1, seed=0).tolist() == [1]
    # labelled items the model is sure of taught it little: both candidates are new again
    sure = np.tile([[1.0, 0.0]], (3, 1))
    pool = Pool(rows, probs, np.array([[2.0, 0.0]] * 3), labelled_probabilities=sure)
    assert Bait().query(pool, 1, seed=0).tolist() == [0]


def test_sparse_features_give_the_picks_of_their_dense_form() -> None:
    pool = random_pool(30, 5, 3, 7)
    as_csr = Pool(
        sparse.csr_matrix(pool.features),
        pool.probabilities,
        sparse.csr_matrix(pool.labelled),
        labelled_probabilities=pool.labelled_probabilities,
    )
    assert Bait().query(as_csr, 5, seed=1).tolist() == Bait().query(pool, 5, seed=1).tolist()


def test_a_large_pool_is_shortlisted_by_fisher_weight() -> None:
    pool = random_pool(400, 3, 2, 9)
    small = Bait(candidates=40)
    chosen = small.query(pool, 2, seed=0)
    assert pool.probabilities is not None
    weight = fisher_blocks(pool.probabilities).sum(axis=1)
    assert (weight[chosen] >= np.sort(weight)[-40]).all()
    # a shortlist as large as the pool changes nothing
    assert Bait(candidates=400).query(pool, 5, seed=0).tolist() == brute_force_greedy(pool, 5)


def test_the_pools_fisher_information_may_come_from_a_seeded_sample() -> None:
    pool = random_pool(400, 3, 3, 11)
    sampled = Bait(sample=60)
    first = sampled.query(pool, 5, seed=2)
    assert len(set(first.tolist())) == 5
    assert sampled.query(pool, 5, seed=2).tolist() == first.tolist()
    # a sample of 60 estimates F well enough that its first pick is among the whole pool's first
    # ten (a broken estimate, F = 0, leaves every gain 0 and the pick to a draw among 400)
    exact = Bait().query(pool, 10, seed=2).tolist()
    assert first[0] in exact


def test_certain_predictions_leave_nothing_to_learn_and_the_picks_are_drawn() -> None:
    rows = np.random.default_rng(0).normal(size=(8, 3))
    certain = np.tile([[1.0, 0.0]], (8, 1))
    pool = Pool(rows, certain)
    first = Bait().query(pool, 4, seed=1)
    assert len(set(first.tolist())) == 4
    assert Bait().query(pool, 4, seed=1).tolist() == first.tolist()


def test_without_labelled_items_only_the_prior_counts() -> None:
    pool = random_pool(20, 3, 2, 5, labelled=0)
    bare = Pool(pool.features, pool.probabilities)
    assert len(Bait().query(bare, 3, seed=0)) == 3


def test_labelled_items_without_their_probabilities_are_refused() -> None:
    pool = random_pool(10, 3, 2, 1)
    missing = Pool(pool.features, pool.probabilities, pool.labelled)
    with pytest.raises(InvalidInput) as refused:
        Bait().query(missing, 2, seed=0)
    assert refused.value.field == "pool.labelled_probabilities"


@pytest.mark.parametrize(
    ("labelled_probabilities", "message"),
    [(np.full((4, 2), 0.5), r"shape \(5, classes\)"), (np.full((5, 3), 1 / 3), "3 classes")],
)
def test_labelled_probabilities_must_fit_the_labelled_items(
    labelled_probabilities: FloatArray, message: str
) -> None:
    pool = random_pool(10, 3, 2, 1)
    wrong = Pool(pool.features, pool.probabilities, pool.labelled, None, labelled_probabilities)
    with pytest.raises(InvalidInput, match=message) as refused:
        Bait().query(wrong, 2, seed=0)
    assert refused.value.field == "pool.labelled_probabilities"


def test_the_fisher_blocks_are_capped() -> None:
    assert fits(2047, 2)
    assert not fits(2048, 2)
    assert fits(646, 10)
    assert not fits(647, 10)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ridge": 0}, "ridge"),
        ({"ridge": float("inf")}, "ridge"),
        ({"ridge": True}, "ridge"),
        ({"candidates": 0}, "candidates"),
        ({"sample": 2.5}, "sample"),
    ],
)
def test_bad_settings_are_refused_by_name(params: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Bait(**params)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_items_waiting_for_a_label_count_as_labelled_ones_do() -> None:
    pool = random_pool(40, 4, 3, 11, labelled=8)
    assert pool.labelled is not None
    assert pool.labelled_probabilities is not None
    split = Pool(
        pool.features,
        pool.probabilities,
        pool.labelled[:3],
        labelled_probabilities=pool.labelled_probabilities[:3],
        pending=pool.labelled[3:],
        pending_probabilities=pool.labelled_probabilities[3:],
    )
    np.testing.assert_array_equal(Bait().query(split, 6, seed=0), Bait().query(pool, 6, seed=0))
    ignored = Pool(
        pool.features,
        pool.probabilities,
        pool.labelled[:3],
        labelled_probabilities=pool.labelled_probabilities[:3],
    )
    assert Bait().query(ignored, 6, seed=0).tolist() != Bait().query(pool, 6, seed=0).tolist()


def test_an_item_like_a_pending_one_says_less_than_a_new_one() -> None:
    rows = np.array([[2.0, 0.0], [0.0, 2.0]])
    probs = np.array([[0.5, 0.5], [0.45, 0.55]])
    assert Bait().query(Pool(rows, probs), 1, seed=0).tolist() == [0]
    waiting = Pool(rows, probs, pending=rows[:1], pending_probabilities=probs[:1])
    assert Bait().query(waiting, 1, seed=0).tolist() == [1]
