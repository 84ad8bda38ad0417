"""Labelled examples from rows shaped like loopwise's own item files: a JSONL file (what
``items import --labelled`` reads and ``labels export --format jsonl`` writes), and a CSV with a
``payload`` column (a text, or JSON as the HTTP API's CSV export writes it) or whose ``features``
column holds JSON (what ``labels export --format csv`` writes for a table).

A row is a JSON object with a ``label`` (a string, or a whole number read as its digits) and
one of:

- a text: ``"text": "..."``, ``"payload": "..."`` or ``"payload": {"text": "..."}``;
- features: ``"features": [1.5, 2]`` or ``{"amount": 1.5, "age": 2}``, at the top level or
  in the payload (``"payload": {"features": ...}``);
- neither: every other key is a numeric feature column, as in a CSV table (``external_id``
  and ``metadata`` are never features), or the keys that ``features`` names.

Every row must be of the same kind as the first: texts, or features of the same width (and,
for named features, the same names). Errors name the file and line, and the key where one is
at fault, like :func:`loopwise.datasets.load_labelled_table`'s.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from loopwise.datasets.base import ID_COLUMN, TableDataset, TextDataset, open_text, too_large
from loopwise.errors import InvalidInput

_NOT_FEATURES = frozenset({"label", ID_COLUMN, "metadata"})


def load_labelled_jsonl(
    path: str | Path, *, features: Sequence[str] | None = None, name: str | None = None
) -> TextDataset | TableDataset:
    """A JSONL file's rows (one JSON object a line; blank lines skipped) as texts or a table.

    Raises
    ------
    InvalidInput
        A line is not a JSON object, or a row is refused as :func:`load_labelled_rows` says.
    """
    path = Path(path)
    with open_text(path) as handle:
        return load_labelled_rows(json_lines(handle, path), path, features=features, name=name)


def csv_records(handle: TextIO) -> Iterator[tuple[int, dict[Any, Any]]]:
    """The records of a CSV with a header, as ``csv.DictReader`` makes them (extra values under
    ``None``, missing ones ``None``), each with the line it starts on: a quoted value may span
    lines and blank lines are skipped, so counting records does not give the line."""
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        return
    while True:
        start = reader.line_num + 1
        values = next(reader, None)
        if values is None:
            return
        if not values:
            continue
        row: dict[Any, Any] = dict(zip(header, values, strict=False))
        if len(values) > len(header):
            row[None] = values[len(header) :]
        for key in header[len(values) :]:
            row[key] = None
        yield start, row


def load_labelled_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    path: Path,
    *,
    features: Sequence[str] | None = None,
    name: str | None = None,
    from_csv: bool = False,
) -> TextDataset | TableDataset:
    """``rows`` (each with its line) read as the module docstring says. Repeated texts keep
    their first label, as :func:`loopwise.datasets.load_labelled_csv` does; every feature row
    is kept. With ``from_csv`` the values are the CSV's strings: a ``features`` value is parsed
    as JSON and a feature column as a number.

    Raises
    ------
    InvalidInput
        Naming ``<path>:<line>`` (and the key): no label or an empty one, an empty text, a
        feature that is not a finite number, a row of another kind or width than the first;
        ``features`` naming keys of rows that hold texts or unnamed feature lists; no row, or
        fewer than two labels (naming the file).
    """
    texts: list[str] = []
    text_labels: list[str] = []
    seen: set[str] = set()
    vectors: list[list[float]] = []
    vector_labels: list[str] = []
    names: tuple[str, ...] | None = None
    keyed = False
    named = None if features is None else tuple(features)
    first: int | None = None
    for line, row in rows:
        where = f"{path}:{line}"
        if from_csv:
            row = _payload_parsed(row)
        label = _label(row, where)
        text = _text(row, where, from_csv)
        if first is None:
            first = line
        if text is not None:
            if vectors:
                raise InvalidInput(f"has a text where line {first} has features", field=where)
            if features is not None:
                raise InvalidInput(
                    "are for a table; this file's rows have texts, whose TF-IDF is the features",
                    field="features",
                )
            if text not in seen:
                seen.add(text)
                texts.append(text)
                text_labels.append(label)
            continue
        if texts:
            raise InvalidInput(f"has no text where line {first} has one", field=where)
        if names is None:
            order, strict = named, False
        else:  # the first row's names, every one of them (those asked for, where asked)
            order, strict = (names, named is None) if keyed else (None, False)
        keys, values, keyed_now = _features(row, where, order, strict, from_csv)
        if names is None:
            names, keyed = keys, keyed_now
        elif keyed_now != keyed or len(keys) != len(names):
            raise InvalidInput(
                f"has the features {list(keys)}; line {first} has {list(names)}", field=where
            )
        pairs = zip(keys, values, strict=True)
        vectors.append([_number(v, f"{where}:{k}", from_csv) for k, v in pairs])
        vector_labels.append(label)
    labels = text_labels or vector_labels
    if not labels:
        raise InvalidInput("has no row", field=str(path))
    if len(set(labels)) < 2:
        raise InvalidInput("needs at least two distinct labels", field=str(path))
    if texts:
        return TextDataset(name or path.stem, tuple(texts), tuple(text_labels))
    assert names is not None
    matrix = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), len(names))
    return TableDataset(name or path.stem, names, matrix, tuple(vector_labels))


def json_lines(handle: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSONL file, each with its line; blank lines skipped.

    Raises
    ------
    InvalidInput
        A line is not valid JSON, or not an object (the field names file and line).
    """
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"is not valid JSON ({exc.msg})", field=f"{path}:{line}") from None
        if not isinstance(row, dict):
            raise InvalidInput("must be a JSON object", field=f"{path}:{line}")
        yield line, row


def _payload_parsed(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A CSV row whose ``payload`` is JSON of a text or of features (the API's CSV export
    writes payloads so) with it parsed; as it is otherwise (a ``payload`` column of texts, as
    ``items import`` reads)."""
    payload = row.get("payload")
    if not isinstance(payload, str) or payload.lstrip()[:1] != "{":
        return row
    try:
        parsed = json.loads(payload)
    except json.JSONDecodeError:
        return row
    if isinstance(parsed, dict) and ("text" in parsed or "features" in parsed):
        return {**row, "payload": parsed}
    return row


def _label(row: Mapping[str, Any], where: str) -> str:
    value = row.get("label")
    if value is None:
        raise InvalidInput("has no label", field=where)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInput(
            f"must be a string or a whole number, got {json.dumps(value)}", field=f"{where}:label"
        )
    if not value.strip():
        raise InvalidInput("has an empty label", field=where)
    return value.strip()


def _text(row: Mapping[str, Any], where: str, from_csv: bool) -> str | None:
    """The row's text; ``None`` when it holds none (in a CSV, an empty ``text`` value: a table
    exported by ``labels export`` has the column)."""
    payload = row.get("payload")
    if isinstance(payload, Mapping) and "text" in payload:
        value, key = payload["text"], "payload.text"
    elif isinstance(payload, str):
        value, key = payload, "payload"
    elif "text" in row and not (from_csv and not row["text"]):
        value, key = row["text"], "text"
    else:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must be a non-empty string", field=f"{where}:{key}")
    return value.strip()


def _features(
    row: Mapping[str, Any],
    where: str,
    order: Sequence[str] | None,
    strict: bool,
    from_csv: bool,
) -> tuple[tuple[str, ...], list[Any], bool]:
    """The row's feature names and values, and whether the names are keys (not a list's
    places). Keyed values come in ``order`` where it is given; with ``strict`` the row must
    have no other feature key."""
    payload = row.get("payload")
    if isinstance(payload, Mapping) and "features" in payload:
        value, key = payload["features"], "payload.features"
    elif row.get("features") not in (None, ""):
        value, key = row["features"], "features"
    else:
        available = [k for k in row if k not in _NOT_FEATURES]
        return (*_pick(row, available, order, strict, where), True)
    if from_csv and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"is not valid JSON ({exc.msg})", field=f"{where}:{key}") from None
    if isinstance(value, Mapping) and value:
        return (*_pick(value, list(value), order, strict, f"{where}:{key}"), True)
    if not isinstance(value, list) or not value:
        raise InvalidInput("must be a non-empty list or object of numbers", field=f"{where}:{key}")
    if order is not None:
        raise InvalidInput(
            "name keys of the rows; this file's features are lists without names",
            field="features",
        )
    return tuple(f"{key}[{i}]" for i in range(len(value))), list(value), False


def _pick(
    row: Mapping[str, Any],
    available: list[str],
    order: Sequence[str] | None,
    strict: bool,
    where: str,
) -> tuple[tuple[str, ...], list[Any]]:
    if order is None:
        if not available:
            raise InvalidInput("has neither a text nor a feature", field=where)
        return tuple(available), [row[k] for k in available]
    missing = next((k for k in order if k not in row), None)
    if missing is not None:
        raise InvalidInput(f"has no feature {missing!r}", field=where)
    extra = next((k for k in available if k not in order), None) if strict else None
    if extra is not None:
        raise InvalidInput(f"has the feature {extra!r}, which the first row has not", field=where)
    return tuple(order), [row[k] for k in order]


def _number(value: Any, field: str, from_csv: bool) -> float:
    if from_csv and isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise InvalidInput(f"is not a number: {text!r}", field=field) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidInput(f"is not a number: {json.dumps(value)}", field=field)
    if not math.isfinite(number):
        raise InvalidInput(f"must be a finite number, got {value!r}", field=field)
    return too_large(number, field)
