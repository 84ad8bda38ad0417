"""Request and response bodies of ``/v1``: Pydantic at the edge, built from the services'
dataclasses with ``from_attributes``. ``XCreate`` / ``XIn`` come in, ``XPublic`` goes out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from loopwise.core.enums import (
    ItemStatus,
    ModelStage,
    Priority,
    Role,
    Route,
    Stage,
    TaskStatus,
    Verdict,
)

MAX_ID = 2**63 - 1
"""Ids are 64-bit integers in the database; larger ones are refused at the edge (422)."""
MAX_VERSION = 2**31 - 1
"""Model version numbers are 32-bit integers in the database."""


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable word: item_not_found, not_allowed, invalid_input...")
    message: str = Field(description="A sentence a person can act on")
    field: str | None = Field(description="The offending input, e.g. items[3].payload.text")


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail


_MEANING = {
    401: "No valid token (missing, unknown, expired or revoked)",
    403: "The token's role or projects do not allow this",
    404: "No such project, item, task, version or webhook",
    409: "Clashes with stored state (duplicate, held by someone else, gate refused...)",
    413: "The request body is over the size limit",
    422: "Bad input; `field` names it",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring these error statuses with :class:`ErrorBody`."""
    return {s: {"model": ErrorBody, "description": _MEANING[s]} for s in statuses}


READ_ERRORS = errors(401, 403, 404, 422)
WRITE_ERRORS = errors(401, 403, 404, 409, 413, 422)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _In(BaseModel):
    """A request body: unknown fields refused, and no NUL character in any string (PostgreSQL
    cannot store one; refusing it here gives the same answer on every database)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if _has_nul(value):
            raise ValueError("must not contain the NUL character (\\u0000)")
        return value


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- projects ---------------------------------------------------------------------------------
class ProjectCreate(_In):
    name: str = Field(min_length=1, max_length=100)
    labels: list[str] = Field(min_length=2, max_length=1000)
    input_kind: Literal["text", "tabular"] = "text"
    feature_names: list[str] = Field(default_factory=list, max_length=10_000)
    routing: dict[str, JsonValue] | None = None
    review: dict[str, JsonValue] | None = None
    training: dict[str, JsonValue] | None = Field(
        default=None,
        description="holdout_share, golden_share, metric, min_improvement, split_seed "
        "(docs/architecture.md); a setting left out takes its default",
    )
    error_taxonomy: list[str] | None = None
    guideline: str = Field(default="", max_length=100_000)


class ProjectPublic(_Out):
    name: str
    labels: list[str]
    input_kind: str
    feature_names: list[str]
    routing: dict[str, Any]
    review: dict[str, Any]
    error_taxonomy: list[str]
    guideline: str
    created_at: datetime | None
    training: dict[str, Any]


# -- items and decisions ----------------------------------------------------------------------
class ItemIn(_In):
    """One input. ``payload``: the text, or ``{"features": {...}}`` / a feature list for tabular
    projects. ``probabilities``: your own model's, aligned with the project's labels, to have
    loopwise route your prediction instead of predicting (the A2I case)."""

    payload: JsonValue
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, JsonValue] | None = None
    probabilities: list[float] | None = None


class BulkIn(_In):
    items: list[ItemIn] = Field(min_length=1, max_length=10_000)


class RoutedPublic(_Out):
    """What happened to a submitted item: ``decided`` with ``label``, or ``queued`` for review
    with ``ticket`` (its review task)."""

    item_id: int
    external_id: str
    status: ItemStatus
    route: Route
    label: str | None
    predicted_label: str | None
    confidence: float | None
    reasons: list[str]
    ticket: int | None
    duplicate: bool


class BulkPublic(BaseModel):
    items: list[RoutedPublic]
    decided: int
    queued: int
    duplicates: int


class DecisionPublic(_Out):
    item_id: int
    external_id: str
    status: ItemStatus
    route: Route
    label: str | None
    predicted_label: str | None
    confidence: float | None
    reasons: list[str]
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None
    ticket: int | None


class DecisionsPublic(BaseModel):
    decisions: list[DecisionPublic]
    next_after: int | None = Field(description="Pass as `after` for the next page; null at the end")


# -- review -----------------------------------------------------------------------------------
CLAIM_KEY = r"^[A-Za-z0-9_-]{16,64}$"


class ClaimIn(_In):
    stage: Stage | None = None
    claim_key: str | None = Field(
        default=None,
        pattern=CLAIM_KEY,
        description="a key drawn at random for this claim (16-64 letters, digits, '_', '-'): "
        "the task keeps it, and POST .../queue/release gives the task back by it, or makes "
        "the claim take nothing if the key comes back first",
    )


class ReleaseClaimsIn(_In):
    claim_keys: list[Annotated[str, Field(pattern=CLAIM_KEY)]] = Field(min_length=1, max_length=50)


class ReleasedPublic(BaseModel):
    released: int = Field(description="tasks given back to the queue")


class TaskPublic(_Out):
    id: int
    stage: Stage
    priority: Priority
    priority_score: float
    status: TaskStatus
    claimed_by: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    due_at: datetime | None
    required_reviews: int
    required_tags: list[str]


class ItemPublic(_Out):
    id: int
    external_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    status: ItemStatus
    created_at: datetime


class PredictionPublic(_Out):
    predicted_label: str | None
    confidence: float
    uncertainty: float
    probabilities: list[float]


class ReviewPublic(_Out):
    id: int
    task_id: int
    reviewer: str
    verdict: Verdict
    label: str | None
    error_category: str | None
    comment: str
    created_at: datetime
    stage: Stage


class QueueEntryPublic(_Out):
    task: TaskPublic
    item: ItemPublic
    prediction: PredictionPublic | None
    reasons: list[str]
    earlier_reviews: list[ReviewPublic]


class ContributionPublic(BaseModel):
    feature: str = Field(description="a word, word pair or column")
    weight: float = Field(description="push on the label's log-odds: > 0 towards it, < 0 away")
    value: float = Field(description="the feature's value in this input (TF-IDF or scaled)")


class ExplanationPublic(BaseModel):
    model_version: int
    label: str
    contributions: list[ContributionPublic]


class ClaimPublic(BaseModel):
    entry: QueueEntryPublic | None = Field(description="null when there is nothing to claim")
    explanation: ExplanationPublic | None = Field(
        default=None,
        description="with ?explain=true: what pushed the production model towards the "
        "suggested label (linear models only)",
    )


class VerdictIn(_In):
    verdict: Verdict
    label: str | None = Field(default=None, max_length=200)
    error_category: str | None = Field(default=None, max_length=200)
    comment: str = Field(default="", max_length=5000)


class VerdictPublic(BaseModel):
    review: ReviewPublic
    resolved: bool
    final_label: str | None
    escalated: bool
    break_suggested: bool


class LeasePublic(BaseModel):
    task_id: int
    lease_expires_at: datetime


# -- labels, gold and golden ------------------------------------------------------------------
class LabelRowIn(_In):
    payload: JsonValue
    label: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, JsonValue] | None = None


class LabelsIn(_In):
    rows: list[LabelRowIn] = Field(min_length=1, max_length=10_000)


class GoldIn(_In):
    items: list[LabelRowIn] = Field(min_length=1, max_length=10_000)


class GoldenIn(_In):
    external_id: str = Field(min_length=1, max_length=200)
    label: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="added by hand", max_length=200)


class GoldenPublic(_Out):
    external_id: str
    label: str
    reason: str
    created_at: datetime


class CountPublic(BaseModel):
    count: int


# -- active learning --------------------------------------------------------------------------
class PoolItemIn(_In):
    """One unlabelled candidate: a payload as for items, no label and no probabilities."""

    payload: JsonValue
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, JsonValue] | None = None


class PoolIn(_In):
    items: list[PoolItemIn] = Field(min_length=1, max_length=10_000)


class PoolAddedPublic(BaseModel):
    added: int = Field(description="Candidates new to the pool")
    skipped: int = Field(description="Already in the pool with the same payload, or repeated")


class PoolCandidateRef(_In):
    """A candidate to remove: its external id, or its payload (the candidate added with it and
    no external id), or both (the candidate of that id must have that payload)."""

    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    payload: JsonValue = None


class PoolRemoveIn(_In):
    items: list[PoolCandidateRef] | None = Field(
        default=None, min_length=1, max_length=10_000, description="The candidates to remove"
    )
    all: bool = Field(default=False, description="Remove every waiting candidate instead")


class PoolRemovedPublic(_Out):
    removed: int = Field(description="Waiting candidates removed")
    chosen: int = Field(
        description="Candidates named (with all: every one) that a query chose: items now, kept"
    )
    not_found: int = Field(description="Candidates named that are not in the pool")


class PoolCandidatePublic(_Out):
    id: int = Field(description="The candidate's place in the pool: pass as `after` to page")
    external_id: str
    payload: dict[str, JsonValue]
    metadata: dict[str, JsonValue]
    added_at: datetime
    item_id: int | None = Field(
        description="The item a query made of it, or the item queued or resolved with its "
        "payload that a query found (then chosen_at is null); null while it waits"
    )
    chosen_at: datetime | None


class PoolCandidatesPublic(_Out):
    candidates: list[PoolCandidatePublic]
    next_after: int | None = Field(description="Pass as `after` for the next page; null at the end")


class PoolStatusPublic(_Out):
    waiting: int = Field(
        description="Candidates a query can choose: not chosen yet, nor sent as items by a client"
    )
    chosen: int = Field(
        description="Candidates that are items now: turned into review tasks by queries, or "
        "found by one to repeat the payload of an item queued or resolved"
    )


class QueryIn(_In):
    n: int | None = Field(
        default=None, ge=1, le=10_000, description="How many (default: the project's batch)"
    )
    strategy: str | None = Field(
        default=None, min_length=1, max_length=100, description="Default: the project's"
    )
    seed: int | None = Field(default=None, ge=0, le=MAX_ID)


class ChosenPublic(_Out):
    rank: int = Field(description="0 is the strategy's first pick, served first")
    external_id: str
    item_id: int
    task_id: int
    predicted_label: str | None
    confidence: float | None


class QueryPublic(_Out):
    strategy: str
    considered: int = Field(description="Candidates the strategy chose from")
    model_version: int | None = Field(description="The production model that scored them")
    chosen: list[ChosenPublic]
    awaiting_labels: int = Field(
        description="Items queued for review without a label yet, which the strategy counted "
        "as picked already"
    )


class ActiveLearningPublic(_Out):
    strategy: str
    batch: int
    explore: float
    requery_after_promotion: bool


# -- models -----------------------------------------------------------------------------------
class ModelVersionPublic(_Out):
    version: int
    algorithm: str
    stage: ModelStage
    metrics: dict[str, Any]
    trained_on: int
    created_at: datetime
    promoted_at: datetime | None


class PromoteIn(_In):
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    force: bool = False


class PromotionPublic(BaseModel):
    promoted: bool
    forced: bool
    report: dict[str, Any]
    query: QueryPublic | None = Field(
        default=None, description="The active-learning query the promotion set off, if any"
    )
    query_error: str | None = Field(
        default=None,
        description="Why that query did not run (the project's settings refused it); the "
        "promotion stands",
    )


# -- webhooks and accounts --------------------------------------------------------------------
class WebhookCreate(_In):
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] | None = None
    secret: str | None = Field(default=None, max_length=200)


class WebhookPublic(_Out):
    id: int
    project: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret: shown once, keep it with the receiver")


class MessagePublic(_Out):
    id: int
    webhook_id: int
    msg_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class MePublic(BaseModel):
    name: str
    role: Role
    projects: list[str]
