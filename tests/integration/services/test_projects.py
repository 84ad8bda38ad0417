"""Creating and reading projects: the stored row, the returned entity, the audit event; changing
their training settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loopwise import InputKind, Loopwise, RoutingConfig, TrainingConfig, Verdict
from loopwise.core.enums import DEFAULT_ERROR_TAXONOMY
from loopwise.core.review import ReviewConfig
from loopwise.errors import (
    Conflict,
    DuplicateProject,
    InvalidInput,
    InvalidPayload,
    ProjectNotFound,
)
from loopwise.services.resolution import unit_hash
from loopwise.testing import FrozenClock
from tests.factories import (
    FEATURES,
    add_reviewers,
    make_tabular_project,
    make_text_project,
    scored_item,
    seed_rows,
)
from tests.integration.helpers import one, refused, rows

START = datetime(2026, 1, 1, tzinfo=UTC)


class TestCreateProject:
    def test_text_project_is_stored_returned_and_audited(self, lw: Loopwise) -> None:
        project = lw.create_project(
            "sms",
            ["ham", "spam"],
            routing=RoutingConfig(auto_threshold=0.8, expert_threshold=0.55),
            training=TrainingConfig(holdout_share=0.25, metric="macro_f1"),
            guideline="Spam sells something.",
            actor="ada",
        )

        assert project.name == "sms"
        assert project.labels == ("ham", "spam")
        assert project.input_kind is InputKind.TEXT
        assert project.feature_names == ()
        assert project.routing == RoutingConfig(auto_threshold=0.8, expert_threshold=0.55)
        assert project.training == TrainingConfig(holdout_share=0.25, metric="macro_f1")
        assert project.error_taxonomy == DEFAULT_ERROR_TAXONOMY
        assert project.review == ReviewConfig()
        assert project.created_at == START
        assert lw.project("sms") == project
        assert lw.projects() == [project]
        row = one(lw, "project")
        assert row == {
            "id": project.id,
            "name": "sms",
            "labels": ["ham", "spam"],
            "input_kind": "text",
            "feature_names": [],
            "routing": RoutingConfig(auto_threshold=0.8, expert_threshold=0.55).to_json(),
            "training": {
                "holdout_share": 0.25,
                "golden_share": 0.2,
                "metric": "macro_f1",
                "min_improvement": 0.0,
                "split_seed": None,
            },
            "error_taxonomy": list(DEFAULT_ERROR_TAXONOMY),
            "guideline": "Spam sells something.",
            "review": ReviewConfig().to_json(),
            "active_learning": {},
            "revision": 1,
            "created_at": START,
        }
        [event] = lw.audit_events("sms")
        assert (event.actor, event.action, event.entity_type, event.entity_id) == (
            "ada",
            "project.created",
            "project",
            str(project.id),
        )
        assert event.project_id == project.id
        assert event.before is None
        assert event.after == {
            "name": "sms",
            "labels": ["ham", "spam"],
            "input_kind": "text",
            "routing": row["routing"],
            "training": row["training"],
            "review": row["review"],
        }
        assert event.created_at == START

    def test_a_tabular_project_keeps_its_feature_names_and_projects_list_in_order(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        text = make_text_project(lw, "b-first")
        clock.advance(seconds=5)

        project = make_tabular_project(lw)

        assert project.input_kind is InputKind.TABULAR
        assert project.feature_names == FEATURES
        assert project.created_at == START + timedelta(seconds=5)
        assert lw.project("loans") == project
        assert lw.projects() == [text, project]
        row = one(lw, "project", name="loans")
        assert (row["input_kind"], row["feature_names"], row["labels"]) == (
            "tabular",
            list(FEATURES),
            ["repaid", "default"],
        )
        [event] = lw.audit_events("loans")
        assert (event.action, event.created_at) == ("project.created", project.created_at)
        assert event.after is not None
        assert event.after["input_kind"] == "tabular"
        assert [e.project_id for e in lw.audit_events()] == [text.id, project.id]


BAD_PROJECTS: list[tuple[dict[str, Any], type[InvalidInput], str]] = [
    ({"labels": ["ham"]}, InvalidPayload, "labels"),
    ({"labels": ["ham", "ham"]}, InvalidPayload, "labels[1]"),
    ({"labels": ["ham", ""]}, InvalidPayload, "labels[1]"),
    ({"labels": "ham,spam"}, InvalidPayload, "labels"),
    ({"name": "  "}, InvalidInput, "name"),
    ({"name": "n" * 101}, InvalidInput, "name"),
    ({"input_kind": "audio"}, InvalidInput, "input_kind"),
    ({"input_kind": "tabular"}, InvalidInput, "feature_names"),
    ({"input_kind": "tabular", "feature_names": ["a", "a"]}, InvalidInput, "feature_names"),
    ({"feature_names": ["length"]}, InvalidInput, "feature_names"),
    ({"routing": {"auto_threshold": 1.5}}, InvalidInput, "routing.auto_threshold"),
    (
        {"routing": {"auto_threshold": 0.8, "expert_threshold": 0.9}},
        InvalidInput,
        "routing.expert_threshold",
    ),
    ({"routing": "always_review: [fraud]\n"}, InvalidInput, "routing.always_review[0]"),
    ({"routing": {"target_error": 1.0}}, InvalidInput, "routing.target_error"),
    ({"training": TrainingConfig(holdout_share=1.0)}, InvalidInput, "training.holdout_share"),
    ({"training": TrainingConfig(metric="auc")}, InvalidInput, "training.metric"),
    ({"training": {"min_improvement": -0.1}}, InvalidInput, "training.min_improvement"),
    ({"training": {"holdout": 0.1}}, InvalidInput, "training.holdout"),
    ({"error_taxonomy": ["typo", "typo"]}, InvalidInput, "error_taxonomy"),
]


def test_bad_projects_are_refused_and_nothing_is_written(
    lw: Loopwise, subtests: pytest.Subtests
) -> None:
    make_text_project(lw)
    for overrides, error, field in BAD_PROJECTS:
        kwargs: dict[str, Any] = {"name": "new", "labels": ["ham", "spam"], **overrides}
        with subtests.test(field=field, overrides=overrides), refused(lw, error, field):
            lw.create_project(**kwargs)
    with refused(lw, DuplicateProject, "name"):
        make_text_project(lw)
    with refused(lw, ProjectNotFound, "project"):
        lw.project("nope")
    with refused(lw, ProjectNotFound, "project"):
        lw.audit_events("nope")


class TestSetTrainingConfig:
    def test_replaces_the_settings_whole_stores_and_audits(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        project = make_text_project(lw, training=TrainingConfig(holdout_share=0.3))
        now = clock.advance(seconds=5)

        config = lw.set_training_config(
            "sms", {"metric": "macro_f1", "min_improvement": 0.02}, actor="ada"
        )

        expected = TrainingConfig(metric="macro_f1", min_improvement=0.02)
        assert config == expected
        assert lw.project("sms").training == expected
        assert one(lw, "project")["training"] == expected.to_json()
        event = lw.audit_events("sms")[-1]
        assert (event.action, event.actor, event.entity_id, event.created_at) == (
            "project.training_changed",
            "ada",
            str(project.id),
            now,
        )
        assert event.before == TrainingConfig(holdout_share=0.3).to_json()
        assert event.after == expected.to_json()

    def test_bad_settings_are_refused_and_nothing_is_written(
        self, lw: Loopwise, subtests: pytest.Subtests
    ) -> None:
        make_text_project(lw)
        for given, field in [
            ({"golden_share": 1.0}, "training.golden_share"),
            ({"golden_share": True}, "training.golden_share"),
            ({"metric": "auc"}, "training.metric"),
            ({"min_improvement": float("nan")}, "training.min_improvement"),
            ({"split_seed": "7"}, "training.split_seed"),
            ({"seed": 7}, "training.seed"),
            ("holdout_share: 0.1", "training"),
        ]:
            with subtests.test(given=given), refused(lw, InvalidInput, field):
                lw.set_training_config("sms", given)  # type: ignore[arg-type]
        with refused(lw, ProjectNotFound, "project"):
            lw.set_training_config("nope", {})

    def test_the_split_is_fixed_once_there_are_labels(self, lw: Loopwise) -> None:
        project = make_text_project(lw)
        lw.set_training_config("sms", {"holdout_share": 0.0, "split_seed": 4})
        lw.import_labels("sms", seed_rows())
        assert {r["split"] for r in rows(lw, "label")} == {"train"}

        with refused(lw, Conflict, "training.holdout_share") as info:
            lw.set_training_config("sms", {"holdout_share": 0.5, "split_seed": 4})
        assert info.value.message == (
            "is fixed once the project has labels (it is 0.0): changing it would move labels "
            "between the held-out and training sets"
        )
        with refused(lw, Conflict, "training.split_seed"):
            lw.set_training_config("sms", {"holdout_share": 0.0})

        # the split's settings given again as they are, the others change
        config = lw.set_training_config(
            "sms", {"holdout_share": 0.0, "split_seed": 4, "golden_share": 0.5}
        )
        assert config == TrainingConfig(holdout_share=0.0, golden_share=0.5, split_seed=4)
        assert lw.project("sms").split_key == 4 != project.id

    def test_a_margin_set_later_holds_back_the_next_promotion(self, lw: Loopwise) -> None:
        make_text_project(lw)
        lw.import_labels("sms", seed_rows())
        lw.train("sms")
        lw.promote("sms", force=True)
        lw.train("sms")
        lw.set_training_config("sms", {"metric": "macro_f1", "min_improvement": 0.05})

        result = lw.promote("sms")

        assert not result.promoted
        assert "held-out macro_f1" in result.report.gate.reasons[0]
        assert result.report.gate.reasons[0].endswith("not better by the required 0.0500")

    def test_the_golden_share_acts_on_the_next_correction(self, lw: Loopwise) -> None:
        project = make_text_project(lw, training=TrainingConfig(golden_share=0.0))
        add_reviewers(lw, "sms", "alice")
        assert unit_hash(project.id, "g2", "golden") < 0.99
        lw.submit("sms", [scored_item("g1", "call now", [0.3, 0.7])])
        first = lw.claim_next("sms", "alice")
        assert first is not None
        lw.submit_verdict("sms", first.task.id, "alice", Verdict.CORRECT, label="ham")
        assert rows(lw, "golden_item") == []

        lw.set_training_config("sms", {"golden_share": 0.99})
        [routed] = lw.submit("sms", [scored_item("g2", "call me now", [0.3, 0.7])])
        second = lw.claim_next("sms", "alice")
        assert second is not None
        lw.submit_verdict("sms", second.task.id, "alice", Verdict.CORRECT, label="ham")

        assert [g["item_id"] for g in rows(lw, "golden_item")] == [routed.item_id]
