"""scikit-learn estimators per input kind, chosen by name, and the fitted-model wrapper.

Any scikit-learn classifier with ``predict_proba`` fits: register a factory in ``ALGORITHMS``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from loopwise.core.enums import InputKind
from loopwise.errors import InvalidInput, NotEnoughLabels

ModelInput = list[str] | npt.NDArray[np.float64]


def _tfidf_logreg() -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, strip_accents="unicode"),
        LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced"),
    )


def _scaled_logreg() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def _gradient_boosting() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=200, random_state=0)


ALGORITHMS: dict[str, tuple[InputKind, Callable[[], Any]]] = {
    "tfidf_logreg": (InputKind.TEXT, _tfidf_logreg),
    "logreg": (InputKind.TABULAR, _scaled_logreg),
    "gradient_boosting": (InputKind.TABULAR, _gradient_boosting),
}


def register_algorithm(name: str, kind: InputKind, factory: Callable[[], Any]) -> None:
    """Make ``name`` trainable: ``factory()`` returns an unfitted scikit-learn-compatible
    classifier with ``predict_proba`` for inputs of ``kind`` (a list of strings for text, a 2-D
    float array for tables). The class must be importable wherever the model is loaded again."""
    if not name or not isinstance(name, str):
        raise InvalidInput("must be a non-empty string", field="name")
    ALGORITHMS[name] = (InputKind(kind), factory)


def default_algorithm(kind: InputKind) -> str:
    """TF-IDF + logistic regression for text; scaled logistic regression for tables."""
    return "tfidf_logreg" if kind is InputKind.TEXT else "logreg"


def untrained(kind: InputKind) -> Any:
    """A new, unfitted estimator of the default algorithm for ``kind``."""
    return ALGORITHMS[default_algorithm(kind)][1]()


@contextmanager
def validated_inputs() -> Iterator[None]:
    """Run scikit-learn on inputs loopwise has validated already (finite numbers, known
    shapes): its per-call checks (parameter validation, NaN scans) are skipped, which is most
    of the time of predicting a single item. Thread-local, like scikit-learn's configuration."""
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


def model_inputs(kind: InputKind, payloads: Sequence[dict[str, Any]]) -> ModelInput:
    """Turn stored canonical payloads into what the estimator takes."""
    if kind is InputKind.TEXT:
        return [str(p["text"]) for p in payloads]
    if not payloads:
        return np.zeros((0, 0), dtype=np.float64)
    return np.asarray([p["features"] for p in payloads], dtype=np.float64)


@dataclass
class TrainedModel:
    """A fitted estimator whose probabilities are aligned with the project's label order.

    The estimator may have seen only some of the labels; the others get probability 0.
    """

    estimator: Any
    labels: tuple[str, ...]
    algorithm: str
    ood: Any = None
    """An :class:`~loopwise.scoring.ood.OODDetector` fitted on the training features, or None."""

    def predict_proba(self, inputs: ModelInput) -> npt.NDArray[np.float64]:
        """Return probabilities of shape ``(n, len(labels))``, rows summing to 1."""
        if len(inputs) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        return self._aligned(self.estimator.predict_proba(inputs))

    def predict_proba_features(self, features: Any) -> npt.NDArray[np.float64]:
        """Like :meth:`predict_proba`, from the features
        :func:`~loopwise.training.features.model_features` computed for the inputs: a pipeline's
        transforms are not run again (callers that also score features for novelty compute
        them once)."""
        if features.shape[0] == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        estimator = self.estimator
        if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
            estimator = estimator[-1]
        return self._aligned(estimator.predict_proba(features))

    def _aligned(self, raw: Any) -> npt.NDArray[np.float64]:
        """The estimator's columns (its ``classes_``) moved to the project's label order."""
        out = np.zeros((raw.shape[0], len(self.labels)), dtype=np.float64)
        columns = [self.labels.index(str(c)) for c in self.estimator.classes_]
        out[:, columns] = np.asarray(raw, dtype=np.float64)
        return out


def fit_model(
    algorithm: str | None,
    kind: InputKind,
    inputs: ModelInput,
    targets: Sequence[str],
    labels: tuple[str, ...],
    *,
    sample_weight: Sequence[float] | None = None,
    estimator: Any = None,
) -> TrainedModel:
    """Fit ``algorithm`` (or a clone of ``estimator``) on ``inputs`` and their ``targets``.

    Raises
    ------
    NotEnoughLabels
        Fewer than two labelled items, or only one class among them; texts none of which has
        a term.
    InvalidInput
        An unknown algorithm, one made for the other input kind, or an estimator without
        ``fit`` and ``predict_proba``, or one that cannot be pickled (a lambda in it).
    """
    if estimator is not None:
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")):
            raise InvalidInput("needs fit() and predict_proba()", field="estimator")
        model = clone(estimator)
        try:  # before the fit, not after it: a model version is saved as a pickle
            pickle.dumps(model)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise InvalidInput(
                f"cannot be saved as a model version ({exc}); a function in it must be defined "
                "at a module's top level, not a lambda or a local function",
                field="estimator",
            ) from None
        algorithm = f"custom:{type(estimator).__name__}"
    else:
        algorithm = algorithm or default_algorithm(kind)
        if algorithm not in ALGORITHMS:
            raise InvalidInput(
                f"unknown algorithm {algorithm!r}; choose one of {sorted(ALGORITHMS)}",
                field="algorithm",
            )
        made_for, factory = ALGORITHMS[algorithm]
        if made_for is not kind:
            raise InvalidInput(
                f"{algorithm!r} is for {made_for} input, not {kind}", field="algorithm"
            )
        model = factory()
        if not hasattr(model, "predict_proba"):
            raise InvalidInput(
                f"{algorithm!r} makes a model without predict_proba()", field="algorithm"
            )
    classes = sorted(set(targets))
    if len(targets) < 2 or len(classes) < 2:
        raise NotEnoughLabels(
            f"training needs labelled items of at least two classes; have {len(targets)} "
            f"item(s) of {len(classes)} class(es)"
        )
    y = np.asarray(targets)
    try:
        if sample_weight is None:
            model.fit(inputs, y)
        else:
            last = model.steps[-1][0] if isinstance(model, Pipeline) else None
            key = f"{last}__sample_weight" if last else "sample_weight"
            model.fit(inputs, y, **{key: np.asarray(sample_weight, dtype=np.float64)})
    except ValueError:  # scikit-learn's "empty vocabulary", if no text has a term
        first = model.steps[0][1] if isinstance(model, Pipeline) else model
        if kind is InputKind.TEXT and not any_term(first, inputs):
            raise NotEnoughLabels(
                f"training needs texts with words: none of the {len(targets)} labelled texts "
                "has a term the model's vectoriser keeps (by default a word of two or more "
                "letters or digits)"
            ) from None
        raise
    return TrainedModel(estimator=model, labels=labels, algorithm=algorithm)


def any_term(vectoriser: Any, texts: Any) -> bool:
    """Whether ``vectoriser``'s text analysis (scikit-learn's ``build_analyzer``) finds a term
    in any of ``texts``: without one, fitting it raises "empty vocabulary". True for a step
    that analyses no text. Stops at the first text with a term."""
    build = getattr(vectoriser, "build_analyzer", None)
    if build is None:
        return True
    analyse = build()
    return any(analyse(text) for text in texts)
