"""The demo is the product's first impression: the whole loop on the bundled data, measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopwise import Loopwise, Settings
from loopwise.cli.main import app
from loopwise.datasets import load_labelled_csv
from loopwise.demo import DemoConfig, run_demo
from loopwise.errors import InvalidInput


@pytest.mark.slow
def test_make_demo_improves_the_model_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWISE_DATA_DIR", str(tmp_path))
    out = tmp_path / "run.json"
    result = CliRunner().invoke(app, ["demo", "--json", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text(encoding="utf-8"))
    rounds = run["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3, 4, 5]
    for r in rounds:
        assert set(r) >= {
            "round",
            "automation_rate",
            "decision_accuracy",
            "model_accuracy",
            "labels",
            "promoted",
        }
    assert rounds[-1]["model_accuracy"] > run["seed_model_accuracy"]
    assert all(r["threshold"] is not None for r in rounds[1:]), "certified after round 1"
    assert rounds[-1]["automation_rate"] > 0.8
    assert rounds[-1]["automation_rate"] > rounds[0]["automation_rate"]
    assert rounds[-1]["labels"] > rounds[0]["labels"]
    assert run["items_lost"] == 0
    assert (
        run["items_submitted"] == run["items_decided"] + run["items_queued"] + run["items_resolved"]
    )
    assert "Model accuracy on the fixed test split" in result.output
    # Active learning: 40 pool items a round, and the model trained on them beats the one
    # trained on as many random picks (same seed labels, same pool) by the last round.
    assert [r["al_labels"] for r in rounds] == [40, 80, 120, 160, 200]
    assert rounds[-1]["al_accuracy"] > rounds[-1]["random_accuracy"]
    assert "Active learning: with 200 pool items" in result.output
    with Loopwise(Settings(data_dir=tmp_path)) as lw:
        assert [p.name for p in lw.projects()] == ["demo-sms-spam"]
        assert lw.stats("demo-sms-spam").labels == rounds[-1]["labels"]


def test_demo_on_a_users_csv(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "src/loopwise/datasets/sms_spam.csv"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    small = tmp_path / "mine.csv"
    small.write_text("".join(lines[:900]), encoding="utf-8")
    data = load_labelled_csv(small)
    with Loopwise(Settings(data_dir=tmp_path)) as lw:
        result = run_demo(lw, data, DemoConfig(rounds=2, seed_labels=60), project="mine")
        assert result.items_lost == 0
        assert len(result.rounds) == 2
        assert result.rounds[-1].al_labels == 80  # a fifth of the stream waits in the pool
        assert result.rounds[0].reviews > 0
        # A second demo in the same database (`make demo` twice) reuses the same people, and
        # measures the same figures: its held-out set follows the demo's seed, not the project id.
        again = run_demo(lw, data, DemoConfig(rounds=2, seed_labels=60), project="mine-2")
        assert again.items_lost == 0
        assert again.rounds[0].reviews > 0
        assert again.seed_model_accuracy == result.seed_model_accuracy
        assert again.rounds == result.rounds
        assert {r.name: r.projects for r in lw.reviewers()}["erin"] == ("mine", "mine-2")


def test_demo_refuses_a_csv_without_the_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("category,body\nspam,hello\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_labelled_csv(bad)
    assert "needs columns 'label' and 'text'" in info.value.message
