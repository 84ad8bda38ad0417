"""Term counts of the pool's texts, kept per project and analysis, beside their features.

A space of term counts (``terms-<hash>``: :func:`~loopwise.training.terms.analysis_key`) is a
folder of the feature store (:mod:`loopwise.store.features`), written, removed and read again
after a merge the same way. Its chunks hold *blocks*: the counts of some texts whose columns are
terms of the block's own (a batch counted at once), so that batches counted by different
workers, at different times, need no shared list of terms. A chunk is written with one block;
once a space holds more than ``COMPACT_AFTER`` chunks, a load writes the blocks of the smallest
(:func:`~loopwise.store.features.merge_plan`) into one chunk, as they are. Terms are not merged
onto one list: over a million texts that took 5 s of dict look-ups (profiled), where the
blocks' terms are each looked up once in a model's vocabulary
(:func:`~loopwise.training.terms.counted_features`), block by block.

A chunk's arrays: ``ids``; the counts of all its blocks one after the other as CSR parts
(``data`` int32, ``indices`` into each block's own terms, ``indptr``); ``terms``, every block's
terms joined by line breaks (UTF-8; :func:`storable_terms`); ``blocks``, each block's end as
``(rows, terms)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse

from loopwise.store.features import (
    LOAD_ATTEMPTS,
    FeatureStore,
    IntArray,
    chunks_to_read,
    remove_merged,
    write_chunk,
)

_ARRAYS = ("ids", "data", "indices", "indptr", "terms", "blocks")


class TermBlock(NamedTuple):
    """Counts of texts whose columns are terms of their own."""

    ids: IntArray
    """The pool items counted, one per row."""
    counts: Any
    """CSR ``(len(ids), len(terms))`` of int32; column ``j`` counts ``terms[j]``."""
    terms: list[str]


class TermStore:
    """Term counts of pool items by id, per project and space (see the module)."""

    def __init__(self, root: Path) -> None:
        self.store = FeatureStore(root)

    def append(
        self, project_id: int, space: str, ids: IntArray, counts: Any, terms: Sequence[str]
    ) -> None:
        """Store the counts of ``ids`` (rows of sparse ``counts``, column ``j`` counting
        ``terms[j]``; distinct terms, none holding a line break) as a new chunk of the space."""
        if len(ids) != counts.shape[0]:
            raise ValueError(f"{len(ids)} ids for {counts.shape[0]} rows")
        if not sparse.issparse(counts) or counts.shape[1] != len(terms):
            raise ValueError(f"{len(terms)} terms for the columns of {counts.shape}")
        if not storable_terms(terms):
            raise ValueError("terms holding a line break cannot be stored")
        if len(ids):
            block = TermBlock(np.asarray(ids, dtype=np.int64), counts, list(terms))
            self.store.append_fields(project_id, space, block.ids, _fields([block]))

    def load(self, project_id: int, space: str, wanted: IntArray | None = None) -> list[TermBlock]:
        """The stored blocks of the space, chunk by chunk (an id may be in two: workers that
        counted the same texts); none when nothing is stored. With ``wanted`` ids, only the
        chunks holding one of them are read (their other rows too), and those a merge is due to
        take: a query wanting the counts of the candidates added since the last reads those,
        not the whole pool's."""
        folder = self.store.folder(project_id, space)
        for _ in range(LOAD_ATTEMPTS):
            try:
                chunks = chunks_to_read(folder, wanted)
                read = [_arrays(path) for path, _ in chunks]
            except FileNotFoundError:  # merged into a new chunk meanwhile: list them again
                continue
            merged = [arrays for arrays, (_, merge) in zip(read, chunks, strict=True) if merge]
            if merged:
                joined = _joined(merged)
                write_chunk(folder, joined.pop("ids"), joined)
                remove_merged(chunks)
            return [block for arrays in read for block in _blocks(arrays)]
        raise RuntimeError(f"the chunks of {folder} kept changing while being read")


def storable_terms(terms: Sequence[str]) -> bool:
    """Whether ``terms`` can be kept: a chunk joins them with line breaks."""
    return "\n" not in "".join(terms)


def _fields(blocks: Sequence[TermBlock]) -> dict[str, Any]:
    """A chunk's arrays (but its ids) for ``blocks``, one after the other."""
    parts = [sparse.csr_matrix(block.counts, dtype=np.int32) for block in blocks]
    ends = np.cumsum([(p.shape[0], len(b.terms)) for p, b in zip(parts, blocks, strict=True)], 0)
    starts = np.cumsum([0, *(p.nnz for p in parts)])[:-1]  # each block's first entry
    shifted = (p.indptr[1:] + start for p, start in zip(parts, starts, strict=True))
    indptr = np.concatenate([[0], *shifted])
    terms = "\n".join(term for block in blocks for term in block.terms)
    return {
        "data": np.concatenate([p.data for p in parts]),
        "indices": np.concatenate([p.indices for p in parts]).astype(np.int32, copy=False),
        "indptr": indptr.astype(np.int64),
        "terms": np.frombuffer(terms.encode("utf-8"), dtype=np.uint8),
        "blocks": np.asarray(ends, dtype=np.int64).reshape(-1, 2),
    }


def _arrays(path: Path) -> dict[str, Any]:
    """The arrays of the chunk at ``path``. Raises ``FileNotFoundError`` if it is gone, and
    ``ValueError`` if it holds features, not counts."""
    with np.load(path, allow_pickle=False) as data:
        if "blocks" not in data:
            raise ValueError(f"{path.parent.name!r} holds features, not term counts")
        return {name: data[name] for name in _ARRAYS}


def _joined(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The arrays of one chunk holding the blocks of ``chunks``, as they are: arrays put one
    after the other, offsets moved, terms joined as bytes (no term is decoded)."""
    rows = np.cumsum([0, *(len(c["ids"]) for c in chunks)])[:-1]
    entries = np.cumsum([0, *(len(c["data"]) for c in chunks)])[:-1]
    terms = np.cumsum([0, *(int(c["blocks"][-1, 1]) if len(c["blocks"]) else 0 for c in chunks)])
    shift = np.column_stack([rows, terms[:-1]])
    texts = [c["terms"].tobytes() for c in chunks]
    return {
        "ids": np.concatenate([c["ids"] for c in chunks]),
        "data": np.concatenate([c["data"] for c in chunks]),
        "indices": np.concatenate([c["indices"] for c in chunks]),
        "indptr": np.concatenate(
            [[0], *(c["indptr"][1:] + e for c, e in zip(chunks, entries, strict=True))]
        ).astype(np.int64),
        "terms": np.frombuffer(b"\n".join(t for t in texts if t), dtype=np.uint8),
        "blocks": np.concatenate(
            [c["blocks"] + s for c, s in zip(chunks, shift, strict=True)]
        ).reshape(-1, 2),
    }


def _blocks(arrays: dict[str, Any]) -> list[TermBlock]:
    """The blocks of a chunk's ``arrays``."""
    ids, data, indices, indptr = (arrays[n] for n in ("ids", "data", "indices", "indptr"))
    ends = arrays["blocks"]
    text = arrays["terms"].tobytes().decode("utf-8")
    terms = text.split("\n") if len(ends) and ends[-1, 1] else []
    blocks, row, term = [], 0, 0
    for row_end, term_end in ends.tolist():
        start, stop = indptr[row], indptr[row_end]
        counts = sparse.csr_matrix(
            (data[start:stop], indices[start:stop], indptr[row : row_end + 1] - start),
            shape=(row_end - row, term_end - term),
        )
        blocks.append(TermBlock(ids[row:row_end], counts, terms[term:term_end]))
        row, term = row_end, term_end
    return blocks
