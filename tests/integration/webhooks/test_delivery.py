"""One delivery attempt against a real HTTP server on 127.0.0.1 (``loopwise.webhooks.deliver``)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import loopwise
from loopwise.webhooks import (
    DeliveryResult,
    Verifier,
    WebhookVerificationError,
    deliver,
    headers,
)

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
PAYLOAD = {"type": "decision.made", "data": {"item": "it_1", "label": "spam"}}
BODY = json.dumps(PAYLOAD, separators=(",", ":")).encode()
MSG_ID = "msg_01"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str]]
Respond = Callable[[Received], Reply]


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint whose answer is the ``respond`` function; it records every request."""

    def __init__(self, respond: Respond) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond
        self.received: list[Received] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The slow receiver answers a client that has gone; that is the point, stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.server.received.append(received)
        status, extra = self.server.respond(received)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@pytest.fixture
def serve() -> Iterator[Callable[[Respond], Receiver]]:
    started: list[tuple[Receiver, threading.Thread]] = []

    def start(respond: Respond) -> Receiver:
        server = Receiver(respond)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """No proxies from the environment: the receiver is on this machine."""
    with httpx.Client(trust_env=False) as c:
        yield c


def send(client: httpx.Client, url: str, **overrides: Any) -> DeliveryResult:
    args: dict[str, Any] = {
        "secret": SECRET,
        "msg_id": MSG_ID,
        "event_type": "decision.made",
        "body": BODY,
        "timestamp": int(time.time()),
        **overrides,
    }
    return deliver(client, url, **args)


def answer(status: int, extra: dict[str, str] | None = None) -> Respond:
    return lambda _: (status, extra or {})


@pytest.mark.parametrize("status", [200, 202, 204])
def test_a_2xx_answer_is_a_success(
    serve: Callable[[Respond], Receiver], client: httpx.Client, status: int
) -> None:
    receiver = serve(answer(status))
    result = send(client, receiver.url)
    assert (result.ok, result.status, result.error, result.retry_after) == (
        True,
        status,
        None,
        None,
    )
    assert 0.0 < result.duration_ms < 5000.0


def test_the_request_is_a_signed_json_post(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    receiver = serve(answer(200))
    send(client, receiver.url, timestamp=1_767_225_600)

    [received] = receiver.received
    assert received.path == "/hooks"
    assert received.body == BODY
    assert received.headers["content-type"] == "application/json"
    assert received.headers["user-agent"] == f"loopwise-webhooks/{loopwise.__version__}"
    assert received.headers["loopwise-event"] == "decision.made"
    signed = headers(SECRET, MSG_ID, 1_767_225_600, BODY)
    assert {name: received.headers[name] for name in signed} == signed
    assert received.headers["webhook-timestamp"] == "1767225600"


def test_a_server_error_is_a_failure(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    receiver = serve(answer(500, {"retry-after": "30"}))
    result = send(client, receiver.url)
    assert (result.ok, result.status, result.error, result.retry_after) == (
        False,
        500,
        "HTTP 500",
        None,
    )


@pytest.mark.parametrize(("status", "value", "expected"), [(429, "120", 120.0), (503, "30", 30.0)])
def test_retry_after_is_honoured_on_429_and_503(
    serve: Callable[[Respond], Receiver],
    client: httpx.Client,
    status: int,
    value: str,
    expected: float,
) -> None:
    receiver = serve(answer(status, {"retry-after": value}))
    result = send(client, receiver.url)
    assert (result.ok, result.status, result.error, result.retry_after) == (
        False,
        status,
        f"HTTP {status}",
        expected,
    )


def test_a_429_without_retry_after_leaves_the_wait_to_the_backoff(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    receiver = serve(answer(429))
    assert send(client, receiver.url).retry_after is None


def test_redirects_are_not_followed(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    receiver = serve(answer(307, {"location": "/elsewhere"}))
    result = send(client, receiver.url)
    assert (result.ok, result.status, result.error) == (False, 307, "HTTP 307")
    assert [r.path for r in receiver.received] == ["/hooks"]


def test_a_slow_receiver_times_out(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    def stall(_: Received) -> Reply:
        receiver.release.wait(timeout=10)
        return 200, {}

    receiver = serve(stall)
    result = send(client, receiver.url, timeout=0.3)
    assert (result.ok, result.status, result.retry_after) == (False, None, None)
    assert result.error is not None
    assert result.error.startswith("timeout: ")
    assert 250.0 <= result.duration_ms < 5000.0


def test_a_closed_port_is_a_connection_error(client: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = send(client, f"http://127.0.0.1:{port}/hooks")
    assert (result.ok, result.status, result.retry_after) == (False, None, None)
    assert result.error is not None
    assert result.error.startswith("connection error: ")
    assert SECRET.removeprefix("whsec_") not in result.error
    assert len(result.error) <= 200


def test_an_unsupported_url_is_a_failure_not_an_exception(client: httpx.Client) -> None:
    result = send(client, "ftp://127.0.0.1/hooks")
    assert (result.ok, result.status) == (False, None)
    assert result.error is not None
    assert result.error.startswith("request failed: ")


def test_a_bad_secret_is_reported_without_sending(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    receiver = serve(answer(200))
    result = send(client, receiver.url, secret="hunter2hunter2")
    assert (result.ok, result.status) == (False, None)
    assert result.error == "not sent: secret: must start with 'whsec_'"
    assert receiver.received == []


@pytest.mark.parametrize(("field", "value"), [("event_type", "décision"), ("msg_id", "msg\n1")])
def test_values_that_cannot_be_headers_are_reported_without_sending(
    serve: Callable[[Respond], Receiver], client: httpx.Client, field: str, value: str
) -> None:
    receiver = serve(answer(200))
    result = send(client, receiver.url, **{field: value})
    assert (result.ok, result.status) == (False, None)
    assert result.error is not None
    assert result.error.startswith(f"not sent: {field}: ")
    assert receiver.received == []


def test_a_verifying_receiver_accepts_ours_and_refuses_replays_and_forgeries(
    serve: Callable[[Respond], Receiver], client: httpx.Client
) -> None:
    """The receiver a loopwise user would write: verify the raw body, answer 400 on refusal."""
    verifier = Verifier(SECRET)
    accepted: list[dict[str, Any]] = []
    outcomes: list[str] = []

    def verify(received: Received) -> Reply:
        try:
            accepted.append(verifier.verify(received.body, received.headers))
        except WebhookVerificationError as exc:
            outcomes.append(exc.reason)
            return 400, {}
        outcomes.append("accepted")
        return 204, {}

    receiver = serve(verify)
    now = int(time.time())
    results = [
        send(client, receiver.url, timestamp=now),
        send(client, receiver.url, timestamp=now),
        send(client, receiver.url, timestamp=now + 1),
        send(client, receiver.url, timestamp=now + 2, secret=OTHER_SECRET),
        send(client, receiver.url, timestamp=now - 3600),
    ]

    assert [(r.ok, r.status) for r in results] == [
        (True, 204),
        (False, 400),
        (True, 204),
        (False, 400),
        (False, 400),
    ]
    assert outcomes == ["accepted", "replayed", "accepted", "bad_signature", "too_old"]
    assert accepted == [PAYLOAD, PAYLOAD]
