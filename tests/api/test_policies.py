"""Who may call what: every role against every route, the table itself, and nobody acting on a
project they do not belong to or for somebody else."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from loopwise.api import policies
from loopwise.api.policies import ALLOWED, Action
from loopwise.core.enums import Role
from loopwise.store.tables import ReviewRow, ReviewTaskRow
from tests.api.conftest import OTHER, PROJECT, ROLES, Space, World, error, iso

Body = Callable[[], Any]


@dataclass(frozen=True)
class Sample:
    """A request that a caller allowed on a route could send, what the route needs
    (``action``; ``None``: no token) and what it answers an allowed caller in the
    role-matrix project (a project without a model, whose ids below do not exist)."""

    action: Action | None
    status: int
    path: str
    body: Body | None = None


def _project() -> dict[str, Any]:
    return {"name": f"made-{uuid.uuid4().hex[:12]}", "labels": ["yes", "no"]}


def _item() -> dict[str, Any]:
    return {"payload": "a message", "probabilities": [0.5, 0.5]}


def _row() -> dict[str, Any]:
    return {"payload": "a labelled message", "label": "ham", "external_id": uuid.uuid4().hex}


P = "/v1/projects/{project}"
SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/health"): Sample(None, 200, "/health"),
    ("GET", "/ready"): Sample(None, 200, "/ready"),
    ("GET", "/metrics"): Sample(None, 200, "/metrics"),
    ("GET", "/v1/me"): Sample(Action.READ_PROJECT, 200, "/v1/me"),
    ("GET", "/v1/projects"): Sample(Action.READ_PROJECT, 200, "/v1/projects"),
    ("POST", "/v1/projects"): Sample(Action.MANAGE, 201, "/v1/projects", _project),
    ("GET", P): Sample(Action.READ_PROJECT, 200, P),
    ("PUT", f"{P}/policy"): Sample(
        Action.MANAGE, 200, f"{P}/policy", lambda: {"auto_threshold": 0.75, "ood": None}
    ),
    ("PUT", f"{P}/review-config"): Sample(
        Action.MANAGE, 200, f"{P}/review-config", lambda: {"undo_seconds": 120}
    ),
    ("PUT", f"{P}/training"): Sample(
        Action.MANAGE, 200, f"{P}/training", lambda: {"min_improvement": 0.01}
    ),
    ("POST", f"{P}/items"): Sample(Action.SUBMIT, 200, f"{P}/items", _item),
    ("POST", f"{P}/items/bulk"): Sample(
        Action.SUBMIT, 200, f"{P}/items/bulk", lambda: {"items": [_item()]}
    ),
    ("GET", f"{P}/decisions/{{external_id:path}}"): Sample(
        Action.READ_DECISIONS, 404, f"{P}/decisions/no-such-item"
    ),
    ("GET", f"{P}/decisions"): Sample(Action.READ_DECISIONS, 200, f"{P}/decisions"),
    ("GET", f"{P}/queue"): Sample(Action.READ_QUEUE, 200, f"{P}/queue"),
    ("POST", f"{P}/queue/claim"): Sample(Action.REVIEW, 200, f"{P}/queue/claim"),
    ("GET", f"{P}/queue/mine"): Sample(Action.REVIEW, 200, f"{P}/queue/mine"),
    ("POST", f"{P}/tasks/{{task_id}}/heartbeat"): Sample(
        Action.REVIEW, 404, f"{P}/tasks/999999/heartbeat"
    ),
    ("POST", f"{P}/queue/release"): Sample(
        Action.REVIEW, 200, f"{P}/queue/release", lambda: {"claim_keys": ["k" * 32]}
    ),
    ("POST", f"{P}/tasks/{{task_id}}/release"): Sample(
        Action.REVIEW, 404, f"{P}/tasks/999999/release"
    ),
    ("POST", f"{P}/tasks/{{task_id}}/verdict"): Sample(
        Action.REVIEW, 404, f"{P}/tasks/999999/verdict", lambda: {"verdict": "approve"}
    ),
    ("POST", f"{P}/queue/undo"): Sample(Action.REVIEW, 404, f"{P}/queue/undo"),
    ("GET", f"{P}/labels"): Sample(Action.EXPORT_LABELS, 200, f"{P}/labels"),
    ("POST", f"{P}/labels"): Sample(Action.MANAGE, 200, f"{P}/labels", lambda: {"rows": [_row()]}),
    ("POST", f"{P}/golden"): Sample(
        Action.MANAGE, 404, f"{P}/golden", lambda: {"external_id": "no-such-item", "label": "ham"}
    ),
    ("GET", f"{P}/golden"): Sample(Action.READ_STATS, 200, f"{P}/golden"),
    ("POST", f"{P}/gold"): Sample(Action.MANAGE, 200, f"{P}/gold", lambda: {"items": [_row()]}),
    ("GET", f"{P}/models"): Sample(Action.READ_STATS, 200, f"{P}/models"),
    ("POST", f"{P}/models"): Sample(Action.MANAGE, 409, f"{P}/models"),
    ("GET", f"{P}/models/{{version}}/evaluation"): Sample(
        Action.READ_STATS, 404, f"{P}/models/999/evaluation"
    ),
    ("POST", f"{P}/models/promote"): Sample(
        Action.MANAGE, 404, f"{P}/models/promote", lambda: {"version": 999}
    ),
    ("POST", f"{P}/models/rollback"): Sample(Action.MANAGE, 409, f"{P}/models/rollback"),
    ("POST", f"{P}/pool"): Sample(
        Action.SUBMIT, 200, f"{P}/pool", lambda: {"items": [{"payload": "an unlabelled text"}]}
    ),
    ("GET", f"{P}/pool"): Sample(Action.READ_STATS, 200, f"{P}/pool"),
    ("GET", f"{P}/pool/candidates"): Sample(Action.READ_DECISIONS, 200, f"{P}/pool/candidates"),
    ("POST", f"{P}/pool/remove"): Sample(
        Action.SUBMIT, 200, f"{P}/pool/remove", lambda: {"items": [{"external_id": "gone"}]}
    ),
    ("POST", f"{P}/pool/query"): Sample(
        Action.SUBMIT, 422, f"{P}/pool/query", lambda: {"strategy": "no-such-strategy"}
    ),
    ("GET", f"{P}/active-learning"): Sample(Action.READ_PROJECT, 200, f"{P}/active-learning"),
    ("PUT", f"{P}/active-learning"): Sample(
        Action.MANAGE, 200, f"{P}/active-learning", lambda: {"batch": 20}
    ),
    ("GET", f"{P}/stats"): Sample(Action.READ_STATS, 200, f"{P}/stats"),
    ("GET", f"{P}/stats/reviewers"): Sample(Action.READ_STATS, 200, f"{P}/stats/reviewers"),
    ("GET", f"{P}/stats/agreement"): Sample(Action.READ_STATS, 200, f"{P}/stats/agreement"),
    ("GET", f"{P}/stats/fatigue"): Sample(Action.READ_STATS, 200, f"{P}/stats/fatigue"),
    ("GET", f"{P}/stats/routing"): Sample(Action.READ_STATS, 200, f"{P}/stats/routing"),
    ("GET", f"{P}/dashboard"): Sample(Action.READ_STATS, 200, f"{P}/dashboard"),
    ("GET", f"{P}/dashboard/{{key}}.csv"): Sample(
        Action.READ_STATS, 200, f"{P}/dashboard/automation.csv"
    ),
    ("POST", f"{P}/webhooks"): Sample(
        Action.MANAGE, 201, f"{P}/webhooks", lambda: {"url": "https://hooks.example/loopwise"}
    ),
    ("GET", f"{P}/webhooks"): Sample(Action.MANAGE, 200, f"{P}/webhooks"),
    ("DELETE", f"{P}/webhooks/{{webhook_id}}"): Sample(Action.MANAGE, 404, f"{P}/webhooks/999999"),
    ("GET", f"{P}/webhooks/messages"): Sample(Action.MANAGE, 200, f"{P}/webhooks/messages"),
}
"""One sample per route. A route missing here fails :func:`test_every_route_has_a_sample`,
so no route escapes the matrix."""

DOCUMENTATION = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/ui/static"}
"""FastAPI's own pages: the schema of the API, no data; and the web UI's static files."""


def send(client: TestClient, method: str, sample: Sample, project: str, token: str) -> Response:
    return client.request(
        method,
        sample.path.format(project=project),
        json=None if sample.body is None else sample.body(),
        headers={"Authorization": f"Bearer {token}"},
    )


def permitted(role: str, sample: Sample, template: str) -> bool:
    """What the table says: ``outsider`` is a reviewer who is a member of another project."""
    if sample.action is None:
        return True
    if role == "outsider":
        return "{project}" not in template and sample.action in ALLOWED[Role.REVIEWER]
    return sample.action in ALLOWED[Role(role)]


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """``(method, path, route)`` for every route of the application, prefixes included; the
    web UI's pages (``/ui``) are not API routes: ``tests/web`` checks that each needs a
    signed-in person and applies the same policy table."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and not str(context.path).startswith("/ui"):
            assert context.path is not None
            for method in sorted(context.methods or ()):
                yield method, context.path, route


def declared_actions(route: APIRoute) -> list[Action | None]:
    """The ``action`` of every dependency of ``route`` that declares one, at any depth."""
    found: list[Action | None] = []
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        call = dependency.call
        if call is not None and hasattr(call, "action"):
            action: Action | None = call.action
            found.append(action)
        pending.extend(dependency.dependencies)
    return found


@pytest.fixture(scope="session")
def matrix(world: World) -> Space:
    """The project the role matrix runs in (shared by its cases; no model)."""
    return world.space()


class TestRouteInventory:
    def test_every_route_has_a_sample(self, world: World) -> None:
        routes = {(method, path) for method, path, _ in api_routes(world.app)}
        assert routes == set(SAMPLES)

    def test_every_route_declares_the_action_it_needs(self, world: World) -> None:
        declared = {
            (method, path): declared_actions(route) for method, path, route in api_routes(world.app)
        }
        assert declared == {key: [sample.action] for key, sample in SAMPLES.items()}

    def test_only_operations_routes_are_public(self, world: World) -> None:
        public = {
            path for _, path, route in api_routes(world.app) if declared_actions(route) == [None]
        }
        assert public == {"/health", "/ready", "/metrics"}
        assert all(
            path.startswith("/v1/") and None not in declared_actions(route)
            for _, path, route in api_routes(world.app)
            if path not in public
        )

    def test_the_other_routes_are_fastapis_documentation(self, world: World) -> None:
        others = {
            context.path
            for context in iter_route_contexts(world.app.routes)
            if not isinstance(context.original_route, APIRoute)
        }
        assert others == DOCUMENTATION


def test_the_docstring_table_is_the_table() -> None:
    """The table people read in ``policies.py`` says what :data:`ALLOWED` does."""
    doc = policies.__doc__ or ""
    lines = doc.splitlines()
    rule = next(line for line in lines if line.startswith("====="))
    columns = [match.span() for match in re.finditer(r"=+", rule)]
    header = lines[lines.index(rule) + 1]
    roles = [header[start:end].strip() for start, end in columns[1:]]
    assert sorted(roles) == sorted(role.value for role in Role)
    table: dict[Role, set[Action]] = {role: set() for role in Role}
    for line in lines:
        name = line[: columns[0][1]].strip().split(" ")[0]
        if name not in {action.value for action in Action}:
            continue
        for role, (start, end) in zip(roles, columns[1:], strict=True):
            if line[start:end].strip() == "yes":
                table[Role(role)].add(Action(name))
    assert table == {role: set(actions) for role, actions in ALLOWED.items()}


@pytest.mark.parametrize("route", list(SAMPLES), ids=" ".join)
@pytest.mark.parametrize("role", ROLES)
def test_role_against_route(world: World, matrix: Space, role: str, route: tuple[str, str]) -> None:
    sample = SAMPLES[route]
    response = send(world.client, route[0], sample, matrix.name, matrix.token(role))
    if permitted(role, sample, route[1]):
        assert response.status_code == sample.status, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "not_allowed"


class TestOutsider:
    """A reviewer of ``other`` is refused everywhere on ``sms``, as a non-member."""

    @pytest.mark.parametrize(
        "route",
        [
            key
            for key, sample in SAMPLES.items()
            if "{project}" in key[1] and sample.action in ALLOWED[Role.REVIEWER]
        ],
        ids=" ".join,
    )
    def test_refused_on_a_project_they_do_not_belong_to(
        self, world: World, route: tuple[str, str]
    ) -> None:
        response = send(world.client, route[0], SAMPLES[route], PROJECT, world.tokens.outsider)
        assert response.status_code == 403
        assert response.json() == error(
            "not_allowed", f"'outsider' is not a member of project {PROJECT!r}", "project"
        )

    def test_allowed_on_their_own_project(self, world: World) -> None:
        response = world.client.get(
            f"/v1/projects/{OTHER}", headers=world.tokens.header("outsider")
        )
        assert response.status_code == 200
        assert response.json()["name"] == OTHER


class TestNobodyActsForAnother:
    """Verdicts, heartbeats and releases on a task someone else holds are refused, and the
    task stays as it was."""

    @pytest.mark.parametrize(
        ("action", "body"),
        [
            ("verdict", {"verdict": "correct", "label": "spam"}),
            ("heartbeat", None),
            ("release", None),
        ],
    )
    def test_on_a_task_claimed_by_someone_else(
        self, world: World, space: Space, action: str, body: dict[str, Any] | None
    ) -> None:
        space.submit("x-1")
        claimed = world.client.post(space.url("/queue/claim"), headers=space.header("reviewer"))
        task = claimed.json()["entry"]["task"]
        world.clock.advance(seconds=30)

        response = world.client.post(
            space.url(f"/tasks/{task['id']}/{action}"), json=body, headers=space.header("expert")
        )

        assert response.status_code == 409
        assert response.json() == error(
            "not_task_holder", f"task {task['id']} is not held by you", "task_id"
        )
        stored = world.scalars(select(ReviewTaskRow).where(ReviewTaskRow.id == task["id"]))[0]
        assert (stored.status, stored.claimed_by, iso(stored.lease_expires_at)) == (
            "claimed",
            space.account("reviewer"),
            task["lease_expires_at"],
        )
        assert world.scalars(select(ReviewRow).where(ReviewRow.task_id == task["id"])) == []

    def test_a_verdict_is_always_the_callers(self, world: World, space: Space) -> None:
        """There is no way to name another reviewer: an extra field is refused."""
        space.submit("x-1")
        claimed = world.client.post(space.url("/queue/claim"), headers=space.header("reviewer"))
        task_id = claimed.json()["entry"]["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "correct", "label": "ham", "reviewer": space.account("expert")},
            headers=space.header("reviewer"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "reviewer"
