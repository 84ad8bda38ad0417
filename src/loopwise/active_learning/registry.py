"""Every strategy by name, the factory configuration goes through, and the project's default.

The default is a choice made from benchmark figures, so it lives in constants here
(:data:`DEFAULT_HYBRID`, :data:`DEFAULT_DENSE`, :data:`DEFAULT_EXPLORE`, :data:`DEFAULT_COLD`)
rather than in the code paths that use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from loopwise.active_learning.base import IntArray, Pool, QueryStrategy
from loopwise.active_learning.committee import KLConsensus, VoteEntropy
from loopwise.active_learning.diversity import Coreset, KMeansSampling
from loopwise.active_learning.gradient import Badge, ExpectedModelChange
from loopwise.active_learning.hybrid import ClusterMargin, DensityWeighted, Falcun
from loopwise.active_learning.information import Bait, fits
from loopwise.active_learning.uncertainty import Entropy, LeastConfidence, Margin, RandomSampling
from loopwise.active_learning.wrappers import Explore, MarginDiverse
from loopwise.errors import InvalidInput, UnknownStrategy

DEFAULT_HYBRID = "margin_diverse"
"""What ``default`` uses once there is a model, on sparse features (TF-IDF): margin without
near-duplicates (templated texts come in near-identical copies), with :data:`DEFAULT_EXPLORE`."""

DEFAULT_DENSE = "bait"
"""What ``default`` uses once there is a model, on dense features (tables, embeddings): BAIT's
criterion, the labels that most lower the model's predictive variance over the pool (Fisher
information of the logistic regression). Against FALCUN, the previous choice, on seeds outside
the benchmark's, paired (100 seeds, 100-199, chosen on; then 100 more, 200-299, to confirm;
``bench/active_learning.py --first-seed 100 --seeds 100``): digits AULC +0.0017 and +0.0035
(standard error 0.0003-0.0004), breast cancer +0.0013 and +0.0011 (0.0003). It takes no
exploration share. Not on sparse TF-IDF, where a ``d x d`` block per class does not fit; see
:data:`DEFAULT_WIDE` for wide dense features."""

DEFAULT_WIDE = "falcun"
"""What ``default`` uses on dense features too wide for :data:`DEFAULT_DENSE`'s Fisher blocks
(:func:`~loopwise.active_learning.information.fits`): FALCUN, margin plus diversity in
probability space, drawn in proportion to relevance, ``O(n * k)`` a pick whatever the width.
On 20 seeds not in the benchmark's it beat margin_diverse with 10% exploration on digits (AULC
0.9389 vs 0.9372) and breast cancer (0.9701 vs 0.9692); on TF-IDF it lost (SMS spam 0.9730 vs
0.9770), hence a sparse default of its own."""

DEFAULT_EXPLORE = 0.1
"""Share of each ``default`` batch on sparse features given to random candidates."""

DEFAULT_COLD = "kmeans"
"""What ``default`` uses before the first model: diversity alone."""


class Default(QueryStrategy):
    """The project's default: :data:`DEFAULT_COLD` while the pool lacks what the hybrid needs
    (no model yet); then, on sparse features, :data:`DEFAULT_HYBRID` with :data:`DEFAULT_EXPLORE`
    exploration, and on dense features :data:`DEFAULT_DENSE`, or :data:`DEFAULT_WIDE` where they
    are too wide for it (neither with an exploration share).

    Parameters
    ----------
    hybrid:
        Overrides the choice for any features (names from :data:`STRATEGIES`), with ``explore``.
    explore:
        Exploration share of the hybrid (of :data:`DEFAULT_HYBRID` when ``hybrid`` is not given).
    cold:
        Overrides :data:`DEFAULT_COLD`; must need nothing but features.
    """

    name = "default"
    needs: frozenset[str] = frozenset()

    def __init__(
        self,
        hybrid: str | None = None,
        explore: float = DEFAULT_EXPLORE,
        cold: str = DEFAULT_COLD,
    ) -> None:
        for field, value in (("hybrid", hybrid), ("cold", cold)):
            if value == self.name:
                raise InvalidInput("the default cannot be made of itself", field=field)
        self.hybrid = make_strategy(hybrid or DEFAULT_HYBRID, explore=explore)
        self.dense = self.hybrid if hybrid else make_strategy(DEFAULT_DENSE)
        self.wide = self.hybrid if hybrid else make_strategy(DEFAULT_WIDE)
        self.cold = make_strategy(cold)
        if self.cold.needs:
            raise InvalidInput(
                f"{cold!r} needs {sorted(self.cold.needs)}; a cold start has only features",
                field="cold",
            )

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        probs = pool.probabilities
        if sparse.issparse(pool.features):
            hybrid = self.hybrid
        elif probs is None or fits(pool.features.shape[1], np.shape(probs)[1]):
            hybrid = self.dense
        else:
            hybrid = self.wide
        ready = all(getattr(pool, field) is not None for field in hybrid.needs)
        return (hybrid if ready else self.cold).select(pool, n, rng)


STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (
        RandomSampling,
        LeastConfidence,
        Margin,
        Entropy,
        VoteEntropy,
        KLConsensus,
        KMeansSampling,
        Coreset,
        DensityWeighted,
        ClusterMargin,
        Falcun,
        Bait,
        Badge,
        ExpectedModelChange,
        MarginDiverse,
        Default,
    )
}
"""Every strategy by name."""


def make_strategy(name: str, **params: Any) -> QueryStrategy:
    """The strategy called ``name``, with ``params`` for its constructor.

    ``explore`` is not passed on: a share in [0, 1) of each batch to give to random candidates
    (:class:`~loopwise.active_learning.Explore`), so any strategy can explore from
    configuration (``make_strategy("margin", explore=0.1)``).

    Raises
    ------
    UnknownStrategy
        No strategy has that name (the message lists them).
    InvalidInput
        ``field="explore"``: not a number in [0, 1).
    """
    cls = STRATEGIES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownStrategy(
            f"{name!r} is not a strategy; choose one of {sorted(STRATEGIES)}", field="strategy"
        )
    if cls is Default or "explore" not in params:
        return cls(**params)
    explore = params.pop("explore")
    if isinstance(explore, bool) or not isinstance(explore, int | float) or not 0 <= explore < 1:
        raise InvalidInput(f"must be a number in [0, 1), got {explore!r}", field="explore")
    strategy = cls(**params)
    return Explore(strategy, share=explore) if explore > 0 else strategy
