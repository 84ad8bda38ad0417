"""Term counts in the feature store: chunks of blocks, each with terms of its own, read back
block by block, only the chunks holding the ids wanted, and the smallest merged into one chunk as
they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from loopwise.store import features, terms
from loopwise.store.features import COMPACT_AFTER, FeatureStore
from loopwise.store.terms import TermBlock, TermStore, storable_terms


def counts_of(texts: list[list[str]]) -> tuple[Any, list[str]]:
    """Term counts of ``texts`` (each a list of terms) with terms of their own, in order met."""
    terms = list(dict.fromkeys(t for text in texts for t in text))
    column = {t: j for j, t in enumerate(terms)}
    matrix = np.zeros((len(texts), len(terms)), dtype=np.int32)
    for i, text in enumerate(texts):
        for t in text:
            matrix[i, column[t]] += 1
    return sparse.csr_matrix(matrix), terms


def as_dicts(blocks: list[TermBlock]) -> dict[int, dict[str, int]]:
    """``{id: {term: count}}`` of every row of ``blocks`` (each id's first)."""
    found: dict[int, dict[str, int]] = {}
    for block in blocks:
        assert block.counts.shape == (len(block.ids), len(block.terms))
        assert block.counts.dtype == np.int32
        for i, item in enumerate(block.ids.tolist()):
            row = block.counts[i]
            found.setdefault(
                item,
                {block.terms[j]: int(n) for j, n in zip(row.indices, row.data, strict=True)},
            )
    return found


def expected(texts: list[list[str]], first: int) -> dict[int, dict[str, int]]:
    return {first + i: {t: text.count(t) for t in text} for i, text in enumerate(texts)}


TEXTS = [["free", "prize", "prize"], ["call", "now"], ["now", "free", "café ✓"], []]
MORE = [["prize", "today"], ["call me", "free"]]
NONE: list[list[str]] = [[], []]  # texts with no term: a block of no columns


def add(store: TermStore, texts: list[list[str]], first: int) -> None:
    counts, terms = counts_of(texts)
    store.append(1, "terms-a", np.arange(len(texts), dtype=np.int64) + first, counts, terms)


def folder(root: Path) -> Path:
    return root / "pool" / "project-1" / "terms-a"


def test_blocks_are_read_back_with_their_own_terms(tmp_path: Path) -> None:
    store = TermStore(tmp_path)
    add(store, TEXTS, 0)
    add(store, MORE, 10)
    add(store, NONE, 20)
    blocks = store.load(1, "terms-a")
    assert [b.ids.tolist() for b in blocks] == [[0, 1, 2, 3], [10, 11], [20, 21]]
    assert as_dicts(blocks) == expected(TEXTS, 0) | expected(MORE, 10) | expected(NONE, 20)
    assert store.load(1, "terms-b") == []


def test_many_chunks_are_merged_into_one_with_the_same_blocks(tmp_path: Path) -> None:
    store = TermStore(tmp_path)
    every: dict[int, dict[str, int]] = {}
    for k in range(COMPACT_AFTER + 1):
        texts = [[f"w{k}", "shared"], [f"w{k + 1}"]] if k % 5 else NONE
        add(store, texts, 2 * k)
        every |= expected(texts, 2 * k)
    for wanted in (np.asarray([5]), None):  # merged by the first load, even of some ids
        blocks = store.load(1, "terms-a", wanted)
        assert len(list(folder(tmp_path).glob("*.npz"))) == 1
        assert len(blocks) == COMPACT_AFTER + 1
        assert as_dicts(blocks) == every


def test_a_merge_of_the_small_chunks_leaves_the_large_one_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TermStore(tmp_path)
    large = [[f"w{k}", "shared"] for k in range(200 * COMPACT_AFTER)]  # 244 kB; 32 small: 49 kB
    add(store, large, 100_000)
    (kept,) = sorted(folder(tmp_path).glob("*.npz"))
    every = expected(large, 100_000)
    for k in range(COMPACT_AFTER):
        add(store, [[f"s{k}"]], k)
        every |= expected([[f"s{k}"]], k)
    real = terms._arrays
    read: list[Path] = []

    def recorded(path: Path) -> dict[str, Any]:
        read.append(path)
        return real(path)

    monkeypatch.setattr(terms, "_arrays", recorded)
    blocks = store.load(1, "terms-a", np.asarray([3]))
    assert kept not in read
    assert len(read) == COMPACT_AFTER
    assert as_dicts(blocks) == {k: every[k] for k in range(COMPACT_AFTER)}
    after = sorted(folder(tmp_path).glob("*.npz"))
    assert len(after) == 2
    assert kept in after
    assert as_dicts(store.load(1, "terms-a")) == every


def test_a_load_of_some_ids_reads_only_the_chunks_holding_them(tmp_path: Path) -> None:
    store = TermStore(tmp_path)
    add(store, TEXTS, 0)
    add(store, MORE, 10)
    add(store, [["late"]], 20)
    blocks = store.load(1, "terms-a", np.asarray([11, 99]))
    assert [b.ids.tolist() for b in blocks] == [[10, 11]]  # the block of 11, whole; no other
    assert as_dicts(blocks) == expected(MORE, 10)
    assert store.load(1, "terms-a", np.asarray([99])) == []


def test_texts_counted_twice_are_read_once(tmp_path: Path) -> None:
    """Two workers counted the same texts: each id's first block is the one read."""
    store = TermStore(tmp_path)
    add(store, TEXTS, 0)
    add(store, TEXTS, 0)
    assert as_dicts(store.load(1, "terms-a")) == expected(TEXTS, 0)


def test_bad_counts_are_refused_and_nothing_written(tmp_path: Path) -> None:
    store = TermStore(tmp_path)
    counts, terms = counts_of(TEXTS)
    ids = np.arange(len(TEXTS), dtype=np.int64)
    with pytest.raises(ValueError, match="terms for the columns"):
        store.append(1, "terms-a", ids, counts, terms[:-1])
    with pytest.raises(ValueError, match="terms for the columns"):
        store.append(1, "terms-a", ids, counts.toarray(), terms)
    with pytest.raises(ValueError, match="ids for"):
        store.append(1, "terms-a", ids[:-1], counts, terms)
    with pytest.raises(ValueError, match="line break"):
        store.append(1, "terms-a", ids, counts, [*terms[:-1], "two\nlines"])
    with pytest.raises(ValueError, match="feature-space name"):
        store.append(1, "Terms A", ids, counts, terms)
    assert FeatureStore(tmp_path).spaces(1) == []
    assert storable_terms(terms)
    assert not storable_terms(["a", "b\nc"])


def test_a_space_of_features_is_not_read_as_counts(tmp_path: Path) -> None:
    FeatureStore(tmp_path).append(1, "model-1", np.asarray([1]), np.asarray([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="holds features, not term counts"):
        TermStore(tmp_path).load(1, "model-1")


def test_a_load_reads_again_when_a_chunk_is_merged_away_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TermStore(tmp_path)
    add(store, TEXTS, 0)
    add(store, MORE, 10)
    real = terms._arrays
    calls: list[Path] = []

    def raced(path: Path) -> dict[str, Any]:
        calls.append(path)
        if len(calls) == 1:  # another worker merged the chunks into one meanwhile
            chunks = sorted(folder(tmp_path).glob("*.npz"))
            joined = terms._joined([real(chunk) for chunk in chunks])
            features.write_chunk(folder(tmp_path), joined.pop("ids"), joined)
            for chunk in chunks:
                chunk.unlink()
        return real(path)

    monkeypatch.setattr(terms, "_arrays", raced)
    assert as_dicts(store.load(1, "terms-a")) == expected(TEXTS, 0) | expected(MORE, 10)
