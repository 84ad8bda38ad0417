"""Post-hoc calibration of class probabilities, fitted on human-verified labels.

Every calibrator maps probabilities ``(n, k)`` to calibrated probabilities ``(n, k)`` and
serialises to plain JSON, so the fitted state lives in the database next to the model version it
calibrates. ``expected_calibration_error`` and ``reliability_bins`` measure the result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from loopwise.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
EPS = 1e-12


def _log(probs: FloatArray) -> FloatArray:
    return np.log(np.clip(probs, EPS, 1.0))


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


def _normalise(probs: FloatArray) -> FloatArray:
    sums = probs.sum(axis=1, keepdims=True)
    uniform = np.full_like(probs, 1.0 / probs.shape[1])
    return np.asarray(np.where(sums > 0, probs / np.where(sums > 0, sums, 1.0), uniform))


class Calibrator(ABC):
    """Maps probabilities to calibrated probabilities; ``fit`` on verified labels first."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, probs: FloatArray, targets: IntArray) -> Calibrator:
        """Fit on probabilities ``(n, k)`` and target class indices ``(n,)``; returns self."""

    @abstractmethod
    def transform(self, probs: FloatArray) -> FloatArray:
        """Calibrated probabilities, same shape, rows summing to 1."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """The fitted parameters as JSON."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Calibrator: ...

    def to_json(self) -> dict[str, Any]:
        return {"method": self.name, **self.state()}


class Identity(Calibrator):
    """No change: the model's own probabilities."""

    name = "none"

    def fit(self, probs: FloatArray, targets: IntArray) -> Identity:
        return self

    def transform(self, probs: FloatArray) -> FloatArray:
        return probs

    def state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Identity:
        return cls()


class TemperatureScaling(Calibrator):
    """``softmax(log p / T)`` with one temperature ``T`` fitted by minimising the negative log
    likelihood (C. Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).
    Keeps every item's predicted class; ``T > 1`` softens over-confident models."""

    name = "temperature"

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def fit(self, probs: FloatArray, targets: IntArray) -> TemperatureScaling:
        logits = _log(probs)
        rows = np.arange(len(targets))

        def nll(log_t: float) -> float:
            scaled = _softmax(logits / np.exp(log_t))
            return float(-np.log(np.clip(scaled[rows, targets], EPS, 1.0)).mean())

        result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
        self.temperature = float(np.exp(result.x))
        return self

    def transform(self, probs: FloatArray) -> FloatArray:
        return _softmax(_log(probs) / self.temperature)

    def state(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TemperatureScaling:
        return cls(float(state["temperature"]))


class _OneVsRest(Calibrator):
    """Calibrate each class's column against "is this class", then renormalise rows: the
    scheme scikit-learn's ``CalibratedClassifierCV`` uses. Two-class problems fit one column."""

    def __init__(self, columns: list[dict[str, Any] | None] | None = None) -> None:
        self.columns = columns or []

    @abstractmethod
    def _fit_column(self, p: FloatArray, y: npt.NDArray[np.bool_]) -> dict[str, Any]: ...

    @abstractmethod
    def _apply_column(self, p: FloatArray, state: dict[str, Any]) -> FloatArray: ...

    def fit(self, probs: FloatArray, targets: IntArray) -> _OneVsRest:
        k = probs.shape[1]
        fit_cols = [1] if k == 2 else list(range(k))
        self.columns = [None] * k
        for c in fit_cols:
            y = targets == c
            self.columns[c] = None if y.all() or not y.any() else self._fit_column(probs[:, c], y)
        return self

    def transform(self, probs: FloatArray) -> FloatArray:
        out = probs.copy()
        k = probs.shape[1]
        for c, state in enumerate(self.columns):
            if state is not None:
                out[:, c] = self._apply_column(probs[:, c], state)
        if k == 2 and self.columns and self.columns[1] is not None:
            out[:, 0] = 1.0 - out[:, 1]
            return np.asarray(np.clip(out, 0.0, 1.0))
        return _normalise(out)

    def state(self) -> dict[str, Any]:
        return {"columns": self.columns}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _OneVsRest:
        return cls(list(state["columns"]))


class Isotonic(_OneVsRest):
    """Non-parametric, monotone: an isotonic regression per class (B. Zadrozny and C. Elkan,
    KDD 2002), through scikit-learn's ``IsotonicRegression``. Needs a few hundred labels."""

    name = "isotonic"

    def _fit_column(self, p: FloatArray, y: npt.NDArray[np.bool_]) -> dict[str, Any]:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y.astype(float))
        return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}

    def _apply_column(self, p: FloatArray, state: dict[str, Any]) -> FloatArray:
        return np.asarray(np.interp(p, state["x"], state["y"]), dtype=np.float64)


class Sigmoid(_OneVsRest):
    """Platt scaling per class: a logistic fit on the log-odds of each column (J. Platt, 1999)."""

    name = "sigmoid"

    def _fit_column(self, p: FloatArray, y: npt.NDArray[np.bool_]) -> dict[str, Any]:
        logit = (_log(p) - _log(1.0 - p)).reshape(-1, 1)
        lr = LogisticRegression(C=1e4).fit(logit, y)
        return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}

    def _apply_column(self, p: FloatArray, state: dict[str, Any]) -> FloatArray:
        logit = _log(p) - _log(1.0 - p)
        return np.asarray(
            1.0 / (1.0 + np.exp(-(state["a"] * logit + state["b"]))), dtype=np.float64
        )


CALIBRATORS: dict[str, type[Calibrator]] = {
    cls.name: cls for cls in (Identity, TemperatureScaling, Isotonic, Sigmoid)
}


def make_calibrator(method: str) -> Calibrator:
    """A fresh calibrator by name: ``none``, ``temperature``, ``isotonic`` or ``sigmoid``."""
    if method not in CALIBRATORS:
        raise InvalidInput(
            f"unknown calibration {method!r}; choose one of {sorted(CALIBRATORS)}",
            field="calibration",
        )
    return CALIBRATORS[method]()


def calibrator_from_json(data: dict[str, Any] | None) -> Calibrator:
    if not data:
        return Identity()
    method = str(data.get("method", "none"))
    if method not in CALIBRATORS:
        raise InvalidInput(f"unknown calibration {method!r}", field="calibration")
    return CALIBRATORS[method].from_state(data)


def reliability_bins(
    probs: FloatArray, targets: IntArray, bins: int = 10
) -> list[dict[str, float]]:
    """Top-label reliability diagram: per equal-width confidence bin, the item count, mean
    confidence and accuracy. A calibrated model has accuracy close to confidence in each bin."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = index == b
        n = int(sel.sum())
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": n,
                "confidence": float(conf[sel].mean()) if n else 0.0,
                "accuracy": float(correct[sel].mean()) if n else 0.0,
            }
        )
    return out


def expected_calibration_error(probs: FloatArray, targets: IntArray, bins: int = 10) -> float:
    """Top-label ECE: the count-weighted mean of ``|accuracy - confidence|`` over equal-width
    bins. Range [0, 1]; **lower = better calibrated**; 0.0 for an empty set."""
    n = len(targets)
    if n == 0:
        return 0.0
    return float(
        sum(
            b["count"] * abs(b["accuracy"] - b["confidence"])
            for b in reliability_bins(probs, targets, bins)
        )
        / n
    )
