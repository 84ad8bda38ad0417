"""A scratch PostgreSQL schema, or a scratch SQLite file: what the tests and the benchmarks run
each database in."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text


@contextmanager
def scratch_schema(
    postgres_url: str, prefix: str = "t", *, terminate: bool = False
) -> Iterator[str]:
    """A URL to ``postgres_url`` whose connections see only a new, empty schema (their
    ``search_path``); the schema and everything in it are dropped on exit.

    ``terminate``: before dropping, end the sessions whose current query names the schema (a
    server that could not be stopped cleanly must not hold the drop up).
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(postgres_url, schema)
    finally:
        with admin.connect() as conn:
            if terminate:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE pid <> pg_backend_pid() AND datname = current_database() "
                        "AND query ILIKE :pattern"
                    ),
                    {"pattern": f"%{schema}%"},
                )
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def schema_url(postgres_url: str, schema: str) -> str:
    """``postgres_url`` with its connections' ``search_path`` set to ``schema`` alone."""
    sep = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def scratch_database(
    backend: str, postgres_url: str, prefix: str = "lw"
) -> Iterator[tuple[str, Path]]:
    """A URL to an empty database (``backend`` ``"sqlite"``: a file; else a
    :func:`scratch_schema` of ``postgres_url``) and an empty data directory, both removed on
    exit."""
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        if backend == "sqlite":
            yield f"sqlite:///{tmp}/loopwise.db", Path(tmp)
            return
        with scratch_schema(postgres_url, prefix.replace("-", "_")) as url:
            yield url, Path(tmp)
