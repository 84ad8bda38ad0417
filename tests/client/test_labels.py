"""Labels out (streamed) and in, the golden set and gold items, against the real service."""

from __future__ import annotations

import csv
import gc
import json
import time
from pathlib import Path
from typing import Any, Literal

import pytest

from loopwise.client._client import _text_lines
from loopwise.errors import InvalidInput, NotAllowed, ProjectNotFound
from tests.client.conftest import SEEDED, Connect, Counting, Space, World, in_use
from tests.factories import seed_rows


def test_export_streams_every_label_as_dicts(connect: Connect, trained: Space) -> None:
    rows = list(connect("viewer", on=trained).export_labels(trained.name))
    assert len(rows) == SEEDED
    by_id = {row["external_id"]: row for row in rows}
    first = by_id["seed-ham-0"]
    assert first["label"] == "ham"
    assert first["source"] == "import"
    assert first["payload"] == {"text": seed_rows()[0]["payload"]}


def test_export_as_csv_rows(connect: Connect, trained: Space) -> None:
    rows = list(connect("viewer", on=trained).export_labels(trained.name, format="csv"))
    assert len(rows) == SEEDED
    assert {row["label"] for row in rows} == {"ham", "spam"}
    assert json.loads(rows[0]["payload"])["text"]


def test_export_to_a_csv_file(connect: Connect, trained: Space, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "labels.csv"
    assert connect("viewer", on=trained).export_labels_csv(trained.name, target) == target
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == SEEDED
    assert list(folder.iterdir()) == [target]


def test_a_failed_export_leaves_no_file(connect: Connect, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ProjectNotFound):
        connect("admin").export_labels_csv("nope", folder / "labels.csv")
    assert list(folder.iterdir()) == []


def test_export_is_sent_when_iteration_starts(connect: Connect) -> None:
    counting = Counting()
    rows = connect("admin", transport=counting).export_labels("nope")
    assert counting.requests == []
    with pytest.raises(ProjectNotFound):
        next(rows)
    assert len(counting.requests) == 1


def test_stopping_early_closes_the_stream(connect: Connect, trained: Space) -> None:
    counting = Counting()
    rows = connect("viewer", on=trained, transport=counting).export_labels(trained.name)
    assert next(rows)["label"] in ("ham", "spam")
    rows.close()
    with pytest.raises(StopIteration):
        next(rows)
    assert len(counting.requests) == 1


def test_stopping_early_ends_the_services_read(
    connect: Connect, world: World, trained: Space
) -> None:
    rows = connect("viewer", on=trained).export_labels(trained.name)
    next(rows)
    rows.close()
    try:
        deadline = time.monotonic() + 2
        while in_use(world.lw) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert in_use(world.lw) == 0
    finally:
        gc.collect()  # frees the connection, or dropping the PostgreSQL schema would hang


def test_clients_may_not_export(connect: Connect, trained: Space) -> None:
    with pytest.raises(NotAllowed):
        list(connect("client", on=trained).export_labels(trained.name))


@pytest.mark.usefixtures("seeded")
def test_import_golden_and_gold(connect: Connect, space: Space) -> None:
    admin = connect("admin")
    rows: list[dict[str, Any]] = [
        {"external_id": "imp-1", "payload": "see you at 5", "label": "ham"},
        {"payload": "WIN a prize now", "label": "spam", "metadata": {"from": "import"}},
    ]
    assert admin.import_labels(space.name, rows) == 2
    admin.add_golden(space.name, "imp-1", "ham", reason="checked twice")
    gold = [{"external_id": "gold-1", "payload": "call me later", "label": "ham"}]
    assert admin.add_gold(space.name, gold) == 1
    exported = {row["external_id"]: row for row in admin.export_labels(space.name)}
    assert exported["imp-1"]["golden"] is True
    assert len(exported) >= SEEDED + 2


@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_unusual_line_breaks_in_a_text_survive_the_export(
    connect: Connect, space: Space, format: Literal["jsonl", "csv"]
) -> None:
    text = "one\u2028two\u2029three\x85four\rfive\nsix"
    row = {"external_id": "odd", "payload": text, "label": "ham"}
    connect("admin").import_labels(space.name, [row])
    exported = connect("viewer").export_labels(space.name, format=format)
    rows = {row["external_id"]: row for row in exported}
    payload = rows["odd"]["payload"]
    assert (payload if format == "jsonl" else json.loads(payload)) == {"text": text}


def test_an_import_row_with_an_unknown_label_names_it(connect: Connect, space: Space) -> None:
    rows = [{"payload": "a", "label": "ham"}, {"payload": "b", "label": "eggs"}]
    with pytest.raises(InvalidInput) as caught:
        connect("admin").import_labels(space.name, rows)
    assert caught.value.field is not None
    assert caught.value.field.startswith("rows[1]")


def test_csv_lines_survive_any_chunking() -> None:
    text = 'a,b\r\n1,"two\r\nlines"\r\n3,\u2028x\r\n'
    expected = [{"a": "1", "b": "two\r\nlines"}, {"a": "3", "b": "\u2028x"}]
    for size in (1, 2, 3, 5, len(text)):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(csv.DictReader(_text_lines(chunks))) == expected
