"""Hybrids: uncertain *and* representative or spread out.

Pure uncertainty sampling picks a batch from one crowded stretch of the decision boundary, and
often outliers nobody will ever see again; these strategies weigh the model's uncertainty
(margin, higher = more uncertain) against where the candidate sits in the pool.
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
from loopwise.active_learning.diversity import cluster
from loopwise.active_learning.geometry import as_rows, dot, squared_norms
from loopwise.errors import InvalidInput
from loopwise.scoring import margin


def density(features: Matrix) -> FloatArray:
    """``(n,)`` each candidate's mean cosine similarity to every candidate, clipped at 0.

    ``mean_j cos(x_i, x_j) = x_i/||x_i|| . mean_j x_j/||x_j||``: the mean unit vector is one
    product ``X^T (1/||x||) / n`` and the densities one more, ``(X mu) / ||x||``: the exact mean
    over the whole pool in ``O(nnz)``, without normalising a copy of the features, cheaper
    than a sample of 1,000 candidates and free of sampling noise, never ``n x n``. All-zero
    rows count as similarity 0. Range [0, 1]; **higher = more typical of the pool**. Made for
    non-negative features (TF-IDF, counts): on centred features the mean unit vector is close
    to 0 and the term says little.
    """
    rows = as_rows(features)
    norms = np.sqrt(squared_norms(rows))
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0.0)
    centre = np.asarray(rows.T @ inverse, dtype=np.float64).ravel() / rows.shape[0]
    return np.clip(dot(rows, centre) * inverse, 0.0, 1.0)


class DensityWeighted(ScoredStrategy):
    """Margin uncertainty times density to the power ``beta`` (information density, B. Settles
    and M. Craven, EMNLP 2008): uncertain candidates that look like many others, not outliers.

    Parameters
    ----------
    beta:
        Weight of the density term (0: plain margin).
    """

    name = "density"

    def __init__(self, beta: float = 1.0) -> None:
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta < np.inf:
            raise InvalidInput(f"must be a non-negative number, got {beta!r}", field="beta")
        self.beta = float(beta)

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.probabilities is not None
        weight = density(pool.features) ** self.beta
        return np.asarray(margin(np.asarray(pool.probabilities)) * weight, dtype=np.float64)


class ClusterMargin(QueryStrategy):
    """The most uncertain (margin) candidate of each cluster, then the second most uncertain of
    each, and so on (round robin, after G. Citovsky et al., NeurIPS 2021).

    The candidates are clustered into ``n`` clusters (at most ``max_clusters``, since k-means
    with a thousand centres over a large pool costs more than it buys). Round robin rather than
    topping up by global margin keeps the batch spread over the clusters when ``n`` exceeds
    their number; with ``n`` clusters the first round fills it, and empty clusters are made up
    by the second-ranked of others, most uncertain first.

    Parameters
    ----------
    max_clusters:
        Cap on the number of clusters.
    """

    name = "cluster_margin"

    def __init__(self, max_clusters: int = 100) -> None:
        if isinstance(max_clusters, bool) or not isinstance(max_clusters, int) or max_clusters < 1:
            raise InvalidInput(
                f"must be a whole number of at least 1, got {max_clusters!r}",
                field="max_clusters",
            )
        self.max_clusters = max_clusters

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        assert pool.probabilities is not None
        scores = margin(np.asarray(pool.probabilities))
        total = len(pool)
        k = min(n, self.max_clusters)
        if k >= total:
            labels = np.arange(total, dtype=np.int64)
        else:
            labels, _ = cluster(as_rows(pool.features), k, rng)
        rank = rank_within(labels, scores)
        index = np.arange(total)
        return np.asarray(np.lexsort((index, -scores, rank))[:n], dtype=np.int64)


def rank_within(groups: IntArray, scores: FloatArray) -> IntArray:
    """``(n,)`` each item's rank by descending score inside its group (0 = the group's best;
    ties by index)."""
    total = len(groups)
    order = np.lexsort((np.arange(total), -scores, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, total]))
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total) - first
    return rank


class Falcun(QueryStrategy):
    """Margin uncertainty plus diversity in the space of class probabilities, drawn at random in
    proportion to relevance (FALCUN: S. Gilhuber et al., "FALCUN: A Simple and Efficient Deep
    Active Learning Strategy", ECML PKDD 2023).

    Each pick: every candidate's diversity is its L1 distance from the nearest pick so far in
    probability space (before the first, its margin score), rescaled to [0, 1]; its relevance
    is ``(margin + diversity) ** gamma``; one candidate is drawn with probability proportional
    to relevance. A batch so covers different confusions (a 3-or-8 and a 4-or-9 digit rather
    than ten 3-or-8s), and the draw explores by itself. ``O(n * k)`` a pick, on the
    probabilities alone: no features, no pairwise matrix.

    Parameters
    ----------
    gamma:
        Sharpness of the draw (0: uniform; large: nearly the argmax). The paper's 10.
    """

    name = "falcun"

    def __init__(self, gamma: float = 10.0) -> None:
        if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0 <= gamma < np.inf:
            raise InvalidInput(f"must be a non-negative number, got {gamma!r}", field="gamma")
        self.gamma = float(gamma)

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        assert pool.probabilities is not None
        probs = np.asarray(pool.probabilities, dtype=np.float64)
        columns = np.ascontiguousarray(probs.T)
        uncertainty = margin(probs)
        diversity = uncertainty.copy()
        gap, term, relevance = (np.empty_like(diversity) for _ in range(3))
        picks = np.empty(n, dtype=np.int64)
        for step in range(n):
            if step:
                last = probs[picks[step - 1]]
                np.subtract(columns[0], last[0], out=gap)
                np.abs(gap, out=gap)
                for j in range(1, len(columns)):
                    np.subtract(columns[j], last[j], out=term)
                    np.abs(term, out=term)
                    gap += term
                np.minimum(diversity, gap, out=diversity)
                low, high = diversity.min(), diversity.max()
                diversity -= low
                if high > low:
                    diversity /= high - low
            np.add(uncertainty, diversity, out=relevance)
            power(relevance, self.gamma, term)
            relevance[picks[:step]] = 0.0
            cumulative = np.cumsum(relevance, out=term)
            if cumulative[-1] > 0:
                pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], "right"))
                if pick >= len(pool):  # the draw rounded up to the total
                    pick = int(np.flatnonzero(relevance)[-1])
            else:  # every candidate left is certain and close to a pick: any will do
                free = np.ones(len(pool), dtype=bool)
                free[picks[:step]] = False
                pick = int(rng.choice(np.flatnonzero(free)))
            picks[step] = pick
        return picks


def power(values: FloatArray, exponent: float, scratch: FloatArray) -> None:
    """``values **= exponent`` in place; a whole exponent up to 64 by repeated squaring (four
    products for 10, several times faster than ``pow`` per element). ``scratch``: a buffer of
    the same shape."""
    if exponent != int(exponent) or not 0 <= exponent <= 64:
        np.power(values, exponent, out=values)
        return
    e = int(exponent)
    np.copyto(scratch, values)
    values.fill(1.0)
    while e:
        if e & 1:
            values *= scratch
        e >>= 1
        if e:
            scratch *= scratch
