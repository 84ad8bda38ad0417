"""Strategies that look at the gradient a label would cause, for linear and logistic models.

For a softmax-linear model (logistic regression, a linear head) trained with cross-entropy,
the gradient of the loss on item ``x`` labelled ``y`` with respect to the weights is the outer
product ``(p - e_y) x^T``, where ``p`` is the predicted distribution and ``e_y`` the one-hot
label; its norm is ``||p - e_y|| * ||x||``. Both strategies use that factorisation so a sparse
``x`` of a hundred thousand TF-IDF columns is never multiplied out into a ``k x d`` matrix.
An intercept's gradient (``p - e_y``, one more input fixed at 1) is left out.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from loopwise.active_learning.base import (
    FloatArray,
    IntArray,
    Matrix,
    Pool,
    QueryStrategy,
    ScoredStrategy,
)
from loopwise.active_learning.geometry import (
    CHUNK_CELLS,
    DENSE_CELLS,
    as_rows,
    dot,
    row,
    same_kind,
    squared_norms,
)

WAITING_REFERENCES = 256
"""Most of the items waiting for a label that BADGE measures the pool against: beyond that, the
ones kept by farthest-point traversal in gradient space (:func:`spread_out`), so each of the
others is at most the traversal's last distance from one kept."""


def residuals(probs: FloatArray) -> FloatArray:
    """``(n, k)`` ``p - onehot(argmax p)``: the gradient's class factor if the model's own guess
    were the label (BADGE's "hallucinated" label; ties go to the lowest class)."""
    out = np.array(probs, dtype=np.float64)
    out[np.arange(len(out)), out.argmax(axis=1)] -= 1.0
    return out


def gradient_distances(a: FloatArray, rows: Matrix, g_norms: FloatArray, i: int) -> FloatArray:
    """``(n,)`` squared distance ``||g_r - g_i||^2`` between gradient embeddings
    ``g_r = a_r x_r^T``, without forming them.

    ``<a_r x_r^T, a_i x_i^T> = (a_r . a_i)(x_r . x_i)``, so
    ``||g_r - g_i||^2 = ||a_r||^2 ||x_r||^2 + ||a_i||^2 ||x_i||^2 - 2 (a_r . a_i)(x_r . x_i)``:
    ``O(n * (k + nnz per row))`` per reference instead of ``O(n * k * d)``.

    Parameters
    ----------
    a:
        ``(n, k)`` class factors (:func:`residuals`).
    rows:
        ``(n, d)`` features, dense or CSR.
    g_norms:
        ``(n,)`` ``||g_r||^2 = ||a_r||^2 ||x_r||^2``.
    i:
        The reference row.
    """
    products = (a @ a[i]) * dot(rows, row(rows, i))
    return np.asarray(np.maximum(g_norms + g_norms[i] - 2.0 * products, 0.0), dtype=np.float64)


def nearest_gradient(
    a: FloatArray,
    rows: Matrix,
    g_norms: FloatArray,
    ref_a: FloatArray,
    ref_rows: Matrix,
    ref_norms: FloatArray,
    *,
    chunk_cells: int = DENSE_CELLS,
) -> FloatArray:
    """``(n,)`` squared gradient distance of each row to its nearest reference
    (:func:`gradient_distances`' expansion against ``m`` references at once).

    A block of rows at a time, at most ``chunk_cells`` cells (cache-sized by default), into
    two reused buffers: ``(x_block @ (-2 ref_x).T) * (a_block @ ref_a.T)``, so ``m`` references
    never cost an ``n x m`` matrix. Sparse rows are multiplied by the references made dense
    when those have at most :data:`~loopwise.active_learning.geometry.CHUNK_CELLS` cells (a
    sparse product by dense columns gives dense blocks directly; a sparse-by-sparse product
    built each block as a sparse matrix first: on 100,000 rows against 256 references a query
    took 0.32 s more than without waiting items that way, 0.04-0.19 s more this way,
    ``bench/label_delay.py --only speed``), else by the sparse references.

    Parameters
    ----------
    a, rows, g_norms:
        The rows' class factors, ``(n, d)`` features (dense or CSR) and squared gradient norms.
    ref_a, ref_rows, ref_norms:
        The same for the ``m >= 1`` references; ``ref_rows`` of the kind of ``rows``.
    """
    n, (m, d) = rows.shape[0], ref_rows.shape
    step = max(1, min(n, chunk_cells // m))
    ref_a_t = np.ascontiguousarray(ref_a.T)
    # -2 x (a power of two) is exact, so block @ scaled.T is exactly -2 x.x'.
    ref_x_t: Matrix = -2.0 * ref_rows.T
    if not sparse.issparse(rows) or m * d <= CHUNK_CELLS:
        ref_x_t = np.ascontiguousarray(
            ref_x_t.toarray() if sparse.issparse(ref_x_t) else ref_x_t, dtype=np.float64
        )
    buffer, factors = np.empty((step, m)), np.empty((step, m))
    best = np.empty(n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        products = buffer[: stop - start]
        if sparse.issparse(rows):
            block = rows[start:stop] @ ref_x_t
            products[...] = block.toarray() if sparse.issparse(block) else block
        else:
            np.matmul(rows[start:stop], ref_x_t, out=products)
        products *= np.matmul(a[start:stop], ref_a_t, out=factors[: stop - start])
        products += ref_norms
        products.min(axis=1, out=best[start:stop])
    best += g_norms
    return np.maximum(best, 0.0, out=best)


def spread_out(a: FloatArray, rows: Matrix, g_norms: FloatArray, limit: int) -> IntArray:
    """At most ``limit`` of the rows, spread over gradient space: all of them if there are no
    more, else farthest-point traversal from the longest gradient (each next row the farthest
    from those kept), so every row is within the last distance taken of one kept.
    ``O(n * limit)``."""
    total = len(g_norms)
    if total <= limit:
        return np.arange(total, dtype=np.int64)
    kept = np.empty(limit, dtype=np.int64)
    kept[0] = int(np.argmax(g_norms))
    nearest = gradient_distances(a, rows, g_norms, int(kept[0]))
    for step in range(1, limit):
        kept[step] = int(np.argmax(nearest))
        np.minimum(nearest, gradient_distances(a, rows, g_norms, int(kept[step])), out=nearest)
    return kept


class Badge(QueryStrategy):
    """BADGE (J. Ash et al., ICLR 2020): k-means++ seeding over gradient embeddings, so the batch
    is both uncertain (long gradients) and diverse (gradients pointing different ways).

    The first pick is the longest gradient; each next is drawn with probability proportional to
    its squared distance to the nearest pick (D^2 sampling), ``O(n)`` work per pick. When every
    remaining distance is 0 (certain predictions, duplicates) the next pick is uniform among the
    rest.

    Items waiting for a label (``pool.pending``, with the model's probabilities for them) count
    as picks made before the batch, as k-means++ continues from centres it has: the first pick
    is the candidate farthest from every waiting item in gradient space (without them, the
    farthest from a zero gradient: the longest), and each next is drawn by its squared distance
    to the nearest waiting item or pick, so the batch keeps away from the gradients already
    asked about. At most :data:`WAITING_REFERENCES` of them are measured against
    (:func:`spread_out`): ``O(n * 256)`` products, in one blocked matrix product
    (:func:`nearest_gradient`). Measured (``bench/label_delay.py``, ``docs/benchmarks.md``):
    on seeds not used to choose this, told of the waiting items it learnt faster than not told
    on digits and SMS spam, and within the noise on breast cancer and TREC. Drawing the first
    pick too, as k-means++ does, was tried first and lost on SMS spam three batches late.
    """

    name = "badge"

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        assert pool.probabilities is not None
        a = residuals(np.asarray(pool.probabilities))
        rows = as_rows(pool.features)
        g_norms = np.einsum("ij,ij->i", a, a) * squared_norms(rows)
        picks = np.empty(n, dtype=np.int64)
        if pool.has_pending:
            to_waiting = self._from_waiting(pool, a, rows, g_norms)
            picks[0] = int(np.argmax(to_waiting))
            nearest = np.minimum(to_waiting, gradient_distances(a, rows, g_norms, int(picks[0])))
        else:
            picks[0] = int(np.argmax(g_norms))
            nearest = gradient_distances(a, rows, g_norms, int(picks[0]))
        nearest[picks[0]] = 0.0
        for step in range(1, n):
            cumulative = np.cumsum(nearest)
            if cumulative[-1] > 0.0:
                draw = rng.random() * cumulative[-1]
                pick = min(int(np.searchsorted(cumulative, draw, side="right")), len(pool) - 1)
            else:
                free = np.ones(len(pool), dtype=bool)
                free[picks[:step]] = False
                pick = int(rng.choice(np.flatnonzero(free)))
            picks[step] = pick
            distance = gradient_distances(a, rows, g_norms, pick)
            nearest = np.minimum(nearest, distance)
            nearest[pick] = 0.0
        return picks

    @staticmethod
    def _from_waiting(pool: Pool, a: FloatArray, rows: Matrix, g_norms: FloatArray) -> FloatArray:
        """``(n,)`` each candidate's squared gradient distance to the nearest waiting item
        (of at most :data:`WAITING_REFERENCES`, :func:`spread_out`)."""
        assert pool.pending is not None
        assert pool.pending_probabilities is not None
        waiting_a = residuals(np.asarray(pool.pending_probabilities))
        waiting = as_rows(same_kind(pool.pending, rows))
        waiting_norms = np.einsum("ij,ij->i", waiting_a, waiting_a) * squared_norms(waiting)
        kept = spread_out(waiting_a, waiting, waiting_norms, WAITING_REFERENCES)
        return nearest_gradient(
            a, rows, g_norms, waiting_a[kept], waiting[kept], waiting_norms[kept]
        )


class ExpectedModelChange(ScoredStrategy):
    """Expected gradient length (B. Settles et al., NIPS 2007): how far one label would move the
    weights, averaged over the label the model expects,
    ``E_{y ~ p}[||p - e_y|| ||x||] = ||x|| * sum_y p_y ||p - e_y||``; higher = more change.

    ``||p - e_y||^2 = ||p||^2 - 2 p_y + 1``, so the whole pool is one vectorised pass.
    """

    name = "expected_model_change"

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.probabilities is not None
        p = np.asarray(pool.probabilities, dtype=np.float64)
        p_norms = np.einsum("ij,ij->i", p, p)[:, None]
        lengths = np.sqrt(np.maximum(p_norms - 2.0 * p + 1.0, 0.0))
        x_lengths = np.sqrt(squared_norms(as_rows(pool.features)))
        return np.asarray(x_lengths * (p * lengths).sum(axis=1), dtype=np.float64)
