"""Shared fixtures: a real database per test (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loopwise import Loopwise, Settings
from loopwise.testing import FrozenClock, scratch_schema

POSTGRES_URL = os.environ.get("LOOPWISE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


@contextmanager
def empty_database(backend: str, directory: Path) -> Iterator[str]:
    """A URL to an empty database for ``backend``: a SQLite file in ``directory``, or a fresh
    schema on the test PostgreSQL (dropped on exit)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'loopwise.db'}"
        return
    with scratch_schema(POSTGRES_URL) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh schema on the test PostgreSQL."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def lw(settings: Settings, clock: FrozenClock) -> Iterator[Loopwise]:
    app = Loopwise(settings, clock=clock)
    try:
        yield app
    finally:
        app.close()
