"""k-center greedy and k-means sampling on points whose answer can be read off a sketch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopwise.active_learning import (
    Coreset,
    KMeansSampling,
    Pool,
    diversity,
    geometry,
    k_center_greedy,
)
from loopwise.active_learning.diversity import MAX_COVERED_CLUSTERS
from loopwise.active_learning.geometry import as_rows, min_squared_distances, squared_norms
from tests.unit.active_learning.factories import KINDS, as_kind

LINE = [[0.0], [1.0], [2.0], [5.0], [10.0]]


@pytest.mark.parametrize("kind", KINDS)
def test_coreset_takes_the_farthest_point_each_time(kind: str) -> None:
    # labelled: 0. Farthest: 10 (row 4); then from {0, 10}: 5 (row 3, 5 away);
    # then from {0, 5, 10}: 2 (row 2, 2 away from 0, 3 from 5).
    pool = Pool(features=as_kind(LINE, kind), labelled=as_kind([[0.0]], kind))
    assert Coreset().query(pool, 3, seed=0).tolist() == [4, 3, 2]


@pytest.mark.parametrize("kind", KINDS)
def test_coreset_in_two_dimensions_with_sparse_rows(kind: str) -> None:
    points = [[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [6.0, 8.0], [0.0, 0.0]]
    pool = Pool(features=as_kind(points, kind), labelled=as_kind([[0.0, 0.0]], kind))
    # labelled: the origin. Row 3 is 10 away; then row 1 is 5 from both the origin and row 3,
    # row 2 only 1 from the origin, the duplicate origin 0.
    assert Coreset().query(pool, 2, seed=0).tolist() == [3, 1]


def test_coreset_without_labelled_items_starts_at_random_then_covers() -> None:
    pool = Pool(features=np.array([[0.0], [0.1], [10.0], [10.1]]))
    firsts = set()
    for seed in range(12):
        first, second = Coreset().query(pool, 2, seed=seed).tolist()
        firsts.add(first)
        assert (first < 2) != (second < 2)
    assert len(firsts) > 1


def test_k_center_greedy_continues_from_earlier_picks() -> None:
    rows = as_rows(np.array(LINE))
    picks = k_center_greedy(rows, 2, np.random.default_rng(0), chosen=np.array([4]))
    assert picks.tolist() == [0, 3]


@pytest.mark.parametrize("kind", KINDS)
def test_the_nearest_labelled_row_is_found_in_any_block(kind: str) -> None:
    rows = as_rows(as_kind([[0.0], [100.0], [40.0]], kind))
    labelled = as_rows(as_kind([[50.0], [99.0], [3.0], [60.0]], kind))
    for cells in (1, 3, 6, 1_000):
        nearest = min_squared_distances(rows, squared_norms(rows), labelled, chunk_cells=cells)
        assert nearest.tolist() == [9.0, 1.0, 100.0]


@pytest.mark.parametrize("kind", KINDS)
def test_kmeans_takes_the_point_nearest_each_centre_larger_clusters_first(kind: str) -> None:
    # three far-apart groups of 5, 3 and 1 points, each holding the point at its own mean.
    blobs = [
        [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0],
        [20.0, 20.0], [21.0, 20.0], [19.0, 20.0],
        [-20.0, 20.0],
    ]  # fmt: skip
    pool = Pool(features=as_kind(blobs, kind))
    for seed in range(3):
        assert KMeansSampling().query(pool, 3, seed=seed).tolist() == [0, 5, 8]


def test_kmeans_fills_up_when_there_are_fewer_distinct_points_than_picks() -> None:
    pool = Pool(features=np.array([[0.0], [0.0], [0.0], [0.0], [7.0]]))
    chosen = KMeansSampling().query(pool, 3, seed=0)
    assert 4 in chosen.tolist()
    assert len(set(chosen.tolist())) == 3


def textbook_picks(points: Any, labelled: Any, n: int) -> list[int]:
    """The textbook loop: full distances to every centre, recomputed for each pick."""
    centres, expected = list(labelled), list[int]()
    for _ in range(n):
        nearest = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0)
        nearest[expected] = -1.0
        expected.append(int(np.argmax(nearest)))
        centres.append(points[expected[-1]])
    return expected


@pytest.mark.parametrize("kind", KINDS)
def test_k_center_greedy_matches_the_textbook_loop(kind: str) -> None:
    rng = np.random.default_rng(3)
    points, labelled = rng.standard_normal((300, 4)), rng.standard_normal((7, 4))
    rows = as_rows(as_kind(points.tolist(), kind))
    picks = k_center_greedy(
        rows, 20, np.random.default_rng(0), labelled=as_rows(as_kind(labelled.tolist(), kind))
    )
    assert picks.tolist() == textbook_picks(points, labelled, 20)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("sample", "first"), [(1, 1), (7, 2), (40, 256), (10_000, 256)])
def test_k_center_greedy_matches_the_textbook_loop_whatever_is_sampled_first(
    kind: str, sample: int, first: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # more labelled rows than the sample, and exact duplicates (ties go to the first row)
    monkeypatch.setattr(geometry, "sample_size", lambda references, sparse_rows: sample)
    monkeypatch.setattr(geometry, "FIRST_REFINED", first)
    rng = np.random.default_rng(5)
    points, labelled = rng.standard_normal((400, 4)), rng.standard_normal((60, 4))
    points = np.vstack([points, points[:80]])
    rows = as_rows(as_kind(points.tolist(), kind))
    picks = k_center_greedy(
        rows, 25, np.random.default_rng(0), labelled=as_rows(as_kind(labelled.tolist(), kind))
    )
    assert picks.tolist() == textbook_picks(points, labelled, 25)


@pytest.mark.parametrize("kind", KINDS)
def test_coreset_counts_items_waiting_for_a_label_as_covered(kind: str) -> None:
    # labelled: 0; waiting: 10. Farthest from both: 5 (row 3), then 2 (row 2).
    pool = Pool(
        features=as_kind(LINE, kind),
        labelled=as_kind([[0.0]], kind),
        pending=as_kind([[10.0]], kind),
    )
    assert Coreset().query(pool, 2, seed=0).tolist() == [3, 2]
    without = Pool(features=pool.features, labelled=pool.labelled)
    assert Coreset().query(without, 2, seed=0).tolist() == [4, 3]


def test_coreset_with_pending_items_picks_as_if_they_were_labelled() -> None:
    rng = np.random.default_rng(8)
    points, labelled, waiting = (rng.standard_normal((n, 3)) for n in (200, 5, 9))
    pool = Pool(features=points, labelled=labelled, pending=waiting)
    both = Pool(features=points, labelled=np.vstack([labelled, waiting]))
    np.testing.assert_array_equal(
        Coreset().query(pool, 12, seed=0), Coreset().query(both, 12, seed=0)
    )
    alone = Pool(features=points, pending=waiting)  # with nothing labelled: no random start
    assert (
        Coreset().query(alone, 12, seed=0).tolist() == Coreset().query(alone, 12, seed=5).tolist()
    )


FOUR_GROUPS = [
    [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0],
    [20.0, 20.0], [21.0, 20.0], [19.0, 20.0], [20.0, 20.0],
    [-20.0, 20.0], [-21.0, 20.0], [-19.0, 20.0],
    [0.0, -30.0], [1.0, -30.0], [-1.0, -30.0],
]  # fmt: skip
"""Far-apart groups of 5, 4, 3 and 3 points; the first of each is at its mean."""


@pytest.mark.parametrize("kind", KINDS)
def test_kmeans_leaves_groups_a_labelled_or_pending_item_represents_already(kind: str) -> None:
    plain = Pool(features=as_kind(FOUR_GROUPS, kind))
    waiting = Pool(features=plain.features, pending=as_kind([[0.5, 0.5], [20.0, 20.5]], kind))
    labelled = Pool(features=plain.features, labelled=as_kind([[0.5, 0.5]], kind))
    both = Pool(
        features=plain.features,
        labelled=as_kind([[0.5, 0.5]], kind),
        pending=as_kind([[20.0, 20.5]], kind),
    )
    for seed in range(3):
        assert KMeansSampling().query(plain, 4, seed=seed)[:2].tolist() == [0, 5]
        assert sorted(KMeansSampling().query(waiting, 2, seed=seed).tolist()) == [9, 12]
        assert KMeansSampling().query(labelled, 3, seed=seed)[0] == 5
        assert sorted(KMeansSampling().query(labelled, 3, seed=seed).tolist()) == [5, 9, 12]
        assert sorted(KMeansSampling().query(both, 2, seed=seed).tolist()) == [9, 12]


def test_kmeans_fills_up_away_from_pending_items_when_they_represent_everything() -> None:
    pool = Pool(
        features=np.array([[0.0], [0.1], [5.0], [5.1], [9.0]]),
        pending=np.array([[0.0], [5.0], [9.0], [0.05], [5.05]]),
    )
    chosen = KMeansSampling().query(pool, 2, seed=0).tolist()
    assert len(set(chosen)) == 2


def test_kmeans_clusters_a_sample_of_many_labelled_and_pending_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2)
    points = rng.standard_normal((900, 2))
    labelled, pending = rng.standard_normal((300, 2)), rng.standard_normal((300, 2))
    pool = Pool(features=points, labelled=labelled, pending=pending)
    sizes: list[tuple[int, int]] = []
    real = diversity.cluster

    def counted(rows: Any, k: int, generator: np.random.Generator) -> Any:
        sizes.append((rows.shape[0], k))
        return real(rows, k, generator)

    monkeypatch.setattr(diversity, "cluster", counted)
    chosen = KMeansSampling().query(pool, 5, seed=1)
    assert len(set(chosen.tolist())) == 5
    np.testing.assert_array_equal(KMeansSampling().query(pool, 5, seed=1), chosen)
    assert sizes == [(900 + MAX_COVERED_CLUSTERS, 5 + MAX_COVERED_CLUSTERS)] * 2
