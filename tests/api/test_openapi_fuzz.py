"""Schemathesis against the service's own OpenAPI schema, in-process (no network).

Every operation gets generated requests, valid and invalid (Schemathesis' positive and negative
modes), as an admin (so authorization never hides a handler), and fewer as a client and without
a token. Each response must:

* not be a server error (a 500 also surfaces as the app's exception),
* match the response schema and content type the schema documents for its status,
* be an error body ``{"error": {"code", "message", "field"}}`` when it is a 4xx (``401`` with
  ``WWW-Authenticate: Bearer``),
* have a status the operation declares, with the error body as its schema for a 4xx. These are
  gathered over the whole run of an operation and asserted after it (its own subtest), so a
  missing declaration names every status at once and does not stop the search for 500s.

Bounded and repeatable: ``derandomize=True``, a fixed ``max_examples`` per operation, no
shrinking (a failure is reported as generated, with a curl line), no example database, no
deadline. Requests go to the real project ``sms`` most of the time, to ids that exist (items,
tasks the admin holds, model versions, a webhook) and often with the fields that random data
never gets right (a label of the project, a webhook URL) made valid, so handlers get past their
404s and 422s and their 2xx are checked too. A valid ``wait`` of the long poll is set to 0.

Schemathesis' ``from_fixture`` loader would be the natural fit, but 4.x reads the
``Function._nodeid`` attribute that pytest 9 no longer has; so one test per role walks the
operations itself, one subtest per operation, on one database (the served project is built
once per test, not per operation). The operations that take things away run last.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from loopwise import Loopwise
from loopwise.api import create_app
from loopwise.services import webhooks
from tests.api.conftest import OTHER, PROJECT, Tokens

SCALE = int(os.environ.get("LOOPWISE_FUZZ_SCALE", "1"))
"""Multiplies the examples per operation, for a deeper run by hand (10: a few minutes)."""
ADMIN_EXAMPLES = 12 * SCALE
CLIENT_EXAMPLES = 4 * SCALE
ANONYMOUS_EXAMPLES = 2 * SCALE

QUEUED = ("x-0", "x-1", "x-2")
DECIDED = "x-3"
STEERED: dict[str, list[Any]] = {
    # The generated value is always the last choice, so odd ones still come (404, 422).
    "project": [PROJECT, PROJECT, PROJECT, OTHER],
    "external_id": [*QUEUED, DECIDED, "seed-ham-0"],
    "task_id": [1, 2, 3, 4],
    "version": [1, 2],
    "webhook_id": [1],
}

STEERED_BODY: dict[str, list[Any]] = {
    # Fields whose random values are nearly always refused: without these, no item, label,
    # gold, project or webhook would ever be accepted and their 2xx never checked.
    "payload": ["Ok lar... see you soon"],
    "label": ["ham", "spam"],
    "probabilities": [[0.5, 0.5], [0.99, 0.01], None],
    "metadata": [None, {"tier": "vip"}],
    "routing": [None],
    "review": [None],
    "error_taxonomy": [None],
    "url": ["https://hooks.example.com/fuzz"],
    "events": [None],
    "version": [2, None],
}

"""Known bug, pinned by ``test_a_model_version_beyond_the_column_is_not_a_server_error``: a
model version is an INTEGER column, but the API takes versions up to 2**63-1, so on PostgreSQL
one past 2**31-1 is a 500. Versions stay within the column here, so the fuzz looks elsewhere;
drop this once the routes bound them by the column."""

TAKERS = (
    "POST /v1/projects/{project}/tasks/{task_id}/release",
    "POST /v1/projects/{project}/models/rollback",
    "DELETE /v1/projects/{project}/webhooks/{webhook_id}",
)
"""Operations that take away what others work on: they run last."""

Headers = dict[str, str]


# -- the served app ---------------------------------------------------------------------------
@pytest.fixture
def fuzz_app(served: Loopwise, tokens: Tokens) -> FastAPI:
    """The app over ``served`` with something behind the ids the fuzz steers to: items
    ``x-0``..``x-2`` queued (tasks 1 to 3, held by the admin), ``x-3`` decided, a candidate
    model version 2 next to production 1, and webhook 1."""
    served.submit(
        PROJECT,
        [
            *(
                {"external_id": x, "payload": f"see you {x}", "probabilities": [0.5, 0.5]}
                for x in QUEUED
            ),
            {"external_id": DECIDED, "payload": "fine", "probabilities": [0.99, 0.01]},
        ],
    )
    served.update_reviewer("admin-1", max_open_tasks=100)  # holds these and claims more
    for _ in QUEUED:
        assert served.claim_next(PROJECT, "admin-1") is not None
    served.train(PROJECT)
    webhooks.add_webhook(served.ctx, PROJECT, "https://hooks.example.com/loopwise")
    return create_app(loopwise=served, deliver_webhooks=False)


def load_schema(app: FastAPI) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The caller's token is the header each run sends; generated (and negated) security
    # parameters would replace it and make every run an anonymous one.
    schema.config.generation.update(with_security_parameters=False)
    return schema


# -- requests ---------------------------------------------------------------------------------


def _steer(draw: st.DrawFn, body: Any) -> Any:
    """``body`` with the fields of :data:`STEERED_BODY`, in it or in its lists of objects,
    often replaced by a value that is accepted."""
    if isinstance(body, list):
        return [_steer(draw, item) for item in body]
    if not isinstance(body, dict):
        return body
    steered = {}
    for name, value in body.items():
        if name in STEERED_BODY:
            value = draw(st.sampled_from([*STEERED_BODY[name], value]))
        steered[name] = _steer(draw, value) if name in ("items", "rows") else value
    return steered


@st.composite
def requests_for(draw: st.DrawFn, operation: Any) -> Any:
    """A generated case of ``operation``, valid or not, steered towards existing things."""
    modes = [GenerationMode.POSITIVE]
    if any(True for _ in operation.iter_parameters()) or len(operation.body):
        modes.append(GenerationMode.NEGATIVE)  # nothing to get wrong without inputs
    case = draw(st.one_of([operation.as_strategy(mode) for mode in modes]))
    if case.path_parameters:
        path = dict(case.path_parameters)
        for name, value in path.items():
            if name in STEERED:
                value = draw(st.sampled_from([*STEERED[name], value]))
            path[name] = value
        case.path_parameters = path
    if case.query:
        query = dict(case.query)
        wait = query.get("wait")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and 0 < wait <= 30:
            query["wait"] = 0  # a valid wait holds the example up to 30 s; others are a 422
        case.query = query
    if isinstance(case.body, dict):
        case.body = _steer(draw, case.body)
    return case


# -- checks -----------------------------------------------------------------------------------
def error_body(ctx: Any, response: Any, case: Any) -> None:
    """4xx and 5xx bodies are the documented ``{"error": {code, message, field}}``."""
    if response.status_code < 400:
        return
    assert response.headers.get("content-type") == ["application/json"], response.headers
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert set(error) == {"code", "message", "field"}, body
    assert isinstance(error["code"], str), body
    assert isinstance(error["message"], str), body
    assert error["field"] is None or isinstance(error["field"], str), body
    if response.status_code == 401:
        assert response.headers.get("www-authenticate") == ["Bearer"], response.headers


@dataclass
class Undeclared:
    """Statuses an operation answered with that its schema does not declare (or declares
    without the error body, for 4xx)."""

    seen: dict[str, set[int]] = field(default_factory=dict)

    def check(self, ctx: Any, response: Any, case: Any) -> None:
        if not _declared(case.operation, response.status_code):
            self.seen.setdefault(case.operation.label, set()).add(response.status_code)

    def of(self, label: str) -> list[int]:
        return sorted(self.seen.get(label, ()))


def _declared(operation: Any, status: int) -> bool:
    responses = operation.definition.raw.get("responses", {})
    declared = responses.get(str(status)) or responses.get(f"{status // 100}XX")
    if declared is None:
        return "default" in responses
    if status < 400:
        return True
    schema = declared.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = operation.schema.raw_schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return "error" in schema.get("required", ())


# -- the runs ---------------------------------------------------------------------------------
def fuzz_operation(
    operation: Any, headers: Headers, max_examples: int, undeclared: Undeclared
) -> None:
    checks: list[Callable[..., Any]] = [
        not_a_server_error,
        response_schema_conformance,
        content_type_conformance,
        error_body,
        undeclared.check,
    ]

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        # Neither fired here, but both depend on the machine's load and on how the schema
        # changes (generating from it is slow; negative cases are filtered), not on the API.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=requests_for(operation))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    run()


def fuzz_all(app: FastAPI, headers: Headers, max_examples: int, subtests: pytest.Subtests) -> None:
    schema = load_schema(app)
    undeclared = Undeclared()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    operations.sort(key=lambda operation: operation.label in TAKERS)  # stable: schema order
    for operation in operations:
        with subtests.test(msg=operation.label):
            fuzz_operation(operation, headers, max_examples, undeclared)
        with subtests.test(msg=f"{operation.label} declares its statuses"):
            if undeclared.of(operation.label):
                pytest.fail(
                    f"{operation.label} answered {undeclared.of(operation.label)}, which its "
                    "schema does not declare (a 4xx: with the error body as its schema)",
                    pytrace=False,
                )


def test_as_admin(fuzz_app: FastAPI, tokens: Tokens, subtests: pytest.Subtests) -> None:
    fuzz_all(fuzz_app, tokens.header("admin"), ADMIN_EXAMPLES, subtests)


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For the runs whose requests mostly stop at authentication or authorization: the handlers
they reach are the admin run's, which has both databases; a second one would double their
time and find nothing new."""


@SQLITE_ONLY
def test_as_client(fuzz_app: FastAPI, tokens: Tokens, subtests: pytest.Subtests) -> None:
    fuzz_all(fuzz_app, tokens.header("client"), CLIENT_EXAMPLES, subtests)


@SQLITE_ONLY
def test_without_token(fuzz_app: FastAPI, subtests: pytest.Subtests) -> None:
    fuzz_all(fuzz_app, {}, ANONYMOUS_EXAMPLES, subtests)


# -- what the fuzz found, as plain examples ---------------------------------------------------
@pytest.fixture
def admin(client: TestClient, tokens: Tokens) -> Callable[..., Any]:
    def call(method: str, url: str, **kwargs: Any) -> Any:
        return client.request(method, url, headers=tokens.header("admin"), **kwargs)

    return call


BEYOND_INT32 = 2**31
BEYOND_INT64 = 2**63


def test_a_model_version_beyond_the_column_is_not_a_server_error(
    admin: Callable[..., Any],
) -> None:
    for version in (BEYOND_INT32, BEYOND_INT64):
        for method, url, body in [
            ("GET", f"/v1/projects/sms/models/{version}/evaluation", None),
            ("POST", "/v1/projects/sms/models/promote", {"version": version}),
        ]:
            response = admin(method, url, json=body)
            assert response.status_code in (404, 422), f"{method} {url} {body}: {response.text}"


def test_a_task_id_beyond_bigint_is_refused(admin: Callable[..., Any]) -> None:
    """Was a 500 (the fuzz's first find): task ids had no bounds and reached the driver."""
    for task_id in (-BEYOND_INT64 - 1, 0, BEYOND_INT64):
        for action, body in [
            ("heartbeat", None),
            ("release", None),
            ("verdict", {"verdict": "approve"}),
        ]:
            url = f"/v1/projects/sms/tasks/{task_id}/{action}"
            response = admin("POST", url, json=body)
            assert response.status_code == 422, f"POST {url}: {response.text}"
            assert response.json()["error"]["field"] == "task_id"
