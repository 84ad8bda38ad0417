"""How far people's work can be trusted: reviewer quality on gold and in consensus, agreement
per project, label, reviewer pair and period, and fatigue (gold accuracy by session position).

Read-only reports; the numbers come from the pure functions in :mod:`loopwise.consensus` and
:mod:`loopwise.queue`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select

from loopwise.consensus.agreement import (
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_kappa,
    specific_agreement,
)
from loopwise.consensus.settle import reviewer_skills
from loopwise.core.enums import Role, Stage
from loopwise.errors import InvalidInput
from loopwise.queue.quality import GoldScore, gold_score, wilson_interval
from loopwise.services.context import Context, Tx
from loopwise.store import answers, mappers, review_sql
from loopwise.store.tables import ProjectMemberRow, ReviewerRow, ReviewRow


@dataclass(frozen=True)
class ReviewerQuality:
    """One reviewer on one project. ``consensus_skill``: their reliability as estimated by
    the project's aggregator from recent multi-review and gold answers (higher = better;
    ``None`` without such answers). ``flagged``: why admins were warned, if they were."""

    reviewer: str
    role: str
    reviews: int
    gold: GoldScore
    consensus_skill: float | None
    flagged: str | None
    session_count: int
    session_minutes: float


def review_answers(tx: Tx, project_id: int) -> list[ReviewRow]:
    return list(
        tx.session.scalars(
            select(ReviewRow)
            .where(
                ReviewRow.project_id == project_id,
                ReviewRow.verdict.in_(review_sql.ANSWERS),
                ReviewRow.label.is_not(None),
                ReviewRow.stage == Stage.REVIEW.value,
            )
            .order_by(ReviewRow.id)
        )
    )


def reviewer_quality(ctx: Context, project_name: str) -> list[ReviewerQuality]:
    """Every member's gold accuracy with its 95% Wilson interval, consensus skill and flag."""
    with ctx.read() as tx:
        project_row = tx.repo.project_by_name(project_name)
        project = mappers.project(project_row)
        members = tx.session.execute(
            select(ReviewerRow, ProjectMemberRow)
            .join(ProjectMemberRow, ProjectMemberRow.reviewer_id == ReviewerRow.id)
            .where(
                ProjectMemberRow.project_id == project.id,
                ReviewerRow.role.in_([r.value for r in Role if r.reviews]),
            )
            .order_by(ReviewerRow.name)
        ).all()
        reviews: Counter[str] = Counter()
        gold_n: Counter[str] = Counter()
        gold_ok: Counter[str] = Counter()
        for name, correct in tx.session.execute(
            select(ReviewRow.reviewer, ReviewRow.gold_correct).where(
                ReviewRow.project_id == project.id
            )
        ):
            reviews[name] += 1
            if correct is not None:
                gold_n[name] += 1
                gold_ok[name] += int(correct)
        history, _ = answers.consensus_history(
            tx.session, project.id, project.review.consensus_window
        )
        skills = _skills(history, project.labels, project.review.aggregator)
        out = []
        for reviewer, member in members:
            started, last = reviewer.session_started_at, reviewer.session_last_at
            out.append(
                ReviewerQuality(
                    reviewer=reviewer.name,
                    role=reviewer.role,
                    reviews=reviews[reviewer.name],
                    gold=gold_score(
                        gold_ok[reviewer.name],
                        gold_n[reviewer.name],
                        floor=project.review.gold_floor,
                        min_answers=project.review.gold_min_answers,
                    ),
                    consensus_skill=skills.get(reviewer.name),
                    flagged=member.flag_reason if member.flagged_at is not None else None,
                    session_count=reviewer.session_count,
                    session_minutes=0.0
                    if started is None or last is None
                    else (last - started).total_seconds() / 60.0,
                )
            )
        return out


def _skills(
    history: list[tuple[int, str, str, str | None]], labels: tuple[str, ...], method: str
) -> dict[str, float]:
    """Reviewer reliability from the aggregator fitted on ``history`` (no task of its own)."""
    index = {name: i for i, name in enumerate(labels)}
    rows = [
        (item, who, index[value], None if gold is None else index.get(gold))
        for item, who, value, gold in history
        if value in index
    ]
    return reviewer_skills(rows, n_classes=len(labels), method=method)


@dataclass(frozen=True)
class Agreement:
    """Agreement among reviewers of the same items; every figure: **higher = more agreement**.

    ``alpha``: Krippendorff's alpha (nominal, any number of reviewers per item).
    ``fleiss``: Fleiss' kappa over the items with the usual number of reviewers
    (``raters``). ``by_label``: specific agreement per label. ``pairs``: Cohen's kappa of each
    reviewer pair over the items both reviewed, with that count. ``periods``: alpha per day
    (or week), by when the item's last review came in.
    """

    items: int
    answers: int
    alpha: float | None
    fleiss: float | None
    raters: int | None
    by_label: dict[str, float | None]
    pairs: list[tuple[str, str, float, int]]
    periods: list[tuple[str, int, float | None]]


def _period(at: datetime, period: str) -> str:
    if period == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.date().isoformat()


def agreement_report(ctx: Context, project_name: str, *, period: str = "day") -> Agreement:
    """Agreement of the project's reviewers on items that several of them answered."""
    if period not in ("day", "week"):
        raise InvalidInput("must be 'day' or 'week'", field="period")
    with ctx.read() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        by_item: dict[int, dict[str, str]] = defaultdict(dict)
        last: dict[int, datetime] = {}
        for review in review_answers(tx, project.id):
            assert review.label is not None
            by_item[review.item_id].setdefault(review.reviewer, review.label)
            last[review.item_id] = review.created_at
    items = [i for i, answers in by_item.items() if len(answers) >= 2]
    labels = project.labels
    index = {name: j for j, name in enumerate(labels)}
    if not items:
        return Agreement(0, 0, None, None, None, dict.fromkeys(labels), [], [])
    people = sorted({who for i in items for who in by_item[i]})
    col = {who: r for r, who in enumerate(people)}

    def matrix(chosen: list[int]) -> np.ndarray:
        grid = np.full((len(people), len(chosen)), np.nan)
        for u, i in enumerate(chosen):
            for who, value in by_item[i].items():
                grid[col[who], u] = index[value]
        return grid

    grid = matrix(items)
    counts = np.zeros((len(items), len(labels)))
    for u, i in enumerate(items):
        for value in by_item[i].values():
            counts[u, index[value]] += 1
    sizes = counts.sum(axis=1).astype(int)
    usual = Counter(sizes.tolist()).most_common(1)[0][0]
    fleiss = float(fleiss_kappa(counts[sizes == usual])) if (sizes == usual).sum() else None
    specific = specific_agreement(counts)
    pairs = []
    for (a, b), kappa in sorted(pairwise_kappa(grid).items()):
        shared = int((~np.isnan(grid[a]) & ~np.isnan(grid[b])).sum())
        pairs.append((people[a], people[b], float(kappa), shared))
    periods: dict[str, list[int]] = defaultdict(list)
    for i in items:
        periods[_period(last[i], period)].append(i)
    return Agreement(
        items=len(items),
        answers=int(counts.sum()),
        alpha=float(krippendorff_alpha(grid)),
        fleiss=fleiss,
        raters=int(usual),
        by_label={
            name: None if math.isnan(specific[j]) else float(specific[j])
            for j, name in enumerate(labels)
        },
        pairs=pairs,
        periods=[
            (key, len(chosen), float(krippendorff_alpha(matrix(chosen))))
            for key, chosen in sorted(periods.items())
        ],
    )


@dataclass(frozen=True)
class FatigueBucket:
    """Gold answers given at positions ``first``-``last`` of a session; accuracy with its 95%
    Wilson interval (higher = better)."""

    first: int
    last: int
    answers: int
    correct: int
    accuracy: float | None
    low: float
    high: float


def fatigue_report(ctx: Context, project_name: str, *, bucket: int = 25) -> list[FatigueBucket]:
    """Gold accuracy by position in the reviewer's session: does quality drop late in one?"""
    if isinstance(bucket, bool) or not isinstance(bucket, int) or not 1 <= bucket <= 10_000:
        raise InvalidInput("must be a whole number from 1 to 10000", field="bucket")
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        rows = tx.session.execute(
            select(ReviewRow.session_position, ReviewRow.gold_correct).where(
                ReviewRow.project_id == project.id,
                ReviewRow.gold_correct.is_not(None),
                ReviewRow.session_position.is_not(None),
            )
        ).all()
    answers: Counter[int] = Counter()
    correct: Counter[int] = Counter()
    for position, ok in rows:
        key = (int(position or 1) - 1) // bucket
        answers[key] += 1
        correct[key] += int(bool(ok))
    out = []
    for key in sorted(answers):
        low, high = wilson_interval(correct[key], answers[key])
        out.append(
            FatigueBucket(
                first=key * bucket + 1,
                last=(key + 1) * bucket,
                answers=answers[key],
                correct=correct[key],
                accuracy=correct[key] / answers[key],
                low=low,
                high=high,
            )
        )
    return out
