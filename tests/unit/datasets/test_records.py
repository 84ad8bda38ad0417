"""Labelled JSONL files and exported CSVs (``loopwise.datasets.records``, through
``load_labelled``): every shape of row loopwise reads or writes, and every bad row named by file,
line and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopwise.datasets import TableDataset, TextDataset, load_labelled, load_labelled_jsonl
from loopwise.errors import InvalidInput


def jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "rows",
    [
        [{"label": "ham", "text": "hi"}, {"label": "spam", "text": "win"}],
        [{"label": "ham", "payload": "hi"}, {"label": "spam", "payload": "win"}],
        [
            {"external_id": "a", "label": "ham", "payload": {"text": "hi"}, "split": "train"},
            {"external_id": "b", "label": "spam", "payload": {"text": "win"}, "golden": False},
        ],
    ],
    ids=["text", "payload", "export"],
)
def test_rows_with_a_text_are_texts(tmp_path: Path, rows: list[Any]) -> None:
    loaded = load_labelled(jsonl(tmp_path / "t.jsonl", rows))
    assert isinstance(loaded, TextDataset)
    assert (loaded.name, loaded.texts, loaded.labels) == ("t", ("hi", "win"), ("ham", "spam"))


def test_repeated_texts_keep_their_first_label_and_blank_lines_are_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"label": "ham", "text": "hi"}\n\n{"label": "spam", "text": "hi"}\n'
        '{"label": "spam", "text": " win "}\n',
        encoding="utf-8",
    )
    loaded = load_labelled_jsonl(path)
    assert isinstance(loaded, TextDataset)
    assert (loaded.texts, loaded.labels) == (("hi", "win"), ("ham", "spam"))


@pytest.mark.parametrize(
    ("rows", "names"),
    [
        (
            [{"label": "ok", "features": [1, 2.5]}, {"label": "bad", "features": [3, 4]}],
            ("features[0]", "features[1]"),
        ),
        (
            [
                {"label": "ok", "payload": {"features": [1, 2.5]}},
                {"label": "bad", "payload": {"features": [3, 4]}},
            ],
            ("payload.features[0]", "payload.features[1]"),
        ),
        (
            [
                {"label": "ok", "features": {"amount": 1, "age": 2.5}},
                {"label": "bad", "features": {"age": 4, "amount": 3}},  # another key order
            ],
            ("amount", "age"),
        ),
        (
            [
                {"external_id": "r1", "label": "ok", "amount": 1, "age": 2.5, "metadata": {}},
                {"external_id": "r2", "label": "bad", "amount": 3, "age": 4},
            ],
            ("amount", "age"),
        ),
    ],
    ids=["list", "payload-list", "object", "columns"],
)
def test_rows_with_features_are_a_table(
    tmp_path: Path, rows: list[Any], names: tuple[str, ...]
) -> None:
    loaded = load_labelled(jsonl(tmp_path / "t.jsonl", rows))
    assert isinstance(loaded, TableDataset)
    assert loaded.feature_names == names
    np.testing.assert_array_equal(loaded.values, [[1, 2.5], [3, 4]])
    assert loaded.labels == ("ok", "bad")


def test_named_features_pick_keys_of_columns_or_objects(tmp_path: Path) -> None:
    rows = [
        {"label": 0, "a": 1, "b": 2, "note": "x"},
        {"label": 1, "a": 3, "b": 4, "note": "y"},
    ]
    loaded = load_labelled(jsonl(tmp_path / "c.jsonl", rows), features=["b", "a"])
    assert isinstance(loaded, TableDataset)
    assert (loaded.feature_names, loaded.labels) == (("b", "a"), ("0", "1"))
    np.testing.assert_array_equal(loaded.values, [[2, 1], [4, 3]])
    nested = [{"label": "x", "features": {"a": 1, "b": 2}}, {"label": "y", "features": {"a": 3}}]
    loaded = load_labelled(jsonl(tmp_path / "o.jsonl", nested), features=["a"])
    assert isinstance(loaded, TableDataset)
    np.testing.assert_array_equal(loaded.values, [[1], [3]])


def test_a_csv_exported_from_a_table_reads_its_features_column(tmp_path: Path) -> None:
    # What `labels export --format csv` writes for a tabular project: an empty text column and
    # the features as a JSON list.
    path = tmp_path / "export.csv"
    path.write_text(
        "external_id,text,features,label,source,metadata\n"
        'c0,,"[1.5, 2]",ok,import,\nc1,,"[3, 4]",bad,review,"{""k"": 1}"\n',
        encoding="utf-8",
    )
    loaded = load_labelled(path)
    assert isinstance(loaded, TableDataset)
    assert loaded.feature_names == ("features[0]", "features[1]")
    np.testing.assert_array_equal(loaded.values, [[1.5, 2], [3, 4]])
    assert loaded.labels == ("ok", "bad")
    texts = tmp_path / "texts.csv"
    texts.write_text("external_id,text,features,label\nt0,hi,,ham\nt1,win,,spam\n", "utf-8")
    assert isinstance(load_labelled(texts), TextDataset)


def test_a_csv_with_a_payload_column_reads_texts_or_json(tmp_path: Path) -> None:
    # A payload column of texts, as `items import` reads; of JSON, as the API's CSV export
    # writes (a text's, or a table's features).
    plain = tmp_path / "plain.csv"
    plain.write_text('label,payload\nham,hi\nspam,"{not json"\n', encoding="utf-8")
    texts = load_labelled(plain)
    assert isinstance(texts, TextDataset)
    assert texts.texts == ("hi", "{not json")
    api = tmp_path / "api.csv"
    api.write_text(
        'external_id,label,payload,metadata\na,ham,"{""text"": ""hi""}",{}\n'
        'b,spam,"{""text"": ""win""}",{}\n',
        encoding="utf-8",
    )
    texts = load_labelled(api)
    assert isinstance(texts, TextDataset)
    assert (texts.texts, texts.labels) == (("hi", "win"), ("ham", "spam"))
    table = tmp_path / "table.csv"
    table.write_text(
        'label,payload\nok,"{""features"": [1, 2]}"\nbad,"{""features"": [3, 4]}"\n', "utf-8"
    )
    values = load_labelled(table)
    assert isinstance(values, TableDataset)
    assert values.feature_names == ("payload.features[0]", "payload.features[1]")
    np.testing.assert_array_equal(values.values, [[1, 2], [3, 4]])


def test_the_format_is_the_suffix_or_the_one_given(tmp_path: Path) -> None:
    rows = [{"label": "ham", "text": "hi"}, {"label": "spam", "text": "win"}]
    named = jsonl(tmp_path / "rows.ndjson", rows)
    assert isinstance(load_labelled(named), TextDataset)
    other = jsonl(tmp_path / "rows.txt", rows)
    assert isinstance(load_labelled(other, fmt="jsonl"), TextDataset)
    with pytest.raises(InvalidInput, match="must be csv or jsonl, got 'xml'") as info:
        load_labelled(other, fmt="xml")
    assert info.value.field == "format"


TEXT = {"label": "ham", "text": "hi"}
ROW = {"label": "ok", "features": [1, 2]}


@pytest.mark.parametrize(
    ("lines", "features", "field", "message"),
    [
        (["{oops"], None, "{path}:1", "is not valid JSON"),
        (["[1, 2]"], None, "{path}:1", "must be a JSON object"),
        ([{"text": "hi"}], None, "{path}:1", "has no label"),
        ([{"label": " ", "text": "hi"}], None, "{path}:1", "has an empty label"),
        ([{"label": True, "text": "hi"}], None, "{path}:1:label", "must be a string or a whole"),
        ([TEXT, {"label": "x", "text": ""}], None, "{path}:2:text", "must be a non-empty string"),
        ([{"label": "x", "payload": {"text": 3}}], None, "{path}:1:payload.text", "non-empty"),
        ([TEXT, ROW], None, "{path}:2", "has no text where line 1 has one"),
        ([ROW, TEXT], None, "{path}:2", "has a text where line 1 has features"),
        ([ROW, {"label": "x", "features": [1]}], None, "{path}:2", "has the features"),
        ([ROW, {"label": "x", "a": 1, "b": 2}], None, "{path}:2", "has the features"),
        ([ROW, {"label": "x", "features": [1, "2"]}], None, "{path}:2:features[1]", "not a num"),
        ([ROW, {"label": "x", "features": [1, None]}], None, "{path}:2:features[1]", "null"),
        ([{"label": "x", "features": []}], None, "{path}:1:features", "non-empty list"),
        ([ROW, {"label": "x", "features": [1, -1e101]}], None, "{path}:2:features[1]", "±1e100"),
        ([{"label": "x", "features": "1,2"}], None, "{path}:1:features", "non-empty list"),
        ([{"label": "x"}], None, "{path}:1", "has neither a text nor a feature"),
        ([{"label": "x", "a": 1}, {"label": "y", "a": 1, "b": 2}], None, "{path}:2", "'b'"),
        ([{"label": "x", "a": 1}, {"label": "y", "b": 2}], None, "{path}:2", "no feature 'a'"),
        ([{"label": "x", "a": 1}], ["a", "c"], "{path}:1", "has no feature 'c'"),
        ([ROW], ["a"], "features", "lists without names"),
        ([TEXT], ["a"], "features", "are for a table"),
        ([{"label": "x", "a": 1}], ["label"], "features", "'label' is the target"),
        ([{"label": "x", "a": 1}], [], "features", "names no column"),
        ([], None, "{path}", "has no row"),
        ([TEXT, {"label": "ham", "text": "yo"}], None, "{path}", "two distinct labels"),
    ],
)
def test_bad_rows_are_refused_by_file_line_and_key(
    tmp_path: Path, lines: list[Any], features: list[str] | None, field: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_labelled(path, features=features)
    assert info.value.field == field.format(path=path)
    assert message in info.value.message


def test_a_feature_that_is_not_finite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    path.write_text('label,text,features\nok,,"[1, NaN]"\nbad,,"[1, 2]"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="must be a finite number") as info:
        load_labelled(path)
    assert info.value.field == f"{path}:2:features[1]"
