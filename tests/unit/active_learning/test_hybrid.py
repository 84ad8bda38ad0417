"""Density-weighted margin and cluster margin on pools small enough to score by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.active_learning import ClusterMargin, DensityWeighted, Falcun, Margin, Pool
from loopwise.active_learning.hybrid import density, rank_within
from loopwise.errors import InvalidInput
from tests.unit.active_learning.factories import KINDS, as_kind


def margins(*values: float) -> npt.NDArray[np.float64]:
    """Two-class probabilities whose margin score (1 - gap) is each of ``values``."""
    gap = 1.0 - np.asarray(values)
    return np.column_stack([(1.0 + gap) / 2.0, (1.0 - gap) / 2.0])


# Rows [1, 0], [1, 0], [0, 1]: the mean unit vector is [2/3, 1/3], so the mean cosine
# similarities are 2/3, 2/3, 1/3. Margin scores 0.6, 0.2, 1.0; times density:
# 0.4, 0.1333, 0.3333 -> order 0, 2, 1 (plain margin: 2, 0, 1).
FEATURES = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
PROBS = margins(0.6, 0.2, 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_density_is_the_mean_cosine_similarity(kind: str) -> None:
    np.testing.assert_allclose(density(as_kind(FEATURES, kind)), [2 / 3, 2 / 3, 1 / 3])


@pytest.mark.parametrize("kind", KINDS)
def test_density_equals_the_explicit_pairwise_mean(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((40, 7)) * (rng.random((40, 7)) < 0.5)
    x[5] = 0.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    expected = np.clip((unit @ unit.T).mean(axis=1), 0.0, 1.0)
    np.testing.assert_allclose(density(as_kind(x, kind)), expected, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_density_weighting_prefers_typical_uncertain_candidates(kind: str) -> None:
    pool = Pool(features=as_kind(FEATURES, kind), probabilities=PROBS)
    np.testing.assert_allclose(DensityWeighted().scores(pool), [0.4, 0.2 * 2 / 3, 1 / 3])
    assert DensityWeighted().query(pool, 3, seed=0).tolist() == [0, 2, 1]
    assert Margin().query(pool, 3, seed=0).tolist() == [2, 0, 1]


def test_beta_zero_is_plain_margin_and_beta_sharpens_the_density() -> None:
    pool = Pool(features=np.array(FEATURES), probabilities=PROBS)
    np.testing.assert_allclose(DensityWeighted(beta=0).scores(pool), [0.6, 0.2, 1.0])
    np.testing.assert_allclose(
        DensityWeighted(beta=2).scores(pool), [0.6 * 4 / 9, 0.2 * 4 / 9, 1 / 9]
    )


@pytest.mark.parametrize("beta", [-1.0, float("nan"), float("inf"), "1", True])
def test_a_bad_beta_is_refused(beta: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        DensityWeighted(beta=beta)
    assert info.value.field == "beta"


# Two far-apart groups: rows 0-3 near the origin, rows 4-6 near (50, 50). The four most
# uncertain candidates (0, 1, then 4, 5) are not the four of plain margin (0, 1, 2, 4).
BLOBS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [50.0, 50.0], [51.0, 50.0], [50.0, 51.0]]
BLOB_PROBS = margins(0.95, 0.9, 0.5, 0.2, 0.4, 0.3, 0.1)


@pytest.mark.parametrize("kind", KINDS)
def test_cluster_margin_takes_the_most_uncertain_of_each_cluster(kind: str) -> None:
    pool = Pool(features=as_kind(BLOBS, kind), probabilities=BLOB_PROBS)
    assert ClusterMargin().query(pool, 2, seed=0).tolist() == [0, 4]
    assert Margin().query(pool, 2, seed=0).tolist() == [0, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_beyond_the_cluster_cap_it_goes_round_robin(kind: str) -> None:
    pool = Pool(features=as_kind(BLOBS, kind), probabilities=BLOB_PROBS)
    assert ClusterMargin(max_clusters=2).query(pool, 5, seed=1).tolist() == [0, 4, 1, 5, 2]


def test_rank_within_groups_by_descending_score_ties_by_index() -> None:
    groups = np.array([1, 0, 1, 0, 1], dtype=np.int64)
    scores = np.array([0.1, 0.5, 0.9, 0.5, 0.3])
    assert rank_within(groups, scores).tolist() == [2, 0, 0, 1, 1]


@pytest.mark.parametrize("cap", [0, -3, 2.5, True])
def test_a_bad_cluster_cap_is_refused(cap: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        ClusterMargin(max_clusters=cap)
    assert info.value.field == "max_clusters"


def test_falcun_takes_the_most_uncertain_then_another_confusion() -> None:
    # Rows 0 and 1 are the same 0-or-1 confusion; row 2 a 1-or-2 one, slightly less uncertain;
    # row 3 is certain. A sharp draw takes row 0 or 1 first, then row 2 (far from it in
    # probability space), not the other copy.
    probs = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.55, 0.45], [1.0, 0.0, 0.0]])
    pool = Pool(features=np.zeros((4, 1)), probabilities=probs)
    for seed in range(5):
        first, second = Falcun(gamma=60).query(pool, 2, seed=seed).tolist()
        assert first in (0, 1)
        assert second == 2


def test_falcun_with_gamma_zero_draws_uniformly() -> None:
    pool = Pool(features=np.zeros((50, 1)), probabilities=margins(*np.linspace(0.0, 1.0, 50)))
    firsts = {Falcun(gamma=0).query(pool, 1, seed=seed)[0] for seed in range(30)}
    assert len(firsts) > 10


@pytest.mark.parametrize("gamma", [-1.0, float("inf"), True, "10"])
def test_falcun_refuses_a_bad_gamma(gamma: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        Falcun(gamma=gamma)
    assert info.value.field == "gamma"
