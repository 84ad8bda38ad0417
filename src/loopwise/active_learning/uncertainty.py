"""Random sampling and the uncertainty strategies: label what the model is least sure of.

Each ranks the candidates by one of :mod:`loopwise.scoring`'s uncertainty scores (higher = more
uncertain) and takes the top ``n`` without sorting the pool (``argpartition``: a top-100 of
1,000,000 x 50 probabilities costs one pass, not a sort).
"""

from __future__ import annotations

import numpy as np

from loopwise.active_learning.base import FloatArray, IntArray, Pool, QueryStrategy, ScoredStrategy
from loopwise.scoring import entropy, least_confidence, margin


class RandomSampling(QueryStrategy):
    """Uniformly at random: the baseline every strategy must beat."""

    name = "random"
    needs: frozenset[str] = frozenset()

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        return np.asarray(rng.choice(len(pool), size=n, replace=False), dtype=np.int64)


class LeastConfidence(ScoredStrategy):
    """The lowest top-class probability."""

    name = "least_confidence"

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.probabilities is not None
        return least_confidence(pool.probabilities)


class Margin(ScoredStrategy):
    """The smallest gap between the two likeliest classes."""

    name = "margin"

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.probabilities is not None
        return margin(pool.probabilities)


class Entropy(ScoredStrategy):
    """The highest entropy of the class distribution."""

    name = "entropy"

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.probabilities is not None
        return entropy(pool.probabilities)
