"""Active learning inside the loop: an unlabelled pool, and queries that turn its most
informative items into review tasks.

``add_to_pool`` stores candidates (validated like submitted items, idempotent on external id).
``query`` scores every waiting candidate with the production model, asks a strategy from
:mod:`loopwise.active_learning` for the best ``n``, and makes each chosen one an item, queued
for review at the ``discovery`` priority with the strategy's choice as its reason, in one
transaction. Features are computed once per model and kept, and a model's are removed once
another is in production (:mod:`.pool_features`); with no model yet the strategy chooses on
features of the pool itself (a cold start). A pool item that was submitted as an item
meanwhile, or chosen by an earlier query, is never chosen; nor is one whose payload an item
queued for review or resolved holds (:mod:`.pool_repeats`). Items queued for review without a
label yet count as picked already, so the strategies that spread a batch keep away from them
(:mod:`.pool_inputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sqlalchemy import select, update

from loopwise.active_learning import (
    Pool,
    bootstrap_committee,
    check_count,
    check_seed,
    make_strategy,
)
from loopwise.core.active import ActiveLearningConfig, parse_active_learning
from loopwise.core.enums import (
    DecisionOrigin,
    InputKind,
    ItemStatus,
    Priority,
    Route,
    Stage,
)
from loopwise.errors import DuplicateExternalId, EmptyPool
from loopwise.scoring import entropy
from loopwise.services import pool_features, pool_inputs, pool_repeats
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.services.items import check_unlabelled, prepare_items
from loopwise.services.tasks import task_values
from loopwise.store import mappers
from loopwise.store.pool import (
    fresh_pool_statistics,
    known_candidates,
    pool_counts,
)
from loopwise.store.tables import (
    DecisionRow,
    ItemRow,
    PoolItemRow,
    PredictionRow,
    ReviewTaskRow,
)

log = logging.getLogger(__name__)
COMMITTEE_SIZE = 5
"""Models in a query-by-committee's bootstrap committee."""


@dataclass(frozen=True)
class PoolStatus:
    """How many candidates wait in a project's pool, and how many queries chose.

    ``waiting`` are those a query can choose: not chosen, and not sent by a client as items
    (those are never chosen; before, they were counted as waiting, and a promotion's query
    asked for more than could be chosen). ``chosen`` are items now: made by a query, or found
    by one to repeat the payload of an item people see (:mod:`.pool_repeats`)."""

    waiting: int
    chosen: int


@dataclass(frozen=True)
class Chosen:
    """One candidate a query turned into a review task."""

    external_id: str
    item_id: int
    task_id: int
    rank: int
    predicted_label: str | None
    confidence: float | None


@dataclass(frozen=True)
class QueryResult:
    """What a query did: the strategy, how many candidates it chose from, the chosen, and how
    many items waiting for a label it counted as picked already (:mod:`.pool_inputs`)."""

    strategy: str
    considered: int
    chosen: tuple[Chosen, ...]
    model_version: int | None
    awaiting_labels: int = 0

    @property
    def awaiting_note(self) -> str:
        """``", counting N items waiting for a label as picked"``, or ``""`` when none waited:
        what the CLI and the web UI add to a query's summary."""
        if not self.awaiting_labels:
            return ""
        items = "item" if self.awaiting_labels == 1 else "items"
        return f", counting {self.awaiting_labels:,} {items} waiting for a label as picked"


@retry_on_conflict
def add_to_pool(
    ctx: Context, project_name: str, rows: Sequence[Any], *, actor: str = "client"
) -> int:
    """Add unlabelled candidates (payload, optional ``external_id`` and ``metadata``), all or
    none; returns how many were new. A candidate already in the pool with the same payload is
    skipped; with another payload it is refused (``DuplicateExternalId``). One without an
    external id is named by its payload (:func:`~loopwise.services.items.payload_external_id`):
    the same payload added again, without an id, is skipped."""
    check_unlabelled(rows)
    fresh_pool_statistics(ctx.engine)
    with ctx.write() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        text = project.input_kind is InputKind.TEXT
        model_row = tx.repo.production_model(project.id) if text else None
        prepared = [
            p
            for p in prepare_items(ctx, project, rows, name="rows", ids_from_payloads=True)
            if not p.repeat
        ]
        known = known_candidates(tx.session, project.id, [p.external_id for p in prepared])
        fresh = []
        for p in prepared:
            digest = known.get(p.external_id)
            if digest is None:
                fresh.append(p)
            elif digest != p.digest:
                raise DuplicateExternalId(
                    f"external id {p.external_id!r} is in the pool with another payload",
                    field=f"{p.field}.external_id",
                )
        ids = tx.repo.insert_many(
            PoolItemRow,
            [
                {
                    "project_id": project.id,
                    "external_id": p.external_id,
                    "payload": p.payload,
                    "payload_sha256": p.digest,
                    "meta": p.metadata,
                    "created_at": tx.now,
                }
                for p in fresh
            ],
        )
        tx.audit(
            actor=actor,
            action="pool.added",
            entity_type="project",
            entity_id=project.id,
            project_id=project.id,
            after={"added": len(fresh), "skipped": len(prepared) - len(fresh)},
        )
    try:
        model = None if model_row is None else ctx.models.get(model_row)
        pool_features.store_inputs(ctx, project, ids, [p.payload for p in fresh], model)
    except Exception:  # the candidates are committed; a query computes from their payloads
        log.exception(
            "the inputs of %d candidates added to %r were not kept", len(ids), project.name
        )
    return len(fresh)


def pool_status(ctx: Context, project_name: str) -> PoolStatus:
    fresh_pool_statistics(ctx.engine)
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        return PoolStatus(*pool_counts(tx.session, project.id))


def set_active_learning(
    ctx: Context, project_name: str, config: ActiveLearningConfig | dict[str, Any], *, actor: str
) -> ActiveLearningConfig:
    """Replace a project's active-learning settings (strategy, batch, exploration share)."""
    parsed = parse_active_learning(config)
    with ctx.write() as tx:
        row = tx.repo.project_by_name(project_name, lock=True)
        before = dict(row.active_learning)
        row.active_learning = parsed.to_json()
        tx.session.flush()
        tx.audit(
            actor=actor,
            action="project.active_learning_changed",
            entity_type="project",
            entity_id=row.id,
            project_id=row.id,
            before=before,
            after=parsed.to_json(),
        )
    return parsed


@retry_on_conflict
def query(
    ctx: Context,
    project_name: str,
    n: int | None = None,
    *,
    strategy: str | None = None,
    seed: int | None = None,
    actor: str = "system",
    up_to: bool = False,
) -> QueryResult:
    """Choose ``n`` (the project's ``batch``) waiting candidates with ``strategy`` (the
    project's) and queue them for review; see the module docstring. With ``up_to``, all of
    them when fewer wait (as a promotion's query does) rather than ``NotEnoughInPool``.

    A client may send a chosen candidate as an item between the read of the candidates and
    the write of the choice: the query's item would repeat its external id, the database
    refuses it, and the query chooses again from what is left (``retry_on_conflict``).

    Raises
    ------
    EmptyPool
        No candidate waits. ``NotEnoughInPool``: ``n`` is larger than what waits.
    UnknownStrategy
        ``strategy`` is not a name in ``STRATEGIES``.
    InvalidInput
        ``n`` is not a whole number of at least 1, ``seed`` not one of at least 0.
    """
    found = pool_inputs.candidates(ctx, project_name)
    config = found.project.active_learning
    name = config.strategy if strategy is None else strategy
    chooser = make_strategy(name, explore=config.explore)
    size = config.batch if n is None else n
    check_count(size)  # before the features, which take seconds on a large pool
    check_seed(seed)
    if not len(found.ids):
        raise EmptyPool("the pool has no unlabelled item left to choose from", field="pool")
    if up_to:
        size = min(size, len(found.ids))
    model = None if found.model_row is None else ctx.models.get(found.model_row)
    model_id = None if found.model_row is None else found.model_row.id
    pool_features.retire_spaces(ctx, found.project.id, model_id, model)
    features, pending = pool_inputs.features(ctx, found, model)
    probabilities = None if model is None else model.predict_proba_features(features)
    labelled, targets = pool_inputs.labelled(ctx, found, model)
    committee = None
    if "committee" in chooser.needs and model is not None and len(set(targets.tolist())) > 1:
        final = model.estimator[-1] if isinstance(model.estimator, Pipeline) else model.estimator
        committee = bootstrap_committee(
            lambda: clone(final),
            labelled,
            targets,
            features,
            COMMITTEE_SIZE,
            seed,
            len(found.project.labels),
        )
    known = None if model is None or labelled is None else model.predict_proba_features(labelled)
    waiting = None if model is None or pending is None else model.predict_proba_features(pending)
    pool = Pool(features, probabilities, labelled, committee, known, pending, waiting)
    picked = chooser.query(pool, size, seed=seed)
    picked, repeats = pool_repeats.set_aside(
        ctx,
        found.project.id,
        found.ids,
        picked,
        lambda rows, k: rows[chooser.query(pool.subset(rows), k, seed=seed)],
        size,
        up_to=up_to,
        actor=actor,
    )
    considered = len(found.ids) - len(repeats)
    with ctx.write() as tx:
        pool_repeats.link(tx, repeats)
        chosen = _queue(tx, found, name, picked, probabilities, actor, considered, len(repeats))
    return QueryResult(
        name,
        considered,
        chosen,
        None if found.model_row is None else found.model_row.version,
        len(found.waiting),
    )


def _queue(
    tx: Tx,
    found: pool_inputs.Candidates,
    strategy: str,
    picked: Any,
    probabilities: Any,
    actor: str,
    considered: int,
    repeats: int,
) -> tuple[Chosen, ...]:
    """Make the picked candidates items queued for review (``discovery`` priority, the rank
    as score: the strategy's first pick is served first). A candidate another query took
    meanwhile is skipped."""
    project, now = found.project, tx.now
    row_of = {int(found.ids[int(i)]): int(i) for i in picked}
    order = list(row_of)
    rank = {pool_id: r for r, pool_id in enumerate(order)}
    claimed = tx.session.execute(
        update(PoolItemRow)
        .where(PoolItemRow.id.in_(order), PoolItemRow.item_id.is_(None))
        .values(queried_at=now)
        .returning(PoolItemRow.id, PoolItemRow.external_id, PoolItemRow.payload_sha256)
        .execution_options(synchronize_session=False)
    ).all()
    claimed = sorted(claimed, key=lambda row: rank[int(row[0])])
    if not claimed:
        return ()
    pool_rows = tx.session.execute(
        select(PoolItemRow.id, PoolItemRow.meta, PoolItemRow.payload).where(
            PoolItemRow.id.in_([int(c[0]) for c in claimed])
        )
    ).all()
    meta = {int(i): m for i, m, _ in pool_rows}
    payload = {int(i): p for i, _, p in pool_rows}
    item_ids = tx.repo.insert_many(
        ItemRow,
        [
            {
                "project_id": project.id,
                "external_id": external_id,
                "payload": payload[int(pool_id)],
                "payload_sha256": digest,
                "meta": meta[int(pool_id)],
                "status": ItemStatus.QUEUED.value,
                "created_at": now,
                "updated_at": now,
            }
            for pool_id, external_id, digest in claimed
        ],
    )
    labels = project.labels
    predicted: list[str | None] = [None] * len(claimed)
    confidence: list[float | None] = [None] * len(claimed)
    prediction_ids: list[int | None] = [None] * len(claimed)
    if probabilities is not None and found.model_row is not None:
        rows = probabilities[[row_of[int(c[0])] for c in claimed]]
        predicted = [labels[j] for j in rows.argmax(axis=1).tolist()]
        confidence = rows.max(axis=1).tolist()
        prediction_ids = list(
            tx.repo.insert_many(
                PredictionRow,
                [
                    {
                        "project_id": project.id,
                        "item_id": item_id,
                        "model_version_id": found.model_row.id,
                        "probabilities": row.tolist(),
                        "predicted_label": label,
                        "confidence": conf,
                        "uncertainty": unc,
                        "created_at": now,
                    }
                    for item_id, row, label, conf, unc in zip(
                        item_ids, rows, predicted, confidence, entropy(rows).tolist(), strict=True
                    )
                ],
            )
        )
    reasons = [
        f"chosen by active learning ({strategy}) to teach the model: pick {r + 1} of "
        f"{len(claimed)} from {considered} unlabelled"
        for r in range(len(claimed))
    ]
    tx.repo.insert_many(
        DecisionRow,
        [
            {
                "project_id": project.id,
                "item_id": item_id,
                "prediction_id": prediction_id,
                "route": Route.HUMAN.value,
                "origin": DecisionOrigin.DISCOVERY.value,
                "reasons": [reason],
                "rules": [],
                "policy_version": project.routing.version,
                "created_at": now,
            }
            for item_id, prediction_id, reason in zip(
                item_ids, prediction_ids, reasons, strict=True
            )
        ],
    )
    template = task_values(
        project,
        0,
        stage=Stage.REVIEW,
        priority=Priority.DISCOVERY,
        score=0.0,
        now=now,
        reviews=project.review.overlap,
    )
    task_ids = tx.repo.insert_many(
        ReviewTaskRow,
        [
            {**template, "item_id": item_id, "priority_score": float(len(claimed) - r)}
            for r, item_id in enumerate(item_ids)
        ],
    )
    for (pool_id, _, _), item_id in zip(claimed, item_ids, strict=True):
        tx.session.execute(
            update(PoolItemRow)
            .where(PoolItemRow.id == int(pool_id))
            .values(item_id=item_id)
            .execution_options(synchronize_session=False)
        )
    chosen = tuple(
        Chosen(str(c[1]), item_id, task_id, r, label, conf)
        for r, (c, item_id, task_id, label, conf) in enumerate(
            zip(claimed, item_ids, task_ids, predicted, confidence, strict=True)
        )
    )
    for c, reason in zip(chosen, reasons, strict=True):
        tx.audit(
            actor=actor,
            action="item.routed",
            entity_type="item",
            entity_id=c.item_id,
            project_id=project.id,
            after={
                "external_id": c.external_id,
                "route": Route.HUMAN.value,
                "origin": DecisionOrigin.DISCOVERY.value,
                "reasons": [reason],
                "predicted_label": c.predicted_label,
                "confidence": c.confidence,
                "model_version": None if found.model_row is None else found.model_row.version,
                "task_id": c.task_id,
            },
        )
    tx.audit(
        actor=actor,
        action="pool.queried",
        entity_type="project",
        entity_id=project.id,
        project_id=project.id,
        after={
            "strategy": strategy,
            "considered": considered,
            "chosen": len(chosen),
            "set_aside": repeats,
            "awaiting_labels": len(found.waiting),
        },
    )
    return chosen
