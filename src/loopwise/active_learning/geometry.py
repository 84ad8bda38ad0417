"""Row geometry shared by the diversity strategies, for dense arrays and scipy sparse matrices.

Every distance here is computed as ``||a||^2 + ||b||^2 - 2 a.b`` from squared row norms and
matrix-vector products, so a sparse TF-IDF matrix is never densified and no strategy ever holds
an ``n x n`` matrix: greedy selections keep one vector of ``n`` distances and update it with one
product per pick (``O(n * picks)``). Squared distances come out clipped at 0, since rounding can
make the expansion slightly negative for (near-)identical rows.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.preprocessing import normalize

from loopwise.active_learning.base import FloatArray, IntArray, Matrix

CHUNK_CELLS = 1 << 22
"""Largest block of candidate-by-reference products held at once (4M floats, 32 MB)."""


def as_rows(features: Matrix) -> Matrix:
    """``features`` as a float64 ndarray, or as a float64 ``csr_matrix`` if sparse (row slicing
    and products are fast in CSR; a float64 CSR input shares its arrays, it is not copied)."""
    if sparse.issparse(features):
        return sparse.csr_matrix(features, dtype=np.float64)
    return np.asarray(features, dtype=np.float64)


def take(features: Matrix, indices: IntArray) -> Matrix:
    """Rows ``indices`` of ``features`` as :func:`as_rows` would give them, converting only
    those rows (a float32 pool of a million rows is not copied to pick a shortlist)."""
    if sparse.issparse(features):
        return as_rows(features)[indices]
    return as_rows(np.asarray(features)[indices])


def same_kind(other: Matrix, rows: Matrix) -> Matrix:
    """``other`` converted to the kind of ``rows`` (both sparse or both dense), so products of
    the two stay in one format."""
    if sparse.issparse(rows):
        return sparse.csr_matrix(other, dtype=np.float64)
    return other.toarray() if sparse.issparse(other) else np.asarray(other, dtype=np.float64)


def squared_norms(rows: Matrix) -> FloatArray:
    """``(n,)`` squared Euclidean norm of each row (``X.multiply(X).sum(axis=1)`` if sparse)."""
    if sparse.issparse(rows):
        return np.asarray(rows.multiply(rows).sum(axis=1), dtype=np.float64).ravel()
    return np.asarray(np.einsum("ij,ij->i", rows, rows), dtype=np.float64)


def row(rows: Matrix, i: int) -> FloatArray:
    """Row ``i`` as a dense ``(d,)`` vector: a sparse matrix times a dense vector is a cheap
    product, a sparse matrix times a sparse row is not."""
    if sparse.issparse(rows):
        return np.asarray(rows[[i]].toarray(), dtype=np.float64).ravel()
    return np.asarray(rows[i], dtype=np.float64)


def dot(rows: Matrix, vector: FloatArray) -> FloatArray:
    """``(n,)`` dot product of each row with a dense ``(d,)`` vector."""
    return np.asarray(rows @ vector, dtype=np.float64).ravel()


def unit_rows(rows: Matrix) -> Matrix:
    """Each row divided by its Euclidean norm (all-zero rows stay zero), so dot products are
    cosine similarities."""
    return normalize(rows, norm="l2", copy=True)


def squared_distances_to(
    rows: Matrix, norms: FloatArray, i: int, *, others: Matrix | None = None
) -> FloatArray:
    """``(n,)`` squared distance of every row to row ``i`` of ``others`` (default: ``rows``).

    Parameters
    ----------
    rows:
        ``(n, d)`` dense or CSR.
    norms:
        ``(n,)`` their :func:`squared_norms`.
    i:
        Index of the reference row.
    others:
        Where the reference row lives, when not in ``rows``.
    """
    source = rows if others is None else others
    ref = row(source, i)
    out = norms + float(ref @ ref) - 2.0 * dot(rows, ref)
    return np.maximum(out, 0.0)


def min_squared_distances(
    rows: Matrix, norms: FloatArray, references: Matrix, *, chunk_cells: int = CHUNK_CELLS
) -> FloatArray:
    """``(n,)`` squared distance of every row to its nearest row of ``references``
    (``(m, d)``, same kind as ``rows``; ``+inf`` if ``m = 0``).

    ``O(n * m)`` products in blocks of at most ``chunk_cells`` cells (at least one reference
    row a block), so ``m`` labelled items never cost an ``n x m`` matrix.
    """
    n, m = rows.shape[0], references.shape[0]
    best = np.full(n, np.inf)
    step = max(1, chunk_cells // max(n, 1))
    ref_norms = squared_norms(references)
    for start in range(0, m, step):
        block = references[start : start + step]
        products = rows @ block.T
        products = products.toarray() if sparse.issparse(products) else np.asarray(products)
        dist = norms[:, None] + ref_norms[None, start : start + step] - 2.0 * products
        best = np.minimum(best, dist.min(axis=1))
    return np.maximum(best, 0.0)
