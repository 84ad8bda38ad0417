"""Client fixtures: the real app served by uvicorn on an ephemeral port of 127.0.0.1 (in a
background thread, over the API tests' ``served`` project and ``tokens``), and clients per role."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from loopwise import Loopwise
from loopwise.api import create_app
from loopwise.client import ApiError, Client
from tests.api.conftest import OTHER, PROJECT, Tokens, served, tokens

__all__ = [
    "OTHER",
    "PROJECT",
    "Connect",
    "Counting",
    "api",
    "error",
    "mock_client",
    "served",
    "tokens",
]

Connect = Callable[..., Client]
"""``connect(role="admin", **options)``: a client of the served app with that role's token."""


class Counting(httpx.BaseTransport):
    """A transport that records every request it passes on (method, path)."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def base_url(served: Loopwise) -> Iterator[str]:
    """Where the app over ``served`` answers (webhook delivery off).

    On the way out, a garbage collection finalises any label export a test stopped reading:
    the service holds that export's database transaction until then (a known API problem,
    see ``test_stopping_early_ends_the_services_read``), and PostgreSQL would not drop the
    test schema under it."""
    app = create_app(loopwise=served, deliver_webhooks=False)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        gc.collect()


@pytest.fixture
def connect(base_url: str, tokens: Tokens) -> Iterator[Connect]:
    made: list[Client] = []

    def make(role: str = "admin", **options: Any) -> Client:
        token = options.pop("token", None) or getattr(tokens, role)
        client = Client(base_url, token, backoff=0.001, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler, **options: Any) -> tuple[Client, list[float]]:
    """A client over ``httpx.MockTransport(handler)`` that records its sleeps instead of
    sleeping (``backoff`` 0.01 s unless given)."""
    options.setdefault("backoff", 0.01)
    client = Client(
        "http://loopwise.test", "secret-token", transport=httpx.MockTransport(handler), **options
    )
    sleeps: list[float] = []
    client._session.sleep = sleeps.append
    return client, sleeps


def error(status: int, code: str, message: str = "no", field: str | None = None) -> httpx.Response:
    """An error answer in the service's shape."""
    return httpx.Response(
        status, json={"error": {"code": code, "message": message, "field": field}}
    )


def api(exc: BaseException) -> ApiError:
    """``exc`` as the ``ApiError`` every error answer is (for its ``status`` and ``code``)."""
    assert isinstance(exc, ApiError), f"{exc!r} is not an ApiError"
    return exc
