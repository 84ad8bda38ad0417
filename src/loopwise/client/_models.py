"""What the client sends and gets back: frozen dataclasses, one per body of ``/v1``.

They mirror the ``XPublic`` schemas of :mod:`loopwise.api.schemas` field for field (a test keeps
them in step) without importing the API package, which would bring FastAPI into every client.
Answers are validated with Pydantic on the way in (strings to enums and datetimes, lists to
tuples); fields the client does not know yet are ignored, so a newer server does not break it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter

from loopwise.core.enums import (
    InputKind,
    ItemStatus,
    ModelStage,
    Priority,
    Role,
    Route,
    Stage,
    TaskStatus,
    Verdict,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Item:
    """One item to submit.

    Parameters
    ----------
    payload:
        The text, or ``{"features": {...}}`` (or a list in ``feature_names`` order) for tabular
        projects.
    external_id:
        Your id for it. Submission is idempotent on it (a resubmission returns the first answer,
        marked ``duplicate``), which also lets the client retry after a network failure.
    metadata:
        JSON object the routing rules can read (``tier``, ``amount``, ...).
    probabilities:
        Your own model's, aligned with the project's labels, to have loopwise route your
        prediction instead of predicting.
    """

    payload: Any
    external_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    probabilities: Sequence[float] | None = None

    def to_json(self) -> dict[str, Any]:
        """The request body (unset fields left out)."""
        body: dict[str, Any] = {"payload": self.payload}
        if self.external_id is not None:
            body["external_id"] = self.external_id
        if self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        if self.probabilities is not None:
            body["probabilities"] = [float(p) for p in self.probabilities]
        return body


@dataclass(frozen=True)
class Me:
    """The account a token belongs to."""

    name: str
    role: Role
    projects: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    """A project; ``routing``, ``review`` and ``training`` are its policies as JSON (see
    ``docs/``; ``training`` is empty from a server older than its settings)."""

    name: str
    labels: tuple[str, ...]
    input_kind: InputKind
    feature_names: tuple[str, ...]
    routing: dict[str, Any]
    review: dict[str, Any]
    error_taxonomy: tuple[str, ...]
    guideline: str
    created_at: datetime | None
    training: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Routed:
    """What happened to a submitted item: ``decided`` with ``label``, or ``queued`` for review
    with ``ticket`` (its review task id). ``duplicate``: the external id was seen before and
    this is the first answer."""

    item_id: int
    external_id: str
    status: ItemStatus
    route: Route
    label: str | None
    predicted_label: str | None
    confidence: float | None
    reasons: tuple[str, ...]
    ticket: int | None
    duplicate: bool


@dataclass(frozen=True)
class Decision:
    """An item's decision as it stands: ``label`` is set once it is ``decided`` or
    ``resolved``; ``ticket`` while it waits in the queue."""

    item_id: int
    external_id: str
    status: ItemStatus
    route: Route
    label: str | None
    predicted_label: str | None
    confidence: float | None
    reasons: tuple[str, ...]
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None
    ticket: int | None

    @property
    def final(self) -> bool:
        """Whether the decision is made (by the model or by people)."""
        return self.status is not ItemStatus.QUEUED


@dataclass(frozen=True)
class DecisionsPage:
    """One page of decisions, oldest first; pass ``next_after`` as ``after`` for the next one
    (``None``: this is the last page)."""

    decisions: tuple[Decision, ...]
    next_after: int | None


@dataclass(frozen=True)
class Task:
    """A review task (priority: lower is served first)."""

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
    required_tags: tuple[str, ...]


@dataclass(frozen=True)
class StoredItem:
    """An item as stored (payload normalised: ``{"text": ...}`` or ``{"features": ...}``)."""

    id: int
    external_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    status: ItemStatus
    created_at: datetime


@dataclass(frozen=True)
class Prediction:
    """The model's suggestion; ``probabilities`` follow the project's labels."""

    predicted_label: str | None
    confidence: float
    uncertainty: float
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Review:
    """One reviewer's verdict on a task."""

    id: int
    task_id: int
    reviewer: str
    verdict: Verdict
    label: str | None
    error_category: str | None
    comment: str
    created_at: datetime
    stage: Stage


@dataclass(frozen=True)
class QueueEntry:
    """A task with what a reviewer needs to judge it."""

    task: Task
    item: StoredItem
    prediction: Prediction | None
    reasons: tuple[str, ...]
    earlier_reviews: tuple[Review, ...]


@dataclass(frozen=True)
class VerdictResult:
    """What a verdict did: the stored ``review``; ``resolved`` with ``final_label`` when the
    task is settled; ``escalated`` to an expert; ``break_suggested`` when the reviewer's
    session is long enough that their accuracy tends to drop."""

    review: Review
    resolved: bool
    final_label: str | None
    escalated: bool
    break_suggested: bool


@dataclass(frozen=True)
class ModelVersion:
    """A trained model version and its metrics."""

    version: int
    algorithm: str
    stage: ModelStage
    metrics: dict[str, Any]
    trained_on: int
    created_at: datetime
    promoted_at: datetime | None


@dataclass(frozen=True)
class PoolStatus:
    """How many candidates wait in a project's pool (those a query can choose: not chosen,
    nor sent as items by a client), and how many queries chose."""

    waiting: int
    chosen: int


@dataclass(frozen=True)
class PoolCandidate:
    """One candidate of the pool; ``item_id`` and ``chosen_at`` once a query chose it."""

    id: int
    external_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    added_at: datetime
    item_id: int | None
    chosen_at: datetime | None


@dataclass(frozen=True)
class PoolPage:
    """One page of the pool's candidates, oldest first; pass ``next_after`` as ``after`` for
    the next one (``None``: this is the last page)."""

    candidates: tuple[PoolCandidate, ...]
    next_after: int | None


@dataclass(frozen=True)
class PoolRemoval:
    """What a removal from the pool did: waiting candidates ``removed``; those named (with
    ``everything``: all) that a query had ``chosen``, items now and kept; those named that are
    ``not_found`` in the pool."""

    removed: int
    chosen: int
    not_found: int


@dataclass(frozen=True)
class Chosen:
    """One candidate a query queued for review: ``rank`` 0 is the strategy's first pick."""

    rank: int
    external_id: str
    item_id: int
    task_id: int
    predicted_label: str | None
    confidence: float | None


@dataclass(frozen=True)
class QueryResult:
    """What an active-learning query did: the strategy, how many candidates it chose from,
    the production model that scored them (``None``: a cold start), the chosen, best first,
    and how many items waiting for a label the strategy counted as picked already (0 from a
    service before they were counted)."""

    strategy: str
    considered: int
    model_version: int | None
    chosen: tuple[Chosen, ...]
    awaiting_labels: int = 0


@dataclass(frozen=True)
class ActiveLearning:
    """A project's active-learning settings (see ``docs/active-learning.md``)."""

    strategy: str
    batch: int
    explore: float
    requery_after_promotion: bool


@dataclass(frozen=True)
class Promotion:
    """The gate's answer: ``promoted`` (``forced`` past a refusal) and its ``report``; the
    active-learning ``query`` the promotion set off, if any, or why it did not run
    (``query_error``; the promotion stands)."""

    promoted: bool
    forced: bool
    report: dict[str, Any]
    query: QueryResult | None = None
    query_error: str | None = None


@dataclass(frozen=True)
class Webhook:
    """A subscription of a URL to a project's events."""

    id: int
    project: str
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class WebhookMessage:
    """One outbox message: what was (or will be) sent, and how delivery went."""

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


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def parse(kind: type[T], data: Any) -> T:
    """``data`` (decoded JSON) as a ``kind``, validated; nested dataclasses included."""
    parsed: T = _adapter(kind).validate_python(data)
    return parsed


def parse_list(kind: type[T], data: Any) -> list[T]:
    """A JSON list of ``kind``."""
    parsed: list[T] = _adapter(list[kind]).validate_python(data)  # type: ignore[valid-type]
    return parsed
