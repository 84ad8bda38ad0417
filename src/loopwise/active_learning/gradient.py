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

from loopwise.active_learning.base import (
    FloatArray,
    IntArray,
    Matrix,
    Pool,
    QueryStrategy,
    ScoredStrategy,
)
from loopwise.active_learning.geometry import as_rows, dot, row, squared_norms


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


class Badge(QueryStrategy):
    """BADGE (J. Ash et al., ICLR 2020): k-means++ seeding over gradient embeddings, so the batch
    is both uncertain (long gradients) and diverse (gradients pointing different ways).

    The first pick is the longest gradient; each next is drawn with probability proportional to
    its squared distance to the nearest pick (D^2 sampling), ``O(n)`` work per pick. When every
    remaining distance is 0 (certain predictions, duplicates) the next pick is uniform among the
    rest.
    """

    name = "badge"

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        assert pool.probabilities is not None
        a = residuals(np.asarray(pool.probabilities))
        rows = as_rows(pool.features)
        g_norms = np.einsum("ij,ij->i", a, a) * squared_norms(rows)
        picks = np.empty(n, dtype=np.int64)
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
