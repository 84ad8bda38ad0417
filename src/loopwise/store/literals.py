"""Task statuses and answering verdicts as the review SQL uses them (shared by
:mod:`~loopwise.store.queue`, :mod:`~loopwise.store.people` and :mod:`~loopwise.store.answers`)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, literal_column

from loopwise.core.enums import TaskStatus, Verdict

ACTIVE = (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value)
ANSWERS = tuple(v.value for v in Verdict if v.answers)
OPEN_SQL: ColumnElement[str] = literal_column(f"'{TaskStatus.OPEN.value}'")
CLAIMED_SQL: ColumnElement[str] = literal_column(f"'{TaskStatus.CLAIMED.value}'")
ANSWERS_SQL: list[ColumnElement[str]] = [literal_column(f"'{v}'") for v in ANSWERS]
"""Statuses and verdicts written into the SQL, not bound: a prepared statement's generic plan can
then still use the partial indexes on open and held tasks (``WHERE status = 'open'``)."""
