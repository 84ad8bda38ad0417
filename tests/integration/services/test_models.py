"""Models: train a candidate, evaluate it, promote it through the gate, force, roll back."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loopwise import Loopwise, ModelStage, TrainingConfig
from loopwise.errors import (
    InvalidInput,
    ModelVersionNotFound,
    NotEnoughLabels,
    ProjectNotFound,
    PromotionRefused,
)
from loopwise.store.repository import Repository
from loopwise.testing import FrozenClock
from tests.factories import (
    HAM,
    NO_HOLDOUT,
    make_tabular_project,
    make_text_project,
    seed_rows,
    tabular_rows,
    text_items,
)
from tests.integration.helpers import nothing_written, one, refused, rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def artifact_files(lw: Loopwise) -> list[Path]:
    root = lw.settings.artifacts
    return sorted(root.rglob("*")) if root.exists() else []


def stages(lw: Loopwise) -> dict[int, tuple[str, bool]]:
    """Each version's stage and whether it was rolled back."""
    return {r["version"]: (r["stage"], r["rolled_back"]) for r in rows(lw, "model_version")}


class TestTrain:
    def test_a_candidate_is_registered_with_its_artifact(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        project = make_text_project(lw, training=NO_HOLDOUT)
        lw.import_labels("sms", seed_rows())
        now = clock.advance(seconds=60)

        candidate = lw.train("sms", actor="trainer")

        assert (candidate.version, candidate.stage, candidate.algorithm) == (
            1,
            ModelStage.CANDIDATE,
            "tfidf_logreg",
        )
        assert (candidate.trained_on, candidate.created_at, candidate.promoted_at) == (
            24,
            now,
            None,
        )
        assert candidate.metrics == {"train": {"n": 24, "classes": {"ham": 12, "spam": 12}}}
        row = one(lw, "model_version")
        assert row == {
            "id": candidate.id,
            "project_id": project.id,
            "version": 1,
            "algorithm": "tfidf_logreg",
            "artifact_path": candidate.artifact_path,
            "sha256": candidate.sha256,
            "metrics": candidate.metrics,
            "stage": "candidate",
            "trained_on": 24,
            "rolled_back": False,
            "created_at": now,
            "promoted_at": None,
        }
        artifact = Path(candidate.artifact_path)
        assert artifact_files(lw) == [artifact.parent, artifact]
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == candidate.sha256
        event = lw.audit_events("sms")[-1]
        assert (event.actor, event.action, event.entity_type, event.entity_id) == (
            "trainer",
            "model.trained",
            "model_version",
            str(candidate.id),
        )
        assert event.after == {
            "version": 1,
            "algorithm": "tfidf_logreg",
            "sha256": candidate.sha256,
            "trained_on": 24,
        }
        assert lw.models("sms") == [candidate]
        assert lw.production_model("sms") is None

    def test_a_tabular_candidate(self, lw: Loopwise) -> None:
        make_tabular_project(lw, training=NO_HOLDOUT)
        lw.import_labels("loans", tabular_rows(20))

        candidate = lw.train("loans")
        lw.promote("loans")
        [routed] = lw.submit("loans", [{"external_id": "n", "payload": {"features": [40, 50, 90]}}])

        assert (candidate.algorithm, candidate.trained_on) == ("logreg", 20)
        assert routed.predicted_label == "default"

    def test_refusals_before_there_is_a_model(self, lw: Loopwise) -> None:
        make_text_project(lw)
        with nothing_written(lw), pytest.raises(NotEnoughLabels):
            lw.train("sms")
        lw.import_labels("sms", [r for r in seed_rows() if r["label"] == "ham"])

        with nothing_written(lw), pytest.raises(NotEnoughLabels, match="two classes"):
            lw.train("sms")
        lw.import_labels("sms", seed_rows())
        with refused(lw, InvalidInput, "algorithm"):
            lw.train("sms", algorithm="logreg")
        with refused(lw, InvalidInput, "algorithm"):
            lw.train("sms", algorithm="deep_magic")
        with refused(lw, ProjectNotFound, "project"):
            lw.train("nope")
        with refused(lw, ModelVersionNotFound, "version"):
            lw.evaluate("sms")
        with refused(lw, ModelVersionNotFound, "version"):
            lw.evaluate("sms", 3)
        with refused(lw, ModelVersionNotFound, "version"):
            lw.promote("sms")

        assert artifact_files(lw) == []

    def test_a_crash_before_commit_leaves_no_model_and_no_artifact(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw)
        lw.import_labels("sms", seed_rows())

        def crash(self: Repository, events: Any) -> None:
            raise RuntimeError("connection lost")

        monkeypatch.setattr(Repository, "audit_many", crash)
        with nothing_written(lw), pytest.raises(RuntimeError, match="connection lost"):
            lw.train("sms")

        assert [p for p in artifact_files(lw) if p.is_file()] == []


class TestEvaluate:
    def test_a_candidate_is_judged_on_holdout_and_golden_sets(self, lw: Loopwise) -> None:
        make_text_project(lw)
        lw.import_labels("sms", seed_rows())
        lw.add_golden("sms", "seed-ham-0", "ham")
        holdout = [
            e for e in lw.export_labels("sms") if e["split"] == "holdout" and not e["golden"]
        ]
        candidate = lw.train("sms")

        with nothing_written(lw):
            report = lw.evaluate("sms")

        assert (report.candidate, report.production) == (candidate, None)
        assert (report.holdout.n, report.golden.n) == (len(holdout), 1)
        assert (report.production_holdout, report.production_golden) == (None, None)
        assert 0.0 <= report.holdout.accuracy <= 1.0
        assert report.to_json()["holdout"]["candidate"] == report.holdout.to_json()
        assert report.to_json()["gate"] == report.gate.to_json()
        assert lw.evaluate("sms", 1).candidate == candidate


class TestPromote:
    def test_the_first_model_passes_the_gate_and_serves(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.import_labels("sms", seed_rows())
        candidate = lw.train("sms")
        now = clock.advance(seconds=60)

        result = lw.promote("sms", actor="ops")

        assert (result.promoted, result.forced) == (True, False)
        assert result.report.gate.reasons == ("first model; no held-out labels to judge it yet",)
        row = one(lw, "model_version")
        assert (row["stage"], row["promoted_at"], row["rolled_back"]) == ("production", now, False)
        assert row["metrics"]["evaluation"] == result.report.to_json()
        event = lw.audit_events("sms")[-1]
        assert (event.actor, event.action, event.entity_id) == (
            "ops",
            "model.promoted",
            str(candidate.id),
        )
        assert event.before == {"production": None}
        assert event.after == {
            "production": 1,
            "forced": False,
            "gate": {"promote": True, "reasons": list(result.report.gate.reasons)},
        }
        production = lw.production_model("sms")
        assert production is not None
        assert production[0].id == candidate.id
        [routed] = lw.submit("sms", text_items(["hello"]))
        assert one(lw, "prediction", item_id=routed.item_id)["model_version_id"] == candidate.id

    def test_a_refused_candidate_is_archived_and_a_forced_one_serves(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        make_text_project(lw)
        lw.import_labels("sms", seed_rows())
        first = lw.train("sms")
        lw.promote("sms", force=True)
        clock.advance(seconds=60)
        second = lw.train("sms")  # the same labels: the same model, so not better

        result = lw.promote("sms")

        assert (result.promoted, result.forced, result.report.gate.promote) == (False, False, False)
        assert result.report.production == lw.models("sms")[0]
        assert stages(lw) == {1: ("production", False), 2: ("archived", False)}
        assert one(lw, "model_version", version=2)["promoted_at"] is None
        event = lw.audit_events("sms")[-1]
        assert (event.action, event.entity_id) == ("model.promotion_refused", str(second.id))
        assert event.before == {"production": 1}
        assert event.after == {
            "production": 1,
            "forced": False,
            "gate": result.report.gate.to_json(),
        }
        with refused(lw, PromotionRefused, "version"):
            lw.promote("sms", 2)
        with refused(lw, PromotionRefused, "version"):
            lw.promote("sms", 1)
        with refused(lw, ModelVersionNotFound, "version"):
            lw.promote("sms")

        now = clock.advance(seconds=60)
        forced = lw.promote("sms", 2, force=True)

        assert (forced.promoted, forced.forced) == (True, True)
        assert stages(lw) == {1: ("archived", False), 2: ("production", False)}
        assert one(lw, "model_version", version=2)["promoted_at"] == now
        event = lw.audit_events("sms")[-1]
        assert (event.action, event.before) == ("model.promoted", {"production": 1})
        assert event.after is not None
        assert (event.after["production"], event.after["forced"]) == (2, True)
        assert first.id != second.id

    def test_a_crash_while_promoting_keeps_the_old_production(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw)
        lw.import_labels("sms", seed_rows())
        lw.train("sms")
        lw.promote("sms", force=True)
        lw.train("sms")

        def crash(self: Repository, events: Any) -> None:
            raise RuntimeError("killed")

        monkeypatch.setattr(Repository, "audit_many", crash)
        with nothing_written(lw), pytest.raises(RuntimeError, match="killed"):
            lw.promote("sms", force=True)

        assert stages(lw) == {1: ("production", False), 2: ("candidate", False)}


class TestRollback:
    def test_rolling_back_twice_goes_back_two_versions(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        lw.import_labels("sms", seed_rows())
        versions = []
        for _ in range(3):
            versions.append(lw.train("sms"))
            lw.promote("sms", force=True)
            clock.advance(seconds=60)
        assert stages(lw) == {
            1: ("archived", False),
            2: ("archived", False),
            3: ("production", False),
        }

        back_one = lw.rollback("sms", actor="ops")

        assert (back_one.version, back_one.stage) == (2, ModelStage.PRODUCTION)
        assert stages(lw) == {
            1: ("archived", False),
            2: ("production", False),
            3: ("archived", True),
        }
        event = lw.audit_events("sms")[-1]
        assert (event.actor, event.action, event.entity_id, event.before, event.after) == (
            "ops",
            "model.rolled_back",
            str(versions[1].id),
            {"production": 3},
            {"production": 2},
        )

        back_two = lw.rollback("sms")

        assert back_two.version == 1
        assert stages(lw) == {
            1: ("production", False),
            2: ("archived", True),
            3: ("archived", True),
        }
        assert lw.audit_events("sms")[-1].after == {"production": 1}
        [routed] = lw.submit("sms", text_items([HAM[0]], prefix="after-rollback"))
        prediction = one(lw, "prediction", item_id=routed.item_id)
        assert prediction["model_version_id"] == versions[0].id

        with refused(lw, PromotionRefused, None):
            lw.rollback("sms")

    def test_nothing_to_roll_back(self, lw: Loopwise) -> None:
        make_text_project(lw, training=TrainingConfig(holdout_share=0.0))
        with refused(lw, PromotionRefused, None):
            lw.rollback("sms")
        lw.import_labels("sms", seed_rows())
        lw.train("sms")
        lw.promote("sms")

        with refused(lw, PromotionRefused, None):
            lw.rollback("sms")
        with refused(lw, ProjectNotFound, "project"):
            lw.rollback("nope")
