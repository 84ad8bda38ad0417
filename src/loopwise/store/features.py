"""The pool's features, computed once per model and kept on disk.

Active learning scores the whole unlabelled pool at every query; computing each candidate's
features (TF-IDF for text: about 30 µs an item) every time would cost seconds on a large pool.
Features belong to a feature space, the production model's (they change when another model is
promoted) and are stored per ``(project, space)`` under ``<artifact dir>/pool``: chunks of
``.npz`` files, each holding the pool-item ids and their rows (sparse CSR or dense float64).
Every query appends a chunk for the candidates added since; a chunk is written to a temporary
file and renamed, so a reader never sees half of one, and several workers may append at once
(a row found twice is read once). Once a space holds more than :data:`COMPACT_AFTER` chunks, a
load writes what it read as one chunk and removes the ones merged (a pool fed a little at a
time would otherwise be read from thousands of files at every query); a reader that finds a
chunk gone meanwhile reads the folder again, where the merged chunk holds its rows.

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
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

IntArray = npt.NDArray[np.int64]
COMPACT_AFTER = 32
"""Chunks a space may hold before a load merges them into one."""
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

    def load(self, project_id: int, space: str) -> tuple[IntArray, Any]:
        """Every stored ``(ids, rows)`` of the space, in the order they were added (a sparse
        matrix if the chunks are sparse); ``(empty, None)`` when nothing is stored."""
        folder = self.folder(project_id, space)
        for _ in range(LOAD_ATTEMPTS):
            chunks = sorted(folder.glob("*.npz")) if folder.is_dir() else []
            try:
                ids, rows = _read(chunks)
            except FileNotFoundError:  # merged into a new chunk meanwhile: list them again
                continue
            if ids is not None and len(chunks) > COMPACT_AFTER:
                write_chunk(folder, ids, _fields(rows))
                for path in chunks:
                    path.unlink(missing_ok=True)
            return (np.zeros(0, dtype=np.int64), None) if ids is None else (ids, rows)
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


def _read(chunks: list[Path]) -> tuple[IntArray | None, Any]:
    """The chunks' ids and rows stacked, each id once (its first row); ``(None, None)`` for
    none. Raises ``FileNotFoundError`` if a chunk is gone."""
    ids: list[IntArray] = []
    rows: list[Any] = []
    for path in chunks:
        with np.load(path, allow_pickle=False) as data:
            ids.append(np.asarray(data["ids"], dtype=np.int64))
            if "data" in data:
                rows.append(
                    sparse.csr_matrix(
                        (data["data"], data["indices"], data["indptr"]),
                        shape=tuple(data["shape"]),
                    )
                )
            else:
                rows.append(np.asarray(data["dense"], dtype=np.float64))
    if not ids:
        return None, None
    all_ids = np.concatenate(ids)
    matrix = sparse.vstack(rows, format="csr") if sparse.issparse(rows[0]) else np.vstack(rows)
    _, first = np.unique(all_ids, return_index=True)
    if len(first) < len(all_ids):  # two workers stored the same rows: keep one of each
        keep = np.sort(first)
        all_ids, matrix = all_ids[keep], matrix[keep]
    return all_ids, matrix
