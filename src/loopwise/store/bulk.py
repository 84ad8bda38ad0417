"""Bulk inserts for batches of thousands of rows: ids known up front, few round trips.

An ORM bulk ``INSERT ... RETURNING`` binds every value of every row in Python, splits a batch
into one statement per pattern of ``None`` values, and on SQLite pages it into many small
statements; for the rows of an ingest batch that costs far more than predicting them. Here:

- **Ids are reserved first**, so rows that point at each other (a decision at its item and
  prediction) are written without ``RETURNING``. PostgreSQL: ``nextval`` of the table's
  sequence, one query. SQLite: ``max(id) + 1`` onwards, the ids SQLite would assign itself
  (for a table declared ``AUTOINCREMENT``, from the largest id it ever gave out); safe because
  loopwise's write transactions hold the database's write lock from their first statement
  (``BEGIN IMMEDIATE``, see :func:`loopwise.store.db.writer`). Elsewhere, and in other
  transactions: ``RETURNING``.
- **Values are converted column by column** as their column types bind them (JSON serialised,
  timestamps checked and turned to UTC; a timestamp repeated across the batch once).
- **Rows are sent in one go**: ``COPY ... FROM STDIN`` on PostgreSQL through psycopg, one DB-API
  ``executemany`` of one prepared statement on SQLite, a Core ``executemany`` elsewhere.

What is written is what an ORM bulk insert of the same rows writes: ``None`` in a JSON column is
JSON ``null``; elsewhere ``None``, like a missing key, takes the column's Python-side default,
and is ``NULL`` without one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Integer, Table, func, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Null
from sqlalchemy.types import JSON, DateTime, TypeDecorator

COPY_MIN_ROWS = 20
"""Fewer rows go in one ``INSERT``: ``COPY`` costs an extra round trip to start."""
_MISSING = object()


def reserve_ids(
    connection: Connection, counts: Mapping[type[Any], int]
) -> dict[type[Any], list[int]] | None:
    """New ids for rows about to be inserted into several tables, in one query.

    Returns ``{entity: ids}`` (increasing, ``counts[entity]`` of them), or ``None`` where the
    database must number the rows itself (then :func:`insert_rows` uses ``RETURNING``).
    """
    wanted = {entity: n for entity, n in counts.items() if n > 0}
    if not wanted:
        return {entity: [] for entity in counts}
    tables = [_layout(entity).table for entity in wanted]
    name = connection.dialect.name
    if name == "postgresql":
        arrays = ", ".join(
            f"ARRAY(SELECT nextval((SELECT pg_get_serial_sequence(:t{i}, 'id')::regclass)) "
            f"FROM generate_series(1, :n{i}))"  # the sequence is looked up once, not per id
            for i in range(len(tables))
        )
        params: dict[str, Any] = {}
        for i, (table, n) in enumerate(zip(tables, wanted.values(), strict=True)):
            params[f"t{i}"], params[f"n{i}"] = table.fullname, n
        found = connection.execute(text(f"SELECT {arrays}"), params).one()
        reserved = {entity: sorted(ids) for entity, ids in zip(wanted, found, strict=True)}
    elif name == "sqlite" and connection.get_execution_options().get("loopwise_write"):
        last = connection.execute(select(*(_sqlite_last_id(table) for table in tables))).one()
        reserved = {
            entity: list(range(int(top or 0) + 1, int(top or 0) + 1 + n))
            for (entity, n), top in zip(wanted.items(), last, strict=True)
        }
    else:
        return None
    return {entity: reserved.get(entity, []) for entity in counts}


def _sqlite_last_id(table: Table) -> Any:
    """The largest id SQLite has given out in ``table``: its largest row's, and for a table
    declared ``AUTOINCREMENT`` also the largest ever inserted (``sqlite_sequence``, which
    SQLite raises for ids inserted as given too), so a removed row's id is never reserved."""
    largest = select(func.max(table.c.id)).scalar_subquery()
    if not table.dialect_options["sqlite"].get("autoincrement"):
        return largest
    # sqlite_sequence exists once a table declared AUTOINCREMENT does, as this one does
    parameter = f"sequence_of_{table.name}"  # one per table: several go in one query
    sequence = text(f"SELECT seq FROM sqlite_sequence WHERE name = :{parameter}")
    given = sequence.bindparams(**{parameter: table.name}).columns(seq=Integer)
    return func.max(func.coalesce(largest, 0), func.coalesce(given.scalar_subquery(), 0))


def insert_rows(
    connection: Connection,
    entity: type[Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    with_ids: bool = True,
) -> list[int]:
    """Insert ``rows`` into ``entity``'s table; return their ids in the order of ``rows``.

    Parameters
    ----------
    connection:
        The connection of the open transaction; nothing is committed.
    entity:
        An ORM class whose primary key is an integer ``id``.
    rows:
        Values by ORM attribute name (``meta`` for the ``metadata`` column). Rows may carry
        their ``id``, from :func:`reserve_ids`: all of them, or none.
    with_ids:
        ``False`` lets the database number the rows and returns ``[]``: for tables nothing
        points at (the audit trail).

    Raises
    ------
    ValueError
        A key that is not a column of the table, or a column with only a server-side default
        that some rows give and others leave out.
    sqlalchemy.exc.DBAPIError
        What the database refused (``IntegrityError`` for a unique or foreign key).
    """
    if not rows:
        return []
    layout = _layout(entity)
    table = layout.table
    names, columns = layout.columns_of(rows)
    ids: list[int] = []
    if "id" in rows[0]:
        ids = [row["id"] for row in rows]
    elif with_ids:
        reserved = reserve_ids(connection, {entity: len(rows)})
        if reserved is None:
            data = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
            result = connection.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), data
            )
            return [int(i) for i in result.scalars()]
        ids = reserved[entity]
    if ids:
        names, columns = ["id", *names], [ids, *columns]
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg" and len(rows) >= COPY_MIN_ROWS:
        _copy(connection, table, names, columns)
    elif dialect.name == "sqlite":
        _executemany(connection, table, names, columns)
    else:
        data = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        connection.execute(insert(table), data)
    return ids


class _Layout:
    """An entity's table, its columns by attribute name, and their Python-side defaults."""

    def __init__(self, entity: type[Any]) -> None:
        mapper = inspect(entity)
        self.name = entity.__name__
        self.table: Table = mapper.local_table
        self.columns: dict[str, Column[Any]] = {}
        self.defaults: dict[str, Callable[[], Any]] = {}
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if column.primary_key or not isinstance(column, Column):
                continue
            self.columns[attr.key] = column
            default = column.default
            if default is not None and default.is_scalar:
                self.defaults[attr.key] = _constant(getattr(default, "arg", None))
            elif default is not None and default.is_callable:
                self.defaults[attr.key] = _called(getattr(default, "arg", None))

    def columns_of(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
        """Column names and their values, defaults filled in as an ORM bulk insert would."""
        first = rows[0].keys()
        uniform = all(row.keys() == first for row in rows)
        keys = set(first)
        if not uniform:
            for row in rows:
                keys.update(row)
        unknown = keys - self.columns.keys() - {"id"}
        if unknown:
            raise ValueError(f"{self.name} has no column {sorted(unknown)[0]!r}")
        names: list[str] = []
        columns: list[list[Any]] = []
        for key, column in self.columns.items():
            default = self.defaults.get(key)
            if key not in keys:
                if default is not None:
                    names.append(column.key)
                    columns.append([default() for _ in rows])
                continue
            if uniform:
                values = [row[key] for row in rows]
            else:
                values = [row.get(key, _MISSING) for row in rows]
            is_json = column.type.should_evaluate_none  # None is JSON null, not "no value"
            if not uniform and any(v is _MISSING for v in values):
                if is_json and default is None:
                    raise ValueError(f"{self.name}.{key} (JSON) is left out of some rows only")
                fill = default() if is_json and default is not None else None
                values = [fill if v is _MISSING else v for v in values]
            if (
                not is_json
                and (default is not None or column.server_default is not None)
                and any(v is None for v in values)
            ):
                if default is None:
                    raise ValueError(
                        f"{self.name}.{key} has only a server-side default: give it a value in "
                        "every row or in none"
                    )
                values = [default() if v is None else v for v in values]
            names.append(column.key)
            columns.append(values)
        return names, columns


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _called(made: Any) -> Callable[[], Any]:
    return lambda: made(None)


_LAYOUTS: dict[type[Any], _Layout] = {}
"""Made once per entity: mappings never change after import."""


def _layout(entity: type[Any]) -> _Layout:
    layout = _LAYOUTS.get(entity)
    if layout is None:
        layout = _LAYOUTS[entity] = _Layout(entity)
    return layout


def _executemany(
    connection: Connection, table: Table, names: list[str], columns: list[list[Any]]
) -> None:
    """One prepared statement run for every row (SQLite's DB-API loops in C), each value bound
    as SQLAlchemy binds it for this column."""
    dialect = connection.dialect
    for name, values in zip(names, columns, strict=True):
        column = table.c[name]
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            values[:] = _mapped(process, values, _sameness(column))
    preparer = dialect.identifier_preparer
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        preparer.format_table(table),
        ", ".join(preparer.format_column(table.c[n]) for n in names),
        ", ".join("?" for _ in names),
    )
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def _copy(connection: Connection, table: Table, names: list[str], columns: list[list[Any]]) -> None:
    """``COPY FROM STDIN`` in text format: JSON serialised as SQLAlchemy would (the dialect's
    serializer), timestamps through their column type, then as ISO 8601 text."""
    dialect = connection.dialect
    dumps: Callable[[Any], str] = getattr(dialect, "_json_serializer", None) or json.dumps
    for name, values in zip(names, columns, strict=True):
        column = table.c[name]
        kind = column.type
        if isinstance(kind, TypeDecorator):
            process = functools.partial(kind.process_bind_param, dialect=dialect)
            kind = kind.impl_instance
        else:
            process = None
        if isinstance(kind, JSON):
            values[:] = _mapped(_then(process, _json_text(kind, dumps)), values, id)
        elif isinstance(kind, DateTime):
            values[:] = _mapped(_then(process, _iso), values, hash)
        elif process is not None:
            values[:] = _mapped(process, values, None)
    preparer = dialect.identifier_preparer
    sql = "COPY {} ({}) FROM STDIN".format(
        preparer.format_table(table),
        ", ".join(preparer.format_column(table.c[n]) for n in names),
    )
    raw = connection.connection.driver_connection
    error = dialect.loaded_dbapi.Error
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    except error as exc:
        raise DBAPIError.instance(sql, None, exc, error, dialect=dialect) from exc


def _then(first: Callable[[Any], Any] | None, second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if first is None:
        return second
    return lambda value: second(first(value))


def _json_text(kind: JSON, dumps: Callable[[Any], str]) -> Callable[[Any], str | None]:
    """JSON as the type binds it: ``None`` is JSON ``null`` (SQL ``NULL`` with
    ``none_as_null``), ``JSON.NULL`` always ``null``, ``sqlalchemy.null()`` SQL ``NULL``."""
    none = None if kind.none_as_null else "null"

    def text(value: Any) -> str | None:
        if value is None:
            return none
        if value is JSON.NULL:
            return "null"
        if isinstance(value, Null):
            return None
        return dumps(value)

    return text


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _sameness(column: Column[Any]) -> Callable[[Any], int] | None:
    """How to spot values converted before: timestamps repeat (a batch is made at one
    instant), JSON values are often the same object (``None``, shared lists)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, DateTime):
        return hash
    if isinstance(kind, JSON):
        return id
    return None


def _mapped(
    process: Callable[[Any], Any], values: list[Any], key: Callable[[Any], int] | None
) -> list[Any]:
    """``process`` of every value, once per distinct ``key`` (``hash``: equal values; ``id``:
    the same object, for unhashable values that are alive throughout)."""
    if key is hash:
        done = {v: process(v) for v in set(values)}
        return list(map(done.__getitem__, values))
    if key is None:
        return list(map(process, values))
    keys = list(map(id, values))
    first = dict(zip(keys, values, strict=True))
    if len(first) == len(values):
        return list(map(process, values))
    made = {k: process(v) for k, v in first.items()}
    return list(map(made.__getitem__, keys))
