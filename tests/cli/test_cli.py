"""The command line, driven through Typer's runner against a real SQLite database."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopwise import Loopwise, Settings
from loopwise.cli.main import app
from loopwise.datasets import load_sms_spam


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOOPWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOOPWISE_DATABASE_URL", raising=False)
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def labelled_rows(n: int) -> list[dict[str, str]]:
    data = load_sms_spam()
    return [
        {"external_id": f"s{i}", "text": data.texts[i], "label": data.labels[i]} for i in range(n)
    ]


def test_project_items_models_and_labels_round_trip(run: CliRunner, tmp_path: Path) -> None:
    code, out = invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    assert (code, "created project sms") == (0, out.strip()[: len("created project sms")])
    seed = write_csv(tmp_path / "seed.csv", labelled_rows(300))
    code, out = invoke(run, "items", "import", "sms", str(seed), "--labelled")
    assert code == 0
    assert "resolved 300 item(s)" in out
    code, out = invoke(run, "models", "train", "sms")
    assert code == 0
    assert "trained candidate v1" in out
    code, out = invoke(run, "models", "promote", "sms")
    assert code == 0, out
    assert "v1: promoted" in out
    stream = tmp_path / "stream.jsonl"
    stream.write_text(
        json.dumps({"external_id": "n1", "text": "WINNER! claim your FREE prize now, call 0800"})
        + "\n"
        + json.dumps({"external_id": "n2", "text": "see you at lunch", "metadata": {"amount": 3}})
        + "\n",
        encoding="utf-8",
    )
    code, out = invoke(run, "items", "import", "sms", str(stream))
    assert code == 0
    assert "2 item(s)" in out
    code, out = invoke(run, "items", "import", "sms", str(stream))
    assert "2 already known" in out
    code, out = invoke(run, "models", "list", "sms")
    assert code == 0
    assert "production" in out
    export = tmp_path / "labels.csv"
    code, out = invoke(run, "labels", "export", "sms", "--format", "csv", "--output", str(export))
    assert code == 0
    with export.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300
    assert {r["source"] for r in rows} == {"import"}
    assert {r["external_id"] for r in rows} == {f"s{i}" for i in range(300)}
    code, out = invoke(run, "labels", "export", "sms", "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) == 300
    assert lines[0]["payload"]["text"]


def test_rollback_and_refused_promotion_exit_codes(run: CliRunner, tmp_path: Path) -> None:
    invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    seed = write_csv(tmp_path / "seed.csv", labelled_rows(300))
    invoke(run, "items", "import", "sms", str(seed), "--labelled")
    invoke(run, "models", "train", "sms")
    invoke(run, "models", "promote", "sms")
    code, out = invoke(run, "models", "rollback", "sms")
    assert code == 2
    assert "no earlier production model" in out
    invoke(run, "models", "train", "sms")
    code, out = invoke(run, "models", "promote", "sms")
    assert code == 1, "an identical retrain is not better: the gate refuses"
    assert "v2: refused" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("project", "create", "x", "--labels", "a"), "labels: needs at least two labels"),
        (("models", "list", "nope"), "project: no project named 'nope'"),
        (("labels", "export", "nope", "--format", "xml"), "format: use a .csv or .jsonl file"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(
    run: CliRunner, args: tuple[str, ...], message: str
) -> None:
    code, out = invoke(run, *args)
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_bad_row_in_file_names_the_line_and_writes_nothing(run: CliRunner, tmp_path: Path) -> None:
    invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": ""}\n', encoding="utf-8")
    code, out = invoke(run, "items", "import", "sms", str(bad))
    assert code == 2
    assert "items[1].payload.text: must not be empty" in out
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        assert lw.stats("sms").items == 0
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    code, out = invoke(run, "items", "import", "sms", str(broken))
    assert code == 2
    assert "broken.jsonl:1: is not valid JSON" in out


def test_db_upgrade_reports_head(run: CliRunner) -> None:
    code, out = invoke(run, "db", "upgrade")
    assert code == 0
    assert "schema at 0009_set_checked_keys (head 0009_set_checked_keys)" in out
