"""Uncertainty of a classifier's prediction from its class probabilities.

Every function takes ``probs`` of shape ``(n_samples, n_classes)`` (rows sum to 1) and returns a
float array of shape ``(n_samples,)``. Each docstring says the range and which way is "more
uncertain". The committee scores (``vote_entropy``, ``kl_to_consensus``) take the probabilities
of ``m`` models, shape ``(m, n_samples, n_classes)``, and measure how much the models disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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


def check_probability_row(
    values: Sequence[Any], *, atol: float = 1e-4, field: str = "probabilities"
) -> tuple[float, ...]:
    """Validate one item's class probabilities and return them as floats.

    Raises
    ------
    InvalidInput
        Naming the element (``field[j]``) that is not a number, not finite or outside
        [0, 1]; naming ``field`` when they do not sum to 1 within ``atol``.
    """
    out = []
    for j, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InvalidInput("must be a number", field=f"{field}[{j}]")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInput("is NaN or infinity", field=f"{field}[{j}]")
        if not 0.0 <= number <= 1.0:
            raise InvalidInput(f"{number} is outside [0, 1]", field=f"{field}[{j}]")
        out.append(number)
    total = math.fsum(out)
    if abs(total - 1.0) > atol:
        raise InvalidInput(f"sums to {total:.6f}, not 1", field=field)
    return tuple(out)


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


def _check_committee(committee: npt.ArrayLike) -> FloatArray:
    array = np.asarray(committee, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] < 2:
        raise InvalidInput(
            f"must have shape (m, n, k) for m models with k >= 2, got {array.shape}",
            field="committee",
        )
    if array.shape[0] < 2:
        raise InvalidInput("a committee needs at least two members", field="committee")
    return array


def vote_entropy(committee: npt.ArrayLike) -> FloatArray:
    """Disagreement of a committee's votes (I. Dagan and S. Engelson, ICML 1995): each member
    votes its top class, and the entropy of the vote shares is divided by ``log min(m, k)``, its
    largest possible value.

    Parameters
    ----------
    committee:
        Class probabilities of ``m >= 2`` models, shape ``(m, n, k)``.

    Returns
    -------
    Shape ``(n,)``. Range [0, 1]; **higher = more disagreement** (0 = a unanimous vote, 1 =
    votes spread as evenly as ``m`` members over ``k`` classes allow).

    Raises
    ------
    InvalidInput
        ``field="committee"`` when it is not 3-D with ``k >= 2``, or has fewer than two
        members.
    """
    array = _check_committee(committee)
    m, n, k = array.shape
    votes = array.argmax(axis=2)
    counts = np.zeros((n, k), dtype=np.float64)
    np.add.at(counts, (np.broadcast_to(np.arange(n), (m, n)), votes), 1.0)
    shares = counts / m
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0.0, shares * np.log(shares), 0.0)
    return np.asarray(-terms.sum(axis=1) / np.log(min(m, k)), dtype=np.float64)


def kl_to_consensus(committee: npt.ArrayLike) -> FloatArray:
    """Mean Kullback-Leibler divergence of the members from the committee's mean prediction
    (A. McCallum and K. Nigam, ICML 1998).

    ``mean_j KL(p_j || p_mean)`` in nats, with probabilities clipped at 1e-12 so a zero never
    produces ``log 0``. Unlike vote entropy it sees disagreement in how sure the members are,
    not only in which class they pick.

    Parameters
    ----------
    committee:
        Class probabilities of ``m >= 2`` models, shape ``(m, n, k)``.

    Returns
    -------
    Shape ``(n,)``. Range [0, log min(m, k)], **not bounded by 1** (two one-hot members that
    disagree score ``log 2``); 0 when every member predicts the same probabilities;
    **higher = more disagreement**.

    Raises
    ------
    InvalidInput
        ``field="committee"`` when it is not 3-D with ``k >= 2``, or has fewer than two
        members.
    """
    array = np.clip(_check_committee(committee), 1e-12, 1.0)
    consensus = array.mean(axis=0, keepdims=True)
    kl = (array * (np.log(array) - np.log(consensus))).sum(axis=2)
    return np.asarray(np.maximum(kl.mean(axis=0), 0.0), dtype=np.float64)
