"""Scratch databases for tests and benchmarks: empty while used, gone afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from loopwise import Loopwise, Settings
from loopwise.testing import scratch_database
from tests.databases import BACKENDS, POSTGRES_URL


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scratch_database_is_usable_then_removed(backend: str) -> None:
    with scratch_database(backend, POSTGRES_URL, "t-scratch") as (url, directory):
        assert directory.is_dir()
        assert not any(directory.iterdir())
        with Loopwise(Settings(database_url=url, data_dir=directory)) as lw:
            lw.create_project("p", ["a", "b"])
            assert [p.name for p in lw.projects()] == ["p"]
        if backend == "sqlite":
            assert url == f"sqlite:///{directory}/loopwise.db"
        else:
            schema = url.rsplit("search_path%3D", 1)[1]
            assert schema.startswith("t_scratch_")
    assert not directory.exists()
    if backend == "postgres":
        admin = create_engine(POSTGRES_URL)
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema},
            ).scalar()
        admin.dispose()
        assert left == 0
