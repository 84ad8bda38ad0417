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

from loopwise.core.clock import Clock
from loopwise.errors import ConcurrentChange
from loopwise.settings import Settings
from loopwise.store import outbox
from loopwise.store.artifacts import ArtifactStore
from loopwise.store.db import writer
from loopwise.store.repository import Repository
from loopwise.store.tables import ModelVersionRow
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
    ) -> None:
        """Record an audit event; it is written in the same transaction as the change."""
        self.events.append(
            {
                "project_id": project_id,
                "actor": actor,
                "action": action,
                "entity_type": entity_type,
                "entity_id": str(entity_id),
                "before": before,
                "after": after,
                "created_at": self.now,
            }
        )


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


@dataclass
class Context:
    settings: Settings
    engine: Engine
    clock: Clock
    artifacts: ArtifactStore
    models: ModelCache
    random: random.Random = field(default_factory=random.Random)
    """Chance for gold-task injection (tests seed it)."""
    observers: list[Callable[[list[dict[str, Any]]], None]] = field(default_factory=list)
    """Called with a transaction's audit events after it committed (metrics, waking the
    webhook worker). They must be quick and must not raise."""
    _reads: sessionmaker[Session] = field(init=False)
    _writes: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self.engine), expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed once, with its audit events and the webhook
        messages they announce, or rolled back whole."""
        with self._writes() as session, session.begin():
            tx = Tx(Repository(session), self.clock.now())
            yield tx
            if tx.events:
                outbox.enqueue(session, tx.events, tx.now)
                tx.repo.audit_many(tx.events)
        if tx.events:
            for observe in self.observers:
                try:
                    observe(tx.events)
                except Exception:  # the change is committed: an observer must not undo that
                    log.exception("observer %r failed after a commit", observe)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._reads() as session, session.begin():
            yield Tx(Repository(session), self.clock.now())
