"""BADGE and expected gradient length against gradients multiplied out by hand."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from loopwise.active_learning import Badge, ExpectedModelChange, Pool
from loopwise.active_learning.geometry import as_rows, squared_norms
from loopwise.active_learning.gradient import (
    gradient_distances,
    nearest_gradient,
    residuals,
    spread_out,
)
from tests.unit.active_learning.factories import KINDS, as_kind, make_pool


def embeddings_of(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The gradient embeddings ``a_i x_i^T`` multiplied out, one flat row each."""
    return np.asarray(np.einsum("ik,id->ikd", a, x).reshape(len(x), -1))


def gradients_of(x: Any, probs: np.ndarray, kind: str) -> tuple[np.ndarray, Any, np.ndarray]:
    """Class factors, rows of ``kind`` and squared gradient norms of features ``x`` (an array
    or a sparse matrix) with predictions ``probs``."""
    a = residuals(probs)
    rows = as_rows(as_kind(x.toarray() if sparse.issparse(x) else x, kind))
    return a, rows, np.einsum("ij,ij->i", a, a) * squared_norms(rows)


def test_residuals_subtract_the_predicted_class() -> None:
    probs = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(residuals(probs), [[0.2, -0.5, 0.3], [-0.6, 0.4, 0.2]])


@pytest.mark.parametrize("kind", KINDS)
def test_the_distance_trick_equals_the_outer_product_distance(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)) * (rng.random((8, 5)) < 0.6)
    a = residuals(rng.dirichlet(np.ones(4), 8))
    embeddings = embeddings_of(x, a)
    rows = as_rows(as_kind(x, kind))
    g_norms = np.einsum("ij,ij->i", a, a) * squared_norms(rows)
    for i in range(8):
        explicit = ((embeddings - embeddings[i]) ** 2).sum(axis=1)
        np.testing.assert_allclose(gradient_distances(a, rows, g_norms, i), explicit, atol=1e-12)


# Candidates 0, 1 and 3 share predictions and features: identical gradients, the longest, so
# BADGE takes row 0 first; 1 and 3 are then 0 away and row 2 is the only one left with weight.
TWINS = np.array([[3.0, 0.0], [3.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
TWIN_PROBS = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5]])


@pytest.mark.parametrize("kind", KINDS)
def test_badge_starts_at_the_longest_gradient_and_never_takes_a_zero_distance(kind: str) -> None:
    pool = Pool(features=as_kind(TWINS, kind), probabilities=TWIN_PROBS)
    for seed in range(10):
        assert Badge().query(pool, 2, seed=seed).tolist() == [0, 2]


def test_badge_samples_in_proportion_to_the_squared_distance() -> None:
    """Every row predicts [0.5, 0.5], so a = [-0.5, 0.5] and ||g_i - g_j||^2 = 0.5 (x_i - x_j)^2.
    Row 0 (x = 2) has the longest gradient; rows 1 and 2 (x = 1, 0) are then 0.5 and 2 away, so
    D^2 sampling takes row 2 second with probability 2 / 2.5 = 0.8."""
    pool = Pool(
        features=np.array([[2.0], [1.0], [0.0]]),
        probabilities=np.array([[0.5, 0.5]] * 3),
    )
    a = residuals(np.asarray(pool.probabilities))
    rows = as_rows(pool.features)
    g_norms = np.einsum("ij,ij->i", a, a) * squared_norms(rows)
    assert gradient_distances(a, rows, g_norms, 0).tolist() == [0.0, 0.5, 2.0]
    seconds = Counter(Badge().query(pool, 2, seed=s).tolist()[1] for s in range(2_000))
    assert seconds.keys() == {1, 2}
    assert seconds[2] / 2_000 == pytest.approx(0.8, abs=0.04)


@pytest.mark.parametrize("kind", KINDS)
def test_expected_gradient_length_matches_the_hand_computed_value(kind: str) -> None:
    # [0.5, 0.5], x = [3, 4]: ||p - e_y|| = sqrt(0.5) either way, so 5 * sqrt(0.5) = 3.5355.
    # [0.8, 0.2], x = [1, 0]: 0.8 * sqrt(0.08) + 0.2 * sqrt(1.28) = 0.2263 + 0.2263 = 0.4525.
    # [1, 0]: the only likely label gives a zero gradient. Zero features: zero gradient.
    pool = Pool(
        features=as_kind([[3.0, 4.0], [1.0, 0.0], [5.0, 5.0], [0.0, 0.0]], kind),
        probabilities=np.array([[0.5, 0.5], [0.8, 0.2], [1.0, 0.0], [0.5, 0.5]]),
    )
    scores = ExpectedModelChange().scores(pool)
    np.testing.assert_allclose(scores, [5 * np.sqrt(0.5), 0.8 * np.sqrt(0.08) * 2, 0.0, 0.0])
    assert ExpectedModelChange().query(pool, 2, seed=0).tolist() == [0, 1]


def test_expected_gradient_length_equals_the_explicit_expectation() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4))
    p = rng.dirichlet(np.ones(3), 6)
    explicit = [
        sum(p[i, y] * np.linalg.norm(np.outer(p[i] - np.eye(3)[y], x[i])) for y in range(3))
        for i in range(6)
    ]
    scores = ExpectedModelChange().scores(Pool(features=x, probabilities=p))
    np.testing.assert_allclose(scores, explicit)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk_cells", [1, 7, 1 << 22])
@pytest.mark.parametrize("dense_references", [True, False])
def test_nearest_gradient_is_the_explicit_minimum_over_the_references(
    kind: str, chunk_cells: int, dense_references: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not dense_references:  # sparse rows are then multiplied by the sparse references
        monkeypatch.setattr("loopwise.active_learning.gradient.CHUNK_CELLS", 0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5)) * (rng.random((40, 5)) < 0.6)
    probs = rng.dirichlet(np.ones(3), 40)
    a, rows, g_norms = gradients_of(x[:30], probs[:30], kind)
    ref_a, ref_rows, ref_norms = gradients_of(x[30:], probs[30:], kind)
    explicit = (
        (embeddings_of(x[:30], a)[:, None, :] - embeddings_of(x[30:], ref_a)[None, :, :]) ** 2
    ).sum(axis=2)
    got = nearest_gradient(a, rows, g_norms, ref_a, ref_rows, ref_norms, chunk_cells=chunk_cells)
    np.testing.assert_allclose(got, explicit.min(axis=1), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_spread_out_keeps_all_rows_up_to_the_limit_and_covers_the_rest(kind: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 4))
    a, rows, g_norms = gradients_of(x, rng.dirichlet(np.ones(3), 60), kind)
    assert spread_out(a, rows, g_norms, 60).tolist() == list(range(60))
    kept = spread_out(a, rows, g_norms, 10)
    assert len(set(kept.tolist())) == 10
    assert kept[0] == int(np.argmax(g_norms))
    embeddings = embeddings_of(x, a)
    to_kept = ((embeddings[:, None, :] - embeddings[kept][None, :, :]) ** 2).sum(axis=2)
    # Farthest-point traversal: each row kept was the farthest from those kept before it, so
    # no row is farther from the kept ones than the last row kept was from the ones before it.
    last = to_kept[kept[-1], :-1].min()
    assert to_kept.min(axis=1).max() <= last + 1e-12
    assert last > 0.0


# Every row predicts [0.5, 0.5], so ||g_i - g_j||^2 = 0.5 (x_i - x_j)^2. Candidate 0 is the
# waiting item's twin (same features and predictions), 0 away from it; candidates 1, 2 and 3
# are 0.5, 2 and 4.5 away. Not told, BADGE starts at candidate 0, the longest gradient; told,
# at candidate 3, the farthest from the waiting item; candidates 1 and 2 are then both 0.5
# from the nearest of the two, so D^2 sampling takes either with probability 1/2.
WAITING_TWIN = Pool(
    features=np.array([[3.0], [2.0], [1.0], [0.0]]),
    probabilities=np.array([[0.5, 0.5]] * 4),
    pending=np.array([[3.0]]),
    pending_probabilities=np.array([[0.5, 0.5]]),
)


@pytest.mark.parametrize("kind", KINDS)
def test_badge_told_of_waiting_items_starts_farthest_from_them_and_never_takes_a_twin(
    kind: str,
) -> None:
    told = replace(
        WAITING_TWIN,
        features=as_kind(WAITING_TWIN.features, kind),
        pending=as_kind([[3.0]], kind),
    )
    untold = replace(told, pending=None, pending_probabilities=None)
    assert {Badge().query(untold, 1, seed=s).tolist()[0] for s in range(20)} == {0}
    seconds: Counter[int] = Counter()
    for seed in range(2_000):
        picks = Badge().query(told, 3, seed=seed).tolist()
        assert picks[0] == 3
        assert sorted(picks[1:]) == [1, 2]  # the twin, 0 away, only once nothing else is left
        seconds[picks[1]] += 1
    assert seconds[1] / 2_000 == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize("kind", KINDS)
def test_badge_told_of_many_waiting_items_measures_against_the_spread_out_ones(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more waiting items than it measures against, the pool's distances are those to
    the ones :func:`spread_out` keeps; with the limit above their number, to all of them."""
    pool = make_pool(kind, n=40, seed=3, pending=12)
    assert pool.pending is not None
    assert pool.pending_probabilities is not None
    a, rows, g_norms = gradients_of(pool.features, np.asarray(pool.probabilities), kind)
    w_a, w_rows, w_norms = gradients_of(pool.pending, pool.pending_probabilities, kind)
    every = nearest_gradient(a, rows, g_norms, w_a, w_rows, w_norms)
    kept = spread_out(w_a, w_rows, w_norms, 5)
    some = nearest_gradient(a, rows, g_norms, w_a[kept], w_rows[kept], w_norms[kept])
    assert not np.array_equal(every, some)
    for limit, expected in ((12, every), (5, some)):
        monkeypatch.setattr("loopwise.active_learning.gradient.WAITING_REFERENCES", limit)
        np.testing.assert_array_equal(Badge._from_waiting(pool, a, rows, g_norms), expected)
