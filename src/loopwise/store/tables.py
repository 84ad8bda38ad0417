"""SQLAlchemy 2 ORM tables. Rows, not domain entities: repositories convert between the two."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopwise.store.columns import Base as Base  # re-exported: its metadata holds these tables
from loopwise.store.columns import Id, Json, UTCDateTime

NO_PROJECT_KEY = ("prediction", "decision", "review_task", "audit_event")
"""Tables whose ``project_id`` has no foreign key. Their rows are written a thousand at a time
by every ingest (the audit trail by nearly every use case), and each key is a check per row
in the database (about a tenth of its ingest work); the id repeats their item's (whose own
key is checked), and projects are never deleted. Queries filter on it, so it stays indexed
where it was."""


SET_CHECKED_KEYS = (
    ("item", "project_id", "project"),
    ("prediction", "item_id", "item"),
    ("prediction", "model_version_id", "model_version"),
    ("prediction", "calibration_id", "calibration"),
    ("decision", "item_id", "item"),
    ("decision", "prediction_id", "prediction"),
)
"""Foreign keys (table, column, referenced table) that PostgreSQL checks once per statement,
by triggers, instead of row by row: an ingest writes each of them a thousand times a batch, and
checked per row (a query and a row lock each) the item, prediction and decision rows cost the
database 61.5 µs an item, against 31 checked per statement (``bench/keys.py``).
Inserts and key changes that point nowhere, and deletes of referenced rows, are refused as a
foreign key would (migration ``0009_set_checked_keys``). They stay declared here (SQLite keeps
them as foreign keys, and the ORM joins on them)."""


class ProjectRow(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    labels: Mapped[list[str]] = mapped_column(Json)
    input_kind: Mapped[str] = mapped_column(String(16))
    feature_names: Mapped[list[str]] = mapped_column(Json, default=list)
    routing: Mapped[dict[str, Any]] = mapped_column(Json)
    training: Mapped[dict[str, Any]] = mapped_column(Json)
    error_taxonomy: Mapped[list[str]] = mapped_column(Json)
    guideline: Mapped[str] = mapped_column(Text, default="")
    review: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=text("'{}'"))
    active_learning: Mapped[dict[str, Any]] = mapped_column(
        Json, default=dict, server_default=text("'{}'")
    )
    revision: Mapped[int] = mapped_column(Integer, server_default="0")
    """Raised by every ORM update of the row (``version_id_col``): hot paths read it with their
    other checks and keep the parsed project until it changes (see ``ProjectCache``)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012


class ReviewerRow(Base):
    """A person who reviews, with their role, expertise tags, limits and current session."""

    __tablename__ = "reviewer"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    max_open_tasks: Mapped[int] = mapped_column(Integer, default=3)
    daily_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    session_last_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    session_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProjectMemberRow(Base):
    """A reviewer's membership of a project, and whether admins were warned about them."""

    __tablename__ = "project_member"
    __table_args__ = (
        UniqueConstraint("project_id", "reviewer_id", name="uq_project_member_project_reviewer"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewer.id"), index=True)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    flag_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


SEEN_BY_PEOPLE = "(status = 'queued' OR status = 'resolved')"
"""Items people see or have seen: the condition of the items' payload index, written the same
in the queries that use it (a partial index is used only where the query's condition implies
its own, which both databases prove from the literal text)."""


class ItemRow(Base):
    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_item_project_external_id"),
        Index("ix_item_project_status", "project_id", "status"),
        # the items people see, by payload: a pool query probes it with its picks' digests
        # (migration 0012); the model's own decisions stay out, so most ingests write nothing here
        Index(
            "ix_item_project_payload",
            "project_id",
            "payload_sha256",
            sqlite_where=text(SEEN_BY_PEOPLE),
            postgresql_where=text(SEEN_BY_PEOPLE),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PoolItemRow(Base):
    """An unlabelled candidate in a project's pool, waiting for active learning to choose it.

    Not an item yet: nothing was asked of it, so it is neither decided nor queued. A query
    makes the chosen ones items (status ``queued``, with a review task) and records the item
    here (``item_id``).
    """

    __tablename__ = "pool_item"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_pool_item_project_external_id"),
        Index(
            "ix_pool_item_waiting",
            "project_id",
            "id",
            sqlite_where=text("item_id IS NULL"),
            postgresql_where=text("item_id IS NULL"),
        ),
        Index(
            "ix_pool_item_chosen",
            "project_id",
            "id",
            sqlite_where=text("item_id IS NOT NULL"),
            postgresql_where=text("item_id IS NOT NULL"),
        ),
        # ids are never given out again (SQLite; PostgreSQL's sequences never do): the
        # feature store keeps a candidate's features by id, and candidates can be removed
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"), nullable=True)
    queried_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelVersionRow(Base):
    __tablename__ = "model_version"
    __table_args__ = (
        UniqueConstraint("project_id", "version", name="uq_model_version_project_version"),
        Index(
            "uq_model_version_one_production",
            "project_id",
            unique=True,
            sqlite_where=text("stage = 'production'"),
            postgresql_where=text("stage = 'production'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    version: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(64))
    artifact_path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    stage: Mapped[str] = mapped_column(String(16))
    trained_on: Mapped[int] = mapped_column(Integer)
    rolled_back: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PredictionRow(Base):
    __tablename__ = "prediction"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(Id)  # the item's; see NO_PROJECT_KEY
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id"), nullable=True
    )
    probabilities: Mapped[list[float]] = mapped_column(Json)
    predicted_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confidence: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float)
    ood_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    calibration_id: Mapped[int | None] = mapped_column(ForeignKey("calibration.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalibrationRow(Base):
    """One fit of a production model's calibration and certified threshold (kept as history)."""

    __tablename__ = "calibration"
    __table_args__ = (Index("ix_calibration_project_model", "project_id", "model_version_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    policy_version: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(Json)
    certificate: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(Json)
    verified: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DecisionRow(Base):
    __tablename__ = "decision"
    __table_args__ = (Index("ix_decision_project_route", "project_id", "route"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(Id)  # the item's; see NO_PROJECT_KEY
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), unique=True)
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("prediction.id"), nullable=True)
    route: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16), default="routed", server_default="routed")
    reasons: Mapped[list[str]] = mapped_column(Json)
    rules: Mapped[list[str]] = mapped_column(Json, default=list, server_default=text("'[]'"))
    final_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    policy_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReviewTaskRow(Base):
    """One unit of human work on an item. Served in index order: level, score, age."""

    __tablename__ = "review_task"
    __table_args__ = (
        Index(
            "ix_review_task_ageing",
            "project_id",
            "promote_at",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(
            "ix_review_task_lapse",
            "project_id",
            "lease_expires_at",
            sqlite_where=text("status = 'claimed'"),
            postgresql_where=text("status = 'claimed'"),
        ),
        Index("ix_review_task_holder", "claimed_by", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(Id)  # the item's; see NO_PROJECT_KEY
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(SmallInteger)
    priority_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    required_reviews: Mapped[int] = mapped_column(Integer, default=1)
    base_priority: Mapped[int] = mapped_column(SmallInteger)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    promote_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    required_tags: Mapped[str] = mapped_column(String(400), default="", server_default="")
    skips: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    honeypot_id: Mapped[int | None] = mapped_column(ForeignKey("honeypot.id"), nullable=True)
    escalated_from: Mapped[int | None] = mapped_column(ForeignKey("review_task.id"), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claim_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """What the claim that holds the task was sent with, if anything: a page gives back by
    key the tasks of claims whose answers it will never read (0013)."""


class ReleasedClaimRow(Base):
    """A claim key given back before any task was claimed with it: the claim, when it comes,
    takes nothing (0013). Kept a day, longer than any claim is in flight."""

    __tablename__ = "released_claim"

    reviewer: Mapped[str] = mapped_column(String(200), primary_key=True)
    claim_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


Index(
    "ix_review_task_serve",
    ReviewTaskRow.project_id,
    ReviewTaskRow.stage,
    ReviewTaskRow.status,
    ReviewTaskRow.priority,
    ReviewTaskRow.priority_score.desc(),
    ReviewTaskRow.id,
)


class ReviewRow(Base):
    __tablename__ = "review"
    __table_args__ = (
        Index("ix_review_item_reviewer", "item_id", "reviewer"),
        Index("ix_review_reviewer_time", "reviewer", "created_at"),
        Index("ix_review_project_id", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("review_task.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    reviewer: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    stage: Mapped[str] = mapped_column(String(16), default="review", server_default="review")
    gold_correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    session_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HoneypotRow(Base):
    """A gold item: its answer is known, and reviewers are served it to measure them."""

    __tablename__ = "honeypot"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LabelRow(Base):
    __tablename__ = "label"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), unique=True)
    value: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    split: Mapped[str] = mapped_column(String(16))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    agreement: Mapped[float | None] = mapped_column(Float, nullable=True)
    review_task_id: Mapped[int | None] = mapped_column(ForeignKey("review_task.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GoldenItemRow(Base):
    __tablename__ = "golden_item"
    __table_args__ = (
        UniqueConstraint("project_id", "item_id", name="uq_golden_item_project_item"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    label: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEventRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (see the first migration)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_project_time", "project_id", "created_at"),
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int | None] = mapped_column(Id, nullable=True)  # see NO_PROJECT_KEY
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiTokenRow(Base):
    """An API token of an account. Only the SHA-256 of the token is stored; ``prefix`` (its
    first characters) lets people tell their tokens apart without revealing them."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewer.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookRow(Base):
    """A project's subscription: where to send which events, and the secret they are signed
    with (kept as given: signing needs it, unlike tokens, which are only compared)."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(Json)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookMessageRow(Base):
    """The outbox: one event for one webhook, written in the transaction that caused it, then
    delivered (with retries) by a background worker."""

    __tablename__ = "webhook_message"
    __table_args__ = (Index("ix_webhook_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id"), index=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
