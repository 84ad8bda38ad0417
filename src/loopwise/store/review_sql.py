"""What the review path's SQL modules share (:mod:`~loopwise.store.queue`,
:mod:`~loopwise.store.people`, :mod:`~loopwise.store.answers`): the tables as Core handles, and
the task statuses and answering verdicts written into the statements."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ColumnElement, Table, literal_column

from loopwise.core.enums import TaskStatus, Verdict
from loopwise.store.tables import (
    AuditEventRow,
    DecisionRow,
    HoneypotRow,
    ItemRow,
    PredictionRow,
    ProjectMemberRow,
    ProjectRow,
    ReviewerRow,
    ReviewRow,
    ReviewTaskRow,
    WebhookRow,
)

project_table = cast(Table, ProjectRow.__table__)
reviewer_table = cast(Table, ReviewerRow.__table__)
member_table = cast(Table, ProjectMemberRow.__table__)
task_table = cast(Table, ReviewTaskRow.__table__)
review_table = cast(Table, ReviewRow.__table__)
webhook_table = cast(Table, WebhookRow.__table__)
item_table = cast(Table, ItemRow.__table__)
prediction_table = cast(Table, PredictionRow.__table__)
decision_table = cast(Table, DecisionRow.__table__)
honeypot_table = cast(Table, HoneypotRow.__table__)
audit_table = cast(Table, AuditEventRow.__table__)

ACTIVE = (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value)
ANSWERS = tuple(v.value for v in Verdict if v.answers)
OPEN_SQL: ColumnElement[str] = literal_column(f"'{TaskStatus.OPEN.value}'")
CLAIMED_SQL: ColumnElement[str] = literal_column(f"'{TaskStatus.CLAIMED.value}'")
ANSWERS_SQL: list[ColumnElement[str]] = [literal_column(f"'{v}'") for v in ANSWERS]
"""Statuses and verdicts written into the SQL, not bound: a prepared statement's generic plan can
then still use the partial indexes on open and held tasks (``WHERE status = 'open'``)."""
