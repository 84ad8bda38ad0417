"""What every use case runs in: the engine, the clock, artifacts, and one transaction at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from loopwise.core.clock import Clock
from loopwise.settings import Settings
from loopwise.store.artifacts import ArtifactStore
from loopwise.store.db import writer
from loopwise.store.repository import Repository
from loopwise.store.tables import ModelVersionRow
from loopwise.training.models import TrainedModel


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


@dataclass
class Context:
    settings: Settings
    engine: Engine
    clock: Clock
    artifacts: ArtifactStore
    models: ModelCache
    _reads: sessionmaker[Session] = field(init=False)
    _writes: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self.engine), expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed once, with its audit events, or rolled back whole."""
        with self._writes() as session, session.begin():
            tx = Tx(Repository(session), self.clock.now())
            yield tx
            tx.repo.audit_many(tx.events)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._reads() as session, session.begin():
            yield Tx(Repository(session), self.clock.now())
