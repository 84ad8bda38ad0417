"""Reading item files (CSV / JSONL) and writing label exports for the CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from loopwise.core.entities import Project
from loopwise.core.enums import InputKind
from loopwise.datasets import open_text
from loopwise.errors import InvalidInput

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


def read_items(project: Project, path: Path, fmt: str) -> list[dict[str, Any]]:
    """Rows of a CSV or JSONL file as item dicts (``payload``, ``external_id``, ``metadata``,
    ``label``). CSV columns other than the payload's become metadata, numbers parsed."""
    with open_text(path) as handle:
        return list(_read(project, handle, path, fmt))


def _read(project: Project, handle: TextIO, path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "csv":
        for line, row in enumerate(csv.DictReader(handle), start=2):
            yield _row_to_item(project, row, f"{path}:{line}", csv_row=True)
        return
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"is not valid JSON ({exc.msg})", field=f"{path}:{line}") from None
        if not isinstance(row, dict):
            raise InvalidInput("must be a JSON object", field=f"{path}:{line}")
        yield _row_to_item(project, row, f"{path}:{line}", csv_row=False)


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
        writer.writerow(flat)
        count += 1
    return count
