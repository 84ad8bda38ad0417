"""Reliability diagrams from confidences and outcomes: the bins and the expected calibration error.

Unlike :func:`loopwise.scoring.calibration.reliability_bins`, which starts from a probability
matrix and true classes, :func:`calibration_bins` takes what a store of predictions already
holds: the confidence each decision was made at and whether it turned out right. The bins are
the same (equal width, each ``(low, high]``, the first also holding 0), so the error computed
here equals that of the calibration report for the same predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loopwise.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ReliabilityBins:
    """Per confidence bin: how many predictions fell in it, their mean confidence and how often
    they were right.

    Attributes
    ----------
    edges
        ``(n_bins + 1,)`` bin edges from 0 to 1; bin ``b`` holds ``edges[b] < c <= edges[b+1]``
        (bin 0 also ``c == 0``).
    count
        ``(n_bins,)`` predictions per bin.
    confidence
        ``(n_bins,)`` mean confidence per bin; ``nan`` where the bin is empty.
    accuracy
        ``(n_bins,)`` share right per bin (higher = more often right); ``nan`` where empty. A
        calibrated model has ``accuracy`` close to ``confidence`` in every bin; accuracy below
        confidence means over-confidence.
    """

    edges: FloatArray
    count: IntArray
    confidence: FloatArray
    accuracy: FloatArray

    @property
    def total(self) -> int:
        return int(self.count.sum())

    @property
    def ece(self) -> float | None:
        """Expected calibration error: the count-weighted mean of ``|accuracy - confidence|``
        over the non-empty bins. Range [0, 1]; **lower = better calibrated**; ``None`` with no
        predictions."""
        n = self.total
        if n == 0:
            return None
        filled = self.count > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((self.count[filled] * gaps).sum() / n)


def calibration_bins(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, n_bins: int = 10
) -> ReliabilityBins:
    """Bin predictions by confidence into ``n_bins`` equal-width bins over [0, 1].

    Parameters
    ----------
    confidence
        ``(n,)`` the confidence of each prediction, in [0, 1]; **higher = the model was surer**.
    correct
        ``(n,)`` booleans (or 0/1): whether each prediction equalled the true label.
    n_bins
        How many bins, at least 1.

    Returns
    -------
    ReliabilityBins
        Counts, mean confidence and accuracy per bin (``nan`` in empty bins) and the ECE.

    Raises
    ------
    InvalidInput
        ``field="confidence"`` when it is not 1-D, has a value outside [0, 1] or not finite;
        ``field="correct"`` when its length differs or it holds something other than 0/1;
        ``field="n_bins"`` when below 1.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise InvalidInput("must be a whole number of at least 1", field="n_bins")
    try:
        conf = np.asarray(confidence, dtype=np.float64)
        right = np.asarray(correct, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("must be numbers", field="confidence") from None
    if conf.ndim != 1:
        raise InvalidInput(f"must be 1-D, got shape {conf.shape}", field="confidence")
    if not np.isfinite(conf).all() or (conf < 0).any() or (conf > 1).any():
        raise InvalidInput("every confidence must be between 0 and 1", field="confidence")
    if right.shape != conf.shape:
        raise InvalidInput(
            f"needs one outcome per confidence ({conf.size}), got shape {right.shape}",
            field="correct",
        )
    if not np.isin(right, (0.0, 1.0)).all():
        raise InvalidInput("must be booleans", field="correct")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=right, minlength=n_bins) / count
    return ReliabilityBins(
        edges=edges,
        count=count,
        confidence=np.where(count > 0, mean_conf, np.nan),
        accuracy=np.where(count > 0, accuracy, np.nan),
    )


__all__ = ["ReliabilityBins", "calibration_bins"]
