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
from weakref import WeakKeyDictionary

import numpy as np
from sklearn.pipeline import Pipeline

from loopwise.training.models import ModelInput, TrainedModel, validated_inputs


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


_PREPARED: WeakKeyDictionary[Any, tuple[Any, Any]] = WeakKeyDictionary()
"""Per fitted pipeline: its steps before the classifier and their feature names. Building
the names of a TF-IDF vocabulary takes longer than explaining an item (5 ms for 10,000 terms),
so it is done once per loaded model."""


def _prepared(estimator: Pipeline) -> tuple[Any, Any]:
    found = _PREPARED.get(estimator)
    if found is None:
        before = estimator[:-1]
        found = (before, before.get_feature_names_out())
        _PREPARED[estimator] = found
    return found


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
    before, known = _prepared(estimator)
    with validated_inputs():
        transformed = before.transform(inputs[:1])
    names = feature_names or known
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
