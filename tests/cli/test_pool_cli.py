"""``loopwise pool``: add candidates from a file, see them wait, query a batch, change settings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loopwise import Loopwise, Settings
from loopwise.errors import ConcurrentChange
from tests.cli.test_cli import invoke, labelled_rows, run, write_csv

__all__ = ["run"]


def settings_changes(tmp_path: Path) -> int:
    """How many times the CLI changed the ``sms`` project's active-learning settings."""
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        events = lw.audit_events("sms", entity_type="project")
    return sum(e.action == "project.active_learning_changed" for e in events)


def test_pool_add_status_query_and_settings(run: CliRunner, tmp_path: Path) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(260)
    seed = write_csv(tmp_path / "seed.csv", rows[:60])
    pool = write_csv(tmp_path / "pool.csv", rows[60:])
    assert invoke(run, "items", "import", "sms", str(seed), "--labelled")[0] == 0

    code, out = invoke(run, "pool", "add", "sms", str(pool))
    assert code == 0, out
    assert "200 new candidate(s)" in out
    assert "200 waiting" in out

    code, out = invoke(run, "pool", "query", "sms", "--n", "5", "--seed", "1")
    assert code == 0, out
    assert "chose 5 of 200 with no model yet (cold start)" in out
    assert "waiting for a label" not in out  # nothing waited for one yet

    assert invoke(run, "models", "train", "sms")[0] == 0
    code, out = invoke(run, "models", "promote", "sms", "--force")
    assert code == 0, out
    assert (
        "pool query after the promotion: default chose 50 of 195 with model v1, counting 5 "
        "items waiting for a label as picked, queued for review"
    ) in " ".join(out.split())
    code, out = invoke(run, "pool", "status", "sms")
    assert code == 0, out
    # the promotion queried a batch of 50 with the new model (the default settings)
    assert "145 waiting, 55 chosen" in out
    assert "strategy default, batch 50, explore 10%" in out

    code, out = invoke(run, "pool", "settings", "sms", "--strategy", "margin", "--batch", "3")
    assert code == 0, out
    assert "active learning of sms: strategy margin, batch 3, explore 10%" in out
    changes = settings_changes(tmp_path)
    assert changes == 1
    code, out = invoke(run, "pool", "settings", "sms")  # no option: shown, not changed
    assert code == 0, out
    assert " ".join(out.split()) == (
        "active learning of sms: strategy margin, batch 3, explore 10%, "
        "query after each promotion: yes"
    )
    assert settings_changes(tmp_path) == changes
    code, out = invoke(run, "pool", "query", "sms")
    assert code == 0, out
    assert (
        "margin chose 3 of 145 with model v1, counting 55 items waiting for a label as picked"
    ) in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pool", "query", "sms", "--strategy", "clairvoyance"), "strategy"),
        (("pool", "query", "sms"), "pool"),
        (("pool", "settings", "sms", "--batch", "0"), "active_learning.batch"),
    ],
)
def test_bad_requests_name_the_option(run: CliRunner, args: tuple[str, ...], message: str) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    code, out = invoke(run, *args)
    assert code == 2
    assert f"error {message}" in out


def spreadsheet_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """``rows`` as Excel's "CSV UTF-8" writes them: a byte-order mark, then CRLF lines."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(text.getvalue().encode("utf-8-sig"))
    return path


def test_files_from_a_spreadsheet_keep_their_first_column(run: CliRunner, tmp_path: Path) -> None:
    """A byte-order mark is not part of the first column's name: the items and candidates keep
    their external ids, so adding the file again adds nothing."""
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(40)
    seed = spreadsheet_csv(tmp_path / "seed.csv", rows[:20])
    unlabelled = [{"external_id": r["external_id"], "text": r["text"]} for r in rows[20:]]
    pool = spreadsheet_csv(tmp_path / "pool.csv", unlabelled)
    lines = tmp_path / "pool.jsonl"
    lines.write_bytes('{"external_id": "j1", "text": "hello"}\n'.encode("utf-8-sig"))
    code, out = invoke(run, "items", "import", "sms", str(seed), "--labelled")
    assert (code, "resolved 20 item(s)" in out) == (0, True), out
    code, out = invoke(run, "pool", "add", "sms", str(pool))
    assert (code, "20 new candidate(s)" in out) == (0, True), out
    code, out = invoke(run, "pool", "add", "sms", str(pool))
    assert (code, "0 new candidate(s) in the pool of sms; 20 waiting" in out) == (0, True), out
    code, out = invoke(run, "pool", "add", "sms", str(lines))
    assert (code, "1 new candidate(s) in the pool of sms; 21 waiting" in out) == (0, True), out
    export = tmp_path / "labels.jsonl"
    assert invoke(run, "labels", "export", "sms", "--output", str(export))[0] == 0
    exported = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert {e["external_id"] for e in exported} == {r["external_id"] for r in rows[:20]}


def test_a_promotion_whose_query_fails_is_promoted_with_a_note(
    run: CliRunner, tmp_path: Path
) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(320)
    seed = write_csv(tmp_path / "seed.csv", rows[:300])  # a vocabulary past bait's width
    pool = write_csv(tmp_path / "pool.csv", rows[300:])
    for args in (
        ("items", "import", "sms", str(seed), "--labelled"),
        ("pool", "add", "sms", str(pool)),
        ("pool", "settings", "sms", "--strategy", "bait"),
        ("models", "train", "sms"),
    ):
        code, out = invoke(run, *args)
        assert code == 0, out
    code, out = invoke(run, "models", "promote", "sms", "--force")
    assert code == 0, out
    words = " ".join(out.split())
    assert "v1: promoted" in words
    assert "note the pool query after the promotion did not run: pool.features: bait" in words
    assert "20 waiting, 0 chosen" in invoke(run, "pool", "status", "sms")[1]


def waiting(tmp_path: Path) -> int:
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        return lw.pool_status("sms").waiting


def kept(chosen: int) -> str:
    """What ``pool remove`` says of the candidates it named that a query chose."""
    return f"; {chosen} chosen by a query kept (items now)" if chosen else ""


def test_pool_remove_by_the_file_that_added_by_id_and_all(run: CliRunner, tmp_path: Path) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(40)
    with_ids = write_csv(tmp_path / "with_ids.csv", rows[:20])
    without_ids = write_csv(
        tmp_path / "without_ids.csv", [{"text": r["text"]} for r in rows[20:30]]
    )
    assert invoke(run, "pool", "add", "sms", str(with_ids))[0] == 0
    assert invoke(run, "pool", "add", "sms", str(without_ids))[0] == 0
    query = ("pool", "query", "sms", "--n", "4", "--strategy", "random", "--seed", "2")
    assert invoke(run, *query)[0] == 0
    with Loopwise(Settings(data_dir=tmp_path / "data")) as lw:
        chosen = {entry.item.external_id for entry in lw.queue("sms")}
    from_first = len(chosen & {r["external_id"] for r in rows[:20]})
    assert 0 < from_first < 4  # so each file names a chosen candidate (the seed's picks)

    # the files that added them, the first three rows a transaction
    code, out = invoke(run, "pool", "remove", "sms", str(with_ids), "--batch", "3")
    assert code == 0, out
    said = " ".join(out.split())
    assert f"{20 - from_first} candidate(s) removed from the pool of sms" in said
    assert said.endswith(f"{kept(from_first)}; {6 + from_first} waiting")
    code, out = invoke(run, "pool", "remove", "sms", str(without_ids))  # by payload
    assert code == 0, out
    said = " ".join(out.split())
    assert f"{6 + from_first} candidate(s) removed from the pool of sms" in said
    assert said.endswith(f"{kept(4 - from_first)}; 0 waiting")
    code, out = invoke(run, "pool", "remove", "sms", "--id", "s0", "--id", "no-such")
    assert code == 0, out
    assert "0 candidate(s) removed" in out
    assert "not in the pool" in out

    # a file of ids alone will do
    assert (
        invoke(run, "pool", "add", "sms", str(write_csv(tmp_path / "more.csv", rows[30:])))[0] == 0
    )
    ids_only = write_csv(
        tmp_path / "ids.csv", [{"external_id": r["external_id"]} for r in rows[30:35]]
    )
    code, out = invoke(run, "pool", "remove", "sms", str(ids_only))
    assert code == 0, out
    assert "5 candidate(s) removed from the pool of sms" in out
    assert "5 waiting" in out
    code, out = invoke(run, "pool", "remove", "sms", "--all")
    assert code == 0, out
    assert "5 candidate(s) removed from the pool of sms" in out
    assert "0 waiting" in out


@pytest.mark.parametrize(
    "args",
    [
        ("pool", "remove", "sms"),
        ("pool", "remove", "sms", "--all", "--id", "s1"),
    ],
)
def test_pool_remove_needs_exactly_one_way_of_naming(
    run: CliRunner, tmp_path: Path, args: tuple[str, ...]
) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    assert (
        invoke(run, "pool", "add", "sms", str(write_csv(tmp_path / "p.csv", labelled_rows(3))))[0]
        == 0
    )
    code, out = invoke(run, *args)
    assert code == 2
    assert "FILE / --id / --all" in out
    assert waiting(tmp_path) == 3


def test_a_bad_row_anywhere_in_a_removal_file_removes_nothing(
    run: CliRunner, tmp_path: Path
) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(6)
    assert invoke(run, "pool", "add", "sms", str(write_csv(tmp_path / "p.csv", rows)))[0] == 0
    named = [{"external_id": r["external_id"], "text": r["text"]} for r in rows]
    named.append({"external_id": "", "text": ""})  # neither an id nor a text: line 8
    bad = write_csv(tmp_path / "bad.csv", named)

    code, out = invoke(run, "pool", "remove", "sms", str(bad), "--batch", "2")

    assert code == 2
    assert f"error {bad}:8:payload.text" in " ".join(out.split())
    assert waiting(tmp_path) == 6


def test_a_removal_that_fails_half_way_says_what_was_removed(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a write finds some errors (another writer holding on, say): the batches removed
    before it stay removed, and the command says so, as ``pool add`` does."""
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(6)
    path = write_csv(tmp_path / "p.csv", rows)
    assert invoke(run, "pool", "add", "sms", str(path))[0] == 0
    remove = Loopwise.remove_from_pool
    calls = []

    def second_fails(self: Loopwise, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:
            raise ConcurrentChange("another writer held the pool")
        return remove(self, *args, **kwargs)

    monkeypatch.setattr(Loopwise, "remove_from_pool", second_fails)
    code, out = invoke(run, "pool", "remove", "sms", str(path), "--batch", "4")

    assert code != 0, out
    said = " ".join(out.split())
    assert "the 4 row(s) up to line 5 were removed before this error" in said
    assert "a candidate removed already counts as not in the pool" in said
    assert said.endswith("error another writer held the pool")
    assert waiting(tmp_path) == 2


def test_pool_list_shows_and_writes_what_pool_remove_reads(run: CliRunner, tmp_path: Path) -> None:
    assert invoke(run, "project", "create", "sms", "--labels", "ham,spam")[0] == 0
    rows = labelled_rows(30)
    assert invoke(run, "pool", "add", "sms", str(write_csv(tmp_path / "p.csv", rows)))[0] == 0
    query = ("pool", "query", "sms", "--n", "3", "--strategy", "random", "--seed", "1")
    assert invoke(run, *query)[0] == 0

    code, out = invoke(run, "pool", "list", "sms", "--limit", "4")
    assert code == 0, out
    assert "4 waiting candidate(s) shown; 27 waiting, 3 chosen" in " ".join(out.split())
    code, out = invoke(run, "pool", "list", "sms", "--state", "chosen")
    assert code == 0, out
    assert "3 chosen candidate(s) shown" in " ".join(out.split())

    listed = tmp_path / "out" / "waiting.jsonl"
    code, out = invoke(run, "pool", "list", "sms", "--output", str(listed))
    assert code == 0, out
    assert "wrote 27 waiting candidate(s) of sms" in " ".join(out.split())
    written = [json.loads(line) for line in listed.read_text(encoding="utf-8").splitlines()]
    assert len(written) == 27
    assert set(written[0]) == {"external_id", "payload", "metadata"}
    by_id = {r["external_id"]: r["text"] for r in rows}
    assert all(r["payload"] == {"text": by_id[r["external_id"]]} for r in written)

    # the file, cut to its first ten, names what `pool remove` removes
    cut = tmp_path / "ten.jsonl"
    cut.write_text("".join(json.dumps(r) + "\n" for r in written[:10]), encoding="utf-8")
    code, out = invoke(run, "pool", "remove", "sms", str(cut))
    assert code == 0, out
    assert "10 candidate(s) removed from the pool of sms; 17 waiting" in " ".join(out.split())

    unwritten = tmp_path / "never.jsonl"
    code, out = invoke(run, "pool", "list", "sms", "--state", "pending", "--output", str(unwritten))
    assert code == 2
    assert "--state" in out
    assert "waiting" in out  # the choices
    assert not unwritten.exists()  # refused before the file was made
    code, out = invoke(run, "pool", "list", "sms", "--output", str(tmp_path))
    assert code == 2
    assert "--output" in out
    assert "directory" in out
