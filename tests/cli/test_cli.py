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


def test_models_settings_shows_changes_and_refuses(run: CliRunner, tmp_path: Path) -> None:
    invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    code, out = invoke(run, "models", "settings", "sms")
    assert code == 0, out
    assert (
        "training of sms: held out 20%, golden 20% of corrections, gate on accuracy by at "
        "least 0, split seed the project's id" in " ".join(out.split())
    )

    code, out = invoke(
        run, "models", "settings", "sms", "--holdout-share", "0.25", "--split-seed", "9"
    )
    assert code == 0, out
    code, out = invoke(
        run, "models", "settings", "sms", "--min-improvement", "0.01", "--metric", "macro_f1"
    )
    assert code == 0, out
    assert (
        "held out 25%, golden 20% of corrections, gate on macro_f1 by at least 0.01, split "
        "seed 9" in " ".join(out.split())
    )
    code, out = invoke(run, "models", "settings", "sms", "--golden-share", "1.5")
    assert code == 2
    assert "training.golden_share: Input should be less than 1" in " ".join(out.split())
    code, out = invoke(
        run, "models", "settings", "sms", "--split-seed", "3", "--project-split-seed"
    )
    assert code == 2
    assert "--split-seed or --project-split-seed, not both" in " ".join(
        out.replace("│", " ").split()
    )
    code, out = invoke(run, "models", "settings", "sms", "--project-split-seed")
    assert code == 0, out
    assert "split seed the project's id" in " ".join(out.split())
    assert invoke(run, "models", "settings", "sms", "--split-seed", "9")[0] == 0

    seed = write_csv(tmp_path / "seed.csv", labelled_rows(20))
    assert invoke(run, "items", "import", "sms", str(seed), "--labelled")[0] == 0
    code, out = invoke(run, "models", "settings", "sms", "--split-seed", "10")
    assert code == 2
    assert "training.split_seed: is fixed once the project has labels" in " ".join(out.split())
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        training = lw.project("sms").training
        changes = [e for e in lw.audit_events("sms") if e.action == "project.training_changed"]
    assert (training.split_seed, training.min_improvement, training.metric) == (9, 0.01, "macro_f1")
    assert [e.actor for e in changes] == ["cli"] * 4


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
    assert f"{bad}:2:payload.text: must not be empty" in " ".join(out.split())
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        assert lw.stats("sms").items == 0
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    code, out = invoke(run, "items", "import", "sms", str(broken))
    assert code == 2
    assert "broken.jsonl:1: is not valid JSON" in out


def rows_file(path: Path, rows: list[dict[str, str]]) -> Path:
    """A CSV of ``rows`` whose first record spans two lines and is followed by a blank line,
    so a row's line is not its position plus 2."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow({**rows[0], "text": rows[0]["text"] + "\nsecond line"})
        handle.write("\n")
        writer.writerows(rows[1:])
    return path


@pytest.mark.parametrize(
    ("command", "bad", "message"),
    [
        (("items", "import"), {"text": ""}, "payload.text: must not be empty"),
        (("items", "import", "--labelled"), {"label": "hamm"}, "label: 'hamm' is not in"),
        (("pool", "add"), {"text": ""}, "payload.text: must not be empty"),
    ],
)
def test_a_bad_row_in_a_later_batch_writes_nothing_and_is_named_by_its_line(
    run: CliRunner, tmp_path: Path, command: tuple[str, ...], bad: dict[str, str], message: str
) -> None:
    """Each batch is a transaction of its own: the whole file is checked before the first."""
    invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    rows = labelled_rows(30)
    rows[24] = {**rows[24], **bad}
    path = rows_file(tmp_path / "rows.csv", rows)
    code, out = invoke(run, command[0], command[1], "sms", str(path), *command[2:], "--batch", "5")
    assert code == 2, out
    # header, a record on lines 2-3, a blank line 4, then one line a row: row 24 is on line 28
    assert f"{path}:28:{message}" in " ".join(out.split())
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        assert (lw.stats("sms").items, lw.pool_status("sms").waiting) == (0, 0)


def test_a_label_given_twice_differently_is_named_by_both_lines(
    run: CliRunner, tmp_path: Path
) -> None:
    invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    rows = labelled_rows(12)
    other = "spam" if rows[1]["label"] == "ham" else "ham"
    rows.append({**rows[1], "label": other})
    path = write_csv(tmp_path / "twice.csv", rows)
    code, out = invoke(run, "items", "import", "sms", str(path), "--labelled", "--batch", "5")
    assert code == 2, out
    expected = f"{path}:14:label: item 's1' is labelled {rows[1]['label']!r} on line 3 and"
    assert expected in " ".join(out.split())
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        assert lw.stats("sms").items == 0


def test_what_only_a_write_can_refuse_names_the_line_and_what_was_written(
    run: CliRunner, tmp_path: Path
) -> None:
    """An external id stored with another payload is found by the batch that writes it: the
    batches before it stay written, and the command says so."""
    invoke(run, "project", "create", "sms", "--labels", "ham,spam")
    rows = labelled_rows(12)
    first = write_csv(tmp_path / "first.csv", rows[:1])
    assert invoke(run, "pool", "add", "sms", str(first))[0] == 0
    changed = [{**rows[0], "text": "another text"} if i == 11 else r for i, r in enumerate(rows)]
    changed[0] = {**rows[0], "external_id": "s-new"}
    path = write_csv(tmp_path / "changed.csv", changed)
    code, out = invoke(run, "pool", "add", "sms", str(path), "--batch", "5")
    assert code == 2, out
    said = " ".join(out.split())
    assert "the 10 row(s) up to line 11 were written before this error" in said
    assert f"{path}:13:external_id: external id 's0' is in the pool with another payload" in said
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        assert lw.pool_status("sms").waiting == 11


def test_db_upgrade_reports_head(run: CliRunner) -> None:
    code, out = invoke(run, "db", "upgrade")
    assert code == 0
    assert "schema at 0013_claim_keys (head 0013_claim_keys)" in out


def test_files_to_write_are_checked_before_the_work_and_failed_writes_named(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    code, out = invoke(run, "labels", "export", "sms", "--output", str(tmp_path))
    assert (code, " ".join(out.split())) == (
        2,
        f"error output: {tmp_path} is a directory; name a file",
    )
    code, out = invoke(run, "demo", "--json", str(tmp_path))
    assert (code, " ".join(out.split())) == (
        2,
        f"error json: {tmp_path} is a directory; name a file",
    )
    # what only the write finds (a full disk, say) is named too, not a traceback
    deeper = tmp_path / "new" / "labels.csv"

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "open", full)
    code, out = invoke(run, "labels", "export", "sms", "--output", str(deeper))
    assert code == 2, out
    message = f"error output: {deeper} cannot be written: No space left on device"
    assert " ".join(out.split()) == message
    assert deeper.parent.is_dir()  # made, as the write needs
