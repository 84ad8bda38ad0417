"""Errors over HTTP: every domain error has its status, every error body is
``{"error": {"code", "message", "field"}}``, bodies over the limit get 413, and malformed
input is answered, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select

import loopwise.errors
from loopwise.api import create_app
from loopwise.api.errors import status_of
from loopwise.errors import LoopwiseError
from loopwise.store.tables import ItemRow
from loopwise.webhooks.signing import InvalidWebhookSecret
from tests.api.conftest import Space, World, error

STATUSES: dict[str, int] = {
    "InvalidInput": 422,
    "InvalidLabel": 422,
    "InvalidPayload": 422,
    "NotFound": 404,
    "ProjectNotFound": 404,
    "ItemNotFound": 404,
    "TaskNotFound": 404,
    "ReviewerNotFound": 404,
    "ModelVersionNotFound": 404,
    "TokenNotFound": 404,
    "WebhookNotFound": 404,
    "Unauthenticated": 401,
    "NotAllowed": 403,
    "Conflict": 409,
    "DuplicateProject": 409,
    "DuplicateExternalId": 409,
    "TaskNotClaimable": 409,
    "NotTaskHolder": 409,
    "LeaseExpired": 409,
    "DuplicateReviewer": 409,
    "LimitReached": 409,
    "UndoWindowClosed": 409,
    "ConcurrentChange": 409,
    "PromotionRefused": 409,
    "NotEnoughLabels": 409,
    "NoProductionModel": 409,
    "ArtifactIntegrityError": 500,
}
"""The status of every domain error (``loopwise.errors``): the table of ``api/errors.py``."""


def domain_errors() -> Iterator[type[LoopwiseError]]:
    for name in loopwise.errors.__all__:
        kind = getattr(loopwise.errors, name)
        if kind is not LoopwiseError:
            yield kind


class TestDomainErrorStatus:
    def test_every_domain_error_is_in_the_table(self) -> None:
        assert {kind.__name__ for kind in domain_errors()} == set(STATUSES)

    @pytest.mark.parametrize("kind", list(domain_errors()), ids=lambda kind: kind.__name__)
    def test_status(self, kind: type[LoopwiseError]) -> None:
        assert status_of(kind("a problem", field="x")) == STATUSES[kind.__name__]

    def test_errors_of_other_modules_map_by_their_kind(self) -> None:
        assert status_of(InvalidWebhookSecret("must start with 'whsec_'")) == 422


def assert_error_shape(response: Response) -> None:
    body = response.json()
    assert list(body) == ["error"]
    assert sorted(body["error"]) == ["code", "field", "message"]
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["field"] is None or isinstance(body["error"]["field"], str)


def erroneous(world: World, space: Space) -> dict[str, Response]:
    """One answer of each kind of error."""
    c, h = world.client, space.header
    space.submit("queued-1")
    space.submit("same-1", payload="first text")
    return {
        "401": c.get(space.url()),
        "403 role": c.post(space.url("/models"), headers=h("viewer")),
        "403 project": c.get("/v1/projects/sms", headers=h("viewer")),
        "404 domain": c.get(space.url("/decisions/nope"), headers=h("viewer")),
        "404 route": c.get("/v1/nowhere", headers=h("viewer")),
        "405": c.delete(space.url(), headers=h("admin")),
        "409": c.post(
            space.url("/items"),
            json={"external_id": "same-1", "payload": "other text", "probabilities": [0.5, 0.5]},
            headers=h("client"),
        ),
        "409 state": c.post(space.url("/models/rollback"), headers=h("admin")),
        "422 domain": c.post(
            space.url("/items/bulk"), json={"items": [{"payload": 5}]}, headers=h("client")
        ),
        "422 schema": c.get(space.url("/decisions?limit=0"), headers=h("viewer")),
        "422 json": c.post(
            space.url("/items"),
            content=b"{",
            headers={**h("client"), "content-type": "application/json"},
        ),
    }


KINDS = {
    "401": (401, "unauthenticated"),
    "403 role": (403, "not_allowed"),
    "403 project": (403, "not_allowed"),
    "404 domain": (404, "item_not_found"),
    "404 route": (404, "not_found"),
    "405": (405, "method_not_allowed"),
    "409": (409, "duplicate_external_id"),
    "409 state": (409, "promotion_refused"),
    "422 domain": (422, "invalid_payload"),
    "422 schema": (422, "invalid_input"),
    "422 json": (422, "invalid_input"),
}


def test_every_error_body_has_one_shape(world: World, space: Space) -> None:
    answers = erroneous(world, space)
    assert {
        kind: (a.status_code, a.json()["error"]["code"]) for kind, a in answers.items()
    } == KINDS
    for answer in answers.values():
        assert answer.headers["content-type"] == "application/json"
        assert_error_shape(answer)


@pytest.fixture(scope="module")
def quiet(world: World) -> Space:
    """A project shared by this module's tests whose requests are all refused: nothing is
    ever stored in it (tests that store use ``space``)."""
    return world.space()


class TestRequestErrors:
    def test_malformed_json(self, world: World, quiet: Space) -> None:
        response = world.client.post(
            quiet.url("/items"),
            content=b'{"payload": "x",',
            headers={**quiet.header("client"), "content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_input",
            "the body is not valid JSON Expecting property name enclosed in double quotes",
            "body",
        )

    @pytest.mark.parametrize(
        ("path", "body", "field", "message"),
        [
            (
                "/items",
                {"payload": "x", "probabilities": "high"},
                "probabilities",
                "Input should be a valid list",
            ),
            (
                "/items",
                {"payload": "x", "metadata": [1]},
                "metadata",
                "Input should be a valid dictionary",
            ),
            (
                "/items",
                {"payload": "x", "surprise": 1},
                "surprise",
                "Extra inputs are not permitted",
            ),
            ("/items", {"external_id": "x"}, "payload", "Field required"),
            (
                "/items/bulk",
                {"items": [{"payload": "a"}, {"payload": "b", "probabilities": ["x"]}]},
                "items[1].probabilities[0]",
                "Input should be a valid number, unable to parse string as a number",
            ),
            (
                "/items/bulk",
                {"items": []},
                "items",
                "List should have at least 1 item after validation, not 0",
            ),
            (
                "/tasks/1/verdict",
                {"verdict": "maybe"},
                "verdict",
                "Input should be 'approve', 'reject', 'correct', 'escalate' or 'skip'",
            ),
        ],
    )
    def test_wrong_types_name_the_field(
        self, world: World, quiet: Space, path: str, body: Any, field: str, message: str
    ) -> None:
        role = "reviewer" if "verdict" in path else "client"
        response = world.client.post(quiet.url(path), json=body, headers=quiet.header(role))
        assert response.status_code == 422
        assert response.json() == error("invalid_input", message, field)

    def test_several_problems_are_counted(self, world: World, quiet: Space) -> None:
        response = world.client.post(
            quiet.url("/items"),
            json={"probabilities": "x", "surprise": 1},
            headers=quiet.header("client"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["message"].endswith("(and 2 more problems)")

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("limit=0", "limit"),
            ("limit=many", "limit"),
            ("after=-1", "after"),
            ("status=lost", "status"),
            ("since=yesterday", "since"),
        ],
    )
    def test_bad_query_parameters(self, world: World, quiet: Space, query: str, field: str) -> None:
        response = world.client.get(
            quiet.url(f"/decisions?{query}"), headers=quiet.header("viewer")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == field

    def test_bad_path_parameter(self, world: World, quiet: Space) -> None:
        response = world.client.post(
            quiet.url("/tasks/first/heartbeat"), headers=quiet.header("reviewer")
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_input",
            "Input should be a valid integer, unable to parse string as an integer",
            "task_id",
        )

    def test_unknown_route(self, world: World) -> None:
        response = world.client.get("/v1/nowhere", headers=world.tokens.header("admin"))
        assert response.status_code == 404
        assert response.json() == error("not_found", "Not Found")

    def test_wrong_method(self, world: World) -> None:
        response = world.client.delete("/v1/me", headers=world.tokens.header("admin"))
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert response.json() == error("method_not_allowed", "Method Not Allowed")

    def test_a_missing_project(self, world: World) -> None:
        response = world.client.get("/v1/projects/nowhere", headers=world.tokens.header("admin"))
        assert response.status_code == 404
        assert response.json() == error(
            "project_not_found", "no project named 'nowhere'", "project"
        )


LIMIT = 1000


@pytest.fixture
def small(world: World) -> TestClient:
    """A second app over the world's database that reads bodies of at most 1,000 bytes."""
    settings = world.lw.settings.model_copy(update={"max_request_bytes": LIMIT})
    return TestClient(create_app(settings, loopwise=world.lw, deliver_webhooks=False))


def bulk(space: Space, size: int) -> bytes:
    """A bulk body of exactly ``size`` bytes (padding the first text)."""
    item = {"external_id": "big-0", "payload": "", "probabilities": [0.5, 0.5]}
    bare = len(json.dumps({"items": [item]}).encode())
    item["payload"] = "x" * (size - bare)
    data = json.dumps({"items": [item]}).encode()
    assert len(data) == size
    return data


def stored_items(world: World, space: Space) -> int:
    project = world.lw.project(space.name)
    counted: int = world.scalars(
        select(func.count()).select_from(ItemRow).where(ItemRow.project_id == project.id)
    )[0]
    return counted


class TestBodyLimit:
    def test_a_body_at_the_limit_is_read(
        self, world: World, space: Space, small: TestClient
    ) -> None:
        response = small.post(
            space.url("/items/bulk"),
            content=bulk(space, LIMIT),
            headers={**space.header("client"), "content-type": "application/json"},
        )
        assert response.status_code == 200
        assert response.json()["queued"] == 1

    def test_a_body_over_the_limit_is_refused(
        self, world: World, space: Space, small: TestClient
    ) -> None:
        response = small.post(
            space.url("/items/bulk"),
            content=bulk(space, LIMIT + 1),
            headers={**space.header("client"), "content-type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json() == error("too_large", "the request body is over 1,000 bytes")
        assert stored_items(world, space) == 0

    def test_the_limit_is_checked_before_the_token(
        self, world: World, space: Space, small: TestClient
    ) -> None:
        response = small.post(space.url("/items/bulk"), content=bulk(space, LIMIT + 1))
        assert response.status_code == 413

    def test_a_chunked_body_over_the_limit_is_refused(
        self, world: World, space: Space, small: TestClient
    ) -> None:
        data = bulk(space, LIMIT + 500)
        response = small.post(
            space.url("/items/bulk"),
            content=iter([data[:600], data[600:]]),
            headers={**space.header("client"), "content-type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert stored_items(world, space) == 0
        assert response.status_code == 413
        assert response.json() == error("too_large", "the request body is over 1,000 bytes")


HUGE = 2**63
"""One past the largest id a BIGINT holds."""


class TestNoServerErrors:
    """Odd input is answered with a 4xx and an error body."""

    @pytest.mark.parametrize(
        ("method", "path", "role"),
        [
            ("GET", "/decisions/%20", "viewer"),
            ("GET", "/decisions/" + "x" * 5000, "viewer"),
            ("GET", "/decisions?limit=100000", "viewer"),
            ("GET", "/queue?offset=99999999", "viewer"),
            ("GET", "/stats/fatigue?bucket=0", "viewer"),
            ("GET", "/stats/agreement?period=century", "viewer"),
            ("GET", "/labels?format=xml", "viewer"),
            ("GET", "/decisions/x?wait=31", "viewer"),
            ("GET", "/decisions/x?wait=nan", "viewer"),
            ("GET", "/models/0/evaluation", "admin"),
            ("GET", "/models/-1/evaluation", "admin"),
            ("POST", "/tasks/0/heartbeat", "reviewer"),
            ("POST", "/tasks/-5/release", "reviewer"),
            ("DELETE", "/webhooks/0", "admin"),
        ],
    )
    def test_odd_parameters(
        self, world: World, quiet: Space, method: str, path: str, role: str
    ) -> None:
        response = world.client.request(method, quiet.url(path), headers=quiet.header(role))
        assert 400 <= response.status_code < 500, response.text
        assert_error_shape(response)

    @pytest.mark.parametrize(
        "body",
        [
            {"payload": ""},
            {"payload": "   "},
            {"payload": None},
            {"payload": {"text": "a\u0000b"}},
            {"payload": {"text": "x", "more": 1}},
            {"payload": "x", "external_id": ""},
            {"payload": "x", "external_id": "x" * 201},
            {"payload": "x", "probabilities": []},
            {"payload": "x", "probabilities": [0.5, 0.5, 0.0]},
            {"payload": "x", "probabilities": [1e308, 1e308]},
            {"payload": "x", "probabilities": [-0.5, 1.5]},
            {"payload": "x" * 70_000},
            {"payload": "x", "metadata": "note"},
            {"payload": "x", "metadata": {"big": "y" * 70_000}},
            [],
            "payload",
            None,
        ],
    )
    def test_odd_items(self, world: World, quiet: Space, body: Any) -> None:
        response = world.client.post(quiet.url("/items"), json=body, headers=quiet.header("client"))
        assert 400 <= response.status_code < 500, response.text
        assert_error_shape(response)
        assert stored_items(world, quiet) == 0

    @pytest.mark.parametrize(
        "content",
        [
            b"",
            b"null",
            b"{}",
            b"[1, 2",
            b'{"payload": NaN}',
            b'{"payload": "x", "probabilities": [NaN, 0.5]}',
            b'{"payload": "x", "probabilities": [Infinity, 0]}',
        ],
    )
    def test_odd_bytes(self, world: World, quiet: Space, content: bytes) -> None:
        response = world.client.post(
            quiet.url("/items"),
            content=content,
            headers={**quiet.header("client"), "content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert_error_shape(response)

    @pytest.mark.parametrize(
        "content", [b'{"payload": "\xff\xfe"}', b"[" * 100_000], ids=["latin-1", "deep"]
    )
    def test_undecodable_bodies_are_malformed_json(
        self, world: World, quiet: Space, content: bytes
    ) -> None:
        response = world.client.post(
            quiet.url("/items"),
            content=content,
            headers={**quiet.header("client"), "content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "body"

    @pytest.mark.parametrize(
        ("method", "path", "role"),
        [
            ("POST", f"/tasks/{HUGE}/heartbeat", "reviewer"),
            ("POST", f"/tasks/{HUGE}/release", "reviewer"),
            ("GET", f"/models/{HUGE}/evaluation", "admin"),
            ("DELETE", f"/webhooks/{HUGE}", "admin"),
            ("GET", f"/decisions?after={HUGE}", "viewer"),
        ],
    )
    def test_ids_too_large_for_the_database(
        self, world: World, quiet: Space, method: str, path: str, role: str
    ) -> None:
        response = world.client.request(method, quiet.url(path), headers=quiet.header(role))
        assert 400 <= response.status_code < 500, response.text


NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        ("POST", "/items", {"payload": "x", "external_id": NUL}, "client"),
        ("POST", "/items", {"payload": "x", "metadata": {"note": NUL}}, "client"),
        ("POST", "/webhooks", {"url": f"https://{NUL}.example/hook"}, "admin"),
        (
            "POST",
            "/labels",
            {"rows": [{"payload": "x", "label": "ham", "external_id": NUL}]},
            "admin",
        ),
        ("POST", "/golden", {"external_id": NUL, "label": "ham"}, "admin"),
        ("POST", "/v1/projects", {"name": "{space}" + NUL, "labels": ["ham", "spam"]}, "admin"),
        ("POST", "/v1/projects", {"name": "{space}-2", "labels": [NUL, "spam"]}, "admin"),
        ("GET", "/v1/projects/a%00b", None, "admin"),
    ],
    ids=[
        "external_id",
        "metadata",
        "webhook url",
        "label import",
        "golden",
        "project name",
        "label set",
        "path",
    ],
)
def test_nul_characters_are_answered(
    world: World, space: Space, method: str, path: str, body: Any, role: str
) -> None:
    url = path if path.startswith("/v1/") else space.url(path)
    if isinstance(body, dict) and "name" in body:
        body = {**body, "name": body["name"].replace("{space}", space.name)}
    response = world.client.request(method, url, json=body, headers=space.header(role))
    assert response.status_code == 422, response.text


def test_nul_characters_in_a_verdict_comment_are_answered(world: World, space: Space) -> None:
    space.submit("x-1")
    headers = space.header("reviewer")
    entry = world.lw.claim_next(space.name, space.account("reviewer"))
    assert entry is not None
    response = world.client.post(
        space.url(f"/tasks/{entry.task.id}/verdict"),
        json={"verdict": "correct", "label": "ham", "comment": NUL},
        headers=headers,
    )
    assert response.status_code == 422, response.text
