"""Uploaded item files (``loopwise.datasets.item_files.read_upload``): read as a file on disk is,
named by the upload's own name, and refused by field when they cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopwise.core.entities import Project
from loopwise.core.enums import InputKind
from loopwise.datasets.item_files import read_items, read_upload
from loopwise.errors import InvalidInput

TEXT = Project(1, "sms", ("ham", "spam"), InputKind.TEXT)
TABLE = Project(2, "t", ("a", "b"), InputKind.TABULAR, feature_names=("x", "y"))


@pytest.mark.parametrize("name", ["pool.csv", "POOL.CSV"])
def test_an_upload_reads_as_the_same_file_on_disk(tmp_path: Path, name: str) -> None:
    data = "\ufeffexternal_id,text,label,channel\na,win now,spam,sms\n,hello,,7\n".encode()
    (tmp_path / "pool.csv").write_bytes(data)
    on_disk = read_items(TEXT, tmp_path / "pool.csv", "csv")
    uploaded = read_upload(TEXT, name, data)
    assert uploaded.rows == on_disk.rows
    assert uploaded.rows[0] == {
        "external_id": "a",
        "label": "spam",
        "payload": "win now",
        "metadata": {"channel": "sms"},
    }
    assert uploaded.lines == [2, 3]
    assert uploaded.path == Path(name)


def test_a_table_upload_parses_its_numbers_and_a_path_keeps_only_its_name() -> None:
    uploaded = read_upload(TABLE, "C:\\fakepath/../rows.jsonl", b'{"x": 1, "y": 2.5}\n')
    assert uploaded.rows == [{"payload": {"features": [1, 2.5]}}]
    assert uploaded.path == Path("rows.jsonl")
    assert read_upload(TABLE, "rows.csv", b"x,y\n1,2.5\n").rows == uploaded.rows


@pytest.mark.parametrize(
    ("name", "data", "field", "says"),
    [
        ("", b"text\nhi\n", "file", "choose a CSV or JSONL file"),
        ("pool.xlsx", b"text\nhi\n", "file", "must be a .csv or .jsonl file, got 'pool.xlsx'"),
        (
            "pool.csv",
            "text\ncaf\u00e9\n".encode("cp1252"),
            "pool.csv",
            "is not UTF-8 text (byte 9 cannot be read)",
        ),
        ("pool.jsonl", b'{"text": "hi"}\nnot json\n', "pool.jsonl:2", "is not valid JSON"),
        ("pool.csv", b"body\nhi\n", "pool.csv:2", "needs a 'text' column"),
    ],
)
def test_an_upload_that_cannot_be_read_is_refused_by_field(
    name: str, data: bytes, field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_upload(TEXT, name, data)
    assert refused.value.field == field
    assert says in refused.value.message


def test_an_upload_is_read_no_further_than_one_row_past_its_limit() -> None:
    data = "text\n" + "".join(f"text {i}\n" for i in range(100))
    assert len(read_upload(TEXT, "a.csv", data.encode()).rows) == 100
    read = read_upload(TEXT, "a.csv", data.encode(), limit=10)
    assert [row["payload"] for row in read.rows] == [f"text {i}" for i in range(11)]
    assert read.lines[-1] == 12
