"""Inter-annotator agreement for nominal labels: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

Every function is pure NumPy and returns a chance-corrected agreement: **higher = more
agreement**, 1 = perfect agreement, 0 = the agreement expected by chance, below 0 = worse than
chance. Labels may be ints or strings; only equality between labels matters (nominal data).

Missing ratings are ``np.nan`` in a float array or ``None`` (or ``np.nan``) in an object array.
:func:`cohen_kappa` refuses them; :func:`krippendorff_alpha` and :func:`pairwise_kappa` are made
for them.

When the agreement expected by chance is already perfect (every rating is the same single
label), the chance-corrected ratio is ``0 / 0``. Every function here then returns 1.0 if the
observed agreement is perfect and 0.0 otherwise, rather than NaN, so a dashboard never has to
special-case it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_PERFECT = 1e-12


def _missing(array: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where ``array`` holds a missing rating (``np.nan`` or ``None``)."""
    if array.dtype.kind == "f":
        return np.asarray(np.isnan(array), dtype=np.bool_)
    if array.dtype.kind == "O":
        flat = [v is None or (isinstance(v, float) and v != v) for v in array.ravel()]
        return np.asarray(flat, dtype=np.bool_).reshape(array.shape)
    return np.zeros(array.shape, dtype=np.bool_)


def _encode(array: npt.NDArray[Any], field: str) -> tuple[IntArray, int]:
    """Map labels to codes ``0 .. k-1`` (``-1`` where missing); return the codes and ``k``."""
    missing = _missing(array)
    codes = np.full(array.shape, -1, dtype=np.int64)
    try:
        labels, inverse = np.unique(array[~missing], return_inverse=True)
    except TypeError:
        raise InvalidInput("labels must be mutually comparable", field=field) from None
    codes[~missing] = inverse.ravel()
    return codes, int(labels.size)


def _chance_corrected(observed: float, expected: float) -> float:
    """``(observed - expected) / (1 - expected)``, with the ``expected == 1`` case defined."""
    if expected >= 1.0 - _PERFECT:
        return 1.0 if observed >= 1.0 - _PERFECT else 0.0
    return float((observed - expected) / (1.0 - expected))


def _kappa_codes(a: IntArray, b: IntArray, k: int) -> float:
    """Cohen's kappa of two equal-length, non-empty code vectors with values in ``0 .. k-1``."""
    n = a.size
    confusion = np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(np.float64)
    observed = float(np.trace(confusion)) / n
    expected = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / (n * n)
    return _chance_corrected(observed, expected)


def cohen_kappa(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cohen's kappa of two raters who labelled the same items (J. Cohen, 1960).

    ``(p_o - p_e) / (1 - p_e)``, where ``p_o`` is the share of items on which the raters agree
    and ``p_e`` the share expected if each rater drew labels independently at their own rates.

    Parameters
    ----------
    a, b:
        Labels (ints or strings) of rater A and rater B, shape ``(n_items,)``, item ``i`` of
        ``a`` and of ``b`` being the same item.

    Returns
    -------
    Range [-1, 1]; **higher = more agreement** (1 = perfect, 0 = chance level). When
    ``p_e == 1`` (both raters used one and the same label throughout) the ratio is ``0 / 0``;
    it is defined as 1.0 if ``p_o == 1`` and 0.0 otherwise.

    Raises
    ------
    InvalidInput
        ``field="ratings"`` when the arrays are not 1-D, differ in length, are empty, contain
        a missing value, or hold labels that cannot be compared.
    """
    first, second = np.asarray(a), np.asarray(b)
    if first.ndim != 1 or second.ndim != 1:
        raise InvalidInput("each rater's labels must be a 1-D array", field="ratings")
    if first.size != second.size:
        raise InvalidInput(
            f"the raters labelled different numbers of items ({first.size} and {second.size})",
            field="ratings",
        )
    if first.size == 0:
        raise InvalidInput("there are no items", field="ratings")
    if first.dtype.kind != second.dtype.kind:
        first, second = first.astype(object), second.astype(object)
    codes, k = _encode(np.stack([first, second]), field="ratings")
    if (codes < 0).any():
        raise InvalidInput(
            "has a missing label; use pairwise_kappa or krippendorff_alpha", field="ratings"
        )
    return _kappa_codes(codes[0], codes[1], k)


def fleiss_kappa(counts: npt.ArrayLike) -> float:
    """Fleiss' kappa of ``m`` raters per item (J. L. Fleiss, 1971).

    ``(P_bar - P_e) / (1 - P_e)``, where ``P_bar`` is the mean share of agreeing rater pairs
    per item and ``P_e = sum_j p_j^2`` with ``p_j`` the overall share of ratings in category
    ``j``. The raters need not be the same people from item to item, only as many.

    Parameters
    ----------
    counts:
        Shape ``(n_items, n_categories)``; ``counts[i, j]`` is how many raters put item ``i``
        in category ``j``. Every row sums to the same ``m >= 2``.

    Returns
    -------
    At most 1, and at least ``-1 / (m - 1)``; **higher = more agreement** (1 = every item
    unanimous, 0 = chance level). When ``P_e == 1`` (every rating in one category) it is 1.0
    if ``P_bar == 1`` and 0.0 otherwise.

    Raises
    ------
    InvalidInput
        ``field="counts"`` when it is not a non-empty 2-D matrix of non-negative whole
        numbers, when the rows sum to different totals, or when the total is below 2.
    """
    try:
        matrix = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("must be a matrix of counts", field="counts") from None
    if matrix.ndim != 2 or matrix.size == 0:
        raise InvalidInput(
            f"must have shape (n_items, n_categories), got {matrix.shape}", field="counts"
        )
    if not np.isfinite(matrix).all() or (matrix < 0).any() or (matrix != np.round(matrix)).any():
        raise InvalidInput("counts must be non-negative whole numbers", field="counts")
    raters = matrix.sum(axis=1)
    if (raters != raters[0]).any():
        row = int(np.argmax(raters != raters[0]))
        raise InvalidInput(
            f"rows must sum to the same number of raters: row 0 sums to {raters[0]:g}, "
            f"row {row} to {raters[row]:g}",
            field="counts",
        )
    m = float(raters[0])
    if m < 2:
        raise InvalidInput(f"needs at least two raters per item, got {m:g}", field="counts")
    n_items = matrix.shape[0]
    per_item = ((matrix * matrix).sum(axis=1) - m) / (m * (m - 1.0))
    shares = matrix.sum(axis=0) / (n_items * m)
    return _chance_corrected(float(per_item.mean()), float(shares @ shares))


def krippendorff_alpha(reliability: npt.ArrayLike) -> float:
    """Krippendorff's alpha for nominal data, with missing ratings (K. Krippendorff, 2011).

    ``1 - D_o / D_e`` computed from the coincidence matrix: every ordered pair of values from
    different raters within a unit adds ``1 / (m_u - 1)``, ``m_u`` being the number of values
    in that unit. Units with fewer than two values cannot be paired and are ignored.

    Parameters
    ----------
    reliability:
        Shape ``(n_raters, n_units)``; ``reliability[r, u]`` is rater ``r``'s label for unit
        ``u``, ``np.nan`` (float array) or ``None`` (object array) where missing.

    Returns
    -------
    At most 1; **higher = more agreement** (1 = perfect, 0 = chance level, negative =
    systematic disagreement). When only one label occurs among the pairable values
    (``D_e == 0``) it is 1.0.

    Raises
    ------
    InvalidInput
        ``field="reliability"`` when it is not 2-D, holds labels that cannot be compared, or
        no unit has two or more values.
    """
    array = np.asarray(reliability)
    if array.ndim != 2:
        raise InvalidInput(
            f"must have shape (n_raters, n_units), got {array.shape}", field="reliability"
        )
    codes, k = _encode(array, field="reliability")
    n_units = array.shape[1]
    present = codes >= 0
    units = np.broadcast_to(np.arange(n_units), codes.shape)[present]
    values = np.bincount(units * k + codes[present], minlength=n_units * k)
    per_unit = values.reshape(n_units, k).astype(np.float64)
    pairable = per_unit.sum(axis=1)
    per_unit = per_unit[pairable >= 2]
    pairable = pairable[pairable >= 2]
    if per_unit.size == 0:
        raise InvalidInput("no unit has two or more values", field="reliability")
    weighted = per_unit / (pairable - 1.0)[:, None]
    coincidence = per_unit.T @ weighted - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    n = float(marginals.sum())
    disagreeing = n - float(np.trace(coincidence))
    expected = n * n - float(marginals @ marginals)
    if expected <= _PERFECT:
        return 1.0 if disagreeing <= _PERFECT else 0.0
    return float(1.0 - (n - 1.0) * disagreeing / expected)


def pairwise_kappa(ratings: npt.ArrayLike) -> dict[tuple[int, int], float]:
    """Cohen's kappa of every pair of raters, over the items both of them labelled.

    Parameters
    ----------
    ratings:
        Shape ``(n_raters, n_items)``, ``np.nan`` (float array) or ``None`` (object array)
        where a rater did not label an item.

    Returns
    -------
    ``{(i, j): kappa}`` for rater indices ``i < j``, each in [-1, 1] with **higher = more
    agreement** (see :func:`cohen_kappa` for the degenerate case). A pair that shares no item
    is left out.

    Raises
    ------
    InvalidInput
        ``field="ratings"`` when it is not 2-D or holds labels that cannot be compared.
    """
    array = np.asarray(ratings)
    if array.ndim != 2:
        raise InvalidInput(
            f"must have shape (n_raters, n_items), got {array.shape}", field="ratings"
        )
    codes, k = _encode(array, field="ratings")
    present = codes >= 0
    result: dict[tuple[int, int], float] = {}
    n_raters = codes.shape[0]
    for i in range(n_raters):
        for j in range(i + 1, n_raters):
            both = present[i] & present[j]
            if both.any():
                result[(i, j)] = _kappa_codes(codes[i, both], codes[j, both], k)
    return result


def specific_agreement(counts: npt.ArrayLike) -> FloatArray:
    """Agreement on each category: of the rater pairs that involve it, the share that agree.

    For category ``j``: ``sum_i n_ij (n_ij - 1) / sum_i n_ij (m_i - 1)``, ``n_ij`` being the
    raters who put item ``i`` in ``j`` and ``m_i`` the raters of item ``i`` (Uebersax's
    specific agreement, generalised to any number of raters per item). It says which labels
    people find hard, where a single kappa cannot.

    Parameters
    ----------
    counts:
        Shape ``(n_items, n_categories)`` of non-negative rating counts; items with fewer
        than two ratings are ignored.

    Returns
    -------
    ``(n_categories,)`` in [0, 1], **higher = more agreement**; ``nan`` for a category no
    pairable item used.
    """
    try:
        table = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("must be a 2-D table of numbers", field="counts") from None
    if (
        table.ndim != 2
        or not np.isfinite(table).all()
        or (table < 0).any()
        or (table != np.round(table)).any()
    ):
        raise InvalidInput("must be a 2-D table of non-negative whole counts", field="counts")
    m = table.sum(axis=1, keepdims=True)
    table = table[(m >= 2).ravel()]
    m = m[(m >= 2).ravel()]
    pairs = (table * (m - 1)).sum(axis=0)
    agreeing = (table * (table - 1)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, agreeing / np.where(pairs > 0, pairs, 1), np.nan)


__all__ = [
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_kappa",
    "specific_agreement",
]
