"""The factory and the default strategy: cold start by diversity, then the configured hybrid."""

from __future__ import annotations

import numpy as np
import pytest

from loopwise.active_learning import (
    DEFAULT_COLD,
    DEFAULT_DENSE,
    DEFAULT_EXPLORE,
    DEFAULT_HYBRID,
    DEFAULT_WIDE,
    Badge,
    Bait,
    Default,
    DensityWeighted,
    Explore,
    Falcun,
    KMeansSampling,
    Pool,
    make_strategy,
)
from loopwise.errors import InvalidInput, UnknownStrategy
from tests.unit.active_learning.factories import KINDS, make_pool


def test_the_default_is_kmeans_then_margin_without_duplicates_or_bait() -> None:
    assert (DEFAULT_HYBRID, DEFAULT_EXPLORE, DEFAULT_COLD) == ("margin_diverse", 0.1, "kmeans")
    assert (DEFAULT_DENSE, DEFAULT_WIDE) == ("bait", "falcun")


@pytest.mark.parametrize("kind", KINDS)
def test_the_default_starts_cold_with_kmeans(kind: str) -> None:
    bare = Pool(features=make_pool(kind).features)
    expected = KMeansSampling().query(bare, 5, seed=3)
    assert Default().query(bare, 5, seed=3).tolist() == expected.tolist()


def test_with_a_model_on_sparse_features_the_default_uses_the_exploring_hybrid() -> None:
    pool = make_pool("sparse")
    hybrid = make_strategy(DEFAULT_HYBRID, explore=DEFAULT_EXPLORE)
    default = Default()
    assert isinstance(default.hybrid, Explore)
    assert default.query(pool, 10, seed=2).tolist() == hybrid.query(pool, 10, seed=2).tolist()


def test_with_a_model_on_dense_features_the_default_uses_bait() -> None:
    pool = make_pool("dense")
    assert isinstance(Default().dense, Bait)
    expected = Bait().query(pool, 10, seed=2)
    assert Default().query(pool, 10, seed=2).tolist() == expected.tolist()


def test_on_dense_features_too_wide_for_bait_the_default_uses_falcun() -> None:
    rng = np.random.default_rng(4)
    wide = rng.normal(size=(12, 2048))  # (2048 + 1)^2 cells for two classes: over the limit
    probs = rng.dirichlet(np.ones(2), 12)
    pool = Pool(wide, probs, wide[:2], labelled_probabilities=probs[:2])
    with pytest.raises(InvalidInput) as refused:
        Bait().query(pool, 3, seed=0)
    assert refused.value.field == "pool.features"
    narrower = Pool(wide[:, :2047], probs, wide[:2, :2047], labelled_probabilities=probs[:2])
    expected = Bait().query(narrower, 3, seed=0).tolist()
    assert Default().query(narrower, 3, seed=0).tolist() == expected
    assert Default().query(pool, 3, seed=0).tolist() == Falcun().query(pool, 3, seed=0).tolist()


def test_the_default_can_be_reconfigured() -> None:
    pool = make_pool()
    default = make_strategy("default", hybrid="badge", explore=0.0)
    assert isinstance(default, Default)
    assert isinstance(default.hybrid, Badge)
    assert default.dense is default.hybrid
    assert default.query(pool, 4, seed=1).tolist() == Badge().query(pool, 4, seed=1).tolist()
    exploring = make_strategy("default", explore=0.3)
    assert isinstance(exploring, Default)
    assert isinstance(exploring.hybrid, Explore)
    assert exploring.hybrid.share == 0.3


def test_the_default_waits_for_whatever_its_hybrid_needs() -> None:
    pool = Pool(features=make_pool().features, probabilities=make_pool().probabilities)
    committee_first = Default(hybrid="vote_entropy")
    expected = KMeansSampling().query(pool, 3, seed=0)
    assert committee_first.query(pool, 3, seed=0).tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("params", "error", "field"),
    [
        ({"hybrid": "default"}, InvalidInput, "hybrid"),
        ({"cold": "default"}, InvalidInput, "cold"),
        ({"cold": "margin"}, InvalidInput, "cold"),
        ({"hybrid": "nope"}, UnknownStrategy, "strategy"),
        ({"explore": 2.0}, InvalidInput, "explore"),
    ],
)
def test_a_default_that_cannot_work_is_refused(
    params: dict[str, str | float], error: type[InvalidInput], field: str
) -> None:
    with pytest.raises(error) as info:
        Default(**params)  # type: ignore[arg-type]
    assert info.value.field == field


def test_parameters_reach_the_strategy() -> None:
    density = make_strategy("density", beta=2.5)
    assert isinstance(density, DensityWeighted)
    assert density.beta == 2.5
    wrapped = make_strategy("density", beta=0.5, explore=0.2)
    assert isinstance(wrapped, Explore)
    assert isinstance(wrapped.inner, DensityWeighted)
    assert wrapped.inner.beta == 0.5


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownStrategy) as info:
        make_strategy("uncertainty")
    assert "'badge'" in info.value.message
    assert "'default'" in info.value.message
    assert np.all([name in info.value.message for name in ("coreset", "kmeans")])
