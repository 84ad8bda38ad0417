"""Use cases on people: register reviewers, give them projects, and check what they may do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from loopwise.core.entities import Project, Reviewer
from loopwise.core.enums import Role, Stage
from loopwise.errors import (
    DuplicateReviewer,
    InvalidInput,
    NotAllowed,
    ProjectNotFound,
    ReviewerNotFound,
)
from loopwise.queue.fatigue import SessionState
from loopwise.queue.matching import canonical_tags, tag_keys_within
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.store import mappers
from loopwise.store.people import people
from loopwise.store.tables import ProjectMemberRow, ProjectRow, ReviewerRow


def check_name(name: object, field: str = "reviewer") -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInput("must be a non-empty name of at most 200 characters", field=field)
    return name


def _role(role: object) -> Role:
    if isinstance(role, str) and role in {r.value for r in Role}:
        return Role(role)
    raise InvalidInput(f"{role!r} is not one of {[r.value for r in Role]}", field="role") from None


def _limit(value: object, field: str, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise InvalidInput("must be a whole number from 1 to 100000", field=field)
    return value


def _projects_of(tx: Tx, reviewer_id: int) -> tuple[str, ...]:
    return tuple(
        tx.session.scalars(
            select(ProjectRow.name)
            .join(ProjectMemberRow, ProjectMemberRow.project_id == ProjectRow.id)
            .where(ProjectMemberRow.reviewer_id == reviewer_id)
            .order_by(ProjectRow.name)
        )
    )


def _row(tx: Tx, name: str, *, lock: bool = False) -> ReviewerRow:
    query = select(ReviewerRow).where(ReviewerRow.name == name)
    row = tx.session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise ReviewerNotFound(f"no reviewer named {name!r}", field="reviewer")
    return row


@retry_on_conflict
def add_reviewer(
    ctx: Context,
    name: str,
    *,
    role: Role | str = Role.REVIEWER,
    tags: Sequence[str] = (),
    projects: Sequence[str] = (),
    max_open_tasks: int = 3,
    daily_limit: int | None = None,
    actor: str = "admin",
) -> Reviewer:
    """Register a person with a role, expertise tags and limits, as a member of ``projects``."""
    name = check_name(name, "name")
    chosen = _role(role)
    held = canonical_tags(tags)
    _limit(max_open_tasks, "max_open_tasks", optional=False)
    _limit(daily_limit, "daily_limit", optional=True)
    with ctx.write() as tx:
        if tx.session.scalar(select(ReviewerRow.id).where(ReviewerRow.name == name)) is not None:
            raise DuplicateReviewer(f"a reviewer named {name!r} exists already", field="name")
        row = ReviewerRow(
            name=name,
            role=chosen.value,
            tags=list(held),
            max_open_tasks=max_open_tasks,
            daily_limit=daily_limit,
            active=True,
            session_count=0,
            created_at=tx.now,
        )
        tx.repo.add(row)
        tx.audit(
            actor=actor,
            action="reviewer.created",
            entity_type="reviewer",
            entity_id=row.id,
            project_id=None,
            after={
                "name": name,
                "role": chosen.value,
                "tags": list(held),
                "max_open_tasks": max_open_tasks,
                "daily_limit": daily_limit,
            },
        )
        for project in projects:
            _join(tx, row, tx.repo.project_by_name(project), actor)
        return mappers.reviewer(row, _projects_of(tx, row.id))


def _join(tx: Tx, reviewer: ReviewerRow, project: ProjectRow, actor: str) -> None:
    member = tx.session.scalar(
        select(ProjectMemberRow).where(
            ProjectMemberRow.project_id == project.id,
            ProjectMemberRow.reviewer_id == reviewer.id,
        )
    )
    if member is not None:
        return
    tx.repo.add(ProjectMemberRow(project_id=project.id, reviewer_id=reviewer.id, created_at=tx.now))
    tx.audit(
        actor=actor,
        action="project.member_added",
        entity_type="reviewer",
        entity_id=reviewer.id,
        project_id=project.id,
        after={"reviewer": reviewer.name},
    )


@retry_on_conflict
def add_member(ctx: Context, project: str, reviewer: str, *, actor: str = "admin") -> Reviewer:
    """Give ``reviewer`` access to ``project`` (nothing changes if they have it)."""
    with ctx.write() as tx:
        row = _row(tx, check_name(reviewer))
        _join(tx, row, tx.repo.project_by_name(project), actor)
        return mappers.reviewer(row, _projects_of(tx, row.id))


def update_reviewer(
    ctx: Context,
    name: str,
    *,
    role: Role | str | None = None,
    tags: Sequence[str] | None = None,
    max_open_tasks: int | None = None,
    daily_limit: int | None = None,
    active: bool | None = None,
    actor: str = "admin",
) -> Reviewer:
    """Change a reviewer's role, tags, limits or whether they may work at all."""
    with ctx.write() as tx:
        row = _row(tx, check_name(name, "name"), lock=True)
        before = {
            "role": row.role,
            "tags": list(row.tags),
            "max_open_tasks": row.max_open_tasks,
            "daily_limit": row.daily_limit,
            "active": row.active,
        }
        if role is not None:
            row.role = _role(role).value
        if tags is not None:
            row.tags = list(canonical_tags(tags))
        if max_open_tasks is not None:
            row.max_open_tasks = int(_limit(max_open_tasks, "max_open_tasks", optional=False) or 1)
        if daily_limit is not None:
            row.daily_limit = _limit(daily_limit, "daily_limit", optional=False)
        if active is not None:
            if not isinstance(active, bool):
                raise InvalidInput("must be true or false", field="active")
            row.active = active
        tx.session.flush()
        after = {
            "role": row.role,
            "tags": list(row.tags),
            "max_open_tasks": row.max_open_tasks,
            "daily_limit": row.daily_limit,
            "active": row.active,
        }
        tx.audit(
            actor=actor,
            action="reviewer.updated",
            entity_type="reviewer",
            entity_id=row.id,
            project_id=None,
            before=before,
            after=after,
        )
        return mappers.reviewer(row, _projects_of(tx, row.id))


def get_reviewer(ctx: Context, name: str) -> Reviewer:
    with ctx.read() as tx:
        row = _row(tx, check_name(name))
        return mappers.reviewer(row, _projects_of(tx, row.id))


def list_reviewers(ctx: Context, project: str | None = None) -> list[Reviewer]:
    with ctx.read() as tx:
        query = select(ReviewerRow).order_by(ReviewerRow.name)
        if project is not None:
            project_id = tx.repo.project_by_name(project).id
            query = query.join(
                ProjectMemberRow, ProjectMemberRow.reviewer_id == ReviewerRow.id
            ).where(ProjectMemberRow.project_id == project_id)
        return [mappers.reviewer(r, _projects_of(tx, r.id)) for r in tx.session.scalars(query)]


@dataclass(frozen=True)
class Access:
    """A reviewer allowed on a project: who they are, which tasks they may take, their current
    session, and the project's id and revision (for
    :class:`~loopwise.services.context.ProjectCache`)."""

    id: int
    name: str
    role: Role
    tags: tuple[str, ...]
    max_open_tasks: int
    daily_limit: int | None
    session: SessionState | None
    member_id: int | None
    project_id: int
    project_revision: int
    webhooks: bool
    """The project had an active webhook when this was read."""

    @property
    def tag_keys(self) -> list[str] | None:
        """Required-tag keys this person covers; ``None``: admins take any task."""
        return None if self.role is Role.ADMIN else tag_keys_within(self.tags)

    def stages(self, asked: Stage | None) -> tuple[Stage, ...]:
        """The stages to serve from, best first: experts clear expert work before review."""
        if asked is Stage.EXPERT and self.role is Role.REVIEWER:
            raise NotAllowed(
                f"{self.name!r} is a reviewer; expert tasks need the expert role",
                field="stage",
            )
        if asked is not None:
            return (asked,)
        if self.role is Role.REVIEWER:
            return (Stage.REVIEW,)
        return (Stage.EXPERT, Stage.REVIEW)

    def project(self, ctx: Context, tx: Tx) -> Project:
        return ctx.projects.get(tx, self.project_id, self.project_revision)


def access(tx: Tx, project: str, name: str, *, lock: bool = False) -> Access:
    """The reviewer ``name`` on ``project``: refused unless registered, active and a member.

    Admins may work on every project. ``lock`` holds the reviewer row (their session and
    limits change with the use case). One query for the project, the person and membership.
    """
    found = people(tx.session, project, check_name(name), lock=lock)
    return checked_access(tx, project, name, found)


def checked_access(tx: Tx, project: str, name: str, found: Mapping[str, Any] | None) -> Access:
    """:func:`access` from a row of :func:`loopwise.store.people.people`; raises
    ``ProjectNotFound``, ``ReviewerNotFound`` or ``NotAllowed``."""
    if found is None:
        if tx.repo.project_exists(project):
            raise ReviewerNotFound(f"no reviewer named {name!r}", field="reviewer")
        raise ProjectNotFound(f"no project named {project!r}", field="project")
    if found["reviewer_id"] is None:
        raise ReviewerNotFound(f"no reviewer named {name!r}", field="reviewer")
    if not found["reviewer_active"]:
        raise NotAllowed(f"reviewer {name!r} is deactivated", field="reviewer")
    role = Role(found["reviewer_role"])
    if not role.reviews:
        raise NotAllowed(f"{name!r} is a {role.value}; only reviewers review", field="reviewer")
    if found["member_id"] is None and role is not Role.ADMIN:
        raise NotAllowed(
            f"reviewer {name!r} is not a member of project {project!r}", field="project"
        )
    if not found["webhooks"]:
        tx.quiet.add(found["project_id"])
    started, last = found["reviewer_session_started_at"], found["reviewer_session_last_at"]
    return Access(
        id=found["reviewer_id"],
        name=found["reviewer_name"],
        role=role,
        tags=tuple(found["reviewer_tags"]),
        max_open_tasks=found["reviewer_max_open_tasks"],
        daily_limit=found["reviewer_daily_limit"],
        session=None
        if started is None or last is None
        else SessionState(started, last, found["reviewer_session_count"]),
        member_id=found["member_id"],
        project_id=found["project_id"],
        project_revision=found["project_revision"],
        webhooks=bool(found["webhooks"]),
    )
