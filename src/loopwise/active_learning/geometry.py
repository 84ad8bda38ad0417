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

from loopwise.active_learning.base import FloatArray, IntArray, Matrix, Pool

CHUNK_CELLS = 1 << 22
"""Largest block of candidate-by-reference products held at once (4M floats, 32 MB)."""

SAMPLED_REFERENCES = 256
"""How many of the references (labelled and waiting rows) :class:`FarthestRow` measures every
row against first (for sparse rows, at least as many: :func:`sample_size`); the others only for
the rows that could be the farthest. ``bench/kcenter.py --samples 128,256,512,1000`` (1,000 to
6,000 references): on 100,000 x 50 Gaussian rows 256 was the fastest or within 1% of it with
waiting rows, and 35% slower than 128 without; on 100,000 SMS texts within 9% of the fastest,
except with 5,000 waiting, where a sample of 1,000 lets most texts be skipped (2.1 s against
5.4 s) and the smaller ones none."""

SPARSE_REFERENCES_PER_SAMPLED = 6
"""For sparse rows the sample is at least a sixth of the references (:func:`sample_size`)."""

FIRST_REFINED = 256
"""How many rows :class:`FarthestRow` measures against all references when the farthest row's
distance is not yet exact; twice as many each further time for the same pick."""

DENSE_CELLS = 1 << 19
"""Block of dense products (512K floats, 4 MB): small enough to stay in cache while it is
summed and reduced (on 100,000 x 50 rows against 1,000 references, 4 MB blocks took 0.30 s,
32 MB blocks 0.41 s)."""


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


def covered(pool: Pool, rows: Matrix) -> Matrix | None:
    """The labelled and the pending items' features one after the other, of the kind of
    ``rows`` (:func:`same_kind`): what a spreading strategy counts as picked already.
    ``None`` when there is neither."""
    parts = [
        same_kind(part, rows)
        for part in (pool.labelled, pool.pending)
        if part is not None and part.shape[0]
    ]
    return stacked(*parts) if parts else None


def stacked(*parts: Matrix) -> Matrix:
    """``parts``' rows one after the other: CSR if any part is sparse, else dense (a single
    part is returned as it is)."""
    if len(parts) == 1:
        return parts[0]
    if any(sparse.issparse(part) for part in parts):
        return sparse.vstack([sparse.csr_matrix(part) for part in parts], format="csr")
    return np.vstack(parts)


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


def min_squared_distances(
    rows: Matrix, norms: FloatArray, references: Matrix, *, chunk_cells: int = CHUNK_CELLS
) -> FloatArray:
    """``(n,)`` squared distance of every row to its nearest row of ``references``
    (``(m, d)``, same kind as ``rows``; ``+inf`` if ``m = 0``).

    ``O(n * m)`` products in blocks of at most ``chunk_cells`` cells, so ``m`` labelled items
    never cost an ``n x m`` matrix. Rows are taken a block at a time against all references:
    dense rows in one matrix product of ``(rows, d) x (d, m)`` a block, into one reused buffer
    (the whole minimum is a few passes over cache-sized blocks); sparse rows in one sparse
    product a block, densified per block into one reused buffer. (Sparse rows used to be taken
    all at once against a block of references at a time: the sparse product then walks every
    row once per block, and that took 1.6-2x as long on 100,000 SMS texts against 1,000 and
    6,000 references, for the same figures to the last bit.)
    """
    n, m = rows.shape[0], references.shape[0]
    if m == 0:
        return np.full(n, np.inf)
    ref_norms = squared_norms(references)
    if sparse.issparse(rows):
        transposed = references.T
        step = max(1, min(n, chunk_cells // m))
        buffer = np.empty((step, m))
        best = np.empty(n)
        for start in range(0, n, step):
            stop = min(start + step, n)
            twice = np.asarray((rows[start:stop] @ transposed).toarray())
            twice *= 2.0
            dist = buffer[: stop - start]
            np.add(norms[start:stop, None], ref_norms, out=dist)
            dist -= twice
            dist.min(axis=1, out=best[start:stop])
        return np.maximum(best, 0.0, out=best)
    # -2 * references is exact (a power of two), so block @ scaled.T is exactly -2 a.b.
    scaled_t = np.ascontiguousarray((-2.0 * np.asarray(references, dtype=np.float64)).T)
    step = max(1, min(n, min(chunk_cells, DENSE_CELLS) // m))
    buffer = np.empty((step, m))
    best = np.empty(n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        products = buffer[: stop - start]
        np.matmul(rows[start:stop], scaled_t, out=products)
        products += ref_norms
        products.min(axis=1, out=best[start:stop])
    best += norms
    return np.maximum(best, 0.0, out=best)


class NearestCentre:
    """Each row's squared distance to its nearest centre so far, shrunk one centre at a time:
    the state of k-center greedy.

    One update is one matrix-vector product over the rows and a few in-place passes over one
    reused ``(n,)`` buffer (no allocation per centre).

    Parameters
    ----------
    rows:
        ``(n, d)`` dense or CSR.
    norms:
        ``(n,)`` their :func:`squared_norms`.
    nearest:
        ``(n,)`` the starting distances (``+inf``: no centre yet); updated in place.
    """

    def __init__(self, rows: Matrix, norms: FloatArray, nearest: FloatArray) -> None:
        self.rows, self.norms, self.nearest = rows, norms, nearest
        self._buffer = np.empty_like(nearest)

    def add(self, i: int) -> None:
        """Row ``i`` becomes a centre: every row's distance shrinks to it where nearer."""
        ref = row(self.rows, i)
        out = self._buffer
        if sparse.issparse(self.rows):
            out[:] = dot(self.rows, ref)
        else:
            np.matmul(self.rows, ref, out=out)
        out *= -2.0
        out += self.norms
        out += float(ref @ ref)
        np.maximum(out, 0.0, out=out)
        np.minimum(self.nearest, out, out=self.nearest)


def sample_size(references: int, sparse_rows: bool) -> int:
    """How many of ``references`` rows :class:`FarthestRow` samples: :data:`SAMPLED_REFERENCES`,
    and for sparse rows at least a sixth of them (:data:`SPARSE_REFERENCES_PER_SAMPLED`).

    Why: a row's bound is its distance to the nearest sampled reference. Dense rows in a few
    dozen dimensions have a close one among 256, so few rows need measuring against all (4,352
    of 100,000 with 6,000 references), and a larger sample only costs more (0.43 s against
    0.56 s with 1,000). Most texts share no word with any of 256 sampled texts, so their bound
    is the largest distance there is and none can be skipped: with 6,000 references every one of
    100,000 SMS texts was measured against all. A sample of 1,000 left 20,224 (SMS spam) and
    16,640 (TREC) to measure: 2.2 s against 6.0 s, and 1.8 s against 3.3 s
    (``bench/kcenter.py --samples 256,333,1000``, with ``--texts trec_questions`` too).
    """
    if not sparse_rows:
        return SAMPLED_REFERENCES
    return max(SAMPLED_REFERENCES, references // SPARSE_REFERENCES_PER_SAMPLED)


class FarthestRow:
    """Each row's squared distance to its nearest reference, exact only where k-center greedy
    needs it: for the row that is farthest.

    Why: k-center greedy needs the row farthest from everything labelled, waiting or picked, and
    measuring every row against every reference costs ``O(n * m)`` products: with 100,000 rows
    and 6,000 references, most of a query. Every row is measured first against a fixed sample of
    :func:`sample_size` references (256; for sparse rows at least a sixth of them; drawn with a
    generator of its own, so the caller's random stream is untouched). The nearest of a subset
    is never nearer than the nearest of all, so that distance is an upper bound. When the row
    with the largest bound has been measured against the other references too, its distance is
    exact and at least every other row's bound, so it is the farthest row, with the same ties as
    a full pass (``argmax`` takes the first). Until then the rows with the largest bounds are
    measured against the other references, :data:`FIRST_REFINED` first and twice as many each
    time. The picks are those of measuring every row against every reference: each distance is a
    sum of the same products, taken over the sample and the rest instead of over all. The BLAS
    may add them up in another order for blocks of other shapes, so a distance can differ from
    the full pass's in the last bits (OpenBLAS's Haswell kernel: 2 of 256 rows 7e-15 apart;
    another machine's kernel: none), and two rows that tie to rounding could then be taken in
    the other order (the tests check the picks against the textbook loop; the benchmark's picks
    and core-set's learning curves came out the same).

    On 100,000 x 50 Gaussian rows, 100 picks measured a few hundred to a few thousand rows
    against all 1,000 to 6,000 references. If the sample were no guide at all, every row would
    be measured: the full pass's cost, plus the sample's.

    Parameters
    ----------
    rows:
        ``(n, d)`` dense or CSR.
    norms:
        ``(n,)`` their :func:`squared_norms`.
    references:
        ``(m, d)`` of the kind of ``rows``, or ``None``: every distance starts at ``+inf``.
    sample:
        The sample's size; :func:`sample_size` if ``None``.
    """

    def __init__(
        self,
        rows: Matrix,
        norms: FloatArray,
        references: Matrix | None,
        *,
        sample: int | None = None,
    ) -> None:
        m = 0 if references is None else references.shape[0]
        size = sample_size(m, sparse.issparse(rows)) if sample is None else sample
        self.rows, self.norms = rows, norms
        self.rest: Matrix | None = None
        self.exact = np.ones(rows.shape[0], dtype=bool)
        self.measured = 0
        """Rows measured against the references outside the sample so far."""
        nearest = np.full(rows.shape[0], np.inf)
        if references is not None and 0 < m <= size:
            nearest = min_squared_distances(rows, norms, references)
        elif references is not None and m > size:
            drawn = np.zeros(m, dtype=bool)
            drawn[np.random.default_rng(0).choice(m, size, replace=False)] = True
            nearest = min_squared_distances(rows, norms, references[np.flatnonzero(drawn)])
            self.rest = references[np.flatnonzero(~drawn)]
            self.exact[:] = False
        self.nearest = nearest
        """``(n,)`` the distances: exact where :attr:`exact`, else an upper bound. Shared with a
        :class:`NearestCentre`, which shrinks them in place as rows are picked."""

    def exclude(self, indices: IntArray | int) -> None:
        """Rows ``indices`` are picked: never the farthest again."""
        self.nearest[indices] = -1.0
        self.exact[indices] = True

    def farthest(self) -> int:
        """The row farthest from its nearest reference or picked row (the first, on a tie)."""
        count = FIRST_REFINED
        while True:
            i = int(np.argmax(self.nearest))
            if self.exact[i] or self.rest is None:
                return i
            open_rows = np.flatnonzero(~self.exact)
            count = min(count, open_rows.size)
            bounds = self.nearest[open_rows]
            top = open_rows[np.argpartition(-bounds, count - 1)[:count]]
            distance = min_squared_distances(take(self.rows, top), self.norms[top], self.rest)
            self.nearest[top] = np.minimum(self.nearest[top], distance)
            self.exact[top] = True
            self.measured += top.size
            count *= 2
