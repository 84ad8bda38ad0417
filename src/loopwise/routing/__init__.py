"""Routing: rules vote on each prediction's tier; the policy turns votes into decisions."""

from loopwise.routing.policy import RoutingOutcome, RoutingPolicy
from loopwise.routing.risk import (
    Certificate,
    certify_threshold,
    min_calibration_size,
    sgr_min_size,
)
from loopwise.routing.rules import (
    AlwaysReviewRule,
    CertifiedThresholdRule,
    ClassThresholdRule,
    ConfidenceThresholdRule,
    ExpertThresholdRule,
    FieldRule,
    NoModelRule,
    OODRule,
    QASampleRule,
    RoutingBatch,
    Rule,
)

__all__ = [
    "AlwaysReviewRule",
    "Certificate",
    "CertifiedThresholdRule",
    "ClassThresholdRule",
    "ConfidenceThresholdRule",
    "ExpertThresholdRule",
    "FieldRule",
    "NoModelRule",
    "OODRule",
    "QASampleRule",
    "RoutingBatch",
    "RoutingOutcome",
    "RoutingPolicy",
    "Rule",
    "certify_threshold",
    "min_calibration_size",
    "sgr_min_size",
]
