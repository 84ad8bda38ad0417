"""Scores over model outputs and features: pure functions and fitted detectors, each with its
direction documented (uncertainty: higher = more uncertain; OOD: higher = more anomalous)."""

from loopwise.scoring.ood import (
    DETECTORS,
    IsolationForestDetector,
    KNNDistance,
    OODDetector,
    make_detector,
)
from loopwise.scoring.uncertainty import (
    check_probabilities,
    check_probability_row,
    confidence,
    entropy,
    kl_to_consensus,
    least_confidence,
    margin,
    vote_entropy,
)

__all__ = [
    "DETECTORS",
    "IsolationForestDetector",
    "KNNDistance",
    "OODDetector",
    "check_probabilities",
    "check_probability_row",
    "confidence",
    "entropy",
    "kl_to_consensus",
    "least_confidence",
    "make_detector",
    "margin",
    "vote_entropy",
]
