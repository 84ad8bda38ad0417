"""The near-duplicate filter and the exploration share."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.active_learning import (
    Coreset,
    Diverse,
    Explore,
    Margin,
    MarginDiverse,
    Pool,
    VoteEntropy,
    diverse_top,
    make_strategy,
    wrappers,
)
from loopwise.active_learning.geometry import unit_rows
from loopwise.active_learning.wrappers import exploration_count, nearest_similarity
from loopwise.errors import InvalidInput
from tests.unit.active_learning.factories import KINDS, as_kind, make_pool

DESCENDING = np.array([0.9, 0.8, 0.7, 0.6, 0.5])


@pytest.mark.parametrize("kind", KINDS)
def test_an_exact_duplicate_is_skipped(kind: str) -> None:
    features = as_kind([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], kind)
    assert diverse_top(DESCENDING[:4], features, 2).tolist() == [0, 2]


@pytest.mark.parametrize("kind", KINDS)
def test_similarity_is_checked_against_every_accepted_row(kind: str) -> None:
    # 0 and 1 are orthogonal; 2 repeats 1; 3 is 45 degrees from both (cosine 0.707).
    features = as_kind([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]], kind)
    assert diverse_top(DESCENDING[:4], features, 3).tolist() == [0, 1, 3]


def test_the_threshold_decides_what_is_near() -> None:
    # cosine of [1, 0] and [1, 0.1] = 1 / sqrt(1.01) = 0.995; a scaled copy has cosine 1.
    features = np.array([[1.0, 0.0], [1.0, 0.1], [5.0, 0.0], [0.0, 1.0]])
    assert diverse_top(DESCENDING[:4], features, 2).tolist() == [0, 3]
    assert diverse_top(DESCENDING[:4], features, 2, threshold=0.999).tolist() == [0, 1]


def test_too_few_distinct_candidates_are_filled_up_by_score() -> None:
    features = np.ones((4, 3))
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert diverse_top(scores, features, 3).tolist() == [1, 3, 2]


def test_only_the_shortlist_is_searched() -> None:
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert diverse_top(DESCENDING[:3], features, 2, pool_factor=1).tolist() == [0, 1]
    assert diverse_top(DESCENDING[:3], features, 2, pool_factor=2).tolist() == [0, 2]


def test_all_zero_rows_are_never_duplicates() -> None:
    assert diverse_top(DESCENDING, np.zeros((5, 2)), 3).tolist() == [0, 1, 2]


def test_margin_diverse_drops_a_repeated_text_that_margin_keeps() -> None:
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.6, 0.4], [0.9, 0.1]])
    features = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
    pool = Pool(features=features, probabilities=probs)
    assert Margin().query(pool, 2, seed=0).tolist() == [0, 1]
    assert MarginDiverse().query(pool, 2, seed=0).tolist() == [0, 2]


def test_a_filter_needs_what_its_ranking_needs() -> None:
    assert MarginDiverse().needs == frozenset({"probabilities"})
    assert Diverse(VoteEntropy()).needs == frozenset({"committee"})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"pool_factor": 0}, "pool_factor"),
        ({"pool_factor": 2.5}, "pool_factor"),
    ],
)
def test_bad_filter_settings_are_refused(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        MarginDiverse(**params)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("share", "n", "count"),
    [(0.0, 10, 0), (0.1, 10, 1), (0.1, 30, 3), (0.1, 31, 4), (0.5, 2, 1), (0.99, 5, 4)],
)
def test_the_exploration_count(share: float, n: int, count: int) -> None:
    assert exploration_count(share, n, np.random.default_rng(0)) == count


def test_a_batch_of_one_explores_with_probability_share() -> None:
    rng = np.random.default_rng(0)
    counts = [exploration_count(0.25, 1, rng) for _ in range(4_000)]
    assert set(counts) == {0, 1}
    assert np.mean(counts) == pytest.approx(0.25, abs=0.03)
    assert exploration_count(0.0, 1, rng) == 0


def test_explore_replaces_the_lowest_ranked_share_by_random_candidates() -> None:
    pool = make_pool(n=100, seed=4)
    ranked = Margin().query(pool, 30, seed=0)
    tails = set()
    for seed in range(5):
        chosen = Explore(Margin(), share=0.1).query(pool, 30, seed=seed)
        assert chosen[:27].tolist() == ranked[:27].tolist()
        assert not set(chosen[27:].tolist()) & set(ranked[:27].tolist())
        tails.add(tuple(chosen[27:].tolist()))
    assert len(tails) == 5


def test_explore_from_configuration() -> None:
    wrapped = make_strategy("margin", explore=0.1)
    assert isinstance(wrapped, Explore)
    assert isinstance(wrapped.inner, Margin)
    assert wrapped.share == 0.1
    assert wrapped.needs == frozenset({"probabilities"})
    assert type(make_strategy("margin", explore=0)) is Margin
    cold = make_strategy("coreset", explore=0.5)
    assert isinstance(cold, Explore)
    assert isinstance(cold.inner, Coreset)
    assert cold.needs == frozenset()


@pytest.mark.parametrize("share", [1.0, -0.1, 1.5, float("nan"), "0.1", True, None])
def test_a_bad_exploration_share_is_refused(share: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        make_strategy("margin", explore=share)
    assert info.value.field == "explore"
    with pytest.raises(InvalidInput) as info:
        Explore(Margin(), share=share)
    assert info.value.field == "explore"


@pytest.mark.parametrize("kind", KINDS)
def test_a_near_duplicate_of_an_item_waiting_for_a_label_is_skipped(kind: str) -> None:
    features = as_kind([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [1.0, 1.0]], kind)
    waiting = as_kind([[2.0, 0.0], [0.0, 0.0]], kind)  # an all-zero row is near nothing
    assert diverse_top(DESCENDING[:4], features, 2).tolist() == [0, 2]
    assert diverse_top(DESCENDING[:4], features, 2, pending=waiting).tolist() == [2, 3]
    # too few left: the best skipped ones fill up, by score
    assert diverse_top(DESCENDING[:4], features, 4, pending=waiting).tolist() == [2, 3, 0, 1]


def eager_diverse_top(
    scores: npt.NDArray[np.float64], features: Any, n: int, pending: Any
) -> list[int]:
    """diverse_top as it was: every shortlisted row compared with every pending row first."""
    shortlist = np.argsort(-scores, kind="stable")[: 10 * n]
    unit = unit_rows(as_kind(np.asarray(features)[shortlist], "dense"))
    closest = nearest_similarity(unit, unit_rows(np.asarray(pending)))
    accepted: list[int] = []
    for i in range(len(shortlist)):
        if closest[i] < 0.95 and len(accepted) < n:
            accepted.append(i)
            closest = np.maximum(closest, unit @ unit[i])
    skipped = [i for i in range(len(shortlist)) if i not in accepted]
    return [int(i) for i in shortlist[accepted + skipped[: n - len(accepted)]]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("copies", [0.1, 0.6, 0.95])
def test_pending_items_compared_only_as_far_as_the_walk_goes_pick_the_same(
    kind: str, copies: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 bases; a share of the candidates and all 40 pending rows are noisy copies of them
    rng = np.random.default_rng(4)
    bases = np.abs(rng.standard_normal((60, 30))) * (rng.random((60, 30)) < 0.3)
    bases[:, 0] += 0.1  # no all-zero row
    n_rows = 400
    of = rng.integers(0, 60, n_rows)
    fresh = np.abs(rng.standard_normal((n_rows, 30))) * (rng.random((n_rows, 30)) < 0.3) + 0.01
    copied = rng.random(n_rows) < copies
    rows = np.where(copied[:, None], bases[of] * (1 + 0.01 * rng.random((n_rows, 30))), fresh)
    waiting = bases[:40] * 1.001
    scores = rng.permutation(n_rows).astype(np.float64)  # distinct: one order
    compared: list[int] = []
    spy = wrappers.nearest_similarity

    def counting(unit: Any, references: Any, **kw: Any) -> Any:
        compared.append(unit.shape[0])
        return spy(unit, references, **kw)

    monkeypatch.setattr(wrappers, "nearest_similarity", counting)
    for n in (1, 7, 30):
        compared.clear()
        got = diverse_top(scores, as_kind(rows, kind), n, pending=as_kind(waiting, kind))
        assert got.tolist() == eager_diverse_top(scores, rows, n, waiting)
        assert sum(compared) <= min(10 * n, n_rows)
        if copies == 0.1:  # few near-duplicates: one window of n rows, not the 10 n shortlisted
            assert sum(compared) < 3 * n


def test_margin_diverse_keeps_away_from_pending_items_and_margin_does_not() -> None:
    probs = np.array([[0.5, 0.5], [0.55, 0.45], [0.6, 0.4], [0.9, 0.1]])
    features = np.array([[1.0, 2.0], [2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    pool = Pool(
        features=features,
        probabilities=probs,
        pending=np.array([[2.0, 4.1]]),
        pending_probabilities=np.array([[0.5, 0.5]]),
    )
    assert Margin().query(pool, 2, seed=0).tolist() == [0, 1]
    assert MarginDiverse().query(pool, 2, seed=0).tolist() == [1, 2]


def test_an_all_zero_row_is_similar_to_nothing() -> None:
    unit = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(
        nearest_similarity(unit, np.array([[0.0, 1.0], [0.0, 0.0]])), [-np.inf, 0.0]
    )
    np.testing.assert_allclose(nearest_similarity(unit, np.zeros((1, 2))), [-np.inf, -np.inf])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk_cells", [1, 7, 1 << 22])
def test_the_nearest_similarity_is_the_largest_cosine_in_any_block(
    kind: str, chunk_cells: int
) -> None:
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((9, 5))
    rows[rows < 0.3] = 0.0  # sparse, with negative values where the references have them
    rows[2] = 0.0
    references = rng.standard_normal((13, 5))
    references[references > 0.8] = 0.0
    unit, refs = unit_rows(rows), unit_rows(references)
    expected = (unit @ refs.T).max(axis=1)
    expected[~rows.any(axis=1)] = -np.inf  # row 2, and any other the zeroing emptied
    found = nearest_similarity(as_kind(unit, kind), as_kind(refs, kind), chunk_cells=chunk_cells)
    np.testing.assert_allclose(found, expected)
    # a row orthogonal to every reference but one it points away from: 0, not the -1
    orthogonal = nearest_similarity(
        as_kind([[1.0, 0.0]], kind), as_kind([[-1.0, 0.0], [0.0, 1.0]], kind), chunk_cells=1
    )
    np.testing.assert_allclose(orthogonal, [0.0])
