"""``loopwise simulate`` end to end on a small CSV: the table, the JSON figures, the PNG, and
bad input reported as ``error field: message`` with exit code 2."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from loopwise.active_learning import STRATEGIES
from loopwise.cli.main import app
from loopwise.datasets import load_sms_spam

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sms_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = load_sms_spam()
    path = tmp_path_factory.mktemp("simulate") / "sms.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "text"])
        writer.writerows(zip(data.labels[:400], data.texts[:400], strict=True))
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    return result.exit_code, result.output


def test_simulate_prints_the_table_and_writes_json_and_png(sms_csv: Path, tmp_path: Path) -> None:
    out_json, out_png = tmp_path / "out.json", tmp_path / "curves.png"
    code, out = invoke(
        str(sms_csv),
        "--strategies",
        "margin,default",
        "--seeds",
        "2",
        "--initial",
        "10",
        "--batch",
        "10",
        "--budget",
        "40",
        "--json",
        str(out_json),
        "--png",
        str(out_png),
    )
    assert code == 0, out
    assert "sms: 400 texts, labels ham, spam; pool 300, test 100; 2 seed(s)" in out
    for heading in ("strategy", "AULC", "to 95%", "to 98%", "accel 95%", "accel 98%"):
        assert heading in out
    rows = {
        line.split()[0] for line in out.splitlines() if re.match(r"\s*\S+ +[01]\.\d{4} ± ", line)
    }
    assert rows == {"random", "margin", "default"}
    figures = json.loads(out_json.read_text(encoding="utf-8"))
    assert figures["seeds"] == [0, 1]
    assert (figures["budget"], figures["initial"], figures["pool"]) == (40, 10, 300)
    assert 0.5 < figures["full_accuracy"] <= 1.0
    assert set(figures["strategies"]) == {"random", "margin", "default"}
    for report in figures["strategies"].values():
        assert 0.0 <= report["aulc"] <= 1.0
        assert report["aulc_sd"] >= 0.0
        assert report["curve"]["labels"] == [10, 20, 30, 40]
        assert len(report["curve"]["mean"]) == 4
        assert {"labels95", "labels98", "accel95", "accel98"} <= set(report)
        assert f"{report['aulc']:.4f} ± {report['aulc_sd']:.4f}" in out
    random = figures["strategies"]["random"]
    if random["labels95"] is not None:
        assert random["accel95"] == pytest.approx(1.0)
    assert out_png.read_bytes()[:8] == PNG_SIGNATURE
    assert out_png.stat().st_size > 10_000


def test_every_strategy_by_default_leaves_out_one_the_features_do_not_fit(
    sms_csv: Path, tmp_path: Path
) -> None:
    """No --strategies: all of them. bait's Fisher blocks do not fit 5,000 TF-IDF columns; it
    is left out with the reason, and the others run (it refused the whole run before)."""
    out_json = tmp_path / "all.json"
    code, out = invoke(str(sms_csv), "--seeds", "1", "--budget", "30", "--json", str(out_json))
    assert code == 0, out
    said = " ".join(out.split())
    assert "note bait left out: bait needs class x feature Fisher blocks" in said
    figures = json.loads(out_json.read_text(encoding="utf-8"))
    assert set(figures["strategies"]) == set(STRATEGIES) - {"bait"}
    assert set(figures["skipped"]) == {"bait"}
    # named, it is refused as before: the user asked for it
    code, out = invoke(str(sms_csv), "--strategies", "bait", "--seeds", "1", "--budget", "30")
    assert code == 2
    assert "error pool.features: bait needs class x feature Fisher blocks" in " ".join(out.split())


def test_the_same_seeds_give_the_same_figures(sms_csv: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a.json", "b.json"):
        args = ["--strategies", "entropy", "--seeds", "1", "--budget", "30", "--seed", "3"]
        code, out = invoke(str(sms_csv), *args, "--json", str(tmp_path / name))
        assert code == 0, out
        runs.append(json.loads((tmp_path / name).read_text(encoding="utf-8")))
    for run in runs:
        for report in run["strategies"].values():
            del report["query_seconds"]
    assert runs[0]["strategies"] == runs[1]["strategies"]
    assert runs[0]["seeds"] == [3]


def test_labels_that_come_back_late_are_replayed_with_the_waiting_items_shown(
    sms_csv: Path, tmp_path: Path
) -> None:
    figures = {}
    for delay in ("0", "2"):
        path = tmp_path / f"delay{delay}.json"
        args = ["--strategies", "coreset", "--seeds", "1", "--budget", "60", "--batch", "10"]
        code, out = invoke(str(sms_csv), *args, "--label-delay", delay, "--json", str(path))
        assert code == 0, out
        assert ("labels back 2 batch(es) late" in " ".join(out.split())) == (delay == "2")
        figures[delay] = json.loads(path.read_text(encoding="utf-8"))
        assert figures[delay]["label_delay"] == int(delay)
    # core-set needs no model: told about the waiting batches, it picks what it would have
    # picked with their labels back, so its curve is the same
    assert (
        figures["2"]["strategies"]["coreset"]["aulc"]
        == figures["0"]["strategies"]["coreset"]["aulc"]
    )
    code, out = invoke(str(sms_csv), "--label-delay", "-1")
    assert code == 2
    assert "label-delay" in out


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_bad_input_is_one_line_naming_the_option(sms_csv: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    no_label = write(tmp_path / "nolabel.csv", ["text"], [["hello"], ["bye"]])
    one_class = write(tmp_path / "one.csv", ["label", "text"], [["ham", f"t{i}"] for i in range(9)])
    cases = [
        ([str(missing)], f"error {missing}: cannot be read"),
        ([str(no_label)], f"error {no_label}: needs columns 'label' and 'text'"),
        ([str(one_class)], f"error {one_class}: needs at least two distinct labels"),
        ([str(sms_csv), "--initial", "20", "--budget", "10"], "error budget: must be at least"),
        ([str(sms_csv), "--budget", "301"], "error budget: is larger than the pool (300 texts"),
        ([str(sms_csv), "--strategies", "margin,oracle"], "error strategies: 'oracle' is not"),
        ([str(sms_csv), "--strategies", " , "], "error strategies: names no strategy; choose"),
        # files to write are checked before the run, not after it
        ([str(sms_csv), "--png", str(tmp_path)], f"error png: {tmp_path} is a directory"),
        (
            [str(sms_csv), "--json", str(sms_csv / "out.json")],
            f"error json: {sms_csv / 'out.json'} cannot be written: {sms_csv} is not a directory",
        ),
    ]
    for args, message in cases:
        code, out = invoke(*args)
        assert code == 2, (args, out)
        assert " ".join(out.split()).startswith(message), (args, out)


def test_without_a_budget_a_small_file_spends_its_whole_pool(tmp_path: Path) -> None:
    """The default budget (500) is capped at the pool: a file of 60 texts runs as it is."""
    data = load_sms_spam()
    ham = [t for t, label in zip(data.texts, data.labels, strict=True) if label == "ham"][:40]
    spam = [t for t, label in zip(data.texts, data.labels, strict=True) if label == "spam"][:20]
    small = write(
        tmp_path / "small.csv",
        ["label", "text"],
        [["ham", t] for t in ham] + [["spam", t] for t in spam],
    )
    out_json = tmp_path / "small.json"
    args = ["--strategies", "margin", "--seeds", "1", "--json", str(out_json)]
    code, out = invoke(str(small), *args)
    assert code == 0, out
    assert "pool 45, test 15" in out
    assert "budget 45" in out
    figures = json.loads(out_json.read_text(encoding="utf-8"))
    assert (figures["pool"], figures["budget"]) == (45, 45)
    assert figures["strategies"]["margin"]["curve"]["labels"][-1] == 45
    code, out = invoke(str(small), "--initial", "46")
    assert code == 2
    message = "error initial: is larger than the pool (45 texts after holding out 15 for testing)"
    assert " ".join(out.split()).startswith(message), out


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's bundled breast-cancer table: an id column, the label, 30 numeric columns
    (300 rows)."""
    bunch = load_breast_cancer()
    names = [name.replace(" ", "_") for name in bunch.feature_names]
    path = tmp_path_factory.mktemp("simulate") / "cells.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "label", *names])
        for i in range(300):
            label = bunch.target_names[bunch.target[i]]
            writer.writerow([f"c{i}", label, *(repr(float(v)) for v in bunch.data[i])])
    return path


def test_a_table_is_simulated_on_its_numeric_columns_with_the_dense_default(
    table_csv: Path, tmp_path: Path
) -> None:
    out_json = tmp_path / "table.json"
    args = ["--strategies", "default,bait,margin", "--seeds", "2", "--batch", "5"]
    code, out = invoke(str(table_csv), *args, "--budget", "40", "--json", str(out_json))
    assert code == 0, out
    assert "cells: 300 rows x 30 features, labels benign, malignant; pool " in " ".join(out.split())
    figures = json.loads(out_json.read_text(encoding="utf-8"))
    assert (figures["kind"], figures["items"]) == ("tabular", 300)
    assert figures["features"][:2] == ["mean_radius", "mean_texture"]
    assert len(figures["features"]) == 30  # external_id and label are not features
    assert set(figures["strategies"]) == {"random", "default", "bait", "margin"}
    assert 0.8 < figures["full_accuracy"] <= 1.0
    reports = figures["strategies"]
    # On 30 standardised columns the default is bait, pick for pick.
    assert reports["default"]["curve"] == reports["bait"]["curve"]
    assert reports["default"]["curve"]["labels"] == [10, 15, 20, 25, 30, 35, 40]


def test_a_table_uses_only_the_features_named(table_csv: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "two.json"
    code, out = invoke(
        str(table_csv),
        *("--features", "worst_radius, mean_texture", "--strategies", "margin"),
        *("--seeds", "1", "--budget", "20", "--json", str(out_json)),
    )
    assert code == 0, out
    assert "300 rows x 2 features" in out
    figures = json.loads(out_json.read_text(encoding="utf-8"))
    assert figures["features"] == ["worst_radius", "mean_texture"]


def test_bad_tables_are_one_line_naming_file_row_and_column(
    table_csv: Path, sms_csv: Path, tmp_path: Path
) -> None:
    words = write(
        tmp_path / "words.csv", ["label", "x", "note"], [["a", "1", "hi"], ["b", "2", "yo"]]
    )
    nan = write(tmp_path / "nan.csv", ["label", "x"], [["a", "1"], ["b", "nan"], ["a", "2"]])
    cases = [
        ([str(words)], f"error {words}:2:note: is not a number: 'hi'"),
        ([str(nan)], f"error {nan}:3:x: must be a finite number, got 'nan'"),
        ([str(table_csv), "--features", "mean_radius,size"], f"error {table_csv}: has no column"),
        ([str(sms_csv), "--features", "x"], "error features: are for a table"),
        ([str(table_csv), "--budget", "300"], "error budget: is larger than the pool (225 rows"),
    ]
    for args, message in cases:
        code, out = invoke(*args)
        assert code == 2, (args, out)
        assert " ".join(out.split()).startswith(message), (args, out)


@pytest.mark.parametrize("kind", ["text", "tabular"])
def test_a_projects_exported_labels_simulate_alike_as_csv_and_jsonl(
    kind: str, sms_csv: Path, table_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `labels export` writes, in either format, is a file `simulate` reads: the same
    examples, so the same figures."""
    monkeypatch.setenv("LOOPWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOOPWISE_DATABASE_URL", raising=False)
    runner = CliRunner()
    source = sms_csv if kind == "text" else table_csv
    if kind == "text":
        create = ["project", "create", "p", "--labels", "ham,spam"]
    else:
        with source.open(encoding="utf-8") as handle:
            columns = next(csv.reader(handle))[2:]
        create = ["project", "create", "p", "--labels", "benign,malignant", "--kind", "tabular"]
        create += ["--features", ",".join(columns)]
    for args in (create, ["items", "import", "p", str(source), "--labelled"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    figures = []
    for fmt in ("csv", "jsonl"):
        export, out_json = tmp_path / f"labels.{fmt}", tmp_path / f"{fmt}.json"
        args = ["labels", "export", "p", "--format", fmt, "--output", str(export)]
        assert runner.invoke(app, args).exit_code == 0
        code, out = invoke(
            str(export),
            *("--strategies", "margin", "--seeds", "1", "--budget", "30", "--json", str(out_json)),
        )
        assert code == 0, out
        figures.append(json.loads(out_json.read_text(encoding="utf-8")))
    as_csv, as_jsonl = figures
    assert as_csv["kind"] == as_jsonl["kind"] == kind
    assert as_csv["items"] == as_jsonl["items"] == (400 if kind == "text" else 300)
    for name in ("random", "margin"):  # all but the seconds each query took
        timed = as_csv["strategies"][name].pop("query_seconds")
        assert timed > 0
        assert as_jsonl["strategies"][name].pop("query_seconds") > 0
    assert as_csv["strategies"] == as_jsonl["strategies"]
    if kind == "tabular":  # the export keeps the values, not the project's column names
        assert as_csv["features"] == [f"features[{i}]" for i in range(30)]


def test_a_jsonl_file_is_read_by_its_name_or_format_and_bad_rows_name_their_line(
    tmp_path: Path,
) -> None:
    data = load_sms_spam()
    pairs = zip(data.labels[:120], data.texts[:120], strict=True)
    rows = [{"label": label, "text": text} for label, text in pairs]
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    named, plain = tmp_path / "sms.jsonl", tmp_path / "sms.txt"
    named.write_text(lines, encoding="utf-8")
    plain.write_text(lines, encoding="utf-8")
    for args in ([str(named)], [str(plain), "--format", "jsonl"]):
        code, out = invoke(*args, "--strategies", "margin", "--seeds", "1", "--budget", "20")
        assert code == 0, out
        assert "120 texts" in out
    code, out = invoke(str(plain))  # read as a CSV: no label column
    assert code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines + '{"label": "ham", "text": ""}\n', encoding="utf-8")
    code, out = invoke(str(bad))
    assert code == 2
    assert " ".join(out.split()).startswith(f"error {bad}:121:text: must be a non-empty string")
    code, out = invoke(str(named), "--format", "xml")
    assert (code, " ".join(out.split())) == (2, "error format: must be csv or jsonl, got 'xml'")
