"""The representation a fitted model computes before its classifier: what OOD detectors see.

Measuring novelty in the model's own feature space (its TF-IDF vocabulary, its scaled columns)
asks the question that matters for routing: does this input look like what *this model* learned
from? A text full of words the vectoriser never saw, or a row far outside the scaler's range,
is then visibly unlike the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from loopwise.errors import InvalidInput
from loopwise.training.models import ModelInput, TrainedModel


def model_features(model: TrainedModel, inputs: ModelInput) -> Any:
    """Features of ``inputs`` as the model's final estimator receives them.

    Parameters
    ----------
    model:
        A fitted model.
    inputs:
        What ``model_inputs`` returns: a list of texts or a 2-D float array ``(n, d)``.

    Returns
    -------
    numpy.ndarray or scipy.sparse matrix
        ``(n, m)``. For a scikit-learn ``Pipeline``, ``inputs`` transformed by every step but the
        last (sparse TF-IDF for ``tfidf_logreg``, standardised columns for ``logreg``);
        otherwise the raw inputs as a float array (``gradient_boosting``). No inputs give a
        ``(0, 0)`` array, like ``model_inputs``.

    Raises
    ------
    InvalidInput
        Texts given to a model that is not a pipeline: they have no numeric representation.
    """
    if len(inputs) == 0:
        return np.zeros((0, 0), dtype=np.float64)
    estimator = model.estimator
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        features = estimator[:-1].transform(inputs)
        return features if hasattr(features, "tocsr") else np.asarray(features, dtype=np.float64)
    try:
        return np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{model.algorithm!r} takes its inputs whole; they are not numbers to compare",
            field="inputs",
        ) from None
