"""Strategies that wrap another: a near-duplicate filter for batches, and an exploration share.

A batch of the ``n`` most uncertain candidates often holds the same text several times (forwarded
mails, templated tickets): one label would have taught the model as much as all of them.
:class:`Diverse` keeps the inner strategy's ranking but skips a candidate nearly identical to one
already taken. :class:`Explore` gives a share of every batch to random candidates, so a model
that is confidently wrong about a whole region still gets to see it.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from scipy import sparse

from loopwise.active_learning.base import (
    FloatArray,
    IntArray,
    Matrix,
    Pool,
    QueryStrategy,
    ScoredStrategy,
    top,
)
from loopwise.active_learning.geometry import (
    CHUNK_CELLS,
    dot,
    row,
    same_kind,
    squared_norms,
    take,
    unit_rows,
)
from loopwise.active_learning.uncertainty import Margin
from loopwise.errors import InvalidInput


def diverse_top(
    scores: FloatArray,
    features: Matrix,
    n: int,
    *,
    threshold: float = 0.95,
    pool_factor: int = 10,
    pending: Matrix | None = None,
) -> IntArray:
    """The ``n`` best-scored candidates, skipping near-duplicates of those already accepted
    and of the items waiting for a label (``pending``).

    Walks the ``pool_factor * n`` best candidates (found by ``argpartition``, not a sort of
    the pool) from the highest score down and accepts one only if its cosine similarity to
    every accepted one is below ``threshold``. Similarities are computed incrementally, one
    product of the shortlist with each accepted row (``O(pool_factor * n^2)`` products at
    most), never a pairwise matrix. If too few pass, the best of the skipped ones fill up.
    The similarities to the pending items are computed only as far down the shortlist as the
    walk goes: ``n`` rows, ``n`` more, then twice as many each time (with few near-duplicates,
    about ``n`` rows rather than ``pool_factor * n``; when most of the shortlist repeats the
    pending items, a few products that cover it all).

    Parameters
    ----------
    scores:
        ``(N,)`` higher = pick sooner.
    features:
        ``(N, d)`` dense or sparse. All-zero rows have similarity 0 to everything, so they are
        never skipped.
    n:
        How many, ``1 <= n <= N``.
    threshold:
        Cosine similarity at or above which a candidate counts as a near-duplicate.
    pool_factor:
        Shortlist size as a multiple of ``n``.
    pending:
        ``(p, d)`` items chosen earlier whose labels have not come back: the scores cannot know
        about them (the model has not learnt from them), so their near-duplicates are skipped
        as if they were accepted already (:func:`nearest_similarity`: blocked products).

    Returns
    -------
    ``(n,)`` indices, accepted ones first (by score), then fill-ups (by score).
    """
    shortlist = top(scores, min(len(scores), pool_factor * n))
    size = len(shortlist)
    unit = unit_rows(take(features, shortlist))
    closest = np.full(size, -np.inf)
    waiting = None
    if pending is not None and pending.shape[0]:
        waiting = unit_rows(same_kind(pending, unit))
        waiting = waiting[np.flatnonzero(squared_norms(waiting) > 0.5)]  # similar to nothing
    known = size if waiting is None else 0  # rows compared with the pending items so far
    accepted: list[int] = []
    start = 0
    while len(accepted) < n:
        passing = np.flatnonzero(closest[start:known] < threshold)
        if passing.size == 0:
            if known == size:
                break
            stop = min(size, known + max(n, known))  # n rows, n more, then doubling
            near = nearest_similarity(unit[known:stop], waiting)
            np.maximum(closest[known:stop], near, out=closest[known:stop])
            start, known = max(start, known), stop
            continue
        i = start + int(passing[0])
        accepted.append(i)
        closest = np.maximum(closest, dot(unit, row(unit, i)))
        start = i + 1
    if len(accepted) < n:
        skipped = np.ones(len(shortlist), dtype=bool)
        skipped[accepted] = False
        accepted.extend(np.flatnonzero(skipped)[: n - len(accepted)].tolist())
    return np.asarray(shortlist[accepted], dtype=np.int64)


def nearest_similarity(
    unit: Matrix, references: Matrix, *, chunk_cells: int = CHUNK_CELLS
) -> FloatArray:
    """``(n,)`` each row's cosine similarity to its most similar reference, for rows and
    references of unit length or all zero (:func:`~loopwise.active_learning.geometry.unit_rows`,
    the same kind, dense or CSR).

    The maximum of the products, a block of at most ``chunk_cells`` row-by-reference cells at
    a time: sparse blocks stay sparse (a sparse matrix's row maximum counts the zeros it does
    not store), so 1,000 TF-IDF rows against 5,000 references cost a few milliseconds and no
    dense block. All-zero references are left out and all-zero rows get ``-inf`` (similar to
    nothing, as in :func:`diverse_top`).
    """
    nonzero = squared_norms(references) > 0.5
    if not nonzero.all():
        references = references[np.flatnonzero(nonzero)]
    n, m = unit.shape[0], references.shape[0]
    best = np.full(n, -np.inf)
    step = max(1, chunk_cells // max(n, 1))
    for start in range(0, m, step):
        products = unit @ references[start : start + step].T
        if sparse.issparse(products):
            top = np.asarray(products.tocsr().max(axis=1).toarray(), dtype=np.float64).ravel()
        else:
            top = np.asarray(products, dtype=np.float64).max(axis=1)
        np.maximum(best, top, out=best)
    best[squared_norms(unit) < 0.5] = -np.inf
    return best


class Diverse(QueryStrategy):
    """A scored strategy's ranking without near-duplicates of each other or of the items
    waiting for a label (:func:`diverse_top`).

    Parameters
    ----------
    inner:
        The ranking to filter (default: :attr:`inner_class`'s).
    threshold:
        Cosine similarity at or above which a candidate counts as a near-duplicate, in (0, 1].
    pool_factor:
        How far down the ranking to look, as a multiple of ``n`` (at least 1).
    """

    name = "diverse"
    inner_class: ClassVar[type[ScoredStrategy]] = Margin

    def __init__(
        self, inner: ScoredStrategy | None = None, threshold: float = 0.95, pool_factor: int = 10
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidInput(f"must be a number, got {threshold!r}", field="threshold")
        if not 0.0 < threshold <= 1.0:
            raise InvalidInput(f"must be in (0, 1], got {threshold!r}", field="threshold")
        if isinstance(pool_factor, bool) or not isinstance(pool_factor, int) or pool_factor < 1:
            raise InvalidInput(
                f"must be a whole number of at least 1, got {pool_factor!r}", field="pool_factor"
            )
        self.inner = self.inner_class() if inner is None else inner
        self.needs = self.inner.needs
        self.threshold = float(threshold)
        self.pool_factor = pool_factor

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        return diverse_top(
            self.inner.scores(pool),
            pool.features,
            n,
            threshold=self.threshold,
            pool_factor=self.pool_factor,
            pending=pool.pending,
        )


class MarginDiverse(Diverse):
    """Margin uncertainty, skipping near-duplicates (cosine similarity >= 0.95)."""

    name = "margin_diverse"


def exploration_count(share: float, n: int, rng: np.random.Generator) -> int:
    """How many of ``n`` picks go to random candidates: ``ceil(share * n)``, at most ``n - 1``
    so the inner strategy keeps at least one; 0 when ``share`` is 0.

    For ``n = 1`` it is 1 with probability ``share``: a one-at-a-time loop then explores the same
    share on average, where a ceiling would make every pick random and a cap at ``n - 1`` none.
    """
    if share <= 0.0:
        return 0
    if n == 1:
        return int(rng.random() < share)
    return min(math.ceil(share * n - 1e-9), n - 1)


class Explore(QueryStrategy):
    """Another strategy with a share of its batch replaced by uniformly random candidates.

    The inner strategy's lowest-ranked picks are dropped and the random ones appended, drawn
    from every candidate not kept (so with ``n = len(pool)`` the batch is still the whole pool).

    Parameters
    ----------
    inner:
        The strategy whose batch to share.
    share:
        Fraction of each batch to explore, in [0, 1) (see :func:`exploration_count`).
    """

    name = "explore"

    def __init__(self, inner: QueryStrategy, share: float = 0.1) -> None:
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
            raise InvalidInput(f"must be a number in [0, 1), got {share!r}", field="explore")
        self.inner = inner
        self.needs = inner.needs
        self.share = float(share)

    @property
    def title(self) -> str:
        return self.inner.title

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        picks = np.asarray(self.inner.select(pool, n, rng), dtype=np.int64)
        k = exploration_count(self.share, n, rng)
        if k == 0:
            return picks
        kept = picks[: n - k]
        free = np.ones(len(pool), dtype=bool)
        free[kept] = False
        extra = rng.choice(np.flatnonzero(free), size=k, replace=False)
        return np.concatenate([kept, np.asarray(extra, dtype=np.int64)])
