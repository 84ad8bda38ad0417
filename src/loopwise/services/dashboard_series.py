"""The numbers behind each dashboard chart, read inside the caller's read transaction.

Each function returns the chart's rows (tuples in the order of its columns) and nothing else;
:mod:`loopwise.services.dashboard` names them and explains them. Figures another service already
computes are taken from it (the queue, the latency rule, the answers agreement is measured on,
gold scores, sessions); counting over time is done by the database (``GROUP BY`` the hour or
day), except where a median or an agreement needs the rows themselves.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, func, literal_column, select
from sqlalchemy.sql import ColumnElement

from loopwise.consensus.agreement import fleiss_kappa, krippendorff_alpha, pairwise_kappa
from loopwise.core.entities import Project
from loopwise.core.enums import DecisionOrigin, ModelStage, Priority, Role, Route
from loopwise.core.periods import percentiles, period_start
from loopwise.queue.fatigue import SessionState, advance_session
from loopwise.queue.quality import gold_score
from loopwise.scoring.reliability import ReliabilityBins, calibration_bins
from loopwise.services.context import Tx
from loopwise.services.quality import review_answers
from loopwise.services.stats_review import (
    LATENCY_WINDOW,
    count_if,
    queue_levels,
    resolved_by_people,
)
from loopwise.store.tables import (
    DecisionRow,
    GoldenItemRow,
    HoneypotRow,
    LabelRow,
    PredictionRow,
    ProjectMemberRow,
    ReviewerRow,
    ReviewRow,
)

Cell = float | str | None
Row = tuple[Cell, ...]
CALIBRATION_BINS = 10


def _bucket(tx: Tx, column: Any, period: str) -> ColumnElement[Any]:
    """``column``'s hour or day (UTC) as the database computes it. The period is one of two
    constants, written into the SQL so that the select and ``GROUP BY`` expressions match."""
    if tx.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(
            literal_column(f"'{period}'"), func.timezone(literal_column("'UTC'"), column)
        )
    pattern = "%Y-%m-%d %H:00:00" if period == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(literal_column(f"'{pattern}'"), column)


def _as_time(value: datetime | str) -> datetime:
    """A bucket read back (SQLite: text; PostgreSQL: a naive UTC timestamp) as aware UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def automation(tx: Tx, project_id: int, period: str) -> list[Row]:
    """Per period of routing: ``(start, decisions, automation_rate, checked, accuracy,
    auto_checked, auto_accuracy)``; see the chart's note."""
    truth = func.coalesce(GoldenItemRow.label, LabelRow.value)
    predicted = PredictionRow.predicted_label
    checked = and_(truth.is_not(None), predicted.is_not(None))
    right = and_(checked, predicted == truth)
    auto = DecisionRow.route == Route.AUTO.value
    start = _bucket(tx, DecisionRow.created_at, period)
    found = tx.session.execute(
        select(
            start,
            func.count(),
            count_if(auto),
            count_if(checked),
            count_if(right),
            count_if(and_(auto, checked)),
            count_if(and_(auto, right)),
        )
        .select_from(DecisionRow)
        .outerjoin(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
        .outerjoin(LabelRow, LabelRow.item_id == DecisionRow.item_id)
        .outerjoin(GoldenItemRow, _golden_of_decision(project_id))
        .where(
            DecisionRow.project_id == project_id,
            DecisionRow.origin == DecisionOrigin.ROUTED.value,
        )
        .group_by(start)
        .order_by(start)
    ).all()
    out: list[Row] = []
    for at, n, n_auto, n_checked, n_right, a_checked, a_right in found:
        n, n_auto, n_checked, n_right = int(n), int(n_auto), int(n_checked), int(n_right)
        a_checked, a_right = int(a_checked), int(a_right)
        out.append(
            (
                iso(_as_time(at)),
                n,
                _share(n_auto, n),
                n_checked,
                _share(n_right, n_checked),
                a_checked,
                _share(a_right, a_checked),
            )
        )
    return out


def _evaluation(metrics: dict[str, Any], split: str) -> tuple[float | None, int | None]:
    """The candidate's accuracy and set size on ``split`` as the promotion recorded them."""
    evaluation = metrics.get("evaluation")
    if not isinstance(evaluation, dict):
        return None, None
    scores = (evaluation.get(split) or {}).get("candidate") or {}
    accuracy, n = scores.get("accuracy"), scores.get("n")
    return (
        None if accuracy is None else float(accuracy),
        None if n is None else int(n),
    )


def _verdict(stage: str, promoted: bool, rolled_back: bool, metrics: dict[str, Any]) -> str:
    if rolled_back:
        return "rolled back"
    if promoted:
        gate = (metrics.get("evaluation") or {}).get("gate") or {}
        return "promoted" if gate.get("promote", True) else "promoted (forced)"
    if stage == ModelStage.CANDIDATE.value:
        return "candidate"
    return "refused"


def _golden_of_decision(project_id: int) -> ColumnElement[bool]:
    """Joins a decision to its item's golden-set entry, if any."""
    return and_(
        GoldenItemRow.item_id == DecisionRow.item_id, GoldenItemRow.project_id == project_id
    )


def models(tx: Tx, project_id: int) -> list[tuple[str, Row]]:
    """Per model version, oldest first: its name and ``(trained_on, holdout_accuracy,
    golden_accuracy, holdout_n, golden_n, verdict)``."""
    out: list[tuple[str, Row]] = []
    for row in tx.repo.model_versions(project_id):
        metrics = row.metrics or {}
        holdout, holdout_n = _evaluation(metrics, "holdout")
        golden, golden_n = _evaluation(metrics, "golden")
        verdict = _verdict(row.stage, row.promoted_at is not None, row.rolled_back, metrics)
        values: Row = (row.trained_on, holdout, golden, holdout_n, golden_n, verdict)
        out.append((f"v{row.version}", values))
    return out


def queue(tx: Tx, project_id: int) -> list[Row]:
    """Per priority level with work waiting, in serve order: ``(priority, open_tasks,
    oldest_age_minutes, past_due)``, both stages together."""
    tasks: Counter[str] = Counter()
    past_due: Counter[str] = Counter()
    oldest: dict[str, float] = {}
    for level in queue_levels(tx, project_id):
        tasks[level.priority] += level.tasks
        past_due[level.priority] += level.past_due
        oldest[level.priority] = max(oldest.get(level.priority, 0.0), level.oldest_age_seconds)
    names = [p.name.lower() for p in Priority]
    return [
        (name, tasks[name], oldest[name] / 60.0, past_due[name]) for name in names if name in tasks
    ]


def latency(tx: Tx, project_id: int, period: str) -> list[Row]:
    """Per period of resolution: ``(start, resolved, median_minutes, p90_minutes)`` over the
    latest :data:`LATENCY_WINDOW` items people resolved."""
    pairs = tx.session.execute(
        select(DecisionRow.created_at, DecisionRow.decided_at)
        .where(*resolved_by_people(project_id))
        .order_by(DecisionRow.decided_at.desc(), DecisionRow.id.desc())
        .limit(LATENCY_WINDOW)
    ).all()
    minutes: dict[datetime, list[float]] = defaultdict(list)
    for routed, done in pairs:
        if done is not None:
            minutes[period_start(done, period)].append((done - routed).total_seconds() / 60.0)
    out: list[Row] = []
    for start in sorted(minutes):
        median, p90 = percentiles(minutes[start], (50, 90)) or (None, None)
        out.append((iso(start), len(minutes[start]), median, p90))
    return out


def _agreement(answers: Sequence[dict[str, int]], n_labels: int) -> Row:
    """``(items, fleiss_kappa, cohen_kappa, alpha)`` of items each answered by 2+ people
    (``{reviewer: label index}`` each), as :func:`loopwise.services.quality.agreement_report`
    computes them; Cohen's kappa is the pairs' mean weighted by the items they share."""
    people = sorted({who for item in answers for who in item})
    col = {who: r for r, who in enumerate(people)}
    grid = np.full((len(people), len(answers)), np.nan)
    counts = np.zeros((len(answers), n_labels))
    for u, item in enumerate(answers):
        for who, value in item.items():
            grid[col[who], u] = value
            counts[u, value] += 1
    sizes = counts.sum(axis=1).astype(int)
    usual = Counter(sizes.tolist()).most_common(1)[0][0]
    fleiss = float(fleiss_kappa(counts[sizes == usual]))
    weighted = shared_total = 0.0
    for (a, b), kappa in pairwise_kappa(grid).items():
        shared = float((~np.isnan(grid[a]) & ~np.isnan(grid[b])).sum())
        weighted += kappa * shared
        shared_total += shared
    cohen = weighted / shared_total if shared_total else None
    return (len(answers), fleiss, cohen, float(krippendorff_alpha(grid)))


def agreement(tx: Tx, project: Project, period: str) -> list[Row]:
    """Per period of an item's last answer: ``(start, items, fleiss_kappa, cohen_kappa,
    alpha)`` over the review-stage answers the agreement report uses."""
    index = {name: j for j, name in enumerate(project.labels)}
    by_item: dict[int, dict[str, int]] = defaultdict(dict)
    last: dict[int, datetime] = {}
    for review in review_answers(tx, project.id):
        if review.label in index:
            by_item[review.item_id].setdefault(review.reviewer, index[review.label])
            last[review.item_id] = review.created_at
    periods: dict[datetime, list[dict[str, int]]] = defaultdict(list)
    for item, answers in by_item.items():
        if len(answers) >= 2:
            periods[period_start(last[item], period)].append(answers)
    return [
        (iso(start), *_agreement(periods[start], len(project.labels))) for start in sorted(periods)
    ]


def _session_minutes(times: Sequence[datetime], gap_minutes: int) -> tuple[int, float]:
    """How many sessions ``times`` (sorted) make and their total length in minutes, a session
    ending at a gap of ``gap_minutes`` as :func:`loopwise.queue.fatigue.advance_session` says."""
    sessions: list[SessionState] = []
    state: SessionState | None = None
    for at in times:
        state = advance_session(state, at, gap_minutes)
        if state.count == 1:
            sessions.append(state)
        else:
            sessions[-1] = state
    return len(sessions), sum(s.minutes for s in sessions)


def reviewers(tx: Tx, project: Project) -> list[Row]:
    """Per reviewer (members who review, and anyone else who answered here), by name:
    ``(reviewer, verdicts, per_hour, gold_answers, gold_accuracy, gold_low, gold_high,
    flagged)``."""
    members = {
        name: (reason if flagged_at is not None else None)
        for name, flagged_at, reason in tx.session.execute(
            select(ReviewerRow.name, ProjectMemberRow.flagged_at, ProjectMemberRow.flag_reason)
            .join(ProjectMemberRow, ProjectMemberRow.reviewer_id == ReviewerRow.id)
            .where(
                ProjectMemberRow.project_id == project.id,
                ReviewerRow.role.in_([r.value for r in Role if r.reviews]),
            )
        ).all()
    }
    times: dict[str, list[datetime]] = defaultdict(list)
    gold_n: Counter[str] = Counter()
    gold_ok: Counter[str] = Counter()
    for name, at, correct in tx.session.execute(
        select(ReviewRow.reviewer, ReviewRow.created_at, ReviewRow.gold_correct)
        .where(ReviewRow.project_id == project.id)
        .order_by(ReviewRow.created_at, ReviewRow.id)
    ).all():
        times[name].append(at)
        if correct is not None:
            gold_n[name] += 1
            gold_ok[name] += int(correct)
    review = project.review
    out: list[Row] = []
    for name in sorted(set(members) | set(times)):
        sessions, minutes = _session_minutes(times[name], review.session_gap_minutes)
        per_hour = (len(times[name]) - sessions) / (minutes / 60.0) if minutes > 0 else None
        gold = gold_score(
            gold_ok[name],
            gold_n[name],
            floor=review.gold_floor,
            min_answers=review.gold_min_answers,
        )
        scored = gold.answers > 0
        out.append(
            (
                name,
                len(times[name]),
                per_hour,
                gold.answers,
                gold.accuracy,
                gold.low if scored else None,
                gold.high if scored else None,
                members.get(name),
            )
        )
    return out


def errors(tx: Tx, project_id: int) -> list[Row]:
    """``(error_category, reviews)``, the commonest first (ties by name); no category left out."""
    count = func.count().label("n")
    found = tx.session.execute(
        select(ReviewRow.error_category, count)
        .where(ReviewRow.project_id == project_id, ReviewRow.error_category.is_not(None))
        .group_by(ReviewRow.error_category)
        .order_by(count.desc(), ReviewRow.error_category)
    ).all()
    return [(str(category), int(n)) for category, n in found]


def calibration(tx: Tx, project_id: int) -> ReliabilityBins:
    """Confidence bins of the decisions' predictions whose true label is known: a gold item's
    answer, else the golden set's label, else the resolved label."""
    truth = func.coalesce(HoneypotRow.label, GoldenItemRow.label, LabelRow.value)
    found = tx.session.execute(
        select(PredictionRow.confidence, PredictionRow.predicted_label == truth)
        .select_from(DecisionRow)
        .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
        .outerjoin(LabelRow, LabelRow.item_id == DecisionRow.item_id)
        .outerjoin(HoneypotRow, HoneypotRow.item_id == DecisionRow.item_id)
        .outerjoin(GoldenItemRow, _golden_of_decision(project_id))
        .where(
            DecisionRow.project_id == project_id,
            PredictionRow.predicted_label.is_not(None),
            truth.is_not(None),
        )
    ).all()
    confidence = [min(max(float(c), 0.0), 1.0) for c, _ in found]
    correct = [bool(ok) for _, ok in found]
    return calibration_bins(confidence, correct, CALIBRATION_BINS)
