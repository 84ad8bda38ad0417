"""Real data sets bundled with loopwise (see ``README.md`` beside this file for their sources)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from loopwise.datasets.base import (
    ID_COLUMN,
    TableDataset,
    TextDataset,
    check_feature_names,
    open_text,
    too_large,
)
from loopwise.datasets.records import csv_records, load_labelled_jsonl, load_labelled_rows
from loopwise.errors import InvalidInput


def load_labelled_csv(path: str | Path, *, name: str | None = None) -> TextDataset:
    """Read a CSV with ``label`` and ``text`` columns; repeated texts keep their first label.

    Raises
    ------
    InvalidInput
        The file is missing, lacks a column, has an empty label or text, or has fewer than two
        labels. The field names the file (and row).
    """
    path = Path(path)
    handle = open_text(path)
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    with handle:
        reader = csv.DictReader(handle)
        missing = {"label", "text"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidInput(
                f"needs columns 'label' and 'text'; missing {sorted(missing)}", field=str(path)
            )
        for line, row in enumerate(reader, start=2):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if not text or not label:
                raise InvalidInput("has an empty label or text", field=f"{path}:{line}")
            if text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(label)
    if len(set(labels)) < 2:
        raise InvalidInput("needs at least two distinct labels", field=str(path))
    return TextDataset(name or path.stem, tuple(texts), tuple(labels))


def load_labelled_table(
    path: str | Path, *, features: Sequence[str] | None = None, name: str | None = None
) -> TableDataset:
    """Read a CSV with a ``label`` column and numeric feature columns: those named by
    ``features``, else every column but ``label`` and ``external_id``. Every row is kept (equal
    rows are data here, unlike repeated texts).

    Raises
    ------
    InvalidInput
        The file is missing or empty, lacks ``label`` or a named feature column, has no feature
        column, an empty label, or a feature value that is empty, not a number or not finite
        (``nan``, ``inf``); fewer than two labels. The field names the file (and row and
        column); ``features`` names a feature asked for twice.
    """
    path = Path(path)
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = [column.strip() for column in next(reader, [])]
        if "label" not in header:
            raise InvalidInput("needs a 'label' column", field=str(path))
        counts = Counter(header)
        twice = next((c for c in header if counts[c] > 1), None)
        if twice is not None:
            raise InvalidInput(f"has the column {twice!r} twice", field=str(path))
        columns = _feature_columns(header, features, path)
        at = [header.index(column) for column in columns]
        label_at = header.index("label")
        rows: list[list[float]] = []
        labels: list[str] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise InvalidInput(
                    f"has {len(row)} fields; the header has {len(header)}", field=f"{path}:{line}"
                )
            label = row[label_at].strip()
            if not label:
                raise InvalidInput("has an empty label", field=f"{path}:{line}")
            rows.append([_finite(row[i], f"{path}:{line}:{header[i]}") for i in at])
            labels.append(label)
    if len(set(labels)) < 2:
        raise InvalidInput("needs at least two distinct labels", field=str(path))
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(columns))
    return TableDataset(name or path.stem, tuple(columns), values, tuple(labels))


def _feature_columns(header: list[str], features: Sequence[str] | None, path: Path) -> list[str]:
    if features is None:
        columns = [c for c in header if c not in ("label", ID_COLUMN)]
        if not columns:
            raise InvalidInput("has no feature column beside 'label'", field=str(path))
        return columns
    columns = check_feature_names(features)
    for column in columns:
        if column not in header:
            raise InvalidInput(f"has no column {column!r} (asked for in features)", field=str(path))
    return columns


def _finite(value: str, field: str) -> float:
    text = value.strip()
    if not text:
        raise InvalidInput("is empty; every feature needs a number", field=field)
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput(
            f"is not a number: {text!r} (name the numeric columns in features)", field=field
        ) from None
    if not math.isfinite(number):
        raise InvalidInput(f"must be a finite number, got {text!r}", field=field)
    return too_large(number, field)


def load_labelled(
    path: str | Path, *, features: Sequence[str] | None = None, fmt: str | None = None
) -> TextDataset | TableDataset:
    """A labelled file as texts or a table. ``fmt`` (``csv`` or ``jsonl``; by default ``jsonl``
    for a ``.jsonl`` or ``.ndjson`` name, else ``csv``) says how to read it:

    - a JSONL file, a CSV with a ``payload`` column, or one whose first row holds JSON in a
      ``features`` column and no text (``labels export`` of a table):
      :mod:`loopwise.datasets.records`;
    - a CSV with a ``text`` column (and no ``features`` named): :func:`load_labelled_csv`;
    - any other CSV: :func:`load_labelled_table`.

    Raises
    ------
    InvalidInput
        As those readers; ``fmt`` is neither format; ``features`` named for a file of texts.
    """
    path = Path(path)
    kind = (fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")).lower()
    if kind not in ("csv", "jsonl"):
        raise InvalidInput(f"must be csv or jsonl, got {fmt!r}", field="format")
    if features is not None:
        check_feature_names(features)
    if kind == "jsonl":
        return load_labelled_jsonl(path, features=features)
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = [column.strip() for column in next(reader, [])]
        first = dict(zip(header, next((row for row in reader if row), []), strict=False))
    if not header:
        raise InvalidInput("is empty; it needs a header row", field=str(path))
    exported_table = (first.get("features") or "").lstrip()[:1] in ("[", "{")
    if "payload" in header or (exported_table and not (first.get("text") or "").strip()):
        with open_text(path) as handle:
            return load_labelled_rows(csv_records(handle), path, features=features, from_csv=True)
    if "text" in header:
        if features is not None:
            raise InvalidInput(
                "are for a table; this file has a 'text' column, whose TF-IDF is the features",
                field="features",
            )
        return load_labelled_csv(path)
    return load_labelled_table(path, features=features)


def load_sms_spam() -> TextDataset:
    """SMS Spam Collection (Almeida and Gómez Hidalgo, 2011; CC BY 4.0): 5,160 distinct texts."""
    ref = resources.files(__package__).joinpath("sms_spam.csv")
    with resources.as_file(ref) as path:
        return load_labelled_csv(path, name="sms_spam")


def load_trec_questions() -> TextDataset:
    """TREC question classification (Li and Roth, COLING 2002): 6 coarse labels."""
    ref = resources.files(__package__).joinpath("trec_questions.csv")
    with resources.as_file(ref) as path:
        return load_labelled_csv(path, name="trec_questions")


__all__ = [
    "TableDataset",
    "TextDataset",
    "load_labelled",
    "load_labelled_csv",
    "load_labelled_jsonl",
    "load_labelled_table",
    "load_sms_spam",
    "load_trec_questions",
    "open_text",
]
