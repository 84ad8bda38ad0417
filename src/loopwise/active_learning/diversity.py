"""Diversity strategies: cover the pool's feature space, with no model at all.

They need nothing but features, so they are how a project starts cold (before the first model)
and the geometric half of the hybrids. Both work on dense arrays and scipy sparse matrices and
never build an ``n x n`` matrix.

Speed (a note, not a test): k-center greedy first finds each row's distance to the nearest of a
sample of 256 labelled or waiting rows (for sparse rows at least a sixth of them; dense rows:
one cache-sized block of rows against the sample at a time, a matrix product and an in-place
reduction), then costs one matrix-vector product over the pool per pick, with in-place updates
of one reused vector; only the rows that could be the farthest are measured against all
labelled and waiting rows. ``O(n * (sample + picks))``: 100 picks from 100,000 x 50 dense
features take about 0.2-0.3 s with 1,000 to 6,000 labelled and waiting (see
``docs/benchmarks.md``), no pairwise matrix. k-means sampling costs what scikit-learn's
``MiniBatchKMeans`` with ``n`` clusters costs, plus one pass to find each cluster's nearest
member.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from loopwise.active_learning.base import FloatArray, IntArray, Matrix, Pool, QueryStrategy
from loopwise.active_learning.geometry import (
    FarthestRow,
    NearestCentre,
    as_rows,
    covered,
    dot,
    same_kind,
    squared_norms,
    stacked,
)


def cluster(rows: Matrix, k: int, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Mini-batch k-means of ``rows`` into ``k`` clusters, seeded from ``rng``.

    Returns
    -------
    ``(labels, centres)``: ``(n,)`` each row's cluster and ``(k, d)`` dense centres. A cluster
    may be empty when the rows have fewer than ``k`` distinct points (scikit-learn's
    ``ConvergenceWarning`` about it is silenced: callers fill up from other clusters).
    """
    model = MiniBatchKMeans(n_clusters=k, random_state=int(rng.integers(2**31 - 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(rows)
    labels = np.asarray(model.labels_, dtype=np.int64)
    return labels, np.asarray(model.cluster_centers_, dtype=np.float64)


def k_center_greedy(
    rows: Matrix,
    n: int,
    rng: np.random.Generator,
    *,
    labelled: Matrix | None = None,
    chosen: IntArray | None = None,
) -> IntArray:
    """``n`` more rows, each the farthest from everything labelled or chosen so far
    (O. Sener and S. Savarese, ICLR 2018: a 2-approximation of the k-center cover).

    One vector of each row's squared distance to its nearest centre is updated with one
    matrix-vector product per pick, never a pairwise matrix. Every row is measured against a
    sample of the ``m`` labelled rows, and against all of them only where it could be the
    farthest (:class:`~loopwise.active_learning.geometry.FarthestRow`): ``O(n_rows * (n + 256))``
    products and a few thousand rows against all ``m``, where measuring every row against
    every labelled one cost ``O(n_rows * (n + m))``. The picks are the same (unless two rows tie
    to rounding: see :class:`~loopwise.active_learning.geometry.FarthestRow`).

    Parameters
    ----------
    rows:
        ``(N, d)`` dense or CSR (see :func:`~loopwise.active_learning.geometry.as_rows`).
    n:
        How many to add; ``n`` plus the already chosen must not exceed ``N``.
    rng:
        Picks the first row when nothing is labelled or chosen.
    labelled:
        ``(m, d)`` rows already labelled (distances start from them).
    chosen:
        Row indices already picked (distances start from them too; not returned again).

    Returns
    -------
    ``(n,)`` the new picks in the order taken (farthest first).
    """
    total = rows.shape[0]
    norms = squared_norms(rows)
    known = None if labelled is None or not labelled.shape[0] else same_kind(labelled, rows)
    farthest = FarthestRow(rows, norms, known)
    centres = NearestCentre(rows, norms, farthest.nearest)
    taken = np.asarray([] if chosen is None else chosen, dtype=np.int64)
    for i in taken:
        centres.add(int(i))
    farthest.exclude(taken)
    cold = bool(np.isinf(farthest.nearest).all())
    picks = np.empty(n, dtype=np.int64)
    for step in range(n):
        pick = int(rng.integers(total)) if cold and step == 0 else farthest.farthest()
        picks[step] = pick
        centres.add(pick)
        farthest.exclude(pick)
    return picks


MAX_COVERED_CLUSTERS = 500
"""Most labelled or pending items that k-means sampling clusters with the pool (a random sample
of them beyond that): each is one more cluster to fit."""


class KMeansSampling(QueryStrategy):
    """One representative per cluster: mini-batch k-means with ``n`` clusters, then the candidate
    nearest each centre, larger clusters first.

    With items labelled or waiting for a label (``pool.labelled``, ``pool.pending``; at most
    :data:`MAX_COVERED_CLUSTERS`), the candidates and those items are clustered together, into
    ``n`` clusters more than there are such items: a cluster that holds one has its
    representative already, and the picks come from the others. Clusters short of ``n`` are
    made up by k-center greedy from those items and the picks.
    """

    name = "kmeans"
    needs: frozenset[str] = frozenset()

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        if n == len(pool):
            return np.arange(n, dtype=np.int64)
        rows = as_rows(pool.features)
        total = rows.shape[0]
        known = covered(pool, rows)
        if known is not None and known.shape[0] > MAX_COVERED_CLUSTERS:
            drawn = rng.choice(known.shape[0], MAX_COVERED_CLUSTERS, replace=False)
            known = known[np.sort(drawn)]
        k = n if known is None else n + known.shape[0]
        together = rows if known is None else stacked(rows, known)
        labels, centres = cluster(together, k, rng)
        represented = np.zeros(k, dtype=bool)
        represented[labels[total:]] = True
        labels = labels[:total]
        norms = squared_norms(rows)
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(k + 1))
        picks: list[int] = []
        for j in np.flatnonzero(~represented):
            members = order[bounds[j] : bounds[j + 1]]
            if members.size:
                distance = norms[members] - 2.0 * dot(rows[members], centres[j])
                picks.append(int(members[np.argmin(distance)]))
        sizes = np.bincount(labels, minlength=k)[labels[picks]]
        ranked = np.asarray(picks, dtype=np.int64)[np.argsort(-sizes, kind="stable")][:n]
        if len(ranked) < n:
            extra = k_center_greedy(rows, n - len(ranked), rng, labelled=known, chosen=ranked)
            ranked = np.concatenate([ranked, extra])
        return ranked


class Coreset(QueryStrategy):
    """k-center greedy: again and again the candidate farthest from everything labelled, waiting
    for a label (``pool.pending``) and already chosen, so the batch covers the pool (a random
    first pick when there is none of those)."""

    name = "coreset"
    needs: frozenset[str] = frozenset()

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        rows = as_rows(pool.features)
        return k_center_greedy(rows, n, rng, labelled=covered(pool, rows))
