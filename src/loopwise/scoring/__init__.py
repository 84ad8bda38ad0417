"""Scores over arrays of class probabilities: pure functions, direction documented on each."""

from loopwise.scoring.uncertainty import (
    check_probabilities,
    confidence,
    entropy,
    least_confidence,
    margin,
)

__all__ = ["check_probabilities", "confidence", "entropy", "least_confidence", "margin"]
