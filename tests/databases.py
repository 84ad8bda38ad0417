"""Databases for the tests: copies of a template that the real migrations built once per process.

Migrating a new database to the head revision took 0.2-0.4 s on SQLite and 0.4 s on a new
PostgreSQL schema (Alembic loading its scripts, SQLite rebuilding tables), and about 2,000 tests
each asked for one. Each test process now migrates one template per backend, with the
:func:`~loopwise.store.db.ensure_schema` every application start runs, and each test gets a
copy of it:

* SQLite: the template file, copied by SQLite's backup API (a few ms).
* PostgreSQL: a new schema made by replaying the template schema's definition as ``pg_dump``
  writes it (tables, indexes, the key-checking triggers and their functions, and the
  ``alembic_version`` row), with the template's name replaced: about 55 ms, against 35 ms for
  ``CREATE DATABASE ... TEMPLATE`` on a quiet machine but 200-370 ms in the suite, where the
  340 files of each new database's catalogs made ext4 search longer and longer for inodes
  not recently deleted.

The migrations themselves, from an empty database and revision by revision, are tested on
empty databases (:func:`empty_database`) in ``tests/integration/store/test_migrations.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from loopwise.store.db import ensure_schema, make_engine
from loopwise.testing import scratch_schema
from loopwise.testing.postgres import schema_url

POSTGRES_URL = os.environ.get("LOOPWISE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
PREFIX = "lw_test_"
"""Schemas made here are named ``lw_test_<pid>_<hex>``: whose they are, and unique."""
CATALOGS = (
    "pg_attribute",
    "pg_attrdef",
    "pg_class",
    "pg_constraint",
    "pg_depend",
    "pg_index",
    "pg_proc",
    "pg_sequence",
    "pg_statistic",
    "pg_trigger",
    "pg_type",
)
"""The catalogs a schema's tables fill, vacuumed when a process is done with its schemas."""


@contextmanager
def empty_database(backend: str, directory: Path) -> Iterator[str]:
    """A URL to an empty database for ``backend``: a SQLite file in ``directory``, or a fresh
    schema on the test PostgreSQL (dropped on exit)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'loopwise.db'}"
        return
    with scratch_schema(POSTGRES_URL) as url:
        yield url


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """A URL to a database at the head revision, holding nothing else: a SQLite file
    ``directory / "loopwise.db"``, or a PostgreSQL schema of its own (dropped on exit), each a
    copy of this process's template (:data:`TEMPLATES`)."""
    if backend == "sqlite":
        path = directory / "loopwise.db"
        with (
            closing(sqlite3.connect(TEMPLATES.sqlite())) as source,
            closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        yield f"sqlite:///{path}"
        return
    definition, template = TEMPLATES.postgres()
    schema = _schema_name()
    with _admin() as conn:
        conn.execute(definition.replace(template, schema).encode())
    try:
        yield schema_url(POSTGRES_URL, schema)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


class Templates:
    """This process's migrated templates, made on first use: a SQLite file in a temporary
    directory, and the definition of a PostgreSQL schema. :meth:`close` removes the file and
    vacuums the catalogs that the process's schemas filled (autovacuum may be off)."""

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._postgres: tuple[str, str] | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = Path(tempfile.mkdtemp(prefix="lw-template-")) / "loopwise.db"
            engine = make_engine(f"sqlite:///{path}")
            try:
                ensure_schema(engine)
            finally:
                engine.dispose()
            self._sqlite = path
        return self._sqlite

    def postgres(self) -> tuple[str, str]:
        """The template schema's definition (``pg_dump``'s script, less its ``psql``
        commands) and the schema's name in it, to be replaced."""
        if self._postgres is None:
            drop_abandoned()
            schema = _schema_name()
            with _admin() as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
            try:
                engine = make_engine(schema_url(POSTGRES_URL, schema))
                try:
                    ensure_schema(engine)
                finally:
                    engine.dispose()
                self._postgres = (_definition(schema), schema)
            finally:
                with _admin() as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
        return self._postgres

    def close(self) -> None:
        if self._sqlite is not None:
            shutil.rmtree(self._sqlite.parent, ignore_errors=True)
            self._sqlite = None
        if self._postgres is not None:
            with _admin() as conn:
                conn.execute(f"VACUUM {', '.join(f'pg_catalog.{c}' for c in CATALOGS)}".encode())
            self._postgres = None


TEMPLATES = Templates()


def drop_abandoned() -> list[str]:
    """Drop the test schemas (:data:`PREFIX`) of processes that are gone (a run that was
    killed); the names dropped."""
    with _admin() as conn:
        names = [
            str(row[0])
            for row in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                (PREFIX.replace("_", r"\_") + "%",),
            )
        ]
        gone = [name for name in names if not _alive(int(name[len(PREFIX) :].split("_", 1)[0]))]
        for name in gone:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE'.encode())
    return gone


def _definition(schema: str) -> str:
    """``pg_dump``'s script of ``schema`` and its rows (the migration's version), without the
    lines meant for ``psql`` (``\\restrict``)."""
    if shutil.which("pg_dump") is None:
        raise RuntimeError(
            "the PostgreSQL tests copy a migrated schema with pg_dump, which is not installed "
            "(Debian: apt-get install postgresql-client)"
        )
    dumped = subprocess.run(
        [
            "pg_dump",
            f"--dbname={_libpq_url()}",
            f"--schema={schema}",
            "--no-owner",
            "--no-privileges",
            "--inserts",  # rows as INSERT statements, not COPY data a script cannot carry
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script = "\n".join(line for line in dumped.splitlines() if not line.startswith("\\"))
    if not re.search(rf'CREATE SCHEMA "?{schema}"?;', script):
        raise RuntimeError(f"pg_dump wrote no definition of schema {schema}")
    return script


def _schema_name() -> str:
    return f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _libpq_url() -> str:
    """:data:`POSTGRES_URL` as libpq takes it (no SQLAlchemy driver name)."""
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _admin() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection outside any transaction, for schemas and scripts (several statements a
    call; no parameters parsed out of the script's ``%``)."""
    with psycopg.connect(_libpq_url(), autocommit=True) as conn:
        yield conn
