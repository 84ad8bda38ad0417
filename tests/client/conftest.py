"""Client fixtures: the real app served by uvicorn on an ephemeral port of 127.0.0.1, started
once per backend for the session (in a background thread, over the API tests' shared
``world``), and clients per role of each test's own project.

Each test gets a ``space`` (a project of its own in the shared database, accounts per role made
on first use), so tests pass in any order without a database each:

* ``connect(role)``: a client with the token of ``role`` on the test's ``space``;
  ``connect(role, on=trained)`` on another project.
* ``seeded``: the test's ``space`` with the 24 seed labels imported (no model).
* ``retrainable``: the test's ``space`` with the seed labels and a production model, for tests
  that train, promote or roll back, or that submit items for the model to score.
* ``trained``: one project with the seed labels and a production model, shared by the tests
  of a session that only read it (exports, refusals): none may change it.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.pool import QueuePool

from loopwise import Loopwise
from loopwise.api import create_app
from loopwise.client import ApiError, Client
from tests.api.conftest import OTHER, PROJECT, Space, World, space, world
from tests.factories import seed_rows, seeded_model

__all__ = [
    "OTHER",
    "PROJECT",
    "Connect",
    "Counting",
    "Space",
    "World",
    "api",
    "error",
    "in_use",
    "mock_client",
    "space",
    "world",
]

SEEDED = 24
"""Labels (resolved items) that ``seeded``, ``retrainable`` and ``trained`` start with."""

Connect = Callable[..., Client]
"""``connect(role="admin", *, on=space, token=None, **options)``: a client of the served app
with the token of that role on ``on`` (the test's ``space`` unless given), or ``token``."""


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


def in_use(lw: Loopwise) -> int:
    """Database connections the service holds now."""
    pool = lw.ctx.engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


def release_abandoned_reads(lw: Loopwise) -> None:
    """Finalise any label export a test stopped reading, if the service still holds a
    connection for one (see ``test_stopping_early_ends_the_services_read``): a read left open
    would be seen by the next test on the shared server, and PostgreSQL would not drop the
    session's schema under it."""
    deadline = time.monotonic() + 2
    while in_use(lw) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)


@pytest.fixture(scope="session")
def base_url(world: World) -> Iterator[str]:
    """Where the app over ``world`` answers (webhook delivery off), for the whole session on
    that backend; garbage collected on the way out (see :func:`release_abandoned_reads`)."""
    app = create_app(loopwise=world.lw, deliver_webhooks=False)
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
        gc.collect()
        server.should_exit = True
        thread.join(timeout=20)
        gc.collect()


@pytest.fixture(scope="session")
def trained(world: World) -> Space:
    """The shared project with :data:`SEEDED` labels and a production model (version 1):
    tests only read it."""
    shared = world.space()
    seeded_model(world.lw, shared.name)
    return shared


@pytest.fixture
def seeded(world: World, space: Space) -> Space:
    """The test's ``space`` with the :data:`SEEDED` seed labels (no model)."""
    world.lw.import_labels(space.name, seed_rows())
    return space


@pytest.fixture
def retrainable(world: World, space: Space) -> Space:
    """The test's ``space`` with the seed labels and a production model (version 1)."""
    seeded_model(world.lw, space.name)
    return space


@pytest.fixture
def connect(base_url: str, world: World, space: Space) -> Iterator[Connect]:
    made: list[Client] = []

    def make(
        role: str = "admin", *, on: Space | None = None, token: str | None = None, **options: Any
    ) -> Client:
        client = Client(base_url, token or (on or space).token(role), backoff=0.001, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
    release_abandoned_reads(world.lw)


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
