"""Shared fixtures: a real database per test (SQLite always, PostgreSQL when configured), each a
copy of a template migrated once per process (:mod:`tests.databases`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopwise import Loopwise, Settings
from loopwise.testing import FrozenClock
from tests.databases import BACKENDS, TEMPLATES, migrated_database


@pytest.fixture(scope="session", autouse=True)
def _templates() -> Iterator[None]:
    """Remove this process's migrated templates when its tests are done."""
    yield
    TEMPLATES.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database at the head revision that holds nothing: a SQLite file, or a
    PostgreSQL database of the test's own (:func:`tests.databases.migrated_database`)."""
    with migrated_database(request.param, tmp_path) as url:
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
