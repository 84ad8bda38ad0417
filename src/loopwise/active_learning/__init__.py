"""Active learning: choose which unlabelled items people label next.

One base class (:class:`QueryStrategy`), one short class per strategy, chosen by name from
:data:`STRATEGIES` (:func:`make_strategy`). Pure: arrays in, indices out.

=========================  ================================================================
name                       picks
=========================  ================================================================
``random``                 uniformly at random (the baseline)
``least_confidence``       lowest top-class probability
``margin``                 smallest gap between the two likeliest classes
``entropy``                highest entropy of the class distribution
``vote_entropy``           committee votes spread most evenly (query by committee)
``kl_consensus``           members furthest from the committee's mean (query by committee)
``kmeans``                 the candidate nearest each k-means centre (cold start)
``coreset``                k-center greedy: farthest from everything labelled and chosen
``density``                margin times mean cosine similarity to the pool
``cluster_margin``         most uncertain of each cluster, round robin
``badge``                  k-means++ seeding over gradient embeddings
``expected_model_change``  longest expected gradient
``margin_diverse``         margin, skipping near-duplicates of earlier picks
``falcun``                 margin plus diversity in probability space, drawn (FALCUN)
``bait``                   greedy batch that most lowers the predictive variance over the
                           pool (Fisher information of the logistic regression; BAIT)
``default``                ``kmeans`` cold; then on sparse features margin_diverse with 10%
                           exploration, on dense features bait (falcun if too wide for it)
=========================  ================================================================

Any of them explores with ``make_strategy(name, explore=0.1)`` (:class:`Explore`).
"""

from __future__ import annotations

from loopwise.active_learning.base import (
    Pool,
    QueryStrategy,
    ScoredStrategy,
    check_count,
    check_pool,
    check_seed,
    top,
)
from loopwise.active_learning.committee import KLConsensus, VoteEntropy, bootstrap_committee
from loopwise.active_learning.diversity import Coreset, KMeansSampling, k_center_greedy
from loopwise.active_learning.gradient import Badge, ExpectedModelChange
from loopwise.active_learning.hybrid import ClusterMargin, DensityWeighted, Falcun
from loopwise.active_learning.information import Bait
from loopwise.active_learning.registry import (
    DEFAULT_COLD,
    DEFAULT_DENSE,
    DEFAULT_EXPLORE,
    DEFAULT_HYBRID,
    DEFAULT_WIDE,
    STRATEGIES,
    Default,
    make_strategy,
)
from loopwise.active_learning.uncertainty import Entropy, LeastConfidence, Margin, RandomSampling
from loopwise.active_learning.wrappers import Diverse, Explore, MarginDiverse, diverse_top

__all__ = [
    "DEFAULT_COLD",
    "DEFAULT_DENSE",
    "DEFAULT_EXPLORE",
    "DEFAULT_HYBRID",
    "DEFAULT_WIDE",
    "STRATEGIES",
    "Badge",
    "Bait",
    "ClusterMargin",
    "Coreset",
    "Default",
    "DensityWeighted",
    "Diverse",
    "Entropy",
    "ExpectedModelChange",
    "Explore",
    "Falcun",
    "KLConsensus",
    "KMeansSampling",
    "LeastConfidence",
    "Margin",
    "MarginDiverse",
    "Pool",
    "QueryStrategy",
    "RandomSampling",
    "ScoredStrategy",
    "VoteEntropy",
    "bootstrap_committee",
    "check_count",
    "check_pool",
    "check_seed",
    "diverse_top",
    "k_center_greedy",
    "make_strategy",
    "top",
]
