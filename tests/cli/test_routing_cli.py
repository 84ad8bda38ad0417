"""``loopwise routing``: show, set (errors name the line), recalibrate and report."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from tests.cli.test_cli import invoke, labelled_rows, write_csv

POLICY = """\
target_error: 0.05
qa_sample: 0.02
rules:
  - name: large amount
    when: amount > 10000
    priority: high
"""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOOPWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOOPWISE_DATABASE_URL", raising=False)
    runner = CliRunner()
    invoke(runner, "project", "create", "sms", "--labels", "ham,spam")
    return runner


def test_set_show_recalibrate_and_report(run: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    code, out = invoke(run, "routing", "set", "sms", str(policy))
    assert (code, out.strip()) == (0, "policy version 2 in force for sms")
    code, out = invoke(run, "routing", "show", "sms")
    assert code == 0
    assert "version: 2\n" in out
    assert "target_error: 0.05\n" in out
    assert "name: large amount" in out
    code, out = invoke(run, "routing", "recalibrate", "sms")
    assert code == 2
    assert "has no production model to calibrate" in out
    seed = write_csv(tmp_path / "seed.csv", labelled_rows(1200))
    invoke(run, "items", "import", "sms", str(seed), "--labelled")
    invoke(run, "models", "train", "sms")
    code, out = invoke(run, "models", "promote", "sms")
    assert code == 0, out
    report_path = tmp_path / "report.json"
    code, out = invoke(run, "routing", "report", "sms", "--json", str(report_path))
    assert code == 0
    assert "policy v2, production model v1" in out
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["policy"]["version"] == 2
    assert report["calibration"]["method"] == "temperature"
    assert report["calibration"]["verified"] > 200
    assert report["certificate"]["alpha"] == 0.05
    assert "target: error <= 5.0% at 90%: " in out
    svg_path = tmp_path / "reliability.svg"
    code, out = invoke(run, "routing", "report", "sms", "--svg", str(svg_path))
    assert code == 0
    svg = ElementTree.parse(svg_path).getroot()
    circles = [c.get("class") for c in svg.iter("{http://www.w3.org/2000/svg}circle")]
    calibration = report["calibration"]
    assert circles.count("before") == sum(
        1 for b in calibration["reliability_before"] if b["count"]
    )
    assert circles.count("after") == sum(1 for b in calibration["reliability_after"] if b["count"])
    assert report["certificate_text"].split(":")[0] in out


def test_a_bad_policy_file_names_its_line(run: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("target_error: 0.05\nalways_review:\n  - fraud\n", encoding="utf-8")
    code, out = invoke(run, "routing", "set", "sms", str(policy))
    assert code == 2
    assert "always_review[0]: line 3: 'fraud' is not a label of this project" in out
    code, out = invoke(run, "routing", "show", "sms")
    assert "version: 1\n" in out
