"""The pool's features, computed once per model and kept on disk.

Active learning scores the whole unlabelled pool at every query; computing each candidate's
features (TF-IDF for text: about 30 µs an item) every time would cost seconds on a large pool.
Features belong to a feature space, the production model's (they change when another model is
promoted) and are stored per ``(project, space)`` under ``<artifact dir>/pool``: chunks of
``.npz`` files, each holding the pool-item ids and their rows (sparse CSR or dense float64).
Every query appends a chunk for the candidates added since; a chunk is written to a temporary
file and renamed, so a reader never sees half of one, and several workers may append at once
(a row found twice is read once). Once a space holds more than :data:`COMPACT_AFTER` chunks, a
load writes the smallest of those it read as one chunk and removes them (:func:`merge_plan`; a
pool fed a little at a time would otherwise be read from thousands of files at every query); a
reader that finds a chunk gone meanwhile reads the folder again, where the merged chunk holds
its rows.

Term counts of texts (:mod:`loopwise.store.terms`) are kept in spaces of the same store, written
and removed the same way.

A space no longer needed is removed whole (:meth:`FeatureStore.retain`): renamed out of the
way in one step, then deleted, so a reader finds either all of its chunks or none (and
computes what it needs again), and a writer that finds it gone makes it anew.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
COMPACT_AFTER = 32
"""Chunks a space may hold before a load merges some (:func:`merge_plan`)."""
LOAD_ATTEMPTS = 5
"""Listings a load tries when chunks are merged away under it (and writes an append tries when
its space is removed under it)."""
_SPACE = re.compile(r"^[a-z0-9-]{1,64}$")
_RETIRED = ".retired-"
"""Prefix of a space being removed (not a space name: those have no dot)."""


class FeatureStore:
    """Feature rows of pool items by id, per project and feature space (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _project(self, project_id: int) -> Path:
        return self.root / "pool" / f"project-{project_id}"

    def folder(self, project_id: int, space: str) -> Path:
        """Where the space's chunks are (the name checked: ``ValueError`` if it is not one)."""
        if not _SPACE.match(space):
            raise ValueError(f"{space!r} is not a feature-space name")
        return self._project(project_id) / space

    def spaces(self, project_id: int) -> list[str]:
        """The project's spaces, by name."""
        folder = self._project(project_id)
        found = folder.iterdir() if folder.is_dir() else ()
        return sorted(p.name for p in found if p.is_dir() and _SPACE.match(p.name))

    def retain(self, project_id: int, keep: Collection[str]) -> list[str]:
        """Remove every space of the project not in ``keep`` (see the module docstring); the
        names removed. Another worker removing the same space at once is no error."""
        folder = self._project(project_id)
        if not folder.is_dir():
            return []
        removed = []
        for path in folder.iterdir():
            if path.name.startswith(_RETIRED):  # left by a removal that was interrupted
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir() and _SPACE.match(path.name) and path.name not in keep:
                retired = folder / f"{_RETIRED}{path.name}-{uuid.uuid4().hex[:8]}"
                try:
                    path.rename(retired)
                except FileNotFoundError:  # another worker removed it first
                    continue
                shutil.rmtree(retired, ignore_errors=True)
                removed.append(path.name)
        return sorted(removed)

    def load(
        self, project_id: int, space: str, wanted: IntArray | None = None
    ) -> tuple[IntArray, Any]:
        """The stored ``(ids, rows)`` of the space, chunk by chunk (a sparse matrix if the
        chunks are sparse); ``(empty, None)`` when nothing is stored. With ``wanted`` ids, only
        the chunks holding one of them are read (their other rows too), and those a merge is
        due to take: a query wanting the inputs of the candidates added since reads those, not
        the whole pool's."""
        folder = self.folder(project_id, space)
        for _ in range(LOAD_ATTEMPTS):
            try:
                chunks = chunks_to_read(folder, wanted)
                parts = _read([path for path, _ in chunks])
            except FileNotFoundError:  # merged into a new chunk meanwhile: list them again
                continue
            if not parts:
                return np.zeros(0, dtype=np.int64), None
            whole = _stacked(parts)
            merged = [part for part, (_, merge) in zip(parts, chunks, strict=True) if merge]
            if merged:
                ids, rows = whole if len(merged) == len(parts) else _stacked(merged)
                write_chunk(folder, ids, _fields(rows))
                remove_merged(chunks)
            return whole
        raise RuntimeError(f"the chunks of {folder} kept changing while being read")

    def append(self, project_id: int, space: str, ids: IntArray, rows: Any) -> None:
        """Store ``rows`` (one per id) as a new chunk of the space."""
        if len(ids) != rows.shape[0]:
            raise ValueError(f"{len(ids)} ids for {rows.shape[0]} rows")
        if len(ids):
            self.append_fields(project_id, space, np.asarray(ids, dtype=np.int64), _fields(rows))

    def append_fields(
        self, project_id: int, space: str, ids: IntArray, fields: dict[str, Any]
    ) -> None:
        """Store a new chunk of the space: ``ids`` and the arrays ``fields`` (made anew if
        the space is removed meanwhile)."""
        folder = self.folder(project_id, space)
        for attempt in range(LOAD_ATTEMPTS):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                write_chunk(folder, ids, fields)
                return
            except FileNotFoundError:  # the space was removed between the two: make it anew
                if attempt == LOAD_ATTEMPTS - 1:
                    raise


def write_chunk(folder: Path, ids: IntArray, fields: dict[str, Any]) -> None:
    """One chunk of ``ids`` and the arrays ``fields``, written to a temporary file and renamed
    into place. Raises ``FileNotFoundError`` if ``folder`` is gone."""
    name = f"{int(ids.max()):012d}-{uuid.uuid4().hex[:8]}.npz"
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, ids=ids, **fields)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fields(rows: Any) -> dict[str, Any]:
    """A chunk's arrays for feature ``rows``: CSR parts of float64, or a dense float64 array."""
    if not sparse.issparse(rows):
        return {"dense": np.asarray(rows, dtype=np.float64)}
    csr = sparse.csr_matrix(rows, dtype=np.float64)
    return {
        "data": csr.data,
        "indices": csr.indices,
        "indptr": csr.indptr,
        "shape": np.asarray(csr.shape),
    }


def merge_plan(sizes: Sequence[int]) -> list[int]:
    """The chunks a load merges into one, as positions in ``sizes`` (their bytes on disk): none
    while there are at most :data:`COMPACT_AFTER`; else the smallest, enough of them to leave
    ``COMPACT_AFTER // 2`` chunks, then each next smallest while it is no larger than those
    taken together.

    A chunk is left out only when it is larger than every smaller one together, so the chunks
    kept grow about geometrically and a row is rewritten a few times, not at every merge.
    Merging every chunk (as before) rewrote the whole space each time: with a million texts in
    the pool and 10 adds of 1,000 between queries, 33 queries' merges wrote 3.4 GB, and the
    slowest load of the new texts' counts took 4.2-5.2 s; this way 0.33 GB and 0.4-0.8 s
    (``bench/pool_store.py``, three runs). Fed one chunk at a time and loaded after each, 10,000
    chunks are written 3.8 times over in all (simulated in the unit test; 157 times merging
    all)."""
    if len(sizes) <= COMPACT_AFTER:
        return []
    order = sorted(range(len(sizes)), key=lambda k: (sizes[k], k))
    taken = len(sizes) - COMPACT_AFTER // 2 + 1
    total = sum(sizes[k] for k in order[:taken])
    while taken < len(order) and sizes[order[taken]] <= total:
        total += sizes[order[taken]]
        taken += 1
    return sorted(order[:taken])


def chunks_to_read(folder: Path, wanted: IntArray | None) -> list[tuple[Path, bool]]:
    """The chunks of ``folder`` a load reads, in name order, each with whether it is merged
    (:func:`merge_plan`): every chunk, or with ``wanted`` ids those holding one of them (their
    ids alone read to tell) and those merged. Raises ``FileNotFoundError`` if one is gone."""
    listed = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    taken = set(merge_plan([path.stat().st_size for path in listed]))
    return [
        (path, k in taken)
        for k, path in enumerate(listed)
        if wanted is None or k in taken or _holds(path, wanted)
    ]


def remove_merged(chunks: list[tuple[Path, bool]]) -> None:
    """Remove the chunks marked merged (:func:`chunks_to_read`), once their merge is written;
    one another worker removed first is no error."""
    for path, merged in chunks:
        if merged:
            path.unlink(missing_ok=True)


def _holds(path: Path, wanted: IntArray) -> bool:
    """Whether the chunk at ``path`` holds a row of one of ``wanted``."""
    with np.load(path, allow_pickle=False) as data:
        return bool(np.isin(data["ids"], wanted).any())


def _read(chunks: list[Path]) -> list[tuple[IntArray, Any]]:
    """The ids and rows of each chunk. Raises ``FileNotFoundError`` if one is gone."""
    parts: list[tuple[IntArray, Any]] = []
    for path in chunks:
        with np.load(path, allow_pickle=False) as data:
            ids = np.asarray(data["ids"], dtype=np.int64)
            if "data" in data:
                rows: Any = sparse.csr_matrix(
                    (data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"])
                )
            else:
                rows = np.asarray(data["dense"], dtype=np.float64)
        parts.append((ids, rows))
    return parts


def ascending(ids: IntArray) -> bool:
    """Whether ``ids`` are strictly ascending (so distinct)."""
    return bool(np.all(ids[1:] > ids[:-1]))


def _stacked(parts: list[tuple[IntArray, Any]]) -> tuple[IntArray, Any]:
    """The ids and rows of ``parts`` (at least one) one after the other, each id once (its
    first row). One part is returned as read, and ids ascending need no search for repeats:
    a space of one chunk, as the pool's is once its first query stored it, was copied and
    its ids sorted at every load (a million texts: 0.13 and 0.07 s)."""
    if len(parts) == 1:
        all_ids, matrix = parts[0]
    else:
        all_ids = np.concatenate([ids for ids, _ in parts])
        blocks = [rows for _, rows in parts]
        matrix = (
            sparse.vstack(blocks, format="csr") if sparse.issparse(blocks[0]) else np.vstack(blocks)
        )
    if ascending(all_ids):
        return all_ids, matrix
    _, first = np.unique(all_ids, return_index=True)
    if len(first) < len(all_ids):  # two workers stored the same rows: keep one of each
        keep = np.sort(first)
        all_ids, matrix = all_ids[keep], matrix[keep]
    return all_ids, matrix
