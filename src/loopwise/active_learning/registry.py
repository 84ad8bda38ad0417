"""Every strategy by name, the factory configuration goes through, and the project's default.

The default is a choice made from benchmark figures, so it lives in two constants here
(:data:`DEFAULT_HYBRID`, :data:`DEFAULT_EXPLORE`) rather than in the code paths that use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopwise.active_learning.base import IntArray, Pool, QueryStrategy
from loopwise.active_learning.committee import KLConsensus, VoteEntropy
from loopwise.active_learning.diversity import Coreset, KMeansSampling
from loopwise.active_learning.gradient import Badge, ExpectedModelChange
from loopwise.active_learning.hybrid import ClusterMargin, DensityWeighted
from loopwise.active_learning.uncertainty import Entropy, LeastConfidence, Margin, RandomSampling
from loopwise.active_learning.wrappers import Explore, MarginDiverse
from loopwise.errors import InvalidInput, UnknownStrategy

DEFAULT_HYBRID = "margin_diverse"
"""What ``default`` uses once there is a model: margin without near-duplicates, for now."""

DEFAULT_EXPLORE = 0.1
"""Share of each ``default`` batch given to random candidates once there is a model."""

DEFAULT_COLD = "kmeans"
"""What ``default`` uses before the first model: diversity alone."""


class Default(QueryStrategy):
    """The project's default: :data:`DEFAULT_COLD` while the pool lacks what the hybrid needs
    (no model yet), then :data:`DEFAULT_HYBRID` with :data:`DEFAULT_EXPLORE` exploration.

    Parameters
    ----------
    hybrid, explore, cold:
        Override the module's choice (names from :data:`STRATEGIES`; ``cold`` must need nothing
        but features).
    """

    name = "default"
    needs: frozenset[str] = frozenset()

    def __init__(
        self,
        hybrid: str = DEFAULT_HYBRID,
        explore: float = DEFAULT_EXPLORE,
        cold: str = DEFAULT_COLD,
    ) -> None:
        for field, value in (("hybrid", hybrid), ("cold", cold)):
            if value == self.name:
                raise InvalidInput("the default cannot be made of itself", field=field)
        self.hybrid = make_strategy(hybrid, explore=explore)
        self.cold = make_strategy(cold)
        if self.cold.needs:
            raise InvalidInput(
                f"{cold!r} needs {sorted(self.cold.needs)}; a cold start has only features",
                field="cold",
            )

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        ready = all(getattr(pool, field) is not None for field in self.hybrid.needs)
        return (self.hybrid if ready else self.cold).select(pool, n, rng)


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
