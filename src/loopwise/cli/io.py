"""Reading item files (CSV / JSONL) and writing label exports for the CLI."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from loopwise.cli.common import errors, progress_bar
from loopwise.core.entities import Project
from loopwise.core.enums import InputKind
from loopwise.datasets import open_text
from loopwise.datasets.records import csv_records, json_lines
from loopwise.errors import InvalidInput, LoopwiseError

T = TypeVar("T")

EXPORT_COLUMNS = (
    "external_id",
    "text",
    "features",
    "label",
    "source",
    "split",
    "weight",
    "agreement",
    "created_by",
    "created_at",
    "review_task_id",
    "model_prediction",
    "model_version",
    "golden",
    "origin",
    "reasons",
    "metadata",
)


def file_format(path: Path, given: str | None) -> str:
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput("use a .csv or .jsonl file, or say --format csv|jsonl", field="format")
    return fmt


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _row_to_item(
    project: Project, row: dict[str, Any], where: str, *, csv_row: bool
) -> dict[str, Any]:
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
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    with open_text(path) as handle:
        for line, row in _read(project, handle, path, fmt):
            rows.append(row)
            lines.append(line)
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
                item = _row_to_item(project, row, f"{path}:{line}", csv_row=fmt == "csv")
                rows.append({"payload": item["payload"]})
            lines.append(line)
    return ItemFile(path, rows, lines)


def _read(
    project: Project, handle: TextIO, path: Path, fmt: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "csv":
        for line, row in csv_records(handle):
            yield line, _row_to_item(project, row, f"{path}:{line}", csv_row=True)
        return
    for line, row in json_lines(handle, path):
        yield line, _row_to_item(project, row, f"{path}:{line}", csv_row=False)


SKIPPED_AGAIN = "rows with an external id that were written are skipped"
"""What running ``items import`` or ``pool add`` again does with the rows written before."""


def write_in_batches(
    file: ItemFile,
    rows: list[dict[str, Any]],
    write: Callable[[list[dict[str, Any]]], T],
    batch: int,
    description: str,
    *,
    check: Callable[[list[dict[str, Any]]], None],
    done: str = "written",
    again: str = SKIPPED_AGAIN,
) -> list[T]:
    """``check`` every row first (``rows``: ``file``'s rows as ``write`` takes them), then
    ``write`` them ``batch`` at a time, one transaction each, with a progress bar.

    A row the check refuses (e.g. :meth:`Loopwise.check_rows`) means nothing is written, and
    its error names the file's line. An error only a write can find (an external id stored
    with another payload) names the line too, after a note of what was ``done`` before it and
    what running the command again does with those rows (``again``).
    """
    try:
        check(rows)
    except LoopwiseError as exc:
        raise file.located(exc) from None
    results: list[T] = []
    with progress_bar() as progress:
        task = progress.add_task(description, total=len(rows))
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            try:
                results.append(write(part))
            except LoopwiseError as exc:
                if start:
                    errors.print(
                        f"[yellow]note[/] the {start:,} row(s) up to line {file.lines[start - 1]} "
                        f"were {done} before this error; run the command again once it is "
                        f"mended: {again}",
                        highlight=False,
                    )
                raise file.located(exc, start) from None
            progress.advance(task, len(part))
    return results


def write_labels(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Write exported labels as JSONL (one object a line) or CSV (payload split into columns)."""
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for row in rows:
        flat = {k: v for k, v in row.items() if k not in ("payload", "metadata")}
        payload = row["payload"]
        flat["text"] = payload.get("text", "")
        flat["features"] = json.dumps(payload["features"]) if "features" in payload else ""
        flat["metadata"] = (
            json.dumps(row["metadata"], ensure_ascii=False) if row["metadata"] else ""
        )
        flat["reasons"] = json.dumps(row["reasons"], ensure_ascii=False) if row["reasons"] else ""
        writer.writerow(flat)
        count += 1
    return count
