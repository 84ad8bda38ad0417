"""Reports on people's work through the facade: reviewer quality (gold, consensus skill, flags,
sessions), agreement (alpha, Fleiss, per label, per pair, per period) and fatigue (gold accuracy
by session position), on review data built through claims and verdicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from loopwise import Loopwise, QueueEntry, Verdict
from loopwise.consensus.agreement import krippendorff_alpha
from loopwise.consensus.settle import reviewer_skills
from loopwise.errors import InvalidInput, ProjectNotFound
from loopwise.queue.quality import wilson_interval
from loopwise.services.quality import Agreement, FatigueBucket
from loopwise.testing import FrozenClock
from tests.factories import COIN, FixedChance, add_reviewers, meta_item, review_project
from tests.integration.helpers import one, refused, rows

LABELS = ("ham", "spam")
GOLD = [{"external_id": f"gold-{i}", "payload": f"gold text {i}", "label": "ham"} for i in range(8)]


def claimed(lw: Loopwise, reviewer: str, project: str = "sms", **kwargs: Any) -> QueueEntry:
    entry = lw.claim_next(project, reviewer, **kwargs)
    assert entry is not None, f"{reviewer} found nothing to claim"
    return entry


def give(lw: Loopwise, reviewer: str, external_id: str, label: str | None, **kwargs: Any) -> None:
    """``reviewer`` claims the item ``external_id`` (it must be what they are served) and
    answers it with ``label`` (``correct``), or skips it when ``label`` is ``None``."""
    entry = claimed(lw, reviewer, **kwargs)
    assert entry.item.external_id == external_id, (reviewer, entry.item.external_id)
    verdict = Verdict.SKIP if label is None else Verdict.CORRECT
    lw.submit_verdict("sms", entry.task.id, reviewer, verdict, label=label)


def answer_gold(lw: Loopwise, reviewer: str, label: str) -> None:
    """``reviewer`` is served a gold item (the chance source must offer one) and answers."""
    entry = claimed(lw, reviewer)
    assert entry.item.external_id.startswith("gold-"), entry.item.external_id
    lw.submit_verdict("sms", entry.task.id, reviewer, Verdict.CORRECT, label=label)


def answer_live(lw: Loopwise, reviewer: str, label: str = "ham") -> None:
    chance = lw.ctx.random
    lw.ctx.random = FixedChance(0.99)
    entry = claimed(lw, reviewer)
    assert entry.item.external_id.startswith("live-"), entry.item.external_id
    lw.submit_verdict("sms", entry.task.id, reviewer, Verdict.CORRECT, label=label)
    lw.ctx.random = chance


def gold_project(lw: Loopwise, review: dict[str, Any], live: int) -> None:
    """A project with :data:`GOLD` (every one ``ham``), ``live`` waiting items and members
    alice, bob, carol (reviewers) and dave (expert); every claim is offered gold."""
    review_project(lw, review={"gold_rate": 0.5, **review})
    lw.add_gold_items("sms", GOLD)
    lw.submit("sms", [meta_item(f"live-{i}", COIN) for i in range(live)])
    add_reviewers(lw, "sms", "alice", "bob", "carol", max_open_tasks=10)
    add_reviewers(lw, "sms", "dave", role="expert")
    lw.ctx.random = FixedChance(0.0)


# --- agreement ------------------------------------------------------------------------------

# The agreement scenario. Overlap 2 (a 1-1 split is enough at min_agreement 0.5); items with
# ``triple`` need 3 reviews. Day 1 is 2026-01-01 (the frozen clock's start), day 2 2026-01-02.
#
#   item  day  answers (a=alice b=bob c=carol d=dave; H=ham S=spam)
#   t0    1    a H, b H, c H
#   t1    1    a S, b S, c H
#   t2    1    a S, b S, c S
#   p0    1    a H, d S
#   s0    1    b skips (not an answer), c H, d H
#   x0    1    b H; a escalates saying S (not an answer); expert erin H (expert stage: not a
#                review answer): one review answer, not pairable
#   p2    1+2  c S on day 1 at 23:59, d S on day 2: its last answer is on day 2
#   t3    2    a H, b S, d H
#   t4    2    a S, c S, d S
#   p1    2    b H, d H
#   o0    2    a H only: one answer, not pairable
#
# Pairable items: t0 t1 t2 p0 s0 p2 t3 t4 p1 (9), with 5*3 + 4*2 = 23 answers.
#
# Krippendorff's alpha by hand: each unit adds n_c n_k / (m - 1) to the coincidence o_ck
# (n_c (n_c - 1) / (m - 1) on the diagonal):
#   HH: t0 3 + s0 2 + t3 1 + p1 2 = 8;  SS: t1 1 + t2 3 + p2 2 + t4 3 = 9;
#   HS = SH: t1 1 + p0 1 + t3 1 = 3.  n_H = 11, n_S = 12, n = 23,
#   alpha = 1 - (n - 1) * (HS + SH) / (n^2 - n_H^2 - n_S^2) = 1 - 22 * 6 / 264 = 0.5.
# Day 1 (t0 t1 t2 p0 s0): HH 5, SS 4, HS 2; n = 13: alpha = 1 - 12 * 4 / (169 - 49 - 36) = 3/7.
# Day 2 (p2 t3 t4 p1): HH 3, SS 5, HS 1; n = 10: alpha = 1 - 9 * 2 / (100 - 16 - 36) = 5/8.
#
# Fleiss over the usual 3 raters (t0..t4, H/S counts 3/0 1/2 0/3 2/1 0/3): P_i = 1, 1/3, 1,
# 1/3, 1, so P_bar = 11/15; p_H = 6/15, p_S = 9/15, P_e = 117/225;
# kappa = (165 - 117) / (225 - 117) = 4/9.
#
# Specific agreement, sum n(n-1) / sum n(m-1) over the 9 items:
#   ham: (t0 6 + t3 2 + s0 2 + p1 2) / (t0 6 + t1 2 + t3 4 + p0 1 + s0 2 + p1 2) = 12/17
#   spam: (t1 2 + t2 6 + t4 6 + p2 2) / (t1 4 + t2 6 + t4 6 + t3 2 + p2 2 + p0 1) = 16/21
#
# Cohen's kappa per pair over shared items:
#   alice-bob  t0 t1 t2 t3: HSSH vs HSSS, p_o 3/4, p_e 1/2*1/4 + 1/2*3/4 = 1/2 -> 1/2
#   alice-carol t0 t1 t2 t4: HSSS vs HHSS, p_o 3/4, p_e 1/2 -> 1/2
#   alice-dave p0 t3 t4: HHS vs SHS, p_o 2/3, p_e 4/9 -> 2/5
#   bob-carol  t0 t1 t2: HSS vs HHS, p_o 2/3, p_e 4/9 -> 2/5
#   bob-dave   t3 p1: SH vs HH, p_o 1/2, p_e 1/2 -> 0
#   carol-dave s0 p2 t4: HSS vs HSS -> 1
PLAN_DAY_1: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("t0", [("alice", "ham"), ("bob", "ham"), ("carol", "ham")]),
    ("t1", [("alice", "spam"), ("bob", "spam"), ("carol", "ham")]),
    ("t2", [("alice", "spam"), ("bob", "spam"), ("carol", "spam")]),
    ("p0", [("alice", "ham"), ("dave", "spam")]),
    ("s0", [("bob", None), ("carol", "ham"), ("dave", "ham")]),
]
PLAN_DAY_2: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("t3", [("alice", "ham"), ("bob", "spam"), ("dave", "ham")]),
    ("t4", [("alice", "spam"), ("carol", "spam"), ("dave", "spam")]),
    ("p1", [("bob", "ham"), ("dave", "ham")]),
]
PAIRABLE = {
    "t0": {"alice": "ham", "bob": "ham", "carol": "ham"},
    "t1": {"alice": "spam", "bob": "spam", "carol": "ham"},
    "t2": {"alice": "spam", "bob": "spam", "carol": "spam"},
    "p0": {"alice": "ham", "dave": "spam"},
    "s0": {"carol": "ham", "dave": "ham"},
    "p2": {"carol": "spam", "dave": "spam"},
    "t3": {"alice": "ham", "bob": "spam", "dave": "ham"},
    "t4": {"alice": "spam", "carol": "spam", "dave": "spam"},
    "p1": {"bob": "ham", "dave": "ham"},
}
PEOPLE = ("alice", "bob", "carol", "dave")


def reliability(items: list[str]) -> np.ndarray:
    """The (reviewer, item) matrix of label codes, NaN where a reviewer did not answer."""
    grid = np.full((len(PEOPLE), len(items)), np.nan)
    for u, item in enumerate(items):
        for who, label in PAIRABLE[item].items():
            grid[PEOPLE.index(who), u] = LABELS.index(label)
    return grid


def run_plan(lw: Loopwise, plan: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
    """Submit each item alone and have its reviewers answer it in turn."""
    for external_id, answers in plan:
        given = sum(label is not None for _, label in answers)
        lw.submit("sms", [meta_item(external_id, COIN, triple=given >= 3)])
        for who, label in answers:
            give(lw, who, external_id, label)


def agreement_scenario(lw: Loopwise, clock: FrozenClock) -> None:
    review_project(lw, review={"overlap": 2, "min_agreement": 0.5, "ageing_minutes": None})
    add_reviewers(lw, "sms", *PEOPLE)
    add_reviewers(lw, "sms", "erin", role="expert")
    run_plan(lw, PLAN_DAY_1)
    lw.submit("sms", [meta_item("x0", COIN)])
    give(lw, "bob", "x0", "ham")
    entry = claimed(lw, "alice")
    assert entry.item.external_id == "x0"
    lw.submit_verdict("sms", entry.task.id, "alice", Verdict.ESCALATE, label="spam")
    entry = claimed(lw, "erin", stage="expert")
    assert entry.item.external_id == "x0"
    lw.submit_verdict("sms", entry.task.id, "erin", Verdict.CORRECT, label="ham")
    lw.submit("sms", [meta_item("p2", COIN, tier="bulk")])  # low priority: served last
    clock.advance(hours=23, minutes=59)
    give(lw, "carol", "p2", "spam")
    clock.advance(minutes=2)  # past midnight
    run_plan(lw, PLAN_DAY_2)
    give(lw, "dave", "p2", "spam")
    lw.submit("sms", [meta_item("o0", COIN)])
    give(lw, "alice", "o0", "ham")
    assert one(lw, "item", external_id="o0")["status"] == "queued"


class TestAgreement:
    def test_every_figure_matches_the_hand_computed_scenario(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        agreement_scenario(lw, clock)

        report = lw.agreement("sms")

        assert (report.items, report.answers, report.raters) == (9, 23, 3)
        assert report.alpha == pytest.approx(0.5)
        assert report.alpha == pytest.approx(krippendorff_alpha(reliability(list(PAIRABLE))))
        assert report.fleiss == pytest.approx(4 / 9)
        assert report.by_label == pytest.approx({"ham": 12 / 17, "spam": 16 / 21})
        expected_pairs = [
            ("alice", "bob", 0.5, 4),
            ("alice", "carol", 0.5, 4),
            ("alice", "dave", 0.4, 3),
            ("bob", "carol", 0.4, 3),
            ("bob", "dave", 0.0, 2),
            ("carol", "dave", 1.0, 3),
        ]
        assert [(a, b, n) for a, b, _, n in report.pairs] == [
            (a, b, n) for a, b, _, n in expected_pairs
        ]
        for (a, b, kappa, _), (_, _, want, _) in zip(report.pairs, expected_pairs, strict=True):
            assert kappa == pytest.approx(want, abs=1e-12), (a, b)
            shared = [i for i in PAIRABLE if a in PAIRABLE[i] and b in PAIRABLE[i]]
            sk = cohen_kappa_score(
                [PAIRABLE[i][a] for i in shared], [PAIRABLE[i][b] for i in shared]
            )
            assert kappa == pytest.approx(sk, abs=1e-12), (a, b)
        day_1, day_2 = ["t0", "t1", "t2", "p0", "s0"], ["p2", "t3", "t4", "p1"]
        assert [(key, n) for key, n, _ in report.periods] == [
            ("2026-01-01", 5),
            ("2026-01-02", 4),
        ]
        alphas = [a for _, _, a in report.periods]
        assert alphas == pytest.approx([3 / 7, 5 / 8])
        assert alphas == pytest.approx(
            [krippendorff_alpha(reliability(day_1)), krippendorff_alpha(reliability(day_2))]
        )

    def test_week_periods_follow_iso_weeks(self, lw: Loopwise, clock: FrozenClock) -> None:
        # 2026-01-01 is a Thursday in ISO week 2026-W01; Sunday 2026-01-04 still is; Monday
        # 2026-01-05 starts 2026-W02.
        review_project(lw, review={"overlap": 2, "min_agreement": 0.5, "ageing_minutes": None})
        add_reviewers(lw, "sms", "alice", "bob")
        run_plan(lw, [("a", [("alice", "ham"), ("bob", "ham")])])
        clock.advance(days=3)
        run_plan(lw, [("b", [("alice", "spam"), ("bob", "spam")])])
        clock.advance(days=1)
        run_plan(lw, [("c", [("alice", "ham"), ("bob", "spam")])])

        weekly = lw.agreement("sms", period="week")
        daily = lw.agreement("sms", period="day")

        # Week 1: units H,H and S,S -> perfect, 1.0. Week 2: one split unit, H and S once each:
        # no agreeing coincidence, D_e > 0 -> alpha = 1 - (2 - 1) * 2 / (4 - 1 - 1) = 0.
        assert [(k, n) for k, n, _ in weekly.periods] == [("2026-W01", 2), ("2026-W02", 1)]
        assert [a for _, _, a in weekly.periods] == pytest.approx([1.0, 0.0])
        assert [(k, n) for k, n, _ in daily.periods] == [
            ("2026-01-01", 1),
            ("2026-01-04", 1),
            ("2026-01-05", 1),
        ]
        assert (weekly.items, weekly.alpha) == (daily.items, daily.alpha)
        # Overall: HH 2 (unit a), SS 2 (unit b), HS = SH 1 (unit c); n_H = n_S = 3, n = 6:
        # alpha = 1 - 5 * 2 / (36 - 9 - 9) = 4/9.
        assert weekly.alpha == pytest.approx(4 / 9)

    def test_a_project_without_pairable_items_reports_nothing(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw)
        empty = Agreement(
            items=0,
            answers=0,
            alpha=None,
            fleiss=None,
            raters=None,
            by_label={"ham": None, "spam": None},
            pairs=[],
            periods=[],
        )
        assert lw.agreement("sms") == empty
        add_reviewers(lw, "sms", "alice", "bob")
        run_plan(lw, [("a", [("alice", "ham")]), ("b", [("bob", "spam")])])  # overlap 1

        assert lw.agreement("sms") == empty
        assert lw.agreement("sms", period="week") == empty

    def test_one_label_throughout_is_perfect_and_the_unused_label_is_none(
        self, lw: Loopwise
    ) -> None:
        review_project(lw, review={"overlap": 2})
        add_reviewers(lw, "sms", "alice", "bob")
        run_plan(lw, [(f"i{n}", [("alice", "spam"), ("bob", "spam")]) for n in range(2)])

        report = lw.agreement("sms")

        assert (report.items, report.answers, report.raters) == (2, 4, 2)
        assert (report.alpha, report.fleiss) == (1.0, 1.0)
        assert report.by_label == {"ham": None, "spam": 1.0}
        assert report.pairs == [("alice", "bob", 1.0, 2)]
        assert report.periods == [("2026-01-01", 2, 1.0)]

    def test_bad_period_and_unknown_project_are_refused(self, lw: Loopwise) -> None:
        review_project(lw)
        for period in ("month", "Day", ""):
            with refused(lw, InvalidInput, "period"):
                lw.agreement("sms", period=period)
        with refused(lw, ProjectNotFound, "project"):
            lw.agreement("nope")


# --- reviewer quality -----------------------------------------------------------------------


class TestReviewerQuality:
    def test_gold_record_interval_flag_skill_and_session_of_every_member(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        gold_project(
            lw,
            {"gold_min_answers": 3, "gold_floor": 0.8, "session_gap_minutes": 10},
            live=3,
        )
        lw.create_project("other", list(LABELS))
        lw.add_reviewer("frank", projects=["other"])  # not a member of sms: not listed
        # alice: 3 of 4 gold right, and one live answer; a 12-minute gap starts a new session
        # with the last two verdicts, one minute apart.
        for label in ("ham", "ham", "spam"):
            answer_gold(lw, "alice", label)
            clock.advance(minutes=1)
        clock.advance(minutes=11)
        answer_gold(lw, "alice", "ham")
        clock.advance(minutes=1)
        answer_live(lw, "alice")
        # carol: every gold answer wrong: flagged after the third (gold_min_answers).
        for _ in range(3):
            answer_gold(lw, "carol", "spam")

        report = lw.reviewer_quality("sms")

        assert [q.reviewer for q in report] == ["alice", "bob", "carol", "dave"]
        alice, bob, carol, dave = report
        assert [q.role for q in report] == ["reviewer", "reviewer", "reviewer", "expert"]
        assert [q.reviews for q in report] == [5, 0, 3, 0]
        assert (alice.gold.answers, alice.gold.correct, alice.gold.accuracy) == (4, 3, 0.75)
        assert (alice.gold.low, alice.gold.high) == pytest.approx(wilson_interval(3, 4))
        assert (carol.gold.answers, carol.gold.correct, carol.gold.accuracy) == (3, 0, 0.0)
        assert (carol.gold.low, carol.gold.high) == pytest.approx(wilson_interval(0, 3))
        assert (bob.gold.answers, bob.gold.accuracy, bob.gold.low, bob.gold.high) == (
            0,
            None,
            0.0,
            1.0,
        )
        assert [q.gold.below_floor for q in report] == [False, False, True, False]
        low, high = wilson_interval(0, 3)
        assert carol.flagged == (
            f"gold accuracy 0% (0/3; 95% interval {low:.0%}-{high:.0%}) is below the floor 80%"
        )
        assert carol.flagged == (
            "gold accuracy 0% (0/3; 95% interval 0%-56%) is below the floor 80%"
        )
        assert (alice.flagged, bob.flagged, dave.flagged) == (None, None, None)
        assert (alice.session_count, alice.session_minutes) == (2, 1.0)
        assert (carol.session_count, carol.session_minutes) == (3, 0.0)
        assert (bob.session_count, bob.session_minutes) == (0, 0.0)
        # Skill comes from gold (and multi-review) answers only: the live answer adds nothing.
        assert (bob.consensus_skill, dave.consensus_skill) == (None, None)
        assert alice.consensus_skill is not None
        assert carol.consensus_skill is not None
        assert alice.consensus_skill > 0.5 > carol.consensus_skill

    def test_consensus_skill_is_lower_for_a_reviewer_against_the_others(self, lw: Loopwise) -> None:
        review_project(lw, review={"overlap": 3, "aggregator": "dawid_skene"})
        add_reviewers(lw, "sms", *PEOPLE)
        plan: list[tuple[str, list[tuple[str, str | None]]]] = [
            ("c0", [("alice", "ham"), ("bob", "ham"), ("dave", "spam")]),
            ("c1", [("alice", "spam"), ("carol", "spam"), ("dave", "ham")]),
            ("c2", [("bob", "ham"), ("carol", "ham"), ("dave", "spam")]),
            ("c3", [("alice", "spam"), ("bob", "spam"), ("carol", "spam")]),
            ("c4", [("alice", "ham"), ("bob", "ham"), ("carol", "ham")]),
            ("c5", [("bob", "spam"), ("carol", "spam"), ("dave", "ham")]),
        ]
        run_plan(lw, plan)
        assert len(rows(lw, "label")) == 6  # 2 of 3 is enough: every item settled

        skills = {q.reviewer: q.consensus_skill for q in lw.reviewer_quality("sms")}

        dave = skills.pop("dave")
        assert dave is not None
        assert all(s is not None and s > 0.9 for s in skills.values()), skills
        assert dave < 0.5
        # The same fit on the answers as given (newest first, like the history the report reads).
        history = [
            (item, who, LABELS.index(label), None)
            for item, answers in plan
            for who, label in answers
            if label is not None
        ][::-1]
        expected = reviewer_skills(history, n_classes=2, method="dawid_skene")
        assert {**skills, "dave": dave} == pytest.approx(expected)

    def test_a_project_without_members_and_unknown_project(self, lw: Loopwise) -> None:
        review_project(lw)
        assert lw.reviewer_quality("sms") == []
        with refused(lw, ProjectNotFound, "project"):
            lw.reviewer_quality("nope")


# --- fatigue --------------------------------------------------------------------------------


def fatigue_scenario(lw: Loopwise, clock: FrozenClock) -> None:
    """alice, session 1: positions 1 gold right, 2 live, 3 gold wrong, (9 minutes: same
    session) 4 gold right, 5 live, 6 live, 7 gold right; (10 minutes: new session) 1 gold
    wrong, 2 gold right. carol: 1 gold right."""
    gold_project(lw, {"session_gap_minutes": 10}, live=5)
    answer_gold(lw, "alice", "ham")
    clock.advance(minutes=1)
    answer_live(lw, "alice")
    clock.advance(minutes=1)
    answer_gold(lw, "alice", "spam")
    clock.advance(minutes=9)
    answer_gold(lw, "alice", "ham")
    answer_live(lw, "alice")
    answer_live(lw, "alice")
    answer_gold(lw, "alice", "ham")
    clock.advance(minutes=10)
    answer_gold(lw, "alice", "spam")
    answer_gold(lw, "alice", "ham")
    answer_gold(lw, "carol", "ham")


def bucket(first: int, last: int, answers: int, correct: int) -> FatigueBucket:
    low, high = wilson_interval(correct, answers)
    return FatigueBucket(first, last, answers, correct, correct / answers, low, high)


class TestFatigue:
    def test_positions_follow_sessions(self, lw: Loopwise, clock: FrozenClock) -> None:
        fatigue_scenario(lw, clock)

        marks = [
            (r["reviewer"], r["session_position"], r["gold_correct"]) for r in rows(lw, "review")
        ]

        assert marks == [
            ("alice", 1, True),
            ("alice", 2, None),
            ("alice", 3, False),
            ("alice", 4, True),
            ("alice", 5, None),
            ("alice", 6, None),
            ("alice", 7, True),
            ("alice", 1, False),
            ("alice", 2, True),
            ("carol", 1, True),
        ]

    @pytest.mark.parametrize(
        ("size", "expected"),
        [
            # [1-2]: alice 1 right, 1 wrong, 2 right; carol 1 right. [3-4]: 3 wrong, 4 right.
            # [5-6]: only live answers: no bucket. [7-8]: 7 right.
            (2, [bucket(1, 2, 4, 3), bucket(3, 4, 2, 1), bucket(7, 8, 1, 1)]),
            (3, [bucket(1, 3, 5, 3), bucket(4, 6, 1, 1), bucket(7, 9, 1, 1)]),
            (
                1,
                [
                    bucket(1, 1, 3, 2),
                    bucket(2, 2, 1, 1),
                    bucket(3, 3, 1, 0),
                    bucket(4, 4, 1, 1),
                    bucket(7, 7, 1, 1),
                ],
            ),
        ],
    )
    def test_gold_accuracy_by_session_position(
        self, lw: Loopwise, clock: FrozenClock, size: int, expected: list[FatigueBucket]
    ) -> None:
        fatigue_scenario(lw, clock)

        report = lw.fatigue("sms", bucket=size)

        assert report == expected

    def test_default_bucket_is_25(self, lw: Loopwise, clock: FrozenClock) -> None:
        fatigue_scenario(lw, clock)
        assert lw.fatigue("sms") == [bucket(1, 25, 7, 5)]

    def test_no_gold_answers_no_buckets(self, lw: Loopwise) -> None:
        gold_project(lw, {}, live=1)
        answer_live(lw, "alice")
        assert lw.fatigue("sms") == []

    def test_bad_bucket_and_unknown_project_are_refused(self, lw: Loopwise) -> None:
        review_project(lw)
        bad: list[Any] = [0, -1, 10_001, True, 2.5, "5", None]
        for size in bad:
            with refused(lw, InvalidInput, "bucket"):
                lw.fatigue("sms", bucket=size)
        assert lw.fatigue("sms", bucket=10_000) == []
        with refused(lw, ProjectNotFound, "project"):
            lw.fatigue("nope")
