"""``loopwise reviewers add|list|quality`` against a real SQLite database: what is stored, what
is printed, and errors that name their field with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopwise import Loopwise, Settings, Verdict
from loopwise.cli import common
from loopwise.queue.quality import wilson_interval
from tests.cli.test_cli import invoke
from tests.factories import COIN, FixedChance, meta_item

HAM_GOLD = [{"external_id": f"gold-{i}", "payload": f"gold {i}", "label": "ham"} for i in range(3)]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOOPWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOOPWISE_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # one line per message and table row
    # the console may have been made before (another test module imported the CLI): its width
    # was read from the environment then
    monkeypatch.setattr(common.console, "width", 200)
    runner = CliRunner()
    for name in ("sms", "other"):
        code, out = invoke(runner, "project", "create", name, "--labels", "ham,spam")
        assert code == 0, out
    return runner


def opened(tmp_path: Path) -> Loopwise:
    return Loopwise(Settings(data_dir=tmp_path / "data"))


def table_rows(out: str) -> list[list[str]]:
    """The body rows of the rich table in ``out``, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith("│")
    ]


def test_add_stores_role_tags_limits_and_projects(run: CliRunner, tmp_path: Path) -> None:
    code, out = invoke(
        run,
        "reviewers",
        "add",
        "alice",
        "--role",
        "expert",
        "--tags",
        "vip, fraud,,",
        "--projects",
        "sms, other",
        "--max-open-tasks",
        "5",
        "--daily-limit",
        "40",
    )
    assert (code, out) == (0, "added expert alice to ['other', 'sms']\n")
    code, out = invoke(run, "reviewers", "add", "bob")
    assert (code, out) == (0, "added reviewer bob to []\n")

    with opened(tmp_path) as lw:
        alice, bob = lw.reviewer("alice"), lw.reviewer("bob")
    assert (alice.role.value, alice.tags, alice.projects) == (
        "expert",
        ("fraud", "vip"),
        ("other", "sms"),
    )
    assert (alice.max_open_tasks, alice.daily_limit, alice.active) == (5, 40, True)
    assert (bob.role.value, bob.tags, bob.projects) == ("reviewer", (), ())
    assert (bob.max_open_tasks, bob.daily_limit) == (3, None)


def test_list_shows_everyone_or_the_members_of_a_project(run: CliRunner) -> None:
    invoke(
        run, "reviewers", "add", "alice", "--role", "admin", "--tags", "fraud", "--projects", "sms"
    )
    invoke(run, "reviewers", "add", "bob", "--projects", "other", "--daily-limit", "7")
    invoke(run, "reviewers", "add", "carol", "--projects", "sms,other")

    code, out = invoke(run, "reviewers", "list")

    assert code == 0
    assert "name" in out
    assert "max held" in out
    assert table_rows(out) == [
        ["alice", "admin", "fraud", "3", "-", "yes", "sms"],
        ["bob", "reviewer", "", "3", "7", "yes", "other"],
        ["carol", "reviewer", "", "3", "-", "yes", "other,sms"],
    ]
    code, out = invoke(run, "reviewers", "list", "sms")
    assert code == 0
    assert [row[0] for row in table_rows(out)] == ["alice", "carol"]
    code, out = invoke(run, "reviewers", "list", "other")
    assert [row[0] for row in table_rows(out)] == ["bob", "carol"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--role", "boss"),
            "error role: 'boss' is not one of ['reviewer', 'expert', 'admin', 'client', 'viewer']",
        ),
        (("--projects", "sms,nope"), "error project: no project named 'nope'"),
        (("--tags", "Bad Tag"), "error tags[0]: 'Bad Tag' is not a tag"),
        (("--max-open-tasks", "0"), "error max_open_tasks: must be a whole number"),
        (("--daily-limit", "0"), "error daily_limit: must be a whole number"),
    ],
    ids=["role", "project", "tag", "max-open-tasks", "daily-limit"],
)
def test_bad_input_exits_2_names_the_field_and_adds_no_one(
    run: CliRunner, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, out = invoke(run, "reviewers", "add", "carol", *args)

    assert code == 2
    assert message in out
    assert "Traceback" not in out
    with opened(tmp_path) as lw:
        assert lw.reviewers() == []


def test_other_refusals_name_their_field(run: CliRunner) -> None:
    invoke(run, "reviewers", "add", "alice")
    cases = [
        (("reviewers", "add", "alice"), "error name: a reviewer named 'alice' exists already"),
        (("reviewers", "list", "nope"), "error project: no project named 'nope'"),
        (("reviewers", "quality", "nope"), "error project: no project named 'nope'"),
    ]
    for args, message in cases:
        code, out = invoke(run, *args)
        assert (code, message in out) == (2, True), (args, out)


def test_quality_without_answers_says_there_is_no_agreement(run: CliRunner) -> None:
    invoke(run, "reviewers", "add", "alice", "--projects", "sms")

    code, out = invoke(run, "reviewers", "quality", "sms")

    assert code == 0
    assert table_rows(out) == [["alice", "reviewer", "0", "-", "0.0%-100.0%", "-", ""]]
    assert "No item has two answers yet: no agreement to report." in out
    assert "Agreement over" not in out


def test_quality_reports_gold_skill_flags_and_agreement(run: CliRunner, tmp_path: Path) -> None:
    for name in ("alice", "bob", "carol"):
        invoke(run, "reviewers", "add", name, "--projects", "sms", "--max-open-tasks", "5")
    with opened(tmp_path) as lw:
        lw.set_review_config(
            "sms", {"overlap": 2, "min_agreement": 0.5, "gold_rate": 0.5, "gold_min_answers": 3}
        )
        lw.add_gold_items("sms", HAM_GOLD)
        lw.submit("sms", [meta_item(f"i{n}", COIN) for n in range(3)])
        lw.ctx.random = FixedChance(0.0)
        for _ in range(3):  # carol fails every gold item: flagged
            entry = lw.claim_next("sms", "carol")
            assert entry is not None
            assert entry.item.external_id.startswith("gold-")
            lw.submit_verdict("sms", entry.task.id, "carol", Verdict.CORRECT, label="spam")
        lw.ctx.random = FixedChance(0.99)
        # i0: ham/ham, i1: spam/spam, i2: ham/spam.
        for given in (("ham", "ham"), ("spam", "spam"), ("ham", "spam")):
            for name, label in zip(("alice", "bob"), given, strict=True):
                entry = lw.claim_next("sms", name)
                assert entry is not None
                lw.submit_verdict("sms", entry.task.id, name, Verdict.CORRECT, label=label)
        skills = {q.reviewer: q.consensus_skill for q in lw.reviewer_quality("sms")}

    code, out = invoke(run, "reviewers", "quality", "sms")

    assert code == 0, out
    low, high = wilson_interval(0, 3)
    shown = {name: "-" if skill is None else f"{skill:.3f}" for name, skill in skills.items()}
    assert all(skill is not None for skill in skills.values()), skills
    assert table_rows(out) == [
        ["alice", "reviewer", "3", "-", "0.0%-100.0%", shown["alice"], ""],
        ["bob", "reviewer", "3", "-", "0.0%-100.0%", shown["bob"], ""],
        ["carol", "reviewer", "3", "0.0% of 3", f"{low:.1%}-{high:.1%}", shown["carol"], "flagged"],
    ]
    assert (
        "carol flagged: gold accuracy 0% (0/3; 95% interval 0%-56%) is below the floor 80%" in out
    )
    assert "alice flagged" not in out
    # Units H/H, S/S, H/S: coincidences HH 2, SS 2, HS = SH 1, n = 6, n_H = n_S = 3:
    # alpha = 1 - 5 * 2 / (36 - 9 - 9) = 4/9. Fleiss (m = 2): P_bar = 2/3, P_e = 1/2, so
    # kappa = 1/3. Specific agreement: ham 2 / (2 + 1), spam 2 / (2 + 1).
    assert (
        "Agreement over 3 items: Krippendorff's alpha 0.444, Fleiss' kappa 0.333 (2 raters); "
        "by label: ham 0.667, spam 0.667"
    ) in out
