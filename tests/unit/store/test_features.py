"""The pool's feature store: chunks appended and read back by id, the smallest merged into one
once there are many, a load that finds a chunk merged away under it reads the folder again, and
spaces no longer needed removed whole, with workers that race the removal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from loopwise.store import features
from loopwise.store.features import COMPACT_AFTER, FeatureStore, merge_plan


def chunks(root: Path) -> list[Path]:
    return sorted((root / "pool" / "project-1" / "model-1").glob("*.npz"))


def fill(store: FeatureStore, count: int, *, sparse_rows: bool = False) -> np.ndarray:
    """``count`` chunks of two rows each, ids ``2k`` and ``2k + 1``; every row ``[id, -id]``."""
    for k in range(count):
        ids = np.asarray([2 * k, 2 * k + 1], dtype=np.int64)
        rows: Any = np.column_stack([ids, -ids]).astype(np.float64)
        store.append(1, "model-1", ids, sparse.csr_matrix(rows) if sparse_rows else rows)
    return np.arange(2 * count, dtype=np.int64)


def chunks_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The chunk files feature stores read, from now on."""
    real = features._read
    read: list[Path] = []

    def recorded(listed: list[Path]) -> Any:
        read.extend(listed)
        return real(listed)

    monkeypatch.setattr(features, "_read", recorded)
    return read


def dense(rows: Any) -> np.ndarray:
    return np.asarray(rows.toarray() if sparse.issparse(rows) else rows)


@pytest.mark.parametrize("sparse_rows", [False, True])
def test_many_chunks_are_merged_into_one_with_the_same_rows(
    tmp_path: Path, sparse_rows: bool
) -> None:
    store = FeatureStore(tmp_path)
    expected = fill(store, COMPACT_AFTER + 1, sparse_rows=sparse_rows)
    ids, rows = store.load(1, "model-1")
    assert len(chunks(tmp_path)) == 1
    again_ids, again_rows = store.load(1, "model-1")
    for got_ids, got_rows in ((ids, rows), (again_ids, again_rows)):
        assert sorted(got_ids.tolist()) == expected.tolist()
        assert sparse.issparse(got_rows) == sparse_rows
        np.testing.assert_array_equal(dense(got_rows), np.column_stack([got_ids, -got_ids]))


def test_a_few_chunks_stay_as_they_are(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    fill(store, COMPACT_AFTER)
    ids, _ = store.load(1, "model-1")
    assert len(ids) == 2 * COMPACT_AFTER
    assert len(chunks(tmp_path)) == COMPACT_AFTER


def test_a_merge_leaves_a_chunk_larger_than_the_smaller_ones_together(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    big = np.arange(1_000, 1_000 + 200 * COMPACT_AFTER, dtype=np.int64)  # 154 kB; 32 small: 18 kB
    store.append(1, "model-1", big, np.column_stack([big, -big]).astype(np.float64))
    (kept,) = chunks(tmp_path)
    before = kept.stat()
    expected = np.concatenate([fill(store, COMPACT_AFTER), big])
    ids, rows = store.load(1, "model-1")
    assert sorted(ids.tolist()) == sorted(expected.tolist())
    np.testing.assert_array_equal(rows, np.column_stack([ids, -ids]))
    after = chunks(tmp_path)
    assert len(after) == 2
    assert kept in after
    assert kept.stat().st_mtime_ns == before.st_mtime_ns
    again, _ = store.load(1, "model-1")
    assert sorted(again.tolist()) == sorted(expected.tolist())


def test_a_load_of_some_ids_reads_only_the_chunks_holding_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FeatureStore(tmp_path)
    fill(store, 3)
    read = chunks_read(monkeypatch)
    ids, rows = store.load(1, "model-1", np.asarray([3, 99]))
    assert read == [chunks(tmp_path)[1]]  # the chunk of 3, whole; no other
    assert ids.tolist() == [2, 3]
    np.testing.assert_array_equal(rows, [[2, -2], [3, -3]])
    ids, rows = store.load(1, "model-1", np.asarray([99]))
    assert (len(ids), rows) == (0, None)


def test_merge_plan_takes_the_smallest_and_what_they_outweigh() -> None:
    assert merge_plan([5] * COMPACT_AFTER) == []
    assert merge_plan([5] * (COMPACT_AFTER + 1)) == list(range(COMPACT_AFTER + 1))
    # a chunk larger than all the smaller ones together stays; one as large as them is taken
    assert merge_plan([10_000, *[1] * COMPACT_AFTER]) == list(range(1, COMPACT_AFTER + 1))
    assert merge_plan([*[1] * COMPACT_AFTER, COMPACT_AFTER]) == list(range(COMPACT_AFTER + 1))
    # each larger than the smaller ones together: enough of the smallest to leave half the limit
    sizes = [2**k for k in reversed(range(COMPACT_AFTER + 1))]
    plan = merge_plan(sizes)
    assert len(sizes) - len(plan) + 1 == COMPACT_AFTER // 2
    assert plan == list(range(COMPACT_AFTER // 2 - 1, COMPACT_AFTER + 1))


@pytest.mark.parametrize("adds", [100, 1_000, 10_000])
def test_a_space_fed_a_chunk_at_a_time_rewrites_each_row_a_few_times(adds: int) -> None:
    """A load after every chunk added: each row is written a few times in all (merging every
    chunk at once, as before, wrote 10,000 chunks 157 times over), never more than
    ``COMPACT_AFTER`` chunks are left."""
    sizes: list[int] = []
    written = 0
    for _ in range(adds):
        sizes.append(1)
        written += 1
        plan = set(merge_plan(sizes))
        if plan:
            merged = sum(sizes[k] for k in plan)
            sizes = [size for k, size in enumerate(sizes) if k not in plan] + [merged]
            written += merged
        assert len(sizes) <= COMPACT_AFTER
    assert written / adds < 4
    assert sum(sizes) == adds


def test_rows_stored_twice_are_merged_once(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    fill(store, COMPACT_AFTER)
    ids = np.asarray([0, 1], dtype=np.int64)  # another worker stored the first chunk again
    store.append(1, "model-1", ids, np.asarray([[0.0, 0.0], [1.0, -1.0]]))
    loaded, rows = store.load(1, "model-1")
    assert len(chunks(tmp_path)) == 1
    assert sorted(loaded.tolist()) == list(range(2 * COMPACT_AFTER))
    np.testing.assert_array_equal(rows, np.column_stack([loaded, -loaded]))


@pytest.mark.parametrize("sparse_rows", [False, True])
def test_one_chunk_loads_as_stored_each_id_once(tmp_path: Path, sparse_rows: bool) -> None:
    """A space of one chunk is returned as read; its ids, in any order, each once."""
    store = FeatureStore(tmp_path)
    ids = np.asarray([7, 3, 9, 3], dtype=np.int64)  # out of order, one stored twice
    rows: Any = np.column_stack([ids, -ids]).astype(np.float64)
    store.append(1, "model-1", ids, sparse.csr_matrix(rows) if sparse_rows else rows)
    loaded, got = store.load(1, "model-1")
    assert sorted(loaded.tolist()) == [3, 7, 9]
    assert sparse.issparse(got) == sparse_rows
    np.testing.assert_array_equal(dense(got), np.column_stack([loaded, -loaded]))
    ascending = np.asarray([2, 4, 8], dtype=np.int64)
    store.append(1, "model-2", ascending, np.column_stack([ascending, -ascending]))
    loaded, got = store.load(1, "model-2")
    assert loaded.tolist() == [2, 4, 8]
    np.testing.assert_array_equal(got, np.column_stack([ascending, -ascending]))


def test_a_load_that_finds_its_chunks_merged_away_reads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FeatureStore(tmp_path)
    expected = fill(store, COMPACT_AFTER + 1)
    real = features._read
    calls: list[int] = []

    def raced(listed: list[Path]) -> Any:
        calls.append(len(listed))
        if len(calls) == 1:  # another worker merges the chunks after this one listed them
            monkeypatch.setattr(features, "_read", real)
            store.load(1, "model-1")
            monkeypatch.setattr(features, "_read", raced)
        return real(listed)

    monkeypatch.setattr(features, "_read", raced)
    ids, rows = store.load(1, "model-1")
    assert calls == [COMPACT_AFTER + 1, 1]  # the first listing failed; the second saw the merge
    assert sorted(ids.tolist()) == expected.tolist()
    np.testing.assert_array_equal(rows, np.column_stack([ids, -ids]))
    assert len(chunks(tmp_path)) == 1


def test_an_empty_space_loads_as_nothing(tmp_path: Path) -> None:
    ids, rows = FeatureStore(tmp_path).load(1, "model-1")
    assert (len(ids), rows) == (0, None)


def test_retain_removes_every_other_space_whole(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    fill(store, 3)
    for space in ("model-1-items", "model-2", "model-2-items"):
        store.append(1, space, np.asarray([7]), np.asarray([[1.0, 2.0]]))
    store.append(2, "model-1", np.asarray([7]), np.asarray([[1.0, 2.0]]))  # another project
    leftover = tmp_path / "pool" / "project-1" / ".retired-model-0-0a1b2c3d"
    leftover.mkdir()  # a removal interrupted half-way
    (leftover / "000000000001-abcdef01.npz").write_bytes(b"")

    assert store.retain(1, ("model-2", "model-2-items")) == ["model-1", "model-1-items"]

    assert store.spaces(1) == ["model-2", "model-2-items"]
    assert sorted(p.name for p in (tmp_path / "pool" / "project-1").iterdir()) == [
        "model-2",
        "model-2-items",
    ]
    assert store.spaces(2) == ["model-1"]
    ids, rows = store.load(1, "model-1")
    assert (len(ids), rows) == (0, None)
    assert store.load(1, "model-2")[0].tolist() == [7]
    assert store.retain(1, ("model-2", "model-2-items")) == []
    assert store.retain(3, ()) == []  # a project with nothing stored


def test_a_space_removed_by_another_worker_first_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FeatureStore(tmp_path)
    fill(store, 2)
    real = Path.rename

    def raced(self: Path, target: Any) -> Any:
        real(self, target)  # another worker renames it away first
        raise FileNotFoundError(self)

    monkeypatch.setattr(Path, "rename", raced)
    assert store.retain(1, ()) == []
    assert store.spaces(1) == []


def test_an_append_whose_space_is_removed_under_it_makes_it_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FeatureStore(tmp_path)
    fill(store, 1)
    real = features.write_chunk
    calls: list[Path] = []

    def raced(folder: Path, ids: Any, fields: Any) -> None:
        calls.append(folder)
        if len(calls) == 1:  # removed after the append made its folder, before it wrote
            store.retain(1, ())
        real(folder, ids, fields)

    monkeypatch.setattr(features, "write_chunk", raced)
    store.append(1, "model-1", np.asarray([9]), np.asarray([[9.0, -9.0]]))
    assert len(calls) == 2
    ids, rows = store.load(1, "model-1")
    assert ids.tolist() == [9]
    np.testing.assert_array_equal(rows, [[9.0, -9.0]])
