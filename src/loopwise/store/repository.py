"""Queries and writes over one SQLAlchemy session. Repositories add and flush; they never commit:
the service that owns the transaction does, once, together with its audit events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    String,
    any_,
    bindparam,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from loopwise.core.enums import ItemStatus, ModelStage, TaskStatus
from loopwise.errors import ProjectNotFound
from loopwise.store import bulk
from loopwise.store.tables import (
    AuditEventRow,
    DecisionRow,
    GoldenItemRow,
    ItemRow,
    LabelRow,
    ModelVersionRow,
    PredictionRow,
    ProjectRow,
    ReviewerRow,
    ReviewTaskRow,
)


def one_parameter_in(
    session: Session, column: Any, values: Sequence[Any], kind: type[String] | type[BigInteger]
) -> list[ColumnElement[bool]]:
    """Conditions that together select the rows whose ``column`` is one of ``values``, the
    values going to the database as one parameter, not one each (a batch has thousands; as
    ``IN`` lists of 5,000 parameters psycopg spent 2.2 of 2.3 s building the statements that
    read 100,000 pool payloads): an array on PostgreSQL (``= ANY``), a JSON array on SQLite
    (``json_each``); other databases get ``IN`` lists of 900."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        values_ = bindparam("values", list(values), type_=ARRAY(kind()))
        return [cast(ColumnElement[bool], column == any_(values_))]
    if dialect == "sqlite":
        each = func.json_each(json.dumps(list(values))).table_valued("value")
        return [cast(ColumnElement[bool], column.in_(select(each.c.value)))]
    return [
        cast(ColumnElement[bool], column.in_(values[start : start + 900]))
        for start in range(0, len(values), 900)
    ]


class Repository:
    """All persistence a use case needs, bound to one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- projects ---------------------------------------------------------------------------
    def project_by_name(self, name: str, *, lock: bool = False) -> ProjectRow:
        """The project row; ``lock`` holds it (``FOR UPDATE``) until the transaction ends, for
        use cases that change the project so concurrent changes queue instead of overwriting."""
        query = select(ProjectRow).where(ProjectRow.name == name)
        row = self.session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise ProjectNotFound(f"no project named {name!r}", field="project")
        return row

    def project_exists(self, name: str) -> bool:
        return bool(self.session.scalar(select(exists().where(ProjectRow.name == name))))

    def projects(self) -> Sequence[ProjectRow]:
        return self.session.scalars(select(ProjectRow).order_by(ProjectRow.id)).all()

    def add(self, row: Any) -> None:
        self.session.add(row)
        self.session.flush()

    # -- items --------------------------------------------------------------------------------
    def items_by_external_id(
        self, project_id: int, external_ids: Sequence[str]
    ) -> dict[str, ItemRow]:
        """The project's items with these external ids (absent ones are left out).

        The ids go to the database as one parameter (:func:`one_parameter_in`).
        """
        if not external_ids:
            return {}
        found: dict[str, ItemRow] = {}
        for where in one_parameter_in(self.session, ItemRow.external_id, external_ids, String):
            rows = self.session.scalars(
                select(ItemRow).where(ItemRow.project_id == project_id, where)
            )
            found.update((row.external_id, row) for row in rows)
        return found

    def reserve_ids(self, counts: Mapping[type[Any], int]) -> dict[type[Any], list[int]] | None:
        """Ids for rows about to be inserted into several tables (``{table: how many}``), in
        one query; ``None`` when this database numbers rows as they are inserted. Rows given to
        :meth:`insert_many` with their ``id`` keep it."""
        return bulk.reserve_ids(self.session.connection(), counts)

    def insert_many(self, table: type[Any], rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert ``rows`` (values by attribute name) into ``table``; their new ids, in order.

        For batches: ids are reserved up front and the rows sent in one go (``COPY`` on
        PostgreSQL), see :mod:`loopwise.store.bulk`. Rows are not added to the session.
        """
        if not rows:
            return []
        self.session.flush()
        return bulk.insert_rows(self.session.connection(), table, rows)

    def item_status_counts(self, project_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(ItemRow.status, func.count())
            .where(ItemRow.project_id == project_id)
            .group_by(ItemRow.status)
        )
        return {status: int(count) for status, count in rows.all()}

    # -- predictions and decisions -------------------------------------------------------------
    def latest_prediction(self, item_id: int) -> PredictionRow | None:
        return self.session.scalar(
            select(PredictionRow)
            .where(PredictionRow.item_id == item_id)
            .order_by(PredictionRow.id.desc())
            .limit(1)
        )

    def latest_predictions(self, item_ids: Sequence[int]) -> dict[int, PredictionRow]:
        """:meth:`latest_prediction` of many items in one query (items without one left out)."""
        rows = self.session.scalars(
            select(PredictionRow)
            .where(PredictionRow.item_id.in_(item_ids))
            .order_by(PredictionRow.id)
        )
        return {row.item_id: row for row in rows}

    def settle_decision(
        self, item_id: int, final_label: str | None, decided_by: str, now: datetime
    ) -> dict[str, Any] | None:
        """Record an item's final label on its decision; what the decision said before
        (``final_label``, ``route``), or ``None`` if the item has no decision.

        One statement on PostgreSQL, whose ``RETURNING`` subqueries see the rows as they were
        before the statement; SQLite's see them after, so it reads first (in process, no
        round trip).
        """
        change = (
            update(DecisionRow)
            .where(DecisionRow.item_id == item_id)
            .values(final_label=final_label, decided_by=decided_by, decided_at=now)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            before = (
                select(DecisionRow.final_label)
                .where(DecisionRow.item_id == item_id)
                .scalar_subquery()
            )
            found = self.session.execute(change.returning(before, DecisionRow.route)).first()
        else:
            found = self.session.execute(
                select(DecisionRow.final_label, DecisionRow.route).where(
                    DecisionRow.item_id == item_id
                )
            ).first()
            if found is not None:
                self.session.execute(change)
        return None if found is None else {"final_label": found[0], "route": found[1]}

    def set_session(self, reviewer_id: int, started: datetime, last: datetime, count: int) -> None:
        """A reviewer's working session (see :mod:`loopwise.queue.fatigue`)."""
        self.session.execute(
            update(ReviewerRow)
            .where(ReviewerRow.id == reviewer_id)
            .values(session_started_at=started, session_last_at=last, session_count=count)
        )

    def set_item_status(self, item_id: int, status: ItemStatus, now: datetime) -> None:
        self.session.execute(
            update(ItemRow).where(ItemRow.id == item_id).values(status=status.value, updated_at=now)
        )

    def decision_for(self, item_id: int) -> DecisionRow | None:
        return self.session.scalar(select(DecisionRow).where(DecisionRow.item_id == item_id))

    def decisions_for(self, item_ids: Sequence[int]) -> dict[int, DecisionRow]:
        rows = self.session.scalars(select(DecisionRow).where(DecisionRow.item_id.in_(item_ids)))
        return {row.item_id: row for row in rows}

    def open_tasks_for(self, item_ids: Sequence[int]) -> dict[int, ReviewTaskRow]:
        rows = self.session.scalars(
            select(ReviewTaskRow).where(
                ReviewTaskRow.item_id.in_(item_ids),
                ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]),
            )
        )
        return {row.item_id: row for row in rows}

    # -- review tasks -------------------------------------------------------------------------
    def task(self, task_id: int, *, lock: bool = False) -> ReviewTaskRow | None:
        query = select(ReviewTaskRow).where(ReviewTaskRow.id == task_id)
        if lock:
            query = query.with_for_update()
        return self.session.scalar(query)

    # -- labels and golden set ---------------------------------------------------------------
    def labelled_items(self, project_id: int) -> Sequence[tuple[LabelRow, ItemRow]]:
        rows = self.session.execute(
            select(LabelRow, ItemRow)
            .join(ItemRow, ItemRow.id == LabelRow.item_id)
            .where(LabelRow.project_id == project_id)
            .order_by(LabelRow.id)
        )
        return [(label, item) for label, item in rows]

    def golden_items(self, project_id: int) -> Sequence[tuple[GoldenItemRow, ItemRow]]:
        rows = self.session.execute(
            select(GoldenItemRow, ItemRow)
            .join(ItemRow, ItemRow.id == GoldenItemRow.item_id)
            .where(GoldenItemRow.project_id == project_id)
            .order_by(GoldenItemRow.id)
        )
        return [(golden, item) for golden, item in rows]

    def golden_item_ids(self, project_id: int) -> set[int]:
        return set(
            self.session.scalars(
                select(GoldenItemRow.item_id).where(GoldenItemRow.project_id == project_id)
            )
        )

    def has_labels(self, project_id: int) -> bool:
        return bool(self.session.scalar(select(exists().where(LabelRow.project_id == project_id))))

    def label_count(self, project_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(LabelRow).where(LabelRow.project_id == project_id)
            )
            or 0
        )

    # -- model versions -----------------------------------------------------------------------
    def model_versions(self, project_id: int) -> Sequence[ModelVersionRow]:
        return self.session.scalars(
            select(ModelVersionRow)
            .where(ModelVersionRow.project_id == project_id)
            .order_by(ModelVersionRow.version)
        ).all()

    def production_model(self, project_id: int) -> ModelVersionRow | None:
        return self.session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.project_id == project_id,
                ModelVersionRow.stage == ModelStage.PRODUCTION.value,
            )
        )

    def model_version(self, project_id: int, version: int) -> ModelVersionRow | None:
        return self.session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.project_id == project_id, ModelVersionRow.version == version
            )
        )

    def next_model_version(self, project_id: int) -> int:
        latest = self.session.scalar(
            select(func.max(ModelVersionRow.version)).where(
                ModelVersionRow.project_id == project_id
            )
        )
        return int(latest or 0) + 1

    # -- audit --------------------------------------------------------------------------------
    def audit_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Append audit events (the columns of ``AuditEventRow`` by name), in one go."""
        rows = list(events)
        if rows:
            self.session.flush()
            bulk.insert_rows(self.session.connection(), AuditEventRow, rows, with_ids=False)

    def audit_events(
        self,
        project_id: int | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
    ) -> Sequence[AuditEventRow]:
        query = select(AuditEventRow).order_by(AuditEventRow.id)
        if project_id is not None:
            query = query.where(AuditEventRow.project_id == project_id)
        if entity_type is not None:
            query = query.where(AuditEventRow.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(AuditEventRow.entity_id == entity_id)
        return self.session.scalars(query).all()
