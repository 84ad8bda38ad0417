"""Labelled tables (``load_labelled_table``) and the reader that tells a table from texts
(``load_labelled``): values, columns, and every kind of bad file named by file, row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopwise.datasets import (
    TableDataset,
    TextDataset,
    load_labelled,
    load_labelled_table,
)
from loopwise.errors import InvalidInput


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_column_but_label_and_external_id_is_a_feature(tmp_path: Path) -> None:
    path = write(
        tmp_path / "loans.csv",
        "external_id,amount,label,age\nl1,1200.5,ok,31\nl2,-3e2,bad,47\nl3,1200.5,ok,31\n",
    )
    table = load_labelled_table(path)
    assert isinstance(table, TableDataset)
    assert table.name == "loans"
    assert table.feature_names == ("amount", "age")
    assert table.values.dtype == np.float64
    np.testing.assert_array_equal(table.values, [[1200.5, 31], [-300.0, 47], [1200.5, 31]])
    assert table.labels == ("ok", "bad", "ok")  # equal rows are both kept
    assert table.label_set == ("bad", "ok")
    assert len(table) == 3


def test_named_features_are_read_in_the_order_given(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "label,a,note,b\nx,1,first,2\ny,3,second,4\n")
    table = load_labelled_table(path, features=["b", "a"])
    assert table.feature_names == ("b", "a")
    np.testing.assert_array_equal(table.values, [[2, 1], [4, 3]])


def test_blank_lines_are_skipped_and_labels_stripped(tmp_path: Path) -> None:
    table = load_labelled_table(write(tmp_path / "t.csv", "label,a\n x ,1\n\ny,2\n"))
    assert table.labels == ("x", "y")
    assert table.values.shape == (2, 1)


@pytest.mark.parametrize(
    ("text", "features", "field", "message"),
    [
        ("a,b\n1,2\n", None, "{path}", "needs a 'label' column"),
        ("label\nx\ny\n", None, "{path}", "has no feature column beside 'label'"),
        ("label,a,a\nx,1,2\n", None, "{path}", "has the column 'a' twice"),
        ("label,a\nx,1\ny,oops\n", None, "{path}:3:a", "is not a number: 'oops'"),
        ("label,a\nx,1\ny,nan\n", None, "{path}:3:a", "must be a finite number, got 'nan'"),
        ("label,a\nx,-inf\ny,1\n", None, "{path}:2:a", "must be a finite number"),
        ("label,a\nx,\ny,1\n", None, "{path}:2:a", "is empty"),
        ("label,a\nx,1e308\ny,1\n", None, "{path}:2:a", "is 1e+308, beyond ±1e100"),
        ("label,a\n,1\ny,1\n", None, "{path}:2", "has an empty label"),
        ("label,a\nx,1,2\n", None, "{path}:2", "has 3 fields; the header has 2"),
        ("label,a\nx,1\nx,2\n", None, "{path}", "needs at least two distinct labels"),
        ("label,a\nx,1\ny,2\n", ["a", "z"], "{path}", "has no column 'z'"),
        ("label,a\nx,1\ny,2\n", ["a", "a"], "features", "names 'a' twice"),
        ("label,a\nx,1\ny,2\n", ["label"], "features", "'label' is the target"),
        ("label,a\nx,1\ny,2\n", [], "features", "names no column"),
    ],
)
def test_bad_tables_are_refused_by_file_row_and_column(
    tmp_path: Path, text: str, features: list[str] | None, field: str, message: str
) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InvalidInput) as info:
        load_labelled_table(path, features=features)
    assert info.value.field == field.format(path=path)
    assert message in info.value.message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot be read") as info:
        load_labelled_table(tmp_path / "nope.csv")
    assert info.value.field == str(tmp_path / "nope.csv")


def test_load_labelled_reads_a_text_column_as_texts_and_the_rest_as_a_table(
    tmp_path: Path,
) -> None:
    texts = load_labelled(write(tmp_path / "t.csv", "label,text\nham,hi\nspam,win\n"))
    assert isinstance(texts, TextDataset)
    assert texts.texts == ("hi", "win")
    table = load_labelled(write(tmp_path / "n.csv", "label,x\nham,1\nspam,2\n"), features=["x"])
    assert isinstance(table, TableDataset)
    assert table.feature_names == ("x",)


def test_load_labelled_refuses_features_for_texts_and_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="'text' column") as info:
        load_labelled(write(tmp_path / "t.csv", "label,text\nham,hi\n"), features=["x"])
    assert info.value.field == "features"
    empty = write(tmp_path / "e.csv", "")
    with pytest.raises(InvalidInput, match="needs a header row") as info:
        load_labelled(empty)
    assert info.value.field == str(empty)


def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" starts the file with a byte-order mark and ends lines with CRLF.
    table = tmp_path / "t.csv"
    table.write_bytes("label,x\r\nham,1\r\nspam,2\r\n".encode("utf-8-sig"))
    loaded = load_labelled(table)
    assert isinstance(loaded, TableDataset)
    assert (loaded.feature_names, loaded.labels) == (("x",), ("ham", "spam"))
    texts = tmp_path / "texts.csv"
    texts.write_bytes("label,text\r\nham,hi\r\nspam,win\r\n".encode("utf-8-sig"))
    loaded = load_labelled(texts)
    assert isinstance(loaded, TextDataset)
    assert (loaded.texts, loaded.labels) == (("hi", "win"), ("ham", "spam"))
