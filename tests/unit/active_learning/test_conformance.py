"""Every registered strategy (and a few wrapped ones) against the same contract, with fixed
seeds: a new entry in ``STRATEGIES`` joins this suite without a line of test code."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
from scipy import sparse

import loopwise.active_learning as al
from loopwise.active_learning import STRATEGIES, Diverse, Pool, QueryStrategy, make_strategy
from loopwise.errors import EmptyPool, InvalidInput, NotEnoughInPool, UnknownStrategy
from tests.unit.active_learning.factories import (
    KINDS,
    all_tied,
    as_kind,
    make_pool,
    one_sided,
)

WRAPPED: dict[str, Callable[[], QueryStrategy]] = {
    "margin+explore": partial(make_strategy, "margin", explore=0.2),
    "coreset+explore": partial(make_strategy, "coreset", explore=0.5),
    "vote_entropy+diverse": lambda: Diverse(al.VoteEntropy()),
    "default(badge, cold coreset)": partial(al.Default, hybrid="badge", cold="coreset"),
}
CASES: dict[str, Callable[[], QueryStrategy]] = {
    **{name: partial(make_strategy, name) for name in sorted(STRATEGIES)},
    **WRAPPED,
}


@pytest.fixture(params=list(CASES))
def strategy(request: pytest.FixtureRequest) -> QueryStrategy:
    return CASES[request.param]()


def assert_valid(chosen: np.ndarray, n: int, size: int) -> None:
    assert chosen.dtype == np.int64
    assert chosen.shape == (n,)
    assert len(set(chosen.tolist())) == n
    assert chosen.min() >= 0
    assert chosen.max() < size


def test_every_registered_strategy_is_named_and_exported() -> None:
    for name, cls in STRATEGIES.items():
        assert cls.name == name
        assert cls.__name__ in al.__all__
        assert getattr(al, cls.__name__) is cls


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 7])
def test_returns_n_distinct_indices_in_range(strategy: QueryStrategy, kind: str, n: int) -> None:
    pool = make_pool(kind)
    assert_valid(strategy.query(pool, n, seed=3), n, len(pool))


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_seed_gives_the_same_batch(strategy: QueryStrategy, kind: str) -> None:
    pool = make_pool(kind, seed=5)
    first = strategy.query(pool, 6, seed=11)
    np.testing.assert_array_equal(strategy.query(pool, 6, seed=11), first)
    again = strategy.query(pool, 6, seed=np.random.default_rng(11))
    np.testing.assert_array_equal(again, first)


def test_a_numpy_integer_count_is_accepted(strategy: QueryStrategy) -> None:
    assert_valid(strategy.query(make_pool(), np.int64(4), seed=0), 4, 30)


@pytest.mark.parametrize("kind", KINDS)
def test_a_seed_set_of_one_class(strategy: QueryStrategy, kind: str) -> None:
    pool = one_sided(kind)
    chosen = strategy.query(pool, 5, seed=2)
    assert_valid(chosen, 5, len(pool))
    np.testing.assert_array_equal(strategy.query(pool, 5, seed=2), chosen)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("one_hot", [False, True], ids=["uniform", "certain"])
def test_ties_everywhere(strategy: QueryStrategy, kind: str, one_hot: bool) -> None:
    pool = all_tied(kind, n=12, one_hot=one_hot)
    chosen = strategy.query(pool, 5, seed=4)
    assert_valid(chosen, 5, 12)
    np.testing.assert_array_equal(strategy.query(pool, 5, seed=4), chosen)


@pytest.mark.parametrize("kind", KINDS)
def test_the_whole_pool_can_be_asked_for(strategy: QueryStrategy, kind: str) -> None:
    pool = make_pool(kind, n=9)
    assert sorted(strategy.query(pool, 9, seed=0).tolist()) == list(range(9))


def test_a_pool_of_one(strategy: QueryStrategy) -> None:
    pool = make_pool(n=1)
    assert strategy.query(pool, 1, seed=0).tolist() == [0]


@pytest.mark.parametrize("n", [0, -1, 2.0, True, "3"])
def test_a_count_that_is_not_positive_whole_is_refused(strategy: QueryStrategy, n: object) -> None:
    with pytest.raises(InvalidInput) as info:
        strategy.query(make_pool(), n, seed=0)  # type: ignore[arg-type]
    assert info.value.field == "n"


@pytest.mark.parametrize("seed", ["x", 1.5, -1, True])
def test_a_seed_numpy_would_not_take_is_refused(strategy: QueryStrategy, seed: object) -> None:
    with pytest.raises(InvalidInput) as info:
        strategy.query(make_pool(), 2, seed=seed)  # type: ignore[arg-type]
    assert info.value.field == "seed"


def test_more_than_the_pool_is_refused(strategy: QueryStrategy) -> None:
    with pytest.raises(NotEnoughInPool) as info:
        strategy.query(make_pool(n=5), 6, seed=0)
    assert info.value.field == "n"


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_pool_is_refused(strategy: QueryStrategy, kind: str) -> None:
    pool = make_pool(kind)
    empty = Pool(
        features=as_kind(np.zeros((0, 6)), kind),
        probabilities=np.zeros((0, 3)),
        labelled=pool.labelled,
        committee=np.zeros((3, 0, 3)),
    )
    with pytest.raises(EmptyPool) as info:
        strategy.query(empty, 1, seed=0)
    assert info.value.field == "pool"


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("kind", KINDS)
def test_features_with_nan_or_infinity_are_refused(
    strategy: QueryStrategy, kind: str, value: float
) -> None:
    pool = make_pool("dense")
    features = np.array(pool.features)
    features[3, 2] = value
    with pytest.raises(InvalidInput) as info:
        strategy.query(replace(pool, features=as_kind(features, kind)), 2, seed=0)
    assert info.value.field == "pool.features"


@pytest.mark.parametrize("kind", KINDS)
def test_labelled_rows_of_another_width_are_refused(strategy: QueryStrategy, kind: str) -> None:
    pool = replace(make_pool(kind), labelled=as_kind(np.ones((2, 5)), kind))
    with pytest.raises(InvalidInput) as info:
        strategy.query(pool, 2, seed=0)
    assert info.value.field == "pool.labelled"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 7])
def test_items_waiting_for_a_label_are_taken(strategy: QueryStrategy, kind: str, n: int) -> None:
    pool = make_pool(kind, seed=5, pending=6)
    chosen = strategy.query(pool, n, seed=11)
    assert_valid(chosen, n, len(pool))
    np.testing.assert_array_equal(strategy.query(pool, n, seed=11), chosen)
    cold = replace(pool, probabilities=None, committee=None, pending_probabilities=None)
    if not strategy.needs:
        assert_valid(strategy.query(cold, n, seed=11), n, len(pool))


@pytest.mark.parametrize("kind", KINDS)
def test_pending_items_of_the_whole_pool_and_of_duplicates(
    strategy: QueryStrategy, kind: str
) -> None:
    tied = all_tied(kind, n=12)
    assert tied.labelled is not None
    assert tied.labelled_probabilities is not None
    pool = replace(tied, pending=tied.labelled, pending_probabilities=tied.labelled_probabilities)
    assert_valid(strategy.query(pool, 5, seed=4), 5, 12)
    pool = make_pool(kind, n=9, pending=3)
    assert sorted(strategy.query(pool, 9, seed=0).tolist()) == list(range(9))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("field", ["labelled", "pending"])
def test_labelled_or_pending_rows_of_another_width_or_not_finite_are_refused(
    strategy: QueryStrategy, kind: str, field: str
) -> None:
    pool = make_pool(kind, pending=2)
    broken = np.ones((2, 6))
    broken[1, 3] = np.nan
    for bad in (as_kind(np.ones((2, 5)), kind), as_kind(broken, kind), np.ones(6)):
        with pytest.raises(InvalidInput) as info:
            strategy.query(replace(pool, **{field: bad}), 2, seed=0)
        assert info.value.field == f"pool.{field}"


def test_pending_items_need_the_models_probabilities_for_them(strategy: QueryStrategy) -> None:
    pool = make_pool(pending=2)
    with pytest.raises(InvalidInput) as info:
        strategy.query(replace(pool, pending_probabilities=None), 2, seed=0)
    assert info.value.field == "pool.pending_probabilities"
    assert "pending items" in info.value.message
    assert pool.pending_probabilities is not None
    for bad in (
        pool.pending_probabilities[:1],
        pool.pending_probabilities[:, :2],
        -pool.pending_probabilities,
    ):
        with pytest.raises(InvalidInput) as info:
            strategy.query(replace(pool, pending_probabilities=bad), 2, seed=0)
        assert info.value.field == "pool.pending_probabilities"


def test_a_committee_of_one_is_refused(strategy: QueryStrategy) -> None:
    pool = make_pool()
    assert pool.committee is not None
    with pytest.raises(InvalidInput) as info:
        strategy.query(replace(pool, committee=pool.committee[:1]), 2, seed=0)
    assert info.value.field == "pool.committee"


def test_each_missing_field_it_needs_is_named(strategy: QueryStrategy) -> None:
    pool = make_pool()
    for field in sorted(strategy.needs):
        with pytest.raises(InvalidInput) as info:
            strategy.query(replace(pool, **{field: None}), 2, seed=0)
        assert info.value.field == f"pool.{field}"
        assert repr(strategy.title) in info.value.message
        assert strategy.title != "explore"  # a wrapper says what it wraps


@pytest.mark.parametrize("kind", KINDS)
def test_features_alone_start_cold_or_name_what_is_missing(
    strategy: QueryStrategy, kind: str
) -> None:
    bare = Pool(features=make_pool(kind).features)
    if strategy.needs:
        with pytest.raises(InvalidInput) as info:
            strategy.query(bare, 3, seed=0)
        assert info.value.field == f"pool.{min(strategy.needs)}"
    else:
        assert_valid(strategy.query(bare, 3, seed=0), 3, len(bare))


def test_sparse_features_in_another_format_are_accepted(strategy: QueryStrategy) -> None:
    pool = make_pool("sparse")
    coo = replace(pool, features=sparse.coo_matrix(pool.features))
    assert_valid(strategy.query(coo, 4, seed=0), 4, len(pool))


def test_no_strategy_holds_a_pairwise_matrix(strategy: QueryStrategy) -> None:
    """3,000 candidates: an ``n x n`` float64 matrix is 72 MB; the peak must stay far below."""
    pool = make_pool(n=3_000, seed=9)
    tracemalloc.start()
    try:
        strategy.query(pool, 20, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3_000 * 3_000 * 8 / 8


@pytest.mark.parametrize("name", ["", "Margin", "uncertainty", None])
def test_an_unknown_name_is_refused(name: object) -> None:
    with pytest.raises(UnknownStrategy) as info:
        make_strategy(name)  # type: ignore[arg-type]
    assert info.value.field == "strategy"
    assert "margin" in info.value.message
