"""The query-strategy contract: a pool of candidates in, the indices of the ones to label out.

A :class:`Pool` holds arrays aligned on the candidates' rows: their features in the model's
own feature space (sparse TF-IDF for text, scaled columns for tables), the current model's class
probabilities (``None`` before there is a model: a cold start), optionally the features of items
already labelled (diversity strategies keep away from them), of items chosen earlier whose labels
have not come back yet (``pending``: strategies that spread their picks count them as picked)
and a committee's probabilities (query by committee). Every strategy is a short subclass of
:class:`QueryStrategy` that implements :meth:`QueryStrategy.select`; :meth:`QueryStrategy.query`
validates the pool and the request first and checks the answer, so no strategy repeats those
checks. Strategies are pure: arrays in, indices out, deterministic under a seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from scipy import sparse

from loopwise.errors import EmptyPool, InvalidInput, NotEnoughInPool

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Matrix = Any
"""A 2-D float array or a scipy sparse matrix (rows are candidates)."""


@dataclass(frozen=True)
class Pool:
    """What a strategy chooses from.

    Parameters
    ----------
    features:
        ``(n, d)`` candidates in the model's feature space (dense or scipy sparse).
    probabilities:
        ``(n, k)`` the current model's class probabilities; ``None``: no model yet.
    labelled:
        ``(m, d)`` features of the items already labelled, in the same space; ``None`` or
        ``m = 0``: none.
    committee:
        ``(c, n, k)`` class probabilities of ``c >= 2`` models (query by committee).
    labelled_probabilities:
        ``(m, k)`` the current model's class probabilities for the labelled items (``bait``
        weighs what each has already taught the model by them).
    pending:
        ``(p, d)`` features of items waiting for a label (chosen by an earlier query, or queued
        for review): the model has not learnt from them, but will. ``coreset``, ``kmeans``,
        ``bait``, ``badge`` and ``margin_diverse`` (and ``default``, through them) treat them as
        earlier picks of the same batch, so a second query made before people answer the first
        does not choose their near-duplicates; the other strategies do not look at them.
        ``None`` or ``p = 0``: none.
    pending_probabilities:
        ``(p, k)`` the current model's class probabilities for the pending items; needed with
        ``pending`` whenever ``probabilities`` are given.
    """

    features: Matrix
    probabilities: FloatArray | None = None
    labelled: Matrix | None = None
    committee: FloatArray | None = None
    labelled_probabilities: FloatArray | None = None
    pending: Matrix | None = None
    pending_probabilities: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, rows: IntArray) -> Pool:
        """The candidates at ``rows`` (labelled items and everything else kept)."""
        return Pool(
            features=self.features[rows],
            probabilities=None if self.probabilities is None else self.probabilities[rows],
            labelled=self.labelled,
            committee=None if self.committee is None else self.committee[:, rows],
            labelled_probabilities=self.labelled_probabilities,
            pending=self.pending,
            pending_probabilities=self.pending_probabilities,
        )

    @property
    def has_pending(self) -> bool:
        """Whether any item waits for a label (:attr:`pending` has a row)."""
        return self.pending is not None and self.pending.shape[0] > 0


class QueryStrategy(ABC):
    """Chooses which unlabelled candidates people should label next.

    Subclasses set :attr:`name` (how configuration and the CLI call it) and implement
    :meth:`select`. :attr:`needs` lists the :class:`Pool` fields they cannot work without
    (``"probabilities"``: a model; ``"committee"``); a strategy that needs nothing but
    features can start cold.
    """

    name: ClassVar[str]
    needs: frozenset[str] = frozenset({"probabilities"})
    """Not a class variable: a wrapper (:class:`~loopwise.active_learning.Explore`) needs what
    the strategy it wraps needs, so it sets this per instance."""

    def query(
        self, pool: Pool, n: int | np.integer[Any], *, seed: int | np.random.Generator | None = None
    ) -> IntArray:
        """``n`` distinct row indices of ``pool``, the best first where the strategy ranks.

        Raises
        ------
        EmptyPool
            The pool has no candidate.
        NotEnoughInPool
            ``n`` is larger than the pool.
        InvalidInput
            ``n`` is not a positive whole number; ``seed`` is neither a non-negative whole
            number nor a generator (:func:`check_seed`); features (the labelled and pending
            items' too) with NaN or infinity, or not of one width; probabilities (the labelled and
            pending items' too) or a committee of the wrong shape or not rows summing to 1;
            pending items without their probabilities while the pool has a model's; a
            committee of fewer than two; a field the strategy needs is missing.
        """
        check_count(n)
        check_seed(seed)
        check_pool(pool)
        if len(pool) == 0:
            raise EmptyPool("the pool has no unlabelled item left to choose from", field="pool")
        if n > len(pool):
            raise NotEnoughInPool(f"asked for {n} items; the pool has {len(pool)} left", field="n")
        missing = sorted(f for f in self.needs if getattr(pool, f) is None)
        if missing:
            raise InvalidInput(
                f"strategy {self.title!r} needs {missing[0]} (a trained model); "
                "use a diversity strategy to start cold",
                field=f"pool.{missing[0]}",
            )
        rng = np.random.default_rng(seed)
        chosen = np.asarray(self.select(pool, int(n), rng), dtype=np.int64)
        if chosen.shape != (n,) or len(np.unique(chosen)) != n:
            raise AssertionError(f"{self.name} returned {chosen!r}, not {n} distinct indices")
        if chosen.min() < 0 or chosen.max() >= len(pool):
            raise AssertionError(f"{self.name} returned an index outside the pool")
        return chosen

    @property
    def title(self) -> str:
        """What errors call the strategy: its :attr:`name` (a wrapper's says the one it wraps)."""
        return self.name

    @abstractmethod
    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        """``n`` distinct indices of a validated ``pool`` (``1 <= n <= len(pool)``)."""


class ScoredStrategy(QueryStrategy):
    """A strategy that scores every candidate on its own (higher = label it sooner) and takes the
    top ``n``.

    Exposing :meth:`scores` lets a wrapper reuse the ranking: the near-duplicate filter
    (:class:`~loopwise.active_learning.Diverse`) walks the candidates in score order instead of
    taking the top ``n`` blindly.
    """

    @abstractmethod
    def scores(self, pool: Pool) -> FloatArray:
        """``(n,)`` one score per candidate of a validated ``pool``; higher = query first."""

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        return top(self.scores(pool), n)


def check_whole(value: object, field: str, least: int) -> None:
    """Refuse a ``value`` that is not a whole number (a bool is not one) of at least ``least``.

    Raises
    ------
    InvalidInput
        Naming ``field``.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise InvalidInput(
            f"must be a whole number of at least {least}, got {value!r}", field=field
        )


def check_count(n: object) -> None:
    """Refuse an ``n`` (how many to choose) that is not a whole number of at least 1
    (``field="n"``)."""
    check_whole(n, "n", 1)


def check_seed(seed: object) -> None:
    """Refuse a ``seed`` NumPy would not take: ``None``, a whole number of at least 0 or a
    ``np.random.Generator`` are taken (NumPy raises a bare ``TypeError`` or ``ValueError``
    for the rest: a string, a float, a negative number; ``field="seed"``)."""
    if seed is not None and not isinstance(seed, np.random.Generator):
        check_whole(seed, "seed", 0)


def check_pool(pool: Pool) -> None:
    """Refuse a pool whose arrays do not fit together (see :meth:`QueryStrategy.query`)."""
    features = pool.features
    if getattr(features, "ndim", None) != 2:
        raise InvalidInput("must be a 2-D matrix, one row per candidate", field="pool.features")
    values = features.data if sparse.issparse(features) else features
    if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
        raise InvalidInput("contain NaN or infinity", field="pool.features")
    n, d = features.shape
    labelled, pending = pool.labelled, pool.pending
    for items, field in ((labelled, "labelled"), (pending, "pending")):
        if items is None:
            continue
        if getattr(items, "ndim", None) != 2:
            raise InvalidInput("must be a 2-D matrix, one row per item", field=f"pool.{field}")
        if items.shape[0] and items.shape[1] != d:
            raise InvalidInput(
                f"{field} items have {items.shape[1]} features, the pool {d}",
                field=f"pool.{field}",
            )
        values = items.data if sparse.issparse(items) else items
        if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
            raise InvalidInput("contain NaN or infinity", field=f"pool.{field}")
    if pool.probabilities is not None:
        _check_rows(pool.probabilities, (n,), "pool.probabilities")
        if pool.has_pending and pool.pending_probabilities is None:
            raise InvalidInput(
                "the model's probabilities for the pending items are needed with them",
                field="pool.pending_probabilities",
            )
    for items, field in ((labelled, "labelled"), (pending, "pending")):
        given = getattr(pool, f"{field}_probabilities")
        if given is None:
            continue
        rows = 0 if items is None else items.shape[0]
        _check_rows(given, (rows,), f"pool.{field}_probabilities")
        classes = np.shape(given)[1]
        if pool.probabilities is not None and np.shape(pool.probabilities)[1] != classes:
            raise InvalidInput(
                f"have {classes} classes, the pool's probabilities "
                f"{np.shape(pool.probabilities)[1]}",
                field=f"pool.{field}_probabilities",
            )
    if pool.committee is not None:
        committee = np.asarray(pool.committee)
        if committee.ndim != 3 or committee.shape[1] != n:
            raise InvalidInput(
                f"must have shape (models, {n}, classes), got {committee.shape}",
                field="pool.committee",
            )
        if committee.shape[0] < 2:
            raise InvalidInput(
                "a committee needs at least two models to disagree", field="pool.committee"
            )
        _check_rows(committee.reshape(-1, committee.shape[2]), None, "pool.committee")


def _check_rows(probs: Any, rows: tuple[int] | None, field: str) -> None:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2 or (rows is not None and array.shape[0] != rows[0]):
        want = f"({rows[0]}, classes)" if rows is not None else "(rows, classes)"
        raise InvalidInput(f"must have shape {want}, got {array.shape}", field=field)
    if not np.isfinite(array).all() or (array < 0).any():
        raise InvalidInput("must be finite, non-negative probabilities", field=field)
    if array.size and not np.allclose(array.sum(axis=1), 1.0, atol=1e-4):
        raise InvalidInput("rows must sum to 1", field=field)


def top(scores: FloatArray, n: int) -> IntArray:
    """Indices of the ``n`` highest ``scores``, highest first (ties by index): selection
    without sorting the whole pool (``argpartition``, then a sort of ``n``)."""
    best = np.arange(len(scores)) if n >= len(scores) else np.argpartition(-scores, n - 1)[:n]
    order = np.lexsort((best, -scores[best]))
    return np.asarray(best[order], dtype=np.int64)
