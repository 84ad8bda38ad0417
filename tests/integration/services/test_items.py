"""Submitting items: validation, prediction, routing and idempotency, all in one transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loopwise import (
    ItemIn,
    ItemStatus,
    Loopwise,
    Priority,
    Route,
    Routed,
    Settings,
    Verdict,
)
from loopwise.core.enums import InputKind
from loopwise.core.payloads import payload_digest
from loopwise.errors import (
    Conflict,
    DuplicateExternalId,
    InvalidInput,
    InvalidPayload,
    ItemNotFound,
    ProjectNotFound,
)
from loopwise.services.items import RowsFor
from loopwise.store.repository import Repository
from loopwise.store.tables import DecisionRow, ReviewTaskRow
from loopwise.testing import FrozenClock
from loopwise.training.models import model_inputs
from tests.factories import (
    CONFIDENT_ROUTING,
    HAM,
    NO_HOLDOUT,
    SPAM,
    add_reviewers,
    make_tabular_project,
    make_text_project,
    scored_item,
    seeded_model,
    text_items,
)
from tests.integration.helpers import nothing_written, one, refused, rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NO_MODEL = ("no production model yet",)


def entropy2(p: float) -> float:
    """Normalised entropy of a two-class prediction ``(p, 1 - p)``."""
    return -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)


@pytest.fixture
def small_lw(settings: Settings, clock: FrozenClock) -> Iterator[Loopwise]:
    """A second ``Loopwise`` on the same database with tight limits: 200-byte payloads, 3 items."""
    limited = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        max_payload_bytes=200,
        max_batch_items=3,
    )
    app = Loopwise(limited, clock=clock)
    try:
        yield app
    finally:
        app.close()


class TestSubmitWithoutModel:
    def test_one_item_is_stored_queued_and_audited(self, lw: Loopwise) -> None:
        project = make_text_project(lw)

        [routed] = lw.submit(
            "sms",
            [{"external_id": "m-1", "payload": "Call me later", "metadata": {"lang": "en"}}],
            actor="gateway",
        )

        item = one(lw, "item")
        task = one(lw, "review_task")
        decision = one(lw, "decision")
        assert routed == Routed(
            item_id=item["id"],
            external_id="m-1",
            status=ItemStatus.QUEUED,
            route=Route.HUMAN,
            final_label=None,
            predicted_label=None,
            confidence=None,
            reasons=NO_MODEL,
            task_id=task["id"],
            duplicate=False,
        )
        assert item == {
            "id": routed.item_id,
            "project_id": project.id,
            "external_id": "m-1",
            "payload": {"text": "Call me later"},
            "payload_sha256": payload_digest({"text": "Call me later"}),
            "metadata": {"lang": "en"},
            "status": "queued",
            "created_at": NOW,
            "updated_at": NOW,
        }
        assert decision == {
            "id": decision["id"],
            "project_id": project.id,
            "item_id": routed.item_id,
            "prediction_id": None,
            "route": "human",
            "origin": "routed",
            "reasons": list(NO_MODEL),
            "rules": ["no_model"],
            "final_label": None,
            "decided_by": None,
            "policy_version": 1,
            "created_at": NOW,
            "decided_at": None,
        }
        assert task == {
            "id": routed.task_id,
            "project_id": project.id,
            "item_id": routed.item_id,
            "stage": "review",
            "priority": int(Priority.NORMAL),
            "priority_score": 1.0,
            "status": "open",
            "required_reviews": 1,
            "base_priority": int(Priority.NORMAL),
            "due_at": NOW + timedelta(minutes=1440),
            "promote_at": NOW + timedelta(minutes=240),
            "required_tags": "",
            "skips": 0,
            "honeypot_id": None,
            "escalated_from": None,
            "claimed_by": None,
            "claimed_at": None,
            "lease_expires_at": None,
            "created_at": NOW,
            "resolved_at": None,
            "claim_key": None,
        }
        assert rows(lw, "prediction") == []
        event = lw.audit_events("sms")[-1]
        assert (event.actor, event.action, event.entity_type, event.entity_id, event.before) == (
            "gateway",
            "item.routed",
            "item",
            str(routed.item_id),
            None,
        )
        assert event.after == {
            "external_id": "m-1",
            "route": "human",
            "reasons": list(NO_MODEL),
            "predicted_label": None,
            "confidence": None,
            "model_version": None,
            "task_id": routed.task_id,
        }
        view = lw.item("sms", "m-1")
        assert (view.item.id, view.item.payload, view.item.metadata, view.item.status) == (
            routed.item_id,
            {"text": "Call me later"},
            {"lang": "en"},
            ItemStatus.QUEUED,
        )
        assert view.prediction is None
        assert view.decision is not None
        assert (view.decision.route, view.decision.reasons, view.decision.decided_by) == (
            Route.HUMAN,
            NO_MODEL,
            None,
        )
        with refused(lw, ItemNotFound, "external_id"):
            lw.item("sms", "missing")

    def test_a_batch_is_routed_in_order_with_one_task_and_event_each(self, lw: Loopwise) -> None:
        make_text_project(lw)
        texts = ["one", "two", "three", "four"]

        routed = lw.submit("sms", text_items(texts))

        assert [r.external_id for r in routed] == ["item-0", "item-1", "item-2", "item-3"]
        assert {(r.status, r.route, r.reasons, r.duplicate) for r in routed} == {
            (ItemStatus.QUEUED, Route.HUMAN, NO_MODEL, False)
        }
        items = rows(lw, "item")
        assert [(i["id"], i["payload"]["text"]) for i in items] == [
            (r.item_id, t) for r, t in zip(routed, texts, strict=True)
        ]
        assert [(t["id"], t["item_id"]) for t in rows(lw, "review_task")] == [
            (r.task_id, r.item_id) for r in routed
        ]
        events = [e for e in lw.audit_events("sms") if e.action == "item.routed"]
        assert [e.entity_id for e in events] == [str(r.item_id) for r in routed]

        generated = lw.submit("sms", ["plain text", ItemIn(payload={"text": "an ItemIn"})])

        ids = [r.external_id for r in generated]
        assert all(len(e) == 32 and set(e) <= set("0123456789abcdef") for e in ids)
        assert len(set(ids)) == 2
        assert [i["external_id"] for i in rows(lw, "item")][-2:] == ids


class TestSubmitWithModel:
    def test_confident_items_are_decided_and_the_rest_queued(self, lw: Loopwise) -> None:
        make_text_project(lw, routing=CONFIDENT_ROUTING, training=NO_HOLDOUT)
        model = seeded_model(lw)
        production = lw.production_model("sms")
        assert production is not None
        assert production[0].id == model.id
        texts = [SPAM[4], HAM[9], "hello"]
        expected = production[1].predict_proba(
            model_inputs(InputKind.TEXT, [{"text": t} for t in texts])
        )

        routed = lw.submit("sms", text_items(texts, prefix="new"))

        conf = expected.max(axis=1)
        assert conf[0] >= 0.75
        assert conf[1] >= 0.75
        assert conf[2] < 0.75
        spam, ham, hello = routed
        assert (spam.status, spam.route, spam.final_label, spam.predicted_label) == (
            ItemStatus.DECIDED,
            Route.AUTO,
            "spam",
            "spam",
        )
        assert (ham.status, ham.final_label, ham.task_id) == (ItemStatus.DECIDED, "ham", None)
        assert spam.reasons == (f"confidence {conf[0]:.3f} at or above threshold 0.750",)
        assert (hello.status, hello.route, hello.final_label) == (
            ItemStatus.QUEUED,
            Route.HUMAN,
            None,
        )
        assert hello.reasons == (f"confidence {conf[2]:.3f} below threshold 0.750",)
        assert hello.task_id == one(lw, "review_task")["id"]
        for r, probs in zip(routed, expected, strict=True):
            prediction = one(lw, "prediction", item_id=r.item_id)
            assert prediction["model_version_id"] == model.id
            assert prediction["probabilities"] == pytest.approx(probs.tolist())
            assert prediction["confidence"] == pytest.approx(r.confidence)
            assert prediction["uncertainty"] == pytest.approx(entropy2(float(probs[0])))
            decision = one(lw, "decision", item_id=r.item_id)
            assert decision["prediction_id"] == prediction["id"]
            assert decision["final_label"] == r.final_label
            assert decision["decided_by"] == (None if r.task_id else "model:v1")
            assert decision["decided_at"] == (None if r.task_id else NOW)
            assert one(lw, "item", id=r.item_id)["status"] == r.status.value
        event = next(e for e in lw.audit_events("sms") if e.action == "item.routed")
        assert event.after == {
            "external_id": "new-0",
            "route": "auto",
            "reasons": list(spam.reasons),
            "predicted_label": "spam",
            "confidence": pytest.approx(conf[0]),
            "model_version": 1,
            "task_id": None,
        }


class TestCallerProbabilities:
    """The caller's own model scored the items; loopwise routes them with no model of its own."""

    def test_routed_without_a_model(self, lw: Loopwise) -> None:
        make_text_project(lw)

        sure, unsure = lw.submit(
            "sms",
            [scored_item("a", "hi there", [0.95, 0.05]), scored_item("b", "hm", [0.4, 0.6])],
        )

        assert (sure.status, sure.route, sure.final_label, sure.task_id) == (
            ItemStatus.DECIDED,
            Route.AUTO,
            "ham",
            None,
        )
        assert sure.reasons == ("confidence 0.950 at or above threshold 0.900",)
        assert (unsure.status, unsure.route, unsure.predicted_label) == (
            ItemStatus.QUEUED,
            Route.HUMAN,
            "spam",
        )
        assert unsure.reasons == ("confidence 0.600 below threshold 0.900",)
        predictions = rows(lw, "prediction")
        assert [
            (p["item_id"], p["model_version_id"], p["probabilities"], p["predicted_label"])
            for p in predictions
        ] == [
            (sure.item_id, None, [0.95, 0.05], "ham"),
            (unsure.item_id, None, [0.4, 0.6], "spam"),
        ]
        decided = one(lw, "decision", item_id=sure.item_id)
        assert (decided["final_label"], decided["decided_by"], decided["route"]) == (
            "ham",
            "caller-model",
            "auto",
        )
        task = one(lw, "review_task")
        assert (task["item_id"], task["priority_score"]) == (
            unsure.item_id,
            pytest.approx(entropy2(0.4)),
        )
        routed_events = [e for e in lw.audit_events("sms") if e.action == "item.routed"]
        assert [(e.after or {}).get("model_version", "?") for e in routed_events] == [None, None]


class TestCallerProbabilitiesWithAModel:
    def test_a_caller_scored_item_is_not_attributed_to_loopwises_model(self, lw: Loopwise) -> None:
        make_text_project(lw, training=NO_HOLDOUT)
        seeded_model(lw)

        [routed] = lw.submit("sms", [scored_item("theirs", "x", [0.99, 0.01])])

        assert one(lw, "prediction", item_id=routed.item_id)["model_version_id"] is None
        assert one(lw, "decision", item_id=routed.item_id)["decided_by"] == "caller-model"


class TestIdempotency:
    def test_same_id_same_payload_is_a_duplicate_and_writes_nothing(self, lw: Loopwise) -> None:
        make_text_project(lw)
        [first] = lw.submit("sms", [{"external_id": "x", "payload": "hello"}])

        with nothing_written(lw):
            [again] = lw.submit("sms", [{"external_id": "x", "payload": {"text": "hello"}}])

        assert again == dataclasses.replace(first, duplicate=True)

    def test_duplicate_of_a_decided_item_reports_its_decision(self, lw: Loopwise) -> None:
        make_text_project(lw)
        [first] = lw.submit("sms", [scored_item("x", "hello", [0.99, 0.01])])

        with nothing_written(lw):
            [again] = lw.submit("sms", [scored_item("x", "hello", [0.99, 0.01])])

        assert again == dataclasses.replace(first, duplicate=True)
        assert again.status is ItemStatus.DECIDED

    def test_duplicate_of_a_resolved_item_reports_its_final_label(self, lw: Loopwise) -> None:
        make_text_project(lw)
        add_reviewers(lw, "sms", "alice")
        [first] = lw.submit("sms", [scored_item("x", "hello", [0.7, 0.3])])
        entry = lw.claim_next("sms", "alice")
        assert entry is not None
        lw.submit_verdict("sms", entry.task.id, "alice", Verdict.CORRECT, label="spam")

        with nothing_written(lw):
            [again] = lw.submit("sms", [{"external_id": "x", "payload": "hello"}])

        assert again == dataclasses.replace(
            first, status=ItemStatus.RESOLVED, final_label="spam", task_id=None, duplicate=True
        )

    def test_only_new_items_of_a_batch_are_written_and_each_once(self, lw: Loopwise) -> None:
        make_text_project(lw)
        [known] = lw.submit("sms", [{"external_id": "k", "payload": "known"}])

        routed = lw.submit(
            "sms",
            [{"external_id": "n", "payload": "new"}, {"external_id": "k", "payload": "known"}],
        )

        assert [(r.external_id, r.duplicate) for r in routed] == [("n", False), ("k", True)]
        assert routed[1] == dataclasses.replace(known, duplicate=True)
        assert [i["external_id"] for i in rows(lw, "item")] == ["k", "n"]
        assert len(rows(lw, "review_task")) == 2
        assert [e.action for e in lw.audit_events("sms")].count("item.routed") == 2

        twice = lw.submit(
            "sms",
            [{"external_id": "d", "payload": "twice"}, {"external_id": "d", "payload": "twice"}],
        )

        assert {r.external_id for r in twice} == {"d"}
        assert [i["external_id"] for i in rows(lw, "item")] == ["k", "n", "d"]
        assert len(rows(lw, "review_task")) == 3

    def test_same_id_other_payload_is_refused(self, lw: Loopwise) -> None:
        make_text_project(lw)
        lw.submit("sms", [{"external_id": "x", "payload": "hello"}])

        with refused(lw, DuplicateExternalId, "items[1].external_id"):
            lw.submit(
                "sms",
                [{"external_id": "y", "payload": "new"}, {"external_id": "x", "payload": "bye"}],
            )
        with refused(lw, DuplicateExternalId, "items[2].external_id"):
            lw.submit(
                "sms",
                [
                    {"external_id": "z", "payload": "hello"},
                    {"external_id": "y", "payload": "other"},
                    {"external_id": "z", "payload": "bye"},
                ],
            )

    def test_tabular_list_and_named_forms_are_the_same_payload(self, lw: Loopwise) -> None:
        make_tabular_project(lw)
        [first] = lw.submit("loans", [{"external_id": "l", "payload": {"features": [1, 2.5, 3]}}])

        with nothing_written(lw):
            [again] = lw.submit(
                "loans",
                [
                    {
                        "external_id": "l",
                        "payload": {"features": {"debt": 3.0, "age": 1.0, "income": 2.5}},
                    }
                ],
            )

        assert again == dataclasses.replace(first, duplicate=True)
        assert one(lw, "item")["payload"] == {"features": [1.0, 2.5, 3.0]}


BAD_TEXT: list[tuple[Any, str]] = [
    ("", "items[0].payload.text"),
    ("   \n", "items[0].payload.text"),
    ({"text": 5}, "items[0].payload.text"),
    ({"text": None}, "items[0].payload.text"),
    ({}, "items[0].payload.text"),
    ({"text": "a", "lang": "en"}, "items[0].payload.lang"),
    (42, "items[0].payload"),
    ("nul\x00byte", "items[0].payload.text"),
]
BAD_FEATURES: list[tuple[Any, str]] = [
    ([1.0, 2.0], "items[0].payload.features"),
    ([1.0, 2.0, 3.0, 4.0], "items[0].payload.features"),
    ([1.0, math.nan, 3.0], "items[0].payload.features[1]"),
    ([1.0, 2.0, math.inf], "items[0].payload.features[2]"),
    ([1.0, "2", 3.0], "items[0].payload.features[1]"),
    ([True, 2.0, 3.0], "items[0].payload.features[0]"),
    ({"age": 1.0, "income": 2.0}, "items[0].payload.features.debt"),
    ({"age": 1, "income": 2, "debt": 3, "pets": 0}, "items[0].payload.features.pets"),
    ({"age": 1.0, "income": math.nan, "debt": 3.0}, "items[0].payload.features.income"),
    ("1,2,3", "items[0].payload.features"),
]
BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"payload": "x", "metadata": {"score": math.nan}}, "items[0].metadata"),
    ({"payload": "x", "metadata": ["not", "an", "object"]}, "items[0].metadata"),
    ({"payload": "x", "metadata": {1: "int key"}}, "items[0].metadata"),
    ({"payload": "x", "external_id": ""}, "items[0].external_id"),
    ({"payload": "x", "external_id": "e" * 201}, "items[0].external_id"),
    ({"payload": "x", "label": "ham"}, "items[0].label"),
]
BAD_PROBABILITIES: list[tuple[list[float], str]] = [
    ([1.0], "items[0].probabilities"),
    ([0.2, 0.3, 0.5], "items[0].probabilities"),
    ([0.7, 0.7], "items[0].probabilities"),
    ([1.5, -0.5], "items[0].probabilities[0]"),
    ([0.5, -0.5], "items[0].probabilities[1]"),
    ([math.nan, 0.5], "items[0].probabilities[0]"),
    ([0.5, math.inf], "items[0].probabilities[1]"),
    ([True, 0.0], "items[0].probabilities[0]"),
    (["0.5", 0.5], "items[0].probabilities[0]"),  # type: ignore[list-item]
]


class TestBadInput:
    """Each refusal names the field and leaves every table (audit trail included) untouched."""

    @pytest.fixture(autouse=True)
    def _projects(self, lw: Loopwise) -> None:
        make_text_project(lw)
        make_tabular_project(lw)
        lw.submit("sms", text_items(["already here"], prefix="old"))

    def test_bad_items(self, lw: Loopwise, subtests: pytest.Subtests) -> None:
        cases: list[tuple[list[Any], type[InvalidInput], str]] = [
            *(([{"external_id": "new", "payload": p}], InvalidPayload, f) for p, f in BAD_TEXT),
            *(([item], InvalidPayload, f) for item, f in BAD_FIELDS),
            *(([scored_item("p", "x", p)], InvalidInput, f) for p, f in BAD_PROBABILITIES),
            ([scored_item("p", "x", [0.5, 0.5]), {"payload": "y"}], InvalidInput, "items"),
            ([], InvalidInput, "items"),
        ]
        for batch, error, field in cases:
            with subtests.test(batch=batch), refused(lw, error, field):
                lw.submit("sms", batch)
        with refused(lw, InvalidInput, "items"):
            lw.submit("sms", "just a string")
        with refused(lw, ProjectNotFound, "project"):
            lw.submit("nope", text_items(["x"]))

    def test_bad_features(self, lw: Loopwise, subtests: pytest.Subtests) -> None:
        for features, field in BAD_FEATURES:
            with subtests.test(features=features), refused(lw, InvalidPayload, field):
                lw.submit("loans", [{"external_id": "new", "payload": {"features": features}}])

    def test_limits_of_the_settings(self, small_lw: Loopwise) -> None:
        small_lw.submit("sms", [{"external_id": "fits", "payload": "x" * 150}])

        with refused(small_lw, InvalidPayload, "items[0].payload"):
            small_lw.submit("sms", [{"external_id": "big", "payload": "x" * 200}])
        with refused(small_lw, InvalidPayload, "items[0].metadata"):
            small_lw.submit("sms", [{"payload": "x", "metadata": {"note": "y" * 300}}])
        with refused(small_lw, InvalidInput, "items"):
            small_lw.submit("sms", text_items(["a", "b", "c", "d"]))

    def test_a_bad_item_in_the_middle_of_a_batch_refuses_the_whole_batch(
        self, lw: Loopwise
    ) -> None:
        batch: list[Any] = text_items(["one", "two", "three", "", "five"], prefix="b")

        with refused(lw, InvalidPayload, "items[3].payload.text"):
            lw.submit("sms", batch)

        assert not {i["external_id"] for i in rows(lw, "item")} & {f"b-{i}" for i in range(5)}


class TestCrash:
    """A failure inside the transaction, after rows were flushed, must leave no trace."""

    @pytest.mark.parametrize("failing_table", [ReviewTaskRow, DecisionRow])
    def test_a_crash_after_items_were_inserted_rolls_back_the_whole_batch(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch, failing_table: type[Any]
    ) -> None:
        make_text_project(lw)
        [before] = lw.submit("sms", text_items(["already here"], prefix="old"))
        real = Repository.insert_many
        inserted: list[str] = []

        def insert_then_crash(
            self: Repository, table: type[Any], values: Sequence[dict[str, Any]]
        ) -> list[int]:
            if table is failing_table:
                raise RuntimeError("connection reset")
            ids = real(self, table, values)
            inserted.append(table.__tablename__)
            return ids

        monkeypatch.setattr(Repository, "insert_many", insert_then_crash)
        with nothing_written(lw), pytest.raises(RuntimeError, match="connection reset"):
            lw.submit("sms", text_items(["one", "two", "three"]))

        assert inserted[0] == "item"
        assert [i["external_id"] for i in rows(lw, "item")] == ["old-0"]
        monkeypatch.undo()
        routed = lw.submit("sms", text_items(["one", "two", "three"]))
        assert [r.duplicate for r in routed] == [False, False, False]
        assert before.item_id not in {r.item_id for r in routed}

    def test_a_crash_writing_the_audit_events_rolls_back_the_batch(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_text_project(lw)

        def crash(self: Repository, events: Any) -> None:
            raise RuntimeError("audit store down")

        monkeypatch.setattr(Repository, "audit_many", crash)
        with nothing_written(lw), pytest.raises(RuntimeError, match="audit store down"):
            lw.submit(
                "sms", [scored_item("a", "x", [0.99, 0.01]), scored_item("b", "y", [0.5, 0.5])]
            )

        assert rows(lw, "item") == []


class TestConcurrentSubmission:
    def test_two_clients_submitting_the_same_item_at_once_get_one_item(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
    ) -> None:
        """Both look the external id up before either inserts (a barrier holds them there).

        SQLite serialises writers (``BEGIN IMMEDIATE``), so there the second waits, sees the
        first item and reports a duplicate; the barrier times out harmlessly.
        """
        make_text_project(lw)
        real = Repository.items_by_external_id
        sqlite = lw.ctx.engine.dialect.name == "sqlite"
        both_looked = threading.Barrier(2, timeout=0.3 if sqlite else 10)

        def look_then_wait(
            self: Repository, project_id: int, external_ids: Sequence[str]
        ) -> dict[str, Any]:
            found = real(self, project_id, external_ids)
            with contextlib.suppress(threading.BrokenBarrierError):
                both_looked.wait()
            return dict(found)

        monkeypatch.setattr(Repository, "items_by_external_id", look_then_wait)

        def submit(_: int) -> bool:
            [routed] = lw.submit("sms", [{"external_id": "same", "payload": "hello"}])
            return routed.duplicate

        with ThreadPoolExecutor(max_workers=2) as pool:
            duplicates = sorted(pool.map(submit, range(2)))

        assert duplicates == [False, True]
        assert [i["external_id"] for i in rows(lw, "item")] == ["same"]


class TestCheckRows:
    """``check_rows``: a whole file's rows validated before the first batch is written."""

    def test_rows_past_one_batch_are_named_by_their_position_and_nothing_is_written(
        self, lw: Loopwise, small_lw: Loopwise
    ) -> None:
        make_text_project(lw)
        fine = [{"external_id": f"r{i}", "payload": f"text {i}", "label": "ham"} for i in range(8)]
        small_lw.check_rows("sms", fine, use="labels")  # 8 rows in batches of 3
        bare = [{k: v for k, v in r.items() if k != "label"} for r in fine]
        small_lw.check_rows("sms", bare, use="submit")
        small_lw.check_rows("sms", bare, use="pool")
        cases: list[tuple[list[dict[str, Any]], RowsFor, type[Exception], str]] = [
            ([*bare[:7], {"payload": ""}], "submit", InvalidPayload, "rows[7].payload.text"),
            ([*bare[:7], {"payload": "x", "label": "ham"}], "pool", InvalidInput, "rows[7].label"),
            ([*fine[:7], {"payload": "x", "label": "no"}], "labels", InvalidInput, "rows[7].label"),
            ([*fine[:7], {"payload": "x"}], "labels", InvalidInput, "rows[7].label"),
            (
                [*fine, {"external_id": "r1", "payload": "other", "label": "ham"}],
                "labels",
                DuplicateExternalId,
                "rows[8].external_id",
            ),
            (
                [*fine, {"external_id": "r1", "payload": "text 1", "label": "spam"}],
                "labels",
                Conflict,
                "rows[8].label",
            ),
        ]
        for given, use, error, field in cases:
            with nothing_written(lw), pytest.raises(error) as info:
                small_lw.check_rows("sms", given, use=use)
            assert info.value.field == field  # type: ignore[attr-defined]
        with pytest.raises(DuplicateExternalId, match=r"in rows\[1\] with another payload"):
            small_lw.check_rows(
                "sms", [*bare, {"external_id": "r1", "payload": "other"}], use="pool"
            )
        # rows 3 and 4 are in one batch of 3: named by their places in all the rows
        twice = [*bare[:4], {"external_id": "r3", "payload": "other"}]
        with pytest.raises(DuplicateExternalId) as within:
            small_lw.check_rows("sms", twice, use="submit")
        assert within.value.field == "rows[4].external_id"
        assert within.value.message == "external id 'r3' is in rows[3] with another payload"
        with pytest.raises(InvalidInput) as empty:
            lw.check_rows("sms", [], use="submit")
        assert empty.value.field == "rows"
        with pytest.raises(ProjectNotFound):
            lw.check_rows("nope", fine, use="labels")
