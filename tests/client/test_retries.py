"""Retries: 429 and 503 for every method (honouring ``Retry-After``), network failures only
when sending twice is harmless, nothing else; then ``ServiceUnavailable``."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime

import httpx
import pytest

from loopwise.client import ApiError, ServerError, ServiceUnavailable
from loopwise.client._retry import MAX_RETRY_AFTER, backoff, retry_after
from loopwise.errors import ItemNotFound
from tests.client.conftest import error, mock_client

ME = {"name": "admin-1", "role": "admin", "projects": []}
ROUTED = {
    "item_id": 1,
    "external_id": "m-1",
    "status": "queued",
    "route": "human",
    "label": None,
    "predicted_label": "ham",
    "confidence": 0.5,
    "reasons": ["confidence 0.500 below threshold 0.750"],
    "ticket": 7,
    "duplicate": False,
}


class Script:
    """Answers (or raises) from a list, one per request, and keeps the requests."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


def test_429_waits_as_long_as_retry_after_says_then_succeeds() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json=ME))
    client, sleeps = mock_client(script)
    assert client.me().name == "admin-1"
    assert len(script.requests) == 2
    assert sleeps == [2.0]


def test_503_every_time_gives_up_after_the_retries_with_service_unavailable() -> None:
    script = Script(httpx.Response(503, json={"status": "overloaded"}))
    client, sleeps = mock_client(script, retries=3, backoff=0.1)
    with pytest.raises(ServiceUnavailable) as caught:
        client.me()
    assert len(script.requests) == 4
    assert (caught.value.status, caught.value.attempts) == (503, 4)
    assert "GET /v1/me: no answer after 4 attempt(s) (last: HTTP 503)" in str(caught.value)
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        assert 0.1 * 2**attempt / 2 <= slept <= 0.1 * 2**attempt


def test_429_and_503_are_retried_for_posts_too() -> None:
    script = Script(
        httpx.Response(503), httpx.Response(429), httpx.Response(200, json={"entry": None})
    )
    client, _ = mock_client(script)
    assert client.claim("sms") is None
    assert [r.method for r in script.requests] == ["POST"] * 3


@pytest.mark.parametrize("status", [500, 502, 504, 400, 409])
def test_other_errors_are_never_retried(status: int) -> None:
    script = Script(error(status, "internal_error" if status >= 500 else "conflict"))
    client, sleeps = mock_client(script)
    with pytest.raises(ApiError) as caught:
        client.me()
    assert len(script.requests) == 1
    assert sleeps == []
    assert caught.value.status == status
    assert isinstance(caught.value, ServerError) == (status >= 500)


def test_a_404_is_not_retried() -> None:
    script = Script(error(404, "item_not_found", field="external_id"))
    client, _ = mock_client(script)
    with pytest.raises(ItemNotFound):
        client.decision("sms", "m-1")
    assert len(script.requests) == 1


def test_network_failures_of_reads_are_retried() -> None:
    script = Script(
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(200, json=ME),
    )
    client, sleeps = mock_client(script)
    assert client.me().role == "admin"
    assert len(script.requests) == 3
    assert len(sleeps) == 2


def test_a_connection_never_made_is_retried_whatever_the_method() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json={"entry": None}))
    client, _ = mock_client(script)
    assert client.claim("sms") is None
    assert len(script.requests) == 2


def test_a_claim_lost_on_the_way_back_is_not_sent_again_but_given_back_by_its_key() -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json={"released": 1}))
    client, sleeps = mock_client(script)
    with pytest.raises(ServiceUnavailable) as caught:
        client.claim("sms")
    assert [r.url.path for r in script.requests] == [
        "/v1/projects/sms/queue/claim",
        "/v1/projects/sms/queue/release",
    ]
    key = json.loads(script.requests[0].content)["claim_key"]
    assert len(key) == 32
    assert json.loads(script.requests[1].content) == {"claim_keys": [key]}
    assert sleeps == []
    assert caught.value.attempts == 1
    assert caught.value.status is None
    assert "not retried" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_the_give_back_of_a_lost_claim_is_retried_and_its_failure_leaves_the_claims_error() -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.ReadTimeout("still slow"))
    client, sleeps = mock_client(script, retries=2)
    with pytest.raises(ServiceUnavailable) as caught:
        client.claim("sms")
    paths = [r.url.path for r in script.requests]
    assert paths == ["/v1/projects/sms/queue/claim"] + ["/v1/projects/sms/queue/release"] * 3
    assert len(sleeps) == 2  # the give-back is idempotent: retried
    assert caught.value.attempts == 1  # the claim's error, not the give-back's


def test_a_claim_the_service_refused_with_503_gives_nothing_back() -> None:
    script = Script(httpx.Response(503))
    client, _ = mock_client(script, retries=1)
    with pytest.raises(ServiceUnavailable) as caught:
        client.claim("sms")
    assert caught.value.status == 503
    assert {r.url.path for r in script.requests} == {"/v1/projects/sms/queue/claim"}


def test_submitting_with_an_external_id_is_retried_and_without_one_is_not() -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=ROUTED))
    client, _ = mock_client(script)
    assert client.submit("sms", {"payload": "hi", "external_id": "m-1"}).ticket == 7
    assert len(script.requests) == 2

    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=ROUTED))
    client, _ = mock_client(script)
    with pytest.raises(ServiceUnavailable):
        client.submit("sms", {"payload": "hi"})
    assert len(script.requests) == 1


def test_a_bulk_is_retried_only_if_every_item_has_an_external_id() -> None:
    bulk = {"items": [ROUTED], "decided": 0, "queued": 1, "duplicates": 0}
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=bulk))
    client, _ = mock_client(script)
    assert len(client.submit_many("sms", [{"payload": "hi", "external_id": "m-1"}])) == 1
    assert len(script.requests) == 2

    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=bulk))
    client, _ = mock_client(script)
    with pytest.raises(ServiceUnavailable):
        client.submit_many("sms", [{"payload": "a", "external_id": "m-1"}, {"payload": "b"}])
    assert len(script.requests) == 1


def test_pool_candidates_are_retried_only_with_ids_and_a_query_never_once_sent() -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json={"added": 1, "skipped": 0}))
    client, _ = mock_client(script)
    assert client.add_to_pool("sms", [{"payload": "hi", "external_id": "u-1"}]) == 1
    assert len(script.requests) == 2

    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json={"added": 1, "skipped": 0}))
    client, _ = mock_client(script)
    with pytest.raises(ServiceUnavailable):
        client.add_to_pool("sms", [{"payload": "hi"}])
    assert len(script.requests) == 1

    answer = {"strategy": "margin", "considered": 3, "model_version": 1, "chosen": []}
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=answer))
    client, _ = mock_client(script)
    with pytest.raises(ServiceUnavailable):  # a second query would queue another batch
        client.query("sms", 1)
    assert len(script.requests) == 1


def test_retries_zero_sends_once() -> None:
    script = Script(httpx.Response(503))
    client, sleeps = mock_client(script, retries=0)
    with pytest.raises(ServiceUnavailable) as caught:
        client.me()
    assert (len(script.requests), caught.value.attempts, sleeps) == (1, 1, [])


def test_ready_returns_not_ready_without_retrying() -> None:
    body = {"status": "not ready", "database": "unreachable: OperationalError"}
    script = Script(httpx.Response(503, json=body))
    client, _ = mock_client(script)
    assert client.ready() == body
    assert len(script.requests) == 1


def test_the_token_is_sent_but_never_logged_nor_shown(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(httpx.ConnectError("refused"))
    client, _ = mock_client(script, retries=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(ServiceUnavailable) as caught:
        client.me()
    assert script.requests[0].headers["Authorization"] == "Bearer secret-token"
    assert "retry 1 of 2" in caplog.text
    shown = caplog.text + str(caught.value) + repr(caught.value) + repr(client)
    assert "secret-token" not in shown


def test_the_request_body_is_the_same_on_every_attempt() -> None:
    script = Script(httpx.Response(503), httpx.Response(200, json=ROUTED))
    client, _ = mock_client(script)
    client.submit("sms", {"payload": "hi", "external_id": "m-1"})
    bodies = [json.loads(r.content) for r in script.requests]
    assert bodies == [{"payload": "hi", "external_id": "m-1"}] * 2


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("100000", MAX_RETRY_AFTER),
        ("Wed, 01 Jan 2025 00:00:30 GMT", 30.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_and_dates(header: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": header})
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after(response, now=now) == seconds


def test_without_retry_after_there_is_none() -> None:
    assert retry_after(httpx.Response(503)) is None


def test_backoff_doubles_with_jitter_within_half_and_all() -> None:
    rng = random.Random(1)
    for attempt in range(6):
        waits = [backoff(attempt, 0.5, rng) for _ in range(200)]
        assert 0.25 * 2**attempt <= min(waits) <= max(waits) <= 0.5 * 2**attempt
        assert max(waits) - min(waits) > 0.1 * 2**attempt
