"""The dashboard's charts, read back after two known days of a small team's work."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loopwise import Loopwise, TrainingConfig, Verdict
from loopwise.errors import InvalidInput, NotFound, ProjectNotFound
from loopwise.services.dashboard import Chart, Dashboard
from loopwise.testing import FrozenClock
from tests.factories import (
    FixedChance,
    add_reviewers,
    make_text_project,
    meta_item,
    review_project,
    seed_rows,
    sms_rows,
)
from tests.integration.helpers import nothing_written, refused

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY1, DAY2 = "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"
Z2 = 1.959963984540054**2
"""The square of the 97.5% normal quantile, for 95% Wilson intervals."""
KEYS = (
    "automation",
    "model_accuracy",
    "queue",
    "latency",
    "agreement",
    "reviewers",
    "errors",
    "learning_curve",
    "calibration",
)


def at(clock: FrozenClock, minute: float) -> None:
    """Move the frozen clock to ``minute`` minutes after :data:`NOW`."""
    clock.advance(seconds=(NOW + timedelta(minutes=minute) - clock.now()).total_seconds())


def rows(dashboard: Dashboard, key: str) -> list[tuple[Any, ...]]:
    """A chart's rows, floats compared approximately."""
    return [
        tuple(pytest.approx(v) if isinstance(v, float) else v for v in row)
        for row in dashboard.chart(key).rows
    ]


class Team:
    """Drives the frozen clock and the reviewers through :class:`TestTwoDays`'s timeline."""

    def __init__(self, lw: Loopwise, clock: FrozenClock) -> None:
        self.lw, self.clock = lw, clock

    def submit(self, minute: float, *items: dict[str, Any]) -> None:
        at(self.clock, minute)
        self.lw.submit("sms", list(items))

    def answer(
        self,
        reviewer: str,
        expected: str,
        claim: float,
        verdict_at: float,
        verdict: Verdict = Verdict.APPROVE,
        **given: Any,
    ) -> None:
        at(self.clock, claim)
        entry = self.lw.claim_next("sms", reviewer)
        assert entry is not None
        assert entry.item.external_id == expected
        at(self.clock, verdict_at)
        self.lw.submit_verdict("sms", entry.task.id, reviewer, verdict, **given)


class TestTwoDays:
    """Caller-scored items (probabilities of ham, spam), review settled by majority vote, gold
    scored after one answer (floor 0.8), ageing off; minutes after 2026-01-01 00:00 UTC:

    ======  ===========================================================================
    minute  what happens
    ======  ===========================================================================
    0       a1 (.95 ham), a2 (.97 ham), a3 (.98 spam), a4 (.93 ham) decided automatically;
            r1 (.55 ham) queued; gold item g1 (spam) added; carol is served g1 and says
            ham at 2 (wrong: flagged)
    10-30   alice claims r1, approves it at 30
    30-45   r2 (.65 spam, vip: urgent) comes in; alice corrects it to ham at 45
            (ambiguous_input)
    50-70   t1 (.52 ham, three reviews): alice ham at 55, bob ham at 60, carol spam at 70
            (guideline_gap): resolved ham
    1440    a5 (.96 ham), a6 (.99 spam) decided; r3 (.84 ham, high) queued, bob approves at
            1450; r4 (.62 ham) comes in, bob corrects it to spam at 1460 (ambiguous_input)
    1460    t2 (.72 spam, three reviews): alice, bob, carol approve at 1465, 1470, 1480
    1480    a4 is labelled spam (imported: the model was wrong), a1 joins the golden set as ham
    1500    q1 (normal) and q2 (vip: urgent) need the fraud tag nobody has: they wait
    1600    the dashboard is read
    ======  ===========================================================================
    """

    @pytest.fixture
    def team(self, lw: Loopwise, clock: FrozenClock) -> Team:
        review_project(
            lw,
            review={
                "aggregator": "majority_vote",
                "gold_rate": 0.5,
                "gold_min_answers": 1,
                "ageing_minutes": None,
                "lease_seconds": 86_400,
            },
        )
        make_text_project(lw, "other")
        add_reviewers(lw, "sms", "alice", "bob", "carol", max_open_tasks=10)
        team = Team(lw, clock)
        team.submit(
            0,
            meta_item("a1", (0.95, 0.05)),
            meta_item("a2", (0.97, 0.03)),
            meta_item("a3", (0.02, 0.98)),
            meta_item("a4", (0.93, 0.07)),
            meta_item("r1", (0.55, 0.45)),
        )
        lw.add_gold_items("sms", [{"external_id": "g1", "payload": "gold one", "label": "spam"}])
        lw.ctx.random = FixedChance(0.0)
        team.answer("carol", "g1", 0, 2, Verdict.CORRECT, label="ham")
        lw.ctx.random = FixedChance(0.99)
        team.answer("alice", "r1", 10, 30)
        team.submit(30, meta_item("r2", (0.35, 0.65), tier="vip"))
        team.answer(
            "alice", "r2", 40, 45, Verdict.CORRECT, label="ham", error_category="ambiguous_input"
        )
        team.submit(50, meta_item("t1", (0.52, 0.48), triple=True))
        team.answer("alice", "t1", 50, 55)
        team.answer("bob", "t1", 55, 60)
        team.answer(
            "carol", "t1", 60, 70, Verdict.CORRECT, label="spam", error_category="guideline_gap"
        )
        team.submit(
            1440,
            meta_item("a5", (0.96, 0.04)),
            meta_item("a6", (0.01, 0.99)),
            meta_item("r3", (0.84, 0.16), amount=5000),
        )
        team.answer("bob", "r3", 1445, 1450)
        team.submit(1450, meta_item("r4", (0.62, 0.38)))
        team.answer(
            "bob", "r4", 1450, 1460, Verdict.CORRECT, label="spam", error_category="ambiguous_input"
        )
        team.submit(1460, meta_item("t2", (0.28, 0.72), triple=True))
        team.answer("alice", "t2", 1460, 1465)
        team.answer("bob", "t2", 1465, 1470)
        team.answer("carol", "t2", 1470, 1480)
        lw.import_labels("sms", [{"external_id": "a4", "payload": "message a4", "label": "spam"}])
        lw.add_golden("sms", "a1", "ham")
        team.submit(
            1500,
            meta_item("q1", (0.5, 0.5), fraud=True),
            meta_item("q2", (0.5, 0.5), fraud=True, tier="vip"),
        )
        at(clock, 1600)
        return team

    @pytest.fixture
    def board(self, lw: Loopwise, team: Team) -> Dashboard:
        with nothing_written(lw):
            return lw.dashboard("sms")

    def test_every_chart_in_order(self, board: Dashboard) -> None:
        assert board.keys == KEYS
        assert board.as_of == NOW + timedelta(minutes=1600)
        assert board.period == "day"
        assert all(isinstance(c, Chart) and c.note for c in board.charts)

    def test_automation_and_decision_accuracy_per_day(self, board: Dashboard) -> None:
        # day 1: a1-a4 auto, r1, r2, t1 reviewed; checked: a1 (golden, right), a4 (imported,
        # wrong), r1 (right), r2 (corrected), t1 (right). Day 2: a5, a6 auto; r3 right, r4
        # corrected, t2 right; q1, q2 waiting. Gold g1 is not a routed decision.
        assert rows(board, "automation") == [
            (DAY1, 7, 4 / 7, 5, 3 / 5, 2, 1 / 2),
            (DAY2, 7, 2 / 7, 3, 2 / 3, 0, None),
        ]
        chart = board.chart("automation")
        assert (chart.kind, chart.x_is_time, chart.categorical) == ("line", True, False)

    def test_automation_per_hour(self, lw: Loopwise, team: Team) -> None:
        hourly = lw.dashboard("sms", period="hour")

        assert [row[:3] for row in rows(hourly, "automation")] == [
            (DAY1, 7, 4 / 7),
            (DAY2, 5, 2 / 5),
            ("2026-01-02T01:00:00+00:00", 2, 0.0),
        ]
        assert [row[:2] for row in rows(hourly, "latency")] == [
            (DAY1, 2),
            ("2026-01-01T01:00:00+00:00", 1),  # t1, resolved at minute 70
            (DAY2, 3),
        ]

    def test_queue_by_priority(self, board: Dashboard) -> None:
        assert rows(board, "queue") == [("urgent", 1, 100.0, 1), ("normal", 1, 100.0, 0)]

    def test_latency_per_day_of_resolution(self, board: Dashboard) -> None:
        # day 1: r1 30, r2 15, t1 20 minutes; day 2: r3 10, r4 10, t2 20
        assert rows(board, "latency") == [
            (DAY1, 3, 20.0, 20 + 0.8 * 10),
            (DAY2, 3, 10.0, 10 + 0.8 * 10),
        ]

    def test_agreement_per_day(self, board: Dashboard) -> None:
        # t1: ham, ham, spam. Fleiss: P = 1/3, P_e = 5/9 -> -0.5; alpha: D_o = D_e -> 0;
        # Cohen: alice-bob 1, the pairs with carol 0. t2: unanimous.
        assert rows(board, "agreement") == [(DAY1, 1, -0.5, 1 / 3, 0.0), (DAY2, 1, 1.0, 1.0, 1.0)]

    def test_reviewers(self, lw: Loopwise, board: Dashboard) -> None:
        # alice: 30, 45, 55 | 1465 -> 2 sessions, 25 minutes: (4 - 2) per 25/60 h
        # bob: 60 | 1450, 1460, 1470 -> (4 - 2) per 20/60 h; carol: 2 | 70 | 1480, no span
        flag = next(q.flagged for q in lw.reviewer_quality("sms") if q.reviewer == "carol")
        assert flag
        assert rows(board, "reviewers") == [
            ("alice", 4, 4.8, 0, None, None, None, None),
            ("bob", 4, 6.0, 0, None, None, None, None),
            ("carol", 3, None, 1, 0.0, 0.0, Z2 / (1 + Z2), flag),
        ]

    def test_errors(self, board: Dashboard) -> None:
        assert rows(board, "errors") == [("ambiguous_input", 2), ("guideline_gap", 1)]

    def test_calibration(self, board: Dashboard) -> None:
        chart = board.chart("calibration")
        # known truth: r1 .55 ok, t1 .52 ok | r2 .65 wrong, r4 .62 wrong | t2 .72 ok |
        # r3 .84 ok | a1 .95 ok, a4 .93 wrong (g1 has no prediction: there is no model)
        assert rows(board, "calibration") == [
            (0.535, 1.0, 2, 0.5, 0.6),
            (0.635, 0.0, 2, 0.6, 0.7),
            (0.72, 1.0, 1, 0.7, 0.8),
            (0.84, 1.0, 1, 0.8, 0.9),
            (0.94, 0.5, 2, 0.9, 1.0),
        ]
        ece = (2 * 0.465 + 2 * 0.635 + 0.28 + 0.16 + 2 * 0.44) / 8
        assert dict(chart.summary) == {"ece": pytest.approx(ece), "predictions": 8.0}
        assert f"expected calibration error {ece:.3f} over 8 predictions" in chart.note

    def test_no_model_no_model_charts(self, board: Dashboard) -> None:
        assert board.chart("model_accuracy").rows == ()
        assert board.chart("learning_curve").rows == ()

    def test_json_for_time_and_categories(self, board: Dashboard) -> None:
        automation = board.chart("automation").to_json()
        assert automation["data"][0] == [int(NOW.timestamp()), int(NOW.timestamp()) + 86_400]
        assert automation["data"][1] == [7, 7]
        assert automation["data"][6] == [0.5, None]
        assert "categories" not in automation
        queue = board.chart("queue").to_json()
        assert queue == {
            "key": "queue",
            "title": "Review queue by priority",
            "kind": "bar",
            "x_label": "priority",
            "y_label": "tasks",
            "x_is_time": False,
            "columns": ["priority", "open_tasks", "oldest_age_minutes", "past_due"],
            "data": [[0, 1], [1, 1], [100.0, 100.0], [1, 0]],
            "categories": ["urgent", "normal"],
            "note": board.chart("queue").note,
            "series": ["open_tasks", "past_due"],
            "summary": {},
        }
        whole = board.to_json()
        assert whole["as_of"] == "2026-01-02T02:40:00+00:00"
        assert [c["key"] for c in whole["charts"]] == list(KEYS)

    @pytest.mark.parametrize("key", KEYS)
    def test_csv_round_trip(self, board: Dashboard, key: str) -> None:
        chart = board.chart(key)
        read = list(csv.reader(io.StringIO(chart.to_csv())))
        assert tuple(read[0]) == chart.columns
        assert read[1:] == [["" if v is None else str(v) for v in row] for row in chart.rows]

    def test_an_unknown_chart(self, board: Dashboard) -> None:
        with pytest.raises(NotFound) as info:
            board.chart("pie")
        assert info.value.field == "key"


def test_an_empty_project(lw: Loopwise, clock: FrozenClock) -> None:
    make_text_project(lw)
    with nothing_written(lw):
        board = lw.dashboard("sms")

    assert board.keys == KEYS
    assert all(chart.rows == () for chart in board.charts)
    assert dict(board.chart("calibration").summary) == {"ece": None, "predictions": 0.0}
    assert board.chart("calibration").to_json()["data"] == [[], [], [], [], []]
    assert board.chart("errors").to_json()["categories"] == []
    assert board.chart("automation").to_csv() == (
        "period,decisions,automation_rate,checked,accuracy,auto_checked,auto_accuracy\n"
    )


@pytest.mark.parametrize("period", ["week", "", "DAY", None])
def test_an_unknown_period(lw: Loopwise, period: Any) -> None:
    make_text_project(lw)
    with refused(lw, InvalidInput, "period"):
        lw.dashboard("sms", period=period)


def test_an_unknown_project(lw: Loopwise) -> None:
    with refused(lw, ProjectNotFound, "project"):
        lw.dashboard("nope")


def _verdict(promoted: bool, forced: bool) -> str:
    if not promoted:
        return "refused"
    return "promoted (forced)" if forced else "promoted"


def test_model_versions_and_the_learning_curve(lw: Loopwise) -> None:
    """Three versions on growing data (half the labels held out): the second put through the
    gate, the third forced in and rolled back. The chart shows what the promotions recorded."""
    make_text_project(lw, training=TrainingConfig(holdout_share=0.5, golden_share=0.0))
    lw.import_labels("sms", seed_rows())
    first = lw.promote("sms", lw.train("sms").version, force=True)
    lw.import_labels("sms", sms_rows(40))
    second = lw.promote("sms", lw.train("sms").version)
    lw.import_labels("sms", sms_rows(40, skip=40))
    third = lw.promote("sms", lw.train("sms").version, force=True)
    lw.rollback("sms")
    versions = lw.models("sms")

    board = lw.dashboard("sms")

    def recorded(index: int, split: str, field: str) -> Any:
        value = versions[index].metrics["evaluation"][split]["candidate"][field]
        return value if value is None else pytest.approx(value)

    verdicts: Sequence[str] = (
        _verdict(first.promoted, first.forced),
        _verdict(second.promoted, second.forced),
        "rolled back",
    )
    assert third.promoted
    assert rows(board, "model_accuracy") == [
        (
            f"v{i + 1}",
            recorded(i, "holdout", "accuracy"),
            recorded(i, "golden", "accuracy"),
            recorded(i, "holdout", "n"),
            recorded(i, "golden", "n"),
            verdicts[i],
        )
        for i in range(3)
    ]
    assert rows(board, "learning_curve") == [
        (
            versions[i].trained_on,
            recorded(i, "holdout", "accuracy"),
            recorded(i, "golden", "accuracy"),
            f"v{i + 1}",
        )
        for i in range(3)
    ]
    trained = [v.trained_on for v in versions]
    assert trained[0] < trained[1] < trained[2]
    assert all(recorded(i, "holdout", "accuracy") is not None for i in range(3))
    assert board.chart("model_accuracy").to_json()["categories"] == ["v1", "v2", "v3"]
