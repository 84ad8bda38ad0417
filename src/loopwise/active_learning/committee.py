"""Query by committee: label what several plausible models disagree on.

A committee's members are usually the same model fitted on bootstrap resamples of the labelled
items (:func:`bootstrap_committee`); where they disagree, the labelled data have not yet pinned
the decision down. Disagreement is scored by :mod:`loopwise.scoring` (higher = more
disagreement).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

from loopwise.active_learning.base import FloatArray, Matrix, Pool, ScoredStrategy
from loopwise.errors import InvalidInput, NotEnoughLabels
from loopwise.scoring import kl_to_consensus, vote_entropy

RESAMPLE_TRIES = 10
"""Bootstrap draws tried per member before fitting it on every labelled item instead."""


class Classifier(Protocol):
    """What :func:`bootstrap_committee` needs of a model: scikit-learn's classifier interface."""

    classes_: Any

    def fit(self, x: Any, y: Any, /) -> Any: ...

    def predict_proba(self, x: Any, /) -> Any: ...


class VoteEntropy(ScoredStrategy):
    """The committee's votes spread most evenly over the classes (vote entropy)."""

    name = "vote_entropy"
    needs: frozenset[str] = frozenset({"committee"})

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.committee is not None
        return vote_entropy(pool.committee)


class KLConsensus(ScoredStrategy):
    """The members' distributions furthest, on average, from their mean (KL to consensus):
    unlike votes, sees members that agree on the class but not on how sure to be."""

    name = "kl_consensus"
    needs: frozenset[str] = frozenset({"committee"})

    def scores(self, pool: Pool) -> FloatArray:
        assert pool.committee is not None
        return kl_to_consensus(pool.committee)


def bootstrap_committee(
    make_estimator: Callable[[], Classifier],
    x_labelled: Matrix,
    y_labelled: npt.ArrayLike,
    x_pool: Matrix,
    size: int,
    rng: int | np.random.Generator | None,
    n_classes: int,
    *,
    tries: int = RESAMPLE_TRIES,
) -> FloatArray:
    """Class probabilities of ``size`` models fitted on bootstrap resamples of the labelled items.

    A resample that happens to hold a single class cannot train a classifier, so each member
    draws again (up to ``tries`` times) until it has at least two classes, then falls back to
    every labelled item. A member whose solver stops before converging is still a fair
    member, so scikit-learn's ``ConvergenceWarning`` is silenced while fitting.

    Parameters
    ----------
    make_estimator:
        Returns a fresh unfitted classifier each call (``lambda: LogisticRegression()``); give
        it a fixed ``random_state`` if it has one, for a reproducible committee.
    x_labelled, y_labelled:
        ``(m, d)`` features (dense or sparse) and ``(m,)`` class indices in ``0 .. k-1``.
    x_pool:
        ``(n, d)`` the candidates to predict.
    size:
        Members, at least 2 (one model cannot disagree with itself).
    rng:
        Seed or generator for the resamples.
    n_classes:
        ``k``; a member that never saw class ``j`` gives it probability 0.
    tries:
        Bootstrap draws per member before falling back to every labelled item (0: no
        resampling, every member fitted on everything: only the estimator's own randomness
        differs).

    Returns
    -------
    ``(size, n, k)`` float64, ready for :attr:`Pool.committee`: ``[i, r, j]`` is member ``i``'s
    probability that candidate ``r`` is class ``j``.

    Raises
    ------
    InvalidInput
        ``field="committee"`` for fewer than two members; ``n_classes`` below 2; labels that
        are not class indices or do not match the labelled rows (``y_labelled``); candidates
        of another width (``x_pool``).
    NotEnoughLabels
        The labelled items hold fewer than two classes: no classifier can be fitted.
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 2:
        raise InvalidInput(
            f"needs at least two members to disagree, got {size!r}", field="committee"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise InvalidInput(
            f"must be a whole number of at least 2, got {n_classes!r}", field="n_classes"
        )
    y = np.asarray(y_labelled)
    m = x_labelled.shape[0]
    if y.shape != (m,) or (m and not np.issubdtype(y.dtype, np.integer)):
        raise InvalidInput(f"must be {m} class indices, one per labelled row", field="y_labelled")
    if m and (y.min() < 0 or y.max() >= n_classes):
        raise InvalidInput(f"class indices must be in 0..{n_classes - 1}", field="y_labelled")
    if x_pool.shape[1] != x_labelled.shape[1]:
        raise InvalidInput(
            f"has {x_pool.shape[1]} features, the labelled items {x_labelled.shape[1]}",
            field="x_pool",
        )
    if len(np.unique(y)) < 2:
        raise NotEnoughLabels("a committee needs labelled items of at least two classes")
    features = x_labelled.tocsr() if sparse.issparse(x_labelled) else np.asarray(x_labelled)
    generator = np.random.default_rng(rng)
    out = np.zeros((int(size), x_pool.shape[0], int(n_classes)), dtype=np.float64)
    for member in range(int(size)):
        rows: npt.NDArray[np.int64] | slice = slice(None)
        for _ in range(tries):
            draw = generator.integers(0, m, size=m)
            if len(np.unique(y[draw])) >= 2:
                rows = draw
                break
        model = make_estimator()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(features[rows], y[rows])
        classes = np.asarray(model.classes_, dtype=np.int64)
        out[member][:, classes] = np.asarray(model.predict_proba(x_pool), dtype=np.float64)
    return out
