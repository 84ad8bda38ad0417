"""Model building, fitting, evaluation and the promotion gate. No I/O here."""

from loopwise.training.evaluation import Evaluation, GateResult, evaluate, promotion_gate
from loopwise.training.features import model_features
from loopwise.training.models import (
    ALGORITHMS,
    TrainedModel,
    default_algorithm,
    fit_model,
    model_inputs,
    register_algorithm,
)

__all__ = [
    "ALGORITHMS",
    "Evaluation",
    "GateResult",
    "TrainedModel",
    "default_algorithm",
    "evaluate",
    "fit_model",
    "model_features",
    "model_inputs",
    "promotion_gate",
    "register_algorithm",
]
