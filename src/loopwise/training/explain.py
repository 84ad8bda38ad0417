"""Which parts of an input pushed a linear model towards its answer.

For a pipeline whose last step is a linear classifier (``coef_``), the contribution of feature
``j`` to class ``c`` is ``x_j * w_cj``: for ``tfidf_logreg`` the TF-IDF weight of a word or
word pair times its coefficient, for ``logreg`` a standardised column times its coefficient.
Positive contributions push towards the class, negative ones away from it; the sum over
features plus the intercept is the class's logit (its log-odds against the other class in the
binary case). Models without coefficients (gradient boosting) have no such attribution: the
functions return an empty list rather than guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from loopwise.training.models import ModelInput, TrainedModel


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's push on the score of ``label``: ``weight`` > 0 towards it, < 0 away."""

    feature: str
    weight: float
    value: float


def _class_weights(estimator: Any, label: str) -> Any:
    """The coefficient row of ``label`` (binary models store one row, for ``classes_[1]``)."""
    classes = [str(c) for c in estimator.classes_]
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    if label not in classes:
        return None
    if coef.shape[0] == 1:
        return coef[0] if classes.index(label) == 1 else -coef[0]
    return coef[classes.index(label)]


def contributions(
    model: TrainedModel,
    inputs: ModelInput,
    label: str,
    *,
    top: int = 8,
    feature_names: Sequence[str] = (),
) -> list[Contribution]:
    """The ``top`` features of the first input with the largest push (either sign) on
    ``label``, strongest first; empty for a model that is not a linear pipeline.

    ``feature_names`` name a table's columns (the pipeline itself only knows ``x0``, ``x1``...).
    """
    estimator = model.estimator
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return []
    last = estimator[-1]
    if not hasattr(last, "coef_"):
        return []
    weights = _class_weights(last, label)
    if weights is None or len(inputs) == 0:
        return []
    transformed = estimator[:-1].transform(inputs[:1])
    names = list(feature_names) if feature_names else list(estimator[:-1].get_feature_names_out())
    if hasattr(transformed, "tocsr"):
        row = transformed.tocsr()
        index, values = row.indices, row.data
    else:
        values = np.asarray(transformed, dtype=np.float64)[0]
        index = np.arange(values.shape[0])
    push = values * weights[index]
    order = np.argsort(-np.abs(push), kind="stable")[:top]
    return [
        Contribution(str(names[index[i]]), float(push[i]), float(values[i]))
        for i in order
        if push[i] != 0.0
    ]
