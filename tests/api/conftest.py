"""API fixtures, on SQLite and PostgreSQL.

Two ways to get a served database:

* ``served`` / ``tokens`` / ``client``: a fresh database per test (about two seconds to build:
  migrations, a trained model), for tests that need one to themselves.
* ``world`` / ``space``: one database per backend for the whole session, built once, with the
  same ``sms`` and ``other`` projects and a token per role; ``space`` is a new project of its
  own in it (a few milliseconds), whose accounts are made on first use. Tests on ``world`` keep
  to their own ``space`` or to rows they name uniquely, so they pass in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Executable

from loopwise import Loopwise, Settings
from loopwise.api import create_app
from loopwise.core.enums import Role
from loopwise.services import accounts
from loopwise.services.items import Routed
from loopwise.testing import FrozenClock
from tests.databases import BACKENDS, empty_database
from tests.factories import CONFIDENT_ROUTING, make_text_project, seeded_model

PROJECT = "sms"
OTHER = "other"
ROLES = ("admin", "client", "reviewer", "expert", "viewer", "outsider")
"""Every kind of caller: the five roles as members of a project, and ``outsider``, a reviewer
of ``other`` only."""


@dataclass(frozen=True)
class Tokens:
    """A bearer token per role on ``sms``; ``outsider`` is a reviewer of ``other`` only."""

    admin: str
    client: str
    reviewer: str
    expert: str
    viewer: str
    outsider: str

    def header(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


def serve(lw: Loopwise) -> Loopwise:
    """Give ``lw`` the two projects: ``sms`` with a production model that decides at
    confidence 0.75 and above (:data:`CONFIDENT_ROUTING`), and ``other``."""
    make_text_project(lw, PROJECT, routing=CONFIDENT_ROUTING)
    seeded_model(lw, PROJECT)
    make_text_project(lw, OTHER)
    return lw


def make_tokens(lw: Loopwise) -> Tokens:
    """Accounts ``<role>-1`` (members of ``sms``; admins need no membership) and ``outsider``."""
    made: dict[str, str] = {}
    for role in Role:
        name = f"{role.value}-1"
        projects = [] if role is Role.ADMIN else [PROJECT]
        lw.add_reviewer(name, role=role, projects=projects)
        made[role.value] = accounts.create_token(lw.ctx, name)[0]
    lw.add_reviewer("outsider", role=Role.REVIEWER, projects=[OTHER])
    made["outsider"] = accounts.create_token(lw.ctx, "outsider")[0]
    return Tokens(**made)


@pytest.fixture
def served(lw: Loopwise) -> Loopwise:
    """``lw`` with the two projects of :func:`serve`."""
    return serve(lw)


@pytest.fixture
def tokens(served: Loopwise) -> Tokens:
    return make_tokens(served)


@pytest.fixture
def client(served: Loopwise) -> Iterator[TestClient]:
    """A test client of the app over ``served`` (webhook delivery thread off: tests that need
    it start their own worker or a real server)."""
    app = create_app(loopwise=served, deliver_webhooks=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Space:
    """A project of its own in the shared :class:`World` (labels ``ham``, ``spam``; no model;
    decides at confidence 0.75 and above), with an account per role made on first use."""

    world: World
    name: str
    _tokens: dict[str, str] = field(default_factory=dict)

    def account(self, role: str) -> str:
        """The name of the account of ``role`` (one of :data:`ROLES`)."""
        return f"{self.name}-{role}"

    def token(self, role: str) -> str:
        if role not in self._tokens:
            name = self.account(role)
            if role == "outsider":
                self.world.lw.add_reviewer(name, role=Role.REVIEWER, projects=[OTHER])
            else:
                kind = Role(role)
                projects = [] if kind is Role.ADMIN else [self.name]
                self.world.lw.add_reviewer(name, role=kind, projects=projects)
            self._tokens[role] = accounts.create_token(self.world.lw.ctx, name)[0]
        return self._tokens[role]

    def header(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def url(self, path: str = "") -> str:
        return f"/v1/projects/{self.name}{path}"

    def submit(
        self, external_id: str, probabilities: Sequence[float] = (0.5, 0.5), **item: Any
    ) -> Routed:
        """Submit one item scored by the caller (``(0.5, 0.5)``: queued for review;
        ``(0.9, 0.1)``: decided ``ham``), straight through the library."""
        body = {"external_id": external_id, "payload": f"text of {external_id}", **item}
        body["probabilities"] = list(probabilities)
        return self.world.lw.submit(self.name, [body])[0]


@dataclass
class World:
    """A served database shared by a session's tests on one backend."""

    lw: Loopwise
    clock: FrozenClock
    client: TestClient
    tokens: Tokens
    backend: str

    def space(self, **project: Any) -> Space:
        """A new project (``project`` overrides :func:`make_text_project` arguments)."""
        name = f"p-{uuid.uuid4().hex[:12]}"
        make_text_project(self.lw, name, **{"routing": CONFIDENT_ROUTING, **project})
        return Space(self, name)

    @property
    def app(self) -> FastAPI:
        app = self.client.app
        assert isinstance(app, FastAPI)
        return app

    def rows(self, statement: Executable) -> list[Any]:
        """What the database holds now: the rows ``statement`` selects."""
        with self.lw.ctx.read() as tx:
            return list(tx.session.execute(statement).all())

    def scalars(self, statement: Executable) -> list[Any]:
        """The first column of :meth:`rows` (ORM rows come back detached, fully loaded)."""
        with self.lw.ctx.read() as tx:
            return list(tx.session.scalars(statement).all())


@pytest.fixture(scope="session", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    directory: Path = tmp_path_factory.mktemp(f"world-{request.param}")
    with empty_database(request.param, directory) as url:
        clock = FrozenClock()
        lw = Loopwise(Settings(data_dir=directory, database_url=url), clock=clock)
        try:
            serve(lw)
            made = make_tokens(lw)
            app = create_app(loopwise=lw, deliver_webhooks=False)
            with TestClient(app, raise_server_exceptions=False) as test_client:
                yield World(lw, clock, test_client, made, request.param)
        finally:
            lw.close()


@pytest.fixture
def space(world: World) -> Space:
    return world.space()


def corrected_twice(world: World) -> Space:
    """A project with overlap 2: two items decided by the caller's model (``a-0``, ``a-1``),
    one (``q-1``, the model said ham at 0.6) that a reviewer and then an expert corrected to
    spam, 30 s apart, and one that came in after and waits in the queue (``q-0``)."""
    space = world.space(review={"overlap": 2})
    space.submit("a-0", (0.9, 0.1))
    space.submit("a-1", (0.2, 0.8))
    space.submit("q-1", (0.6, 0.4))
    for role in ("reviewer", "expert"):
        space.token(role)
        entry = world.lw.claim_next(space.name, space.account(role))
        assert entry is not None
        assert entry.item.external_id == "q-1"
        world.clock.advance(seconds=30)
        world.lw.submit_verdict(
            space.name, entry.task.id, space.account(role), "correct", label="spam"
        )
    space.submit("q-0")
    return space


def iso(moment: datetime) -> str:
    """A time as the API writes it (ISO 8601, UTC as ``Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """An error body."""
    return {"error": {"code": code, "message": message, "field": field}}
