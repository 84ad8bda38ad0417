"""Routing: rules vote on each prediction's tier; the policy turns votes into decisions."""

from loopwise.routing.policy import (
    ConfidenceThresholdRule,
    NoModelRule,
    RoutingBatch,
    RoutingOutcome,
    RoutingPolicy,
    Rule,
)

__all__ = [
    "ConfidenceThresholdRule",
    "NoModelRule",
    "RoutingBatch",
    "RoutingOutcome",
    "RoutingPolicy",
    "Rule",
]
