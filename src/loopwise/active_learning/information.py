"""Fisher information: ask for the labels that shrink the model's uncertainty over the pool most.

For a logistic regression with an L2 penalty (prior precision ``ridge``, ``1 / C`` in
scikit-learn's terms), the Fisher information of one item ``x`` for the weights of class ``k``
is ``p_k (1 - p_k) x x^T`` (the diagonal blocks of ``(diag(p) - p p^T) ⊗ x x^T``; the blocks
between classes are left out). Labelling a set ``L`` gives the weights of class ``k`` a
precision ``G_k = ridge * I + sum_L p_k (1 - p_k) x x^T``, and
``tr(G_k^-1 F_k)``, with ``F_k`` the mean Fisher information over the pool, is the model's
predictive variance over the pool (the quantity BAIT minimises: J. Ash et al., "Gone Fishing:
Neural Active Learning with Fisher Embeddings", NeurIPS 2021; for logistic regression, the
variance reduction of A. Schein and L. Ungar, Machine Learning 2007).

Adding ``x`` with weight ``w = p_k (1 - p_k)`` lowers that trace by
``w x^T G^-1 F G^-1 x / (1 + w x^T G^-1 x)`` (Sherman-Morrison), and ``G^-1`` takes a rank-one
update, so a greedy batch costs one ``candidates x d`` product per class and pick. An
uncertain item far from what is labelled scores high; an item like one already picked scores
low once that pick is counted, so the batch spreads by itself.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from loopwise.active_learning.base import FloatArray, IntArray, Matrix, Pool, QueryStrategy, top
from loopwise.active_learning.geometry import take
from loopwise.errors import InvalidInput

MAX_FISHER_CELLS = 1 << 22
"""Largest ``blocks x (features + 1)^2`` the Fisher blocks may take (a block per class, one for
two classes; 4M floats, 32 MB a matrix kind): up to 2,047 features for two classes, 646 for
ten. Wider features go to strategies that never form a ``d x d`` matrix."""

INTERCEPT_RIDGE = 1e-3
"""Precision on the intercept, which the model does not penalise: a floor that keeps ``G``
invertible."""


def fisher_blocks(probabilities: FloatArray) -> FloatArray:
    """``(n, b)`` each row's Fisher weight ``p_k (1 - p_k)`` per class block: one block for two
    classes (both classes' weights are equal, as a binary model has one weight vector), else one
    per class. Higher = the label says more about that class's weights."""
    p = np.asarray(probabilities, dtype=np.float64)
    weights = p * (1.0 - p)
    return weights[:, :1] if p.shape[1] == 2 else weights


def block_count(classes: int) -> int:
    """Fisher blocks for ``classes`` classes (see :func:`fisher_blocks`)."""
    return 1 if classes == 2 else classes


def fits(features: int, classes: int) -> bool:
    """Whether Fisher blocks for ``features`` columns and ``classes`` classes stay within
    :data:`MAX_FISHER_CELLS`."""
    return block_count(classes) * (features + 1) ** 2 <= MAX_FISHER_CELLS


def with_intercept(features: Matrix) -> FloatArray:
    """``(n, d + 1)`` dense float64 rows with a column of ones (the intercept's input)."""
    rows = features.toarray() if sparse.issparse(features) else np.asarray(features)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.float64)
    out[:, :-1] = rows
    out[:, -1] = 1.0
    return out


class Bait(QueryStrategy):
    """Greedy batches that most lower the model's predictive variance over the pool (BAIT's
    criterion for logistic regression; see the module docstring): uncertainty and diversity
    from one quantity, with no weight between them to tune.

    The labelled items count with the model's own probabilities for them
    (``pool.labelled_probabilities``), so an item the model has learnt well says little; so do
    the items waiting for a label (``pool.pending``), as picks made already. With
    more than ``candidates`` (or 20 per pick) in the pool, the batch is chosen among that many
    with the highest summed Fisher weight (the score is proportional to it), and the pool's
    Fisher information is the mean over at most ``sample`` rows drawn at random.

    Parameters
    ----------
    ridge:
        Prior precision of the weights: ``1 / C`` of the logistic regression (loopwise's
        tabular model: ``C = 1``).
    candidates:
        Shortlist size on large pools.
    sample:
        Rows the pool's Fisher information is averaged over on large pools.

    Raises
    ------
    InvalidInput
        ``pool.features`` wider than :data:`MAX_FISHER_CELLS` allows for the classes;
        ``pool.labelled_probabilities`` missing while labelled items are given.
    """

    name = "bait"

    def __init__(self, ridge: float = 1.0, candidates: int = 2000, sample: int = 10_000) -> None:
        if isinstance(ridge, bool) or not isinstance(ridge, int | float) or not 0 < ridge < np.inf:
            raise InvalidInput(f"must be a positive number, got {ridge!r}", field="ridge")
        for field, value in (("candidates", candidates), ("sample", sample)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(
                    f"must be a whole number of at least 1, got {value!r}", field=field
                )
        self.ridge = float(ridge)
        self.candidates = candidates
        self.sample = sample

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
        assert pool.probabilities is not None
        probs = np.asarray(pool.probabilities, dtype=np.float64)
        total, width = len(pool), pool.features.shape[1]
        if not fits(width, probs.shape[1]):
            raise InvalidInput(
                f"bait needs class x feature Fisher blocks; {width} features and "
                f"{probs.shape[1]} classes are too many (use falcun or margin_diverse)",
                field="pool.features",
            )
        weights = fisher_blocks(probs)
        shortlist = max(self.candidates, 20 * n)
        rows = np.arange(total) if total <= shortlist else top(weights.sum(axis=1), shortlist)
        drawn = np.arange(total) if total <= self.sample else rng.choice(total, self.sample, False)
        x = with_intercept(take(pool.features, rows))
        whole = total <= min(shortlist, self.sample)  # both are the whole pool, in order
        sample = x if whole else with_intercept(take(pool.features, drawn))
        w = weights[rows]
        blocks = [
            _Block(x, w[:, b], precision, _mean_fisher(sample, weights[drawn, b]))
            for b, precision in enumerate(self._precisions(pool, weights.shape[1], width))
        ]
        picks: list[int] = []
        for _ in range(n):
            gain = sum((block.gain() for block in blocks), np.zeros(len(rows)))
            gain[picks] = -np.inf
            best = int(np.argmax(gain))
            if not gain[best] > 0.0:  # nothing left to learn from any of them: any will do
                free = np.setdiff1d(np.arange(len(rows)), picks)
                best = int(rng.choice(free))
            picks.append(best)
            for block in blocks:
                block.add(best)
        return np.asarray(rows[picks], dtype=np.int64)

    def _precisions(self, pool: Pool, count: int, width: int) -> list[FloatArray]:
        """Each block's ``G = ridge I + sum w x x^T`` over the labelled items and those waiting
        for a label (``pool.pending``, weighed by the model's probabilities for them like the
        labelled: counted as picked, since their labels are on the way)."""
        prior = np.full(width + 1, self.ridge)
        prior[-1] = INTERCEPT_RIDGE
        precisions = [np.diag(prior) for _ in range(count)]
        for items, field in ((pool.labelled, "labelled"), (pool.pending, "pending")):
            if items is None or items.shape[0] == 0:
                continue
            probabilities = getattr(pool, f"{field}_probabilities")
            if probabilities is None:
                raise InvalidInput(
                    f"bait weighs each {field} item by the model's probabilities for it; "
                    f"give them with the {field} items",
                    field=f"pool.{field}_probabilities",
                )
            x = with_intercept(items)
            weights = fisher_blocks(np.asarray(probabilities))
            for b in range(count):
                precisions[b] += (x * weights[:, b, None]).T @ x
        return precisions


class _Block:
    """One class block's greedy state over the shortlisted rows ``x``: ``G^-1``, the pool's
    Fisher ``F``, and per row ``q = x^T G^-1 x`` and ``m = x^T G^-1 F G^-1 x``."""

    def __init__(self, x: FloatArray, w: FloatArray, precision: FloatArray, fisher: FloatArray):
        self.x, self.w, self.fisher = x, w, fisher
        self.inverse = np.linalg.inv(precision)
        projected = x @ self.inverse
        self.q = np.einsum("ij,ij->i", projected, x)
        self.m = np.einsum("ij,ij->i", projected @ fisher, projected)

    def gain(self) -> FloatArray:
        """``(rows,)`` how much labelling each row lowers ``tr(G^-1 F)``."""
        return np.asarray(self.w * self.m / (1.0 + self.w * self.q), dtype=np.float64)

    def add(self, i: int) -> None:
        """Count row ``i`` as labelled: rank-one updates of ``G^-1``, ``q`` and ``m``."""
        g = self.inverse @ self.x[i]
        c = self.w[i] / (1.0 + self.w[i] * self.q[i])
        fg = self.fisher @ g
        products = self.x @ np.column_stack([g, self.inverse @ fg])
        xg, xh = products[:, 0], products[:, 1]
        self.m -= c * xg * (2.0 * xh - c * float(g @ fg) * xg)
        self.q -= c * xg * xg
        self.inverse -= c * np.outer(g, g)


def _mean_fisher(x: FloatArray, weights: FloatArray) -> FloatArray:
    """``(d + 1, d + 1)`` the mean of ``w x x^T`` over the rows of ``x`` (with intercept)."""
    return np.asarray((x * weights[:, None]).T @ x / max(len(x), 1), dtype=np.float64)
