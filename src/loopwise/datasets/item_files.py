"""Item files (CSV / JSONL) read as item dicts, each with the line it starts on: what
``loopwise items import``, ``loopwise pool add`` and ``pool remove`` read, and what the web UI's
pool page takes as an upload."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from loopwise.core.entities import Project
from loopwise.core.enums import InputKind
from loopwise.datasets.base import open_text
from loopwise.datasets.records import csv_records, json_lines
from loopwise.errors import InvalidInput, LoopwiseError


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def row_to_item(
    project: Project, row: dict[str, Any], where: str, *, csv_row: bool
) -> dict[str, Any]:
    """One record of a file as an item dict: its ``external_id`` (an empty one is none), its
    ``label``, its payload (a ``payload``; else a text project's ``text``, or a table's
    ``features`` or a column per feature, numbers parsed in a CSV), and the other columns as
    ``metadata`` (unless it has its own). ``where`` names the record in an error."""
    row = dict(row)
    item: dict[str, Any] = {}
    if row.get("external_id") not in (None, ""):
        item["external_id"] = str(row.pop("external_id"))
    else:
        row.pop("external_id", None)
    if "label" in row:
        item["label"] = row.pop("label")
    if "payload" in row:
        item["payload"] = row.pop("payload")
    elif project.input_kind is InputKind.TEXT:
        if "text" not in row:
            raise InvalidInput("needs a 'text' column (or 'payload')", field=where)
        item["payload"] = row.pop("text")
    elif "features" in row:
        item["payload"] = {"features": row.pop("features")}
    else:
        missing = [f for f in project.feature_names if f not in row]
        if missing:
            raise InvalidInput(f"needs a column for feature {missing[0]!r}", field=where)
        values = [row.pop(f) for f in project.feature_names]
        if csv_row:
            values = [_number(v) if isinstance(v, str) else v for v in values]
        item["payload"] = {"features": values}
    metadata = row.pop("metadata", None)
    if metadata is None and row:
        metadata = {k: _number(v) if csv_row and isinstance(v, str) else v for k, v in row.items()}
    if metadata:
        item["metadata"] = metadata
    return item


@dataclass(frozen=True)
class ItemFile:
    """A file's rows as item dicts, with the line each starts on (for errors)."""

    path: Path
    rows: list[dict[str, Any]]
    lines: list[int]

    def located(self, exc: LoopwiseError, offset: int = 0) -> LoopwiseError:
        """``exc`` about ``rows[i]`` (or ``items[i]``, ``candidates[i]``) of a batch that
        starts at row ``offset``, named by the file's line instead:
        ``items.csv:7002:payload.text``; in its message too (``in rows[3]`` -> ``on line 5``).
        Other errors are returned as they are."""

        def line(match: re.Match[str]) -> str:
            return str(self.lines[offset + int(match.group(1))])

        field = exc.field or ""
        found = _ROW.match(field)
        if found is None:
            return exc
        rest = field[found.end() :].lstrip(".")
        where = f"{self.path}:{line(found)}" + (f":{rest}" if rest else "")
        message = _ROW_IN_TEXT.sub(lambda m: f"on line {line(m)}", exc.message)
        return type(exc)(message, field=where)


_ROW = re.compile(r"^(?:rows|items|candidates)\[(\d+)\]")
_ROW_IN_TEXT = re.compile(r"in (?:rows|items|candidates)\[(\d+)\]")


def read_items(project: Project, path: Path, fmt: str) -> ItemFile:
    """Rows of a CSV or JSONL file as item dicts (``payload``, ``external_id``, ``metadata``,
    ``label``). CSV columns other than the payload's become metadata, numbers parsed."""
    with open_text(path) as handle:
        return _item_file(project, handle, path, fmt)


def read_upload(project: Project, name: str, data: bytes, *, limit: int | None = None) -> ItemFile:
    """An uploaded file (``name`` as the browser sent it, ``data`` its bytes) read as
    :func:`read_items` reads a file: its format from the name (``.csv`` or ``.jsonl``), UTF-8
    with or without a byte-order mark. Errors name the file (``upload.csv:7:payload.text``).
    With ``limit``, reading stops at ``limit + 1`` rows (a file too long to take is not parsed
    whole to say so).

    Raises
    ------
    InvalidInput
        No file or a name not ending in ``.csv`` or ``.jsonl`` (field ``file``), bytes that
        are not UTF-8 text (the file's name), or a row as :func:`read_items` refuses it (the
        file's name and the line).
    """
    path = Path(Path(name or "").name)
    fmt = path.suffix.lstrip(".").lower()
    if not path.name:
        raise InvalidInput("choose a CSV or JSONL file to upload", field="file")
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"must be a .csv or .jsonl file, got {path.name!r}", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"is not UTF-8 text (byte {exc.start + 1} cannot be read)", field=path.name
        ) from None
    return _item_file(project, io.StringIO(text, newline=""), path, fmt, limit)


def _item_file(
    project: Project, handle: TextIO, path: Path, fmt: str, limit: int | None = None
) -> ItemFile:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for line, row in _read(project, handle, path, fmt):
        rows.append(row)
        lines.append(line)
        if limit is not None and len(rows) > limit:
            break
    return ItemFile(path, rows, lines)


def read_candidates(project: Project, path: Path, fmt: str) -> ItemFile:
    """Rows of a CSV or JSONL file naming pool candidates to remove: each by its
    ``external_id`` (a file of ids alone will do), or without one by its payload, read as
    :func:`read_items` reads it; other columns are ignored. The file that added candidates
    names them so."""
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    with open_text(path) as handle:
        records = csv_records(handle) if fmt == "csv" else json_lines(handle, path)
        for line, row in records:
            external_id = row.get("external_id")
            if external_id not in (None, ""):
                rows.append({"external_id": str(external_id)})
            else:
                item = row_to_item(project, row, f"{path}:{line}", csv_row=fmt == "csv")
                rows.append({"payload": item["payload"]})
            lines.append(line)
    return ItemFile(path, rows, lines)


def _read(
    project: Project, handle: TextIO, path: Path, fmt: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "csv":
        for line, row in csv_records(handle):
            yield line, row_to_item(project, row, f"{path}:{line}", csv_row=True)
        return
    for line, row in json_lines(handle, path):
        yield line, row_to_item(project, row, f"{path}:{line}", csv_row=False)
