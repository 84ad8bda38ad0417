"""Writing label exports and writing item files in batches (with a progress bar) for the CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from loopwise.cli.common import errors, progress_bar
from loopwise.datasets.item_files import ItemFile
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
