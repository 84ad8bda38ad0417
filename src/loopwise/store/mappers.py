"""Conversions from ORM rows to the core's frozen entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopwise.core.active import ActiveLearningConfig
from loopwise.core.entities import (
    AuditEvent,
    Decision,
    Item,
    Label,
    ModelVersion,
    Prediction,
    Project,
    Review,
    Reviewer,
    ReviewTask,
    TrainingConfig,
)
from loopwise.core.enums import (
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
from loopwise.queue.matching import tags_of
from loopwise.store.tables import (
    AuditEventRow,
    DecisionRow,
    ItemRow,
    LabelRow,
    ModelVersionRow,
    PredictionRow,
    ProjectRow,
    ReviewerRow,
    ReviewRow,
    ReviewTaskRow,
)


def project(row: ProjectRow) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        labels=tuple(row.labels),
        input_kind=InputKind(row.input_kind),
        feature_names=tuple(row.feature_names),
        routing=RoutingConfig.from_json(row.routing),
        training=TrainingConfig.from_json(row.training),
        error_taxonomy=tuple(row.error_taxonomy),
        guideline=row.guideline,
        review=ReviewConfig.from_json(row.review),
        created_at=row.created_at,
        active_learning=ActiveLearningConfig.from_json(row.active_learning),
    )


def item(row: ItemRow) -> Item:
    return Item(
        id=row.id,
        project_id=row.project_id,
        external_id=row.external_id,
        payload=dict(row.payload),
        metadata=dict(row.meta),
        status=ItemStatus(row.status),
        created_at=row.created_at,
    )


def prediction(row: PredictionRow) -> Prediction:
    return Prediction(
        id=row.id,
        item_id=row.item_id,
        model_version_id=row.model_version_id,
        probabilities=tuple(row.probabilities),
        predicted_label=row.predicted_label,
        confidence=row.confidence,
        uncertainty=row.uncertainty,
        created_at=row.created_at,
    )


def decision(row: DecisionRow) -> Decision:
    return Decision(
        id=row.id,
        item_id=row.item_id,
        route=Route(row.route),
        reasons=tuple(row.reasons),
        final_label=row.final_label,
        decided_by=row.decided_by,
        policy_version=row.policy_version,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def task(row: ReviewTaskRow) -> ReviewTask:
    return ReviewTask(
        id=row.id,
        project_id=row.project_id,
        item_id=row.item_id,
        stage=Stage(row.stage),
        priority=Priority(row.priority),
        priority_score=row.priority_score,
        status=TaskStatus(row.status),
        claimed_by=row.claimed_by,
        lease_expires_at=row.lease_expires_at,
        created_at=row.created_at,
        due_at=row.due_at,
        required_reviews=row.required_reviews,
        required_tags=tags_of(row.required_tags),
        escalated_from=row.escalated_from,
    )


def task_columns(row: Mapping[str, Any]) -> ReviewTask:
    """:func:`task` from the table's columns by name (a Core row, e.g. a claim's)."""
    return ReviewTask(
        id=row["id"],
        project_id=row["project_id"],
        item_id=row["item_id"],
        stage=Stage(row["stage"]),
        priority=Priority(row["priority"]),
        priority_score=row["priority_score"],
        status=TaskStatus(row["status"]),
        claimed_by=row["claimed_by"],
        lease_expires_at=row["lease_expires_at"],
        created_at=row["created_at"],
        due_at=row["due_at"],
        required_reviews=row["required_reviews"],
        required_tags=tags_of(row["required_tags"]),
        escalated_from=row["escalated_from"],
    )


def shown(row: Mapping[str, Any]) -> tuple[Item, Prediction | None, tuple[str, ...]]:
    """The item, latest prediction and reasons of a task from the ``item_``, ``prediction_``
    and ``reasons`` columns of :func:`loopwise.store.queue.claim_best` or ``shown_with``."""
    item = Item(
        id=row["item_id"],
        project_id=row["item_project_id"],
        external_id=row["item_external_id"],
        payload=dict(row["item_payload"]),
        metadata=dict(row["item_metadata"]),
        status=ItemStatus(row["item_status"]),
        created_at=row["item_created_at"],
    )
    prediction = None
    if row["prediction_id"] is not None:
        prediction = Prediction(
            id=row["prediction_id"],
            item_id=row["prediction_item_id"],
            model_version_id=row["prediction_model_version_id"],
            probabilities=tuple(row["prediction_probabilities"]),
            predicted_label=row["prediction_predicted_label"],
            confidence=row["prediction_confidence"],
            uncertainty=row["prediction_uncertainty"],
            created_at=row["prediction_created_at"],
        )
    reasons = row["reasons"]
    return item, prediction, () if reasons is None else tuple(reasons)


def review(row: ReviewRow) -> Review:
    return Review(
        id=row.id,
        task_id=row.task_id,
        reviewer=row.reviewer,
        verdict=Verdict(row.verdict),
        label=row.label,
        error_category=row.error_category,
        comment=row.comment,
        created_at=row.created_at,
        stage=Stage(row.stage),
    )


def reviewer(row: ReviewerRow, projects: tuple[str, ...]) -> Reviewer:
    return Reviewer(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        tags=tuple(row.tags),
        max_open_tasks=row.max_open_tasks,
        daily_limit=row.daily_limit,
        active=row.active,
        projects=projects,
        created_at=row.created_at,
    )


def label(row: LabelRow) -> Label:
    return Label(
        id=row.id,
        project_id=row.project_id,
        item_id=row.item_id,
        value=row.value,
        source=LabelSource(row.source),
        split=LabelSplit(row.split),
        weight=row.weight,
        agreement=row.agreement,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def model_version(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        project_id=row.project_id,
        version=row.version,
        algorithm=row.algorithm,
        artifact_path=row.artifact_path,
        sha256=row.sha256,
        metrics=dict(row.metrics),
        stage=ModelStage(row.stage),
        trained_on=row.trained_on,
        created_at=row.created_at,
        promoted_at=row.promoted_at,
    )


def audit_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        project_id=row.project_id,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        before=row.before,
        after=row.after,
        created_at=row.created_at,
    )
