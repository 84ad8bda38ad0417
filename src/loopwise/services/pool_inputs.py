"""What a query gives its strategy: the waiting candidates, the labelled items and the items
whose labels are on the way, each in the production model's feature space.

The candidates are the pool items no query chose and no client sent (:func:`candidates`). The
labelled items are the project's most recent labels (:data:`LABELLED_LIMIT`). The items *waiting
for a label* are the project's items queued for review that have none yet (:data:`PENDING_LIMIT`,
newest first): chosen by an earlier query, or routed to people by the live loop. Their labels
are on the way, so a strategy that spreads its batch counts them as picked already
(:class:`~loopwise.active_learning.Pool`'s ``pending``): a promotion's query made while the last
query's discovery tasks wait does not choose their near-duplicates.

Features are the model's, stored by id (:mod:`.pool_features`): the candidates' in the pool's
space, the labelled and waiting items' in the items' space (an item waiting now is labelled
later, and its features are already there). With no model yet, the candidates and the waiting
items are featurised together from their payloads (a cold start: TF-IDF or standardised columns
fitted on both), so the two are in one space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from loopwise.core.entities import Project
from loopwise.services import pool_features
from loopwise.services.context import Context
from loopwise.store import mappers
from loopwise.store.features import IntArray
from loopwise.store.pool import awaiting_label, candidate_ids, fresh_pool_statistics
from loopwise.store.tables import LabelRow, ModelVersionRow
from loopwise.training.models import TrainedModel

LABELLED_LIMIT = 5_000
"""Most recent labelled items whose features diversity strategies keep away from (a committee
learns from them, and ``bait`` counts what they taught the model by its probabilities for them)."""
PENDING_LIMIT = 5_000
"""Most recent items waiting for a label that a query counts as picked already."""


@dataclass(frozen=True)
class Candidates:
    """What one query reads in one transaction."""

    project: Project
    model_row: ModelVersionRow | None
    ids: IntArray
    """Pool-item ids of the waiting candidates, ascending (their payloads are read only where
    features are missing: :func:`.pool_features.stored_features`)."""
    labelled: list[tuple[int, str]]
    """Item id and label of the project's most recent labels (``LABELLED_LIMIT``)."""
    waiting: list[int]
    """Item ids of the items queued for review with no label yet, newest first
    (``PENDING_LIMIT``)."""


def candidates(ctx: Context, project_name: str) -> Candidates:
    """The project, its production model, every waiting candidate not submitted since, its
    most recent labels and the items waiting for a label."""
    fresh_pool_statistics(ctx.engine)
    with ctx.read() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        ids = candidate_ids(tx.session, project.id)
        labelled = tx.session.execute(
            select(LabelRow.item_id, LabelRow.value)
            .where(LabelRow.project_id == project.id)
            .order_by(LabelRow.id.desc())
            .limit(LABELLED_LIMIT)
        ).all()
        return Candidates(
            project,
            tx.repo.production_model(project.id),
            ids,
            [(int(i), str(value)) for i, value in labelled],
            awaiting_label(tx.session, project.id, PENDING_LIMIT),
        )


def features(ctx: Context, found: Candidates, model: TrainedModel | None) -> tuple[Any, Any]:
    """The candidates' features in ``found.ids`` order, and the waiting items' in
    ``found.waiting`` order (``None`` when none waits)."""
    project = found.project
    if model is None or found.model_row is None:
        ids = found.ids.tolist()
        payloads = pool_features.pool_payloads(ctx, ids)
        inputs = [payloads[i] for i in ids]
        if found.waiting:
            held = pool_features.item_payloads(ctx, found.waiting)
            inputs += [held[i] for i in found.waiting]
        both = pool_features.cold_features(project.input_kind, inputs)
        return both[: len(ids)], both[len(ids) :] if found.waiting else None
    space = pool_features.space(found.model_row.id)
    pool = pool_features.stored_features(
        ctx, project, model, space, found.ids, pool_features.pool_payloads, inputs=True
    )
    if not found.waiting:
        return pool, None
    items = pool_features.items_space(found.model_row.id)
    read = pool_features.item_payloads
    return pool, pool_features.stored_features(ctx, project, model, items, found.waiting, read)


def labelled(ctx: Context, found: Candidates, model: TrainedModel | None) -> tuple[Any, Any]:
    """Features (the model's, stored by item id like the pool's) and class indices of the
    labelled items; ``(None, empty)`` with no model (the cold-start space is the pool's own)
    or no label."""
    index = {name: i for i, name in enumerate(found.project.labels)}
    known = [(item_id, index[v]) for item_id, v in found.labelled if v in index]
    if model is None or found.model_row is None or not known:
        return None, np.zeros(0, dtype=np.int64)
    ids = [item_id for item_id, _ in known]
    space = pool_features.items_space(found.model_row.id)
    payloads = pool_features.item_payloads
    rows = pool_features.stored_features(ctx, found.project, model, space, ids, payloads)
    return rows, np.asarray([y for _, y in known], dtype=np.int64)
