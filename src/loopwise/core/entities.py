"""Domain entities: frozen dataclasses, separate from ORM rows and API schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loopwise.core.active import ActiveLearningConfig
from loopwise.core.enums import (
    DEFAULT_ERROR_TAXONOMY,
    InputKind,
    ItemStatus,
    LabelSource,
    LabelSplit,
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

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """How resolved labels are split and how candidates are judged.

    Parameters
    ----------
    holdout_share:
        Share of resolved labels kept out of training to judge candidates (chosen by a stable
        hash of the item, so an item never moves between splits).
    golden_share:
        Share of human corrections (the model's past errors) added to the golden set. Golden
        items are never trained on, so the golden set keeps measuring those errors.
    metric:
        ``accuracy`` or ``macro_f1``: what "better overall" means at the promotion gate.
    min_improvement:
        How much a candidate must beat production by on the held-out set.
    split_seed:
        Keys the stable hashes that put an item in the held-out set, the golden set and the
        sample of automatic decisions checked by people. ``None`` (the default): the project's
        id, so projects split differently; a project created again with the same seed (in
        another database, or beside the first) puts the same items in the same sets.
    """

    holdout_share: float = 0.2
    golden_share: float = 0.2
    metric: str = "accuracy"
    min_improvement: float = 0.0
    split_seed: int | None = None

    def to_json(self) -> JSON:
        return {
            "holdout_share": self.holdout_share,
            "golden_share": self.golden_share,
            "metric": self.metric,
            "min_improvement": self.min_improvement,
            "split_seed": self.split_seed,
        }

    @classmethod
    def from_json(cls, data: JSON) -> TrainingConfig:
        return cls(
            holdout_share=float(data.get("holdout_share", 0.2)),
            golden_share=float(data.get("golden_share", 0.2)),
            metric=str(data.get("metric", "accuracy")),
            min_improvement=float(data.get("min_improvement", 0.0)),
            split_seed=None if data.get("split_seed") is None else int(data["split_seed"]),
        )


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    labels: tuple[str, ...]
    input_kind: InputKind
    feature_names: tuple[str, ...] = ()
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    error_taxonomy: tuple[str, ...] = DEFAULT_ERROR_TAXONOMY
    guideline: str = ""
    review: ReviewConfig = field(default_factory=ReviewConfig)
    created_at: datetime | None = None
    active_learning: ActiveLearningConfig = field(default_factory=ActiveLearningConfig)

    @property
    def split_key(self) -> int:
        """What keys the project's stable per-item hashes: ``training.split_seed``, else the id."""
        seed = self.training.split_seed
        return self.id if seed is None else seed


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    project_id: int
    external_id: str
    payload: JSON
    metadata: JSON
    status: ItemStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Prediction:
    id: int
    item_id: int
    model_version_id: int | None
    probabilities: tuple[float, ...]
    predicted_label: str | None
    confidence: float
    uncertainty: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    item_id: int
    route: Route
    reasons: tuple[str, ...]
    final_label: str | None
    decided_by: str | None
    policy_version: int
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReviewTask:
    id: int
    project_id: int
    item_id: int
    stage: Stage
    priority: Priority
    priority_score: float
    status: TaskStatus
    claimed_by: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    due_at: datetime | None = None
    required_reviews: int = 1
    required_tags: tuple[str, ...] = ()
    escalated_from: int | None = None


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    task_id: int
    reviewer: str
    verdict: Verdict
    label: str | None
    error_category: str | None
    comment: str
    created_at: datetime
    stage: Stage = Stage.REVIEW


@dataclass(frozen=True, slots=True)
class Label:
    id: int
    project_id: int
    item_id: int
    value: str
    source: LabelSource
    split: LabelSplit
    weight: float
    agreement: float | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: int
    project_id: int
    version: int
    algorithm: str
    artifact_path: str
    sha256: str
    metrics: JSON
    stage: ModelStage
    trained_on: int
    created_at: datetime
    promoted_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    project_id: int | None
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: JSON | None
    after: JSON | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A review task joined with what a reviewer needs to see to decide it."""

    task: ReviewTask
    item: Item
    prediction: Prediction | None
    reasons: tuple[str, ...]
    earlier_reviews: tuple[Review, ...] = ()
    """Reviews before an escalation: shown to experts only (review is blind while open)."""


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A person who reviews: role, expertise tags, limits, and the projects they belong to."""

    id: int
    name: str
    role: Role
    tags: tuple[str, ...]
    max_open_tasks: int
    daily_limit: int | None
    active: bool
    projects: tuple[str, ...]
    created_at: datetime
