"""Fitting the model a simulation trains at each step, and reading its probabilities.

Split from :mod:`.simulate` (which re-exports these): what any replay of the loop needs, with
or without a loopwise strategy choosing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from loopwise.active_learning.base import FloatArray, Matrix
from loopwise.training.models import ALGORITHMS

EstimatorFactory = Callable[[], Any]
"""Returns a new, unfitted scikit-learn classifier with ``predict_proba``."""


def default_estimator(features: Matrix) -> Any:
    """loopwise's default logistic regression for ``features``, unfitted.

    The classifier of the ``tfidf_logreg`` pipeline (``C=10``, balanced classes) for sparse
    features (TF-IDF); that of ``logreg`` (``C=1``) for dense ones, which it expects
    standardised (:func:`tabular_features`).
    """
    made = ALGORITHMS["tfidf_logreg" if sparse.issparse(features) else "logreg"][1]()
    return made[-1] if isinstance(made, Pipeline) else made


def fit(make: EstimatorFactory, features: Matrix, targets: Any) -> Any | None:
    """A new estimator fitted on ``features``; ``None`` when ``targets`` hold a single class.

    An L2-regularised logistic regression on sparse features is fitted on the columns the rows
    use and its coefficients put back at full width, zeros elsewhere: the same model (a column
    that is zero in every training row has zero gradient, and its weight stays at its starting
    value, 0), found far faster while the labelled rows use a few thousand of a vocabulary's
    tens of thousands of terms.
    """
    if len(np.unique(targets)) < 2:
        return None
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if sparse.issparse(features) and _l2_logistic(model):
            rows = sparse.csr_matrix(features)
            columns = np.unique(rows.indices)
            model.fit(rows[:, columns], targets)
            coef = np.zeros((model.coef_.shape[0], rows.shape[1]), dtype=model.coef_.dtype)
            coef[:, columns] = model.coef_
            model.coef_ = coef
            model.n_features_in_ = rows.shape[1]
        else:
            model.fit(features, targets)
    return model


class CommitteeMember:
    """A committee member fitted by :func:`fit` (the same model, sooner on sparse features)."""

    classes_: Any

    def __init__(self, make: EstimatorFactory) -> None:
        self._make = make
        self._model: Any = None

    def fit(self, x: Any, y: Any, /) -> CommitteeMember:
        self._model = fit(self._make, x, y) or self._make().fit(x, y)
        self.classes_ = self._model.classes_
        return self

    def predict_proba(self, x: Any, /) -> Any:
        return self._model.predict_proba(x)


def _l2_logistic(model: Any) -> bool:
    params = model.get_params() if isinstance(model, LogisticRegression) else {}
    return params.get("penalty") in ("l2", "deprecated") and params.get("l1_ratio") in (None, 0)


def aligned_proba(model: Any, features: Matrix, classes: Any) -> FloatArray:
    """``model``'s probabilities moved to the columns of ``classes`` (unseen classes get 0)."""
    raw = np.asarray(model.predict_proba(features), dtype=np.float64)
    out = np.zeros((raw.shape[0], len(classes)), dtype=np.float64)
    out[:, np.searchsorted(classes, model.classes_)] = raw
    return out
