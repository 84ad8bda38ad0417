"""loopwise: route uncertain predictions to people, learn from their corrections.

The Python API is :class:`Loopwise`; :class:`Client` is the same loop over HTTP (``loopwise
serve``). See ``docs/architecture.md`` for the loop and the layers.
"""

from loopwise.client import Client, ServiceUnavailable
from loopwise.core.entities import (
    AuditEvent,
    Decision,
    Item,
    Label,
    ModelVersion,
    Prediction,
    Project,
    QueueEntry,
    Review,
    Reviewer,
    ReviewTask,
    TrainingConfig,
)
from loopwise.core.enums import (
    InputKind,
    ItemStatus,
    LabelSource,
    ModelStage,
    Priority,
    Role,
    Route,
    Stage,
    TaskStatus,
    Verdict,
)
from loopwise.core.policy import RoutingConfig
from loopwise.core.review import ReviewConfig
from loopwise.errors import LoopwiseError
from loopwise.services.items import ItemIn, Routed
from loopwise.services.loop import Loopwise
from loopwise.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "AuditEvent",
    "Client",
    "Decision",
    "InputKind",
    "Item",
    "ItemIn",
    "ItemStatus",
    "Label",
    "LabelSource",
    "Loopwise",
    "LoopwiseError",
    "ModelStage",
    "ModelVersion",
    "Prediction",
    "Priority",
    "Project",
    "QueueEntry",
    "Review",
    "ReviewConfig",
    "ReviewTask",
    "Reviewer",
    "Role",
    "Route",
    "Routed",
    "RoutingConfig",
    "ServiceUnavailable",
    "Settings",
    "Stage",
    "TaskStatus",
    "TrainingConfig",
    "Verdict",
    "__version__",
]
