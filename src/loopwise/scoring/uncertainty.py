"""Uncertainty of a classifier's prediction from its class probabilities.

Every function takes ``probs`` of shape ``(n_samples, n_classes)`` (rows sum to 1) and returns a
float array of shape ``(n_samples,)``. Each docstring says the range and which way is "more
uncertain".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopwise.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]


def check_probabilities(
    probs: npt.ArrayLike, *, atol: float = 1e-4, field: str = "probabilities"
) -> FloatArray:
    """Validate a probability matrix and return it as float64.

    Raises
    ------
    InvalidInput
        If it is not 2-D, has NaN or values outside [0, 1], or a row does not sum to 1 within
        ``atol``; the message names the first bad row.
    """
    try:
        array = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("must be a matrix of numbers", field=field) from None
    if array.ndim != 2 or array.shape[1] < 2:
        raise InvalidInput(f"must have shape (n, k) with k >= 2, got {array.shape}", field=field)
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise InvalidInput("contains NaN or infinity", field=f"{field}[{int(np.argmax(bad))}]")
    bad = ((array < 0.0) | (array > 1.0)).any(axis=1)
    if bad.any():
        raise InvalidInput("has a value outside [0, 1]", field=f"{field}[{int(np.argmax(bad))}]")
    sums = array.sum(axis=1)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidInput(f"sums to {sums[row]:.6f}, not 1", field=f"{field}[{row}]")
    return array


def confidence(probs: FloatArray) -> FloatArray:
    """Top-class probability. Range [1/k, 1]; **higher = more confident**."""
    return np.asarray(probs.max(axis=1), dtype=np.float64)


def least_confidence(probs: FloatArray) -> FloatArray:
    """``1 - max_c p_c``, rescaled by ``k / (k - 1)`` to [0, 1]; **higher = more uncertain**."""
    k = probs.shape[1]
    return np.asarray((1.0 - probs.max(axis=1)) * (k / (k - 1)), dtype=np.float64)


def margin(probs: FloatArray) -> FloatArray:
    """``1 - (p_top1 - p_top2)``. Range [0, 1]; **higher = more uncertain** (0 = certain)."""
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return np.asarray(1.0 - (top2[:, 1] - top2[:, 0]), dtype=np.float64)


def entropy(probs: FloatArray) -> FloatArray:
    """Shannon entropy divided by ``log k``. Range [0, 1]; **higher = more uncertain**."""
    k = probs.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0.0, probs * np.log(probs), 0.0)
    return np.asarray(-terms.sum(axis=1) / np.log(k), dtype=np.float64)
