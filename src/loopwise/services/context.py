"""What every use case runs in: the engine, the clock, artifacts, and one transaction at a time."""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from loopwise.consensus.settle import Reliability
from loopwise.core.clock import Clock
from loopwise.core.entities import Project
from loopwise.errors import ConcurrentChange, ProjectNotFound
from loopwise.settings import Settings
from loopwise.store import mappers, outbox
from loopwise.store.artifacts import ArtifactStore
from loopwise.store.db import writer
from loopwise.store.repository import Repository
from loopwise.store.tables import ModelVersionRow, ProjectRow
from loopwise.training.models import TrainedModel

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
RETRIES = 3


@dataclass
class Tx:
    """One open transaction: the repository, the time it started, and the audit events to write."""

    repo: Repository
    now: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    quiet: set[int] = field(default_factory=set)
    """Projects seen in this transaction to have no active webhook: their events are not
    looked up again at commit (a webhook added meanwhile gets the events after it)."""
    written: int = 0
    """How many of ``events``, from the first, are in the database already; the rest are
    written at commit."""

    @property
    def session(self) -> Session:
        return self.repo.session

    def audit(
        self,
        *,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: int | str,
        project_id: int | None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an audit event; it is written in the same transaction as the change.

        Returns the event (the columns of ``AuditEventRow`` by name).
        """
        event = {
            "project_id": project_id,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "before": before,
            "after": after,
            "created_at": self.now,
        }
        self.events.append(event)
        return event

    def write_audit(self) -> None:
        """Write the audit events recorded so far now, not at commit: before a statement that
        writes its own event, so that ids stay in the order the events happened."""
        self.repo.audit_many(self.events[self.written :])
        self.written = len(self.events)

    def wrote(self, *events: dict[str, Any]) -> None:
        """``events``, the latest recorded, were written by the statement that made the
        change (after :meth:`write_audit` wrote those before them)."""
        start = len(self.events) - len(events)
        assert self.written == start
        assert all(a is b for a, b in zip(self.events[start:], events, strict=True))
        self.written = len(self.events)


class ModelCache:
    """Loaded models keyed by model-version id (artifacts are immutable: entries never go stale)."""

    def __init__(self, artifacts: ArtifactStore, size: int = 8) -> None:
        self._artifacts = artifacts
        self._size = size
        self._models: dict[int, TrainedModel] = {}
        self._lock = threading.Lock()

    def get(self, row: ModelVersionRow) -> TrainedModel:
        with self._lock:
            model = self._models.get(row.id)
        if model is not None:
            return model
        model = self._artifacts.load(row.artifact_path, row.sha256)
        with self._lock:
            if len(self._models) >= self._size:
                self._models.pop(next(iter(self._models)))
            self._models[row.id] = model
        return model

    def put(self, model_version_id: int, model: TrainedModel) -> None:
        with self._lock:
            self._models[model_version_id] = model


class ProjectCache:
    """Parsed projects by id, kept while the row's ``revision`` is unchanged.

    Turning a project row into a :class:`~loopwise.core.entities.Project` validates its routing,
    training and review settings (about 0.1 ms); the claim and verdict paths, which run for every
    reviewer action, read the revision with their other checks and parse only when it moved.
    Every ORM update of a project raises the revision (``version_id_col``), so an entry is never
    used after a change has committed.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._projects: dict[int, tuple[int, Project]] = {}
        self._lock = threading.Lock()

    def get(self, tx: Tx, project_id: int, revision: int) -> Project:
        """The project as of ``revision`` (read in ``tx`` when not cached)."""
        with self._lock:
            hit = self._projects.get(project_id)
        if hit is not None and hit[0] == revision:
            return hit[1]
        row = tx.session.get(ProjectRow, project_id)
        if row is None:  # deleted since the caller read its revision
            raise ProjectNotFound(f"no project with id {project_id}", field="project")
        project = mappers.project(row)
        with self._lock:
            if len(self._projects) >= self._size:
                self._projects.pop(next(iter(self._projects)))
            self._projects[project_id] = (row.revision, project)
        return project


class ReliabilityCache:
    """Reviewers' reliability per project, as last fitted on its recent answers.

    Settling a multi-review task used to fit the aggregator (Dawid-Skene: an EM over up to
    ``consensus_window`` answers, about 15 ms, plus reading them) every time. The fit moves
    little with one more task, so it is kept with the id of the latest answer it saw and
    redone once the answers since then reach a twentieth of those it was fitted on (at least
    one: on a small history every new answer refits, as before).
    """

    REFIT_SHARE = 20

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._fits: dict[tuple[Any, ...], tuple[int, Reliability]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[int, Reliability] | None:
        """``(latest review id seen, reliability)`` for ``key``, if kept."""
        with self._lock:
            return self._fits.get(key)

    def put(self, key: tuple[Any, ...], latest: int, reliability: Reliability) -> None:
        with self._lock:
            if key not in self._fits and len(self._fits) >= self._size:
                self._fits.pop(next(iter(self._fits)))
            self._fits[key] = (latest, reliability)

    def stale(self, reliability: Reliability, new_answers: int) -> bool:
        """Whether ``new_answers`` since the fit call for a new one."""
        return new_answers >= max(1, reliability.rows // self.REFIT_SHARE)


def retry_on_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Run a use case again when its transaction lost a race on a unique constraint.

    Two writers can both see "absent" and both insert (the same external id, the next model
    version); the database refuses the second. The retry sees the winner's row and answers as
    if it had come second (a duplicate, the next number). After three losses in a row the
    caller gets ``ConcurrentChange`` instead of a driver error.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(RETRIES - 1):
            try:
                return func(*args, **kwargs)
            except IntegrityError:
                continue
        try:
            return func(*args, **kwargs)
        except IntegrityError:
            raise ConcurrentChange(
                f"{func.__name__} clashed with concurrent changes {RETRIES} times; try again"
            ) from None

    return wrapper


SQLITE_WRITE_WAIT_S = 30.0
"""Seconds a write transaction waits for this process's other writers on SQLite (as long as
SQLite's own busy timeout)."""


@dataclass
class Context:
    settings: Settings
    engine: Engine
    clock: Clock
    artifacts: ArtifactStore
    models: ModelCache
    projects: ProjectCache = field(default_factory=ProjectCache)
    reliability: ReliabilityCache = field(default_factory=ReliabilityCache)
    random: random.Random = field(default_factory=random.Random)
    """Chance for gold-task injection (tests seed it)."""
    observers: list[Callable[[list[dict[str, Any]]], None]] = field(default_factory=list)
    """Called with a transaction's audit events after it committed (metrics). They must be
    quick and must not raise."""
    on_queued: list[Callable[[], None]] = field(default_factory=list)
    """Called after a transaction that queued webhook messages committed (to wake the
    delivery worker; only then, so a busy service without webhooks never wakes it)."""
    _reads: sessionmaker[Session] = field(init=False)
    _writes: sessionmaker[Session] = field(init=False)
    _single: sessionmaker[Session] = field(init=False)
    _one_writer: threading.RLock | None = field(init=False)

    def __post_init__(self) -> None:
        self._one_writer = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self.engine), expire_on_commit=False)
        single = self.engine
        if self.engine.dialect.name == "postgresql":
            single = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._single = sessionmaker(single, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed once, with its audit events and the webhook
        messages they announce, or rolled back whole."""
        with self._writer_turn(), self._writes() as session, session.begin():
            tx = Tx(Repository(session), self.clock.now())
            yield tx
            queued = 0
            if tx.events:
                queued = outbox.enqueue(session, tx.events, tx.now, quiet=tx.quiet)
                tx.repo.audit_many(tx.events[tx.written :])
        if tx.events:
            for observe in self.observers:
                try:
                    observe(tx.events)
                except Exception:  # the change is committed: an observer must not undo that
                    log.exception("observer %r failed after a commit", observe)
        if queued:
            for wake in self.on_queued:
                try:
                    wake()
                except Exception:
                    log.exception("observer %r failed after a commit", wake)

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """On SQLite, wait for this process's other write transactions in a lock before
        ``BEGIN IMMEDIATE``.

        SQLite lets one transaction write at a time, and a writer that finds the lock taken
        polls for it, sleeping 1, 2, 5, 10 ... 100 ms between tries: with 32 reviewers an
        unlucky request kept losing the race for a second or more (claim + submit p99 1.2-1.4 s
        at 0.5 s think time, 0.2 s with this lock; ``docs/benchmarks.md``, the HTTP section).
        Waiting in a lock hands the turn over the moment the last writer finishes. It orders
        writers of this process only; other processes still meet SQLite's own wait. After
        ``SQLITE_WRITE_WAIT_S`` the transaction goes ahead anyway and SQLite's busy timeout
        decides, as before. Re-entrant: a write opened inside another one meets SQLite's lock as
        it did."""
        gate = self._one_writer
        if gate is None:
            yield
            return
        held = gate.acquire(timeout=SQLITE_WRITE_WAIT_S)
        try:
            yield
        finally:
            if held:
                gate.release()

    @contextmanager
    def single_read(self) -> Iterator[Session]:
        """A session for one read statement: outside a transaction on PostgreSQL (autocommit:
        the statement is its own snapshot, and no ``BEGIN``/``ROLLBACK`` round trips), an
        ordinary read transaction elsewhere. For the lookups every request makes."""
        with self._single() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._reads() as session, session.begin():
            yield Tx(Repository(session), self.clock.now())
