"""Gold (honeypot) items: inputs with a known answer, served to reviewers to measure them.

A gold item is stored like any item and predicted and routed by the current model, so its
task carries the same kind of suggestion and reasons as live work; the reviewer cannot tell
it apart. It never enters training data and never counts in automation figures. Each
reviewer gets each gold item at most once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from loopwise.core.entities import Project
from loopwise.core.enums import DecisionOrigin, ItemStatus, Priority, Route, Stage, TaskStatus
from loopwise.core.payloads import validate_label
from loopwise.errors import DuplicateExternalId, InvalidInput
from loopwise.routing.rules import QASampleRule
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.services.ingest import item_values, prediction_values, score_and_route
from loopwise.services.items import prepare_items
from loopwise.services.tasks import task_values
from loopwise.store import answers, mappers
from loopwise.store.tables import (
    DecisionRow,
    HoneypotRow,
    ItemRow,
    PredictionRow,
    ReviewTaskRow,
)


@retry_on_conflict
def add_gold_items(
    ctx: Context, project_name: str, rows: Sequence[Mapping[str, Any]], *, actor: str = "admin"
) -> int:
    """Add gold items (``external_id``, ``payload``, ``label``, optional ``metadata``).

    Returns how many were added; all or none. An external id already used in the project is
    refused: a gold item must be new to the reviewers.
    """
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence) or not rows:
        raise InvalidInput("must be a non-empty list of gold items", field="items")
    labels: list[str] = []
    inputs: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidInput("must be an object with payload and label", field=f"items[{i}]")
        unknown = sorted(set(row) - {"external_id", "payload", "label", "metadata"})
        if unknown:
            raise InvalidInput(f"unknown field {unknown[0]!r}", field=f"items[{i}].{unknown[0]}")
        if "label" not in row:
            raise InvalidInput("a gold item needs its known label", field=f"items[{i}].label")
        labels.append(row["label"])
        inputs.append({k: v for k, v in row.items() if k != "label"})
    with ctx.write() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        for i, label in enumerate(labels):
            validate_label(label, project.labels, field=f"items[{i}].label")
        prepared = prepare_items(ctx, project, inputs)
        repeats = [p for p in prepared if p.repeat]
        if repeats:
            raise InvalidInput("the same external id is given twice", field=repeats[0].field)
        existing = tx.repo.items_by_external_id(project.id, [p.external_id for p in prepared])
        if existing:
            taken = next(p for p in prepared if p.external_id in existing)
            raise DuplicateExternalId(
                f"external id {taken.external_id!r} is in use; gold items must be new",
                field=f"{taken.field}.external_id",
            )
        scored = score_and_route(ctx, tx, project, prepared)
        qa_reason = QASampleRule(rate=project.routing.qa_sample or 0.02).describe(scored.batch, 0)
        item_ids = tx.repo.insert_many(
            ItemRow, [item_values(project, p, ItemStatus.RESOLVED, tx.now) for p in prepared]
        )
        prediction_ids: list[int | None] = [None] * len(prepared)
        if scored.raw is not None:
            prediction_ids = list(
                tx.repo.insert_many(
                    PredictionRow, prediction_values(project, scored, item_ids, tx.now)
                )
            )
        for i, (p, item_id, prediction_id) in enumerate(
            zip(prepared, item_ids, prediction_ids, strict=True)
        ):
            auto = scored.outcome.routes[i] is Route.AUTO
            tx.repo.add(
                DecisionRow(
                    project_id=project.id,
                    item_id=item_id,
                    prediction_id=prediction_id,
                    route=Route.HUMAN.value,
                    origin=DecisionOrigin.GOLD.value,
                    reasons=[qa_reason] if auto else list(scored.outcome.reasons(i)),
                    rules=[] if auto else list(scored.outcome.rules(i)),
                    final_label=labels[i],
                    decided_by=actor,
                    policy_version=project.routing.version,
                    created_at=tx.now,
                    decided_at=tx.now,
                )
            )
            gold = HoneypotRow(
                project_id=project.id, item_id=item_id, label=labels[i], created_at=tx.now
            )
            tx.repo.add(gold)
            tx.audit(
                actor=actor,
                action="gold.added",
                entity_type="item",
                entity_id=item_id,
                project_id=project.id,
                after={"external_id": p.external_id, "label": labels[i]},
            )
        return len(prepared)


def serve_gold(
    ctx: Context,
    tx: Tx,
    project: Project,
    reviewer: str,
    expires: datetime,
    claim_key: str | None = None,
) -> ReviewTaskRow | None:
    """A gold task made for ``reviewer`` and held by them (under the claim's ``claim_key``), or
    ``None`` if they saw every one."""
    candidates = answers.gold_candidates(tx.session, project.id, reviewer)
    if not candidates:
        return None
    gold = candidates[ctx.random.randrange(len(candidates))]
    prediction = tx.repo.latest_prediction(gold.item_id)
    values = task_values(
        project,
        gold.item_id,
        stage=Stage.REVIEW,
        priority=Priority.NORMAL,
        score=0.0 if prediction is None else prediction.uncertainty,
        now=tx.now,
        status=TaskStatus.CLAIMED,
        honeypot_id=gold.id,
    )
    row = ReviewTaskRow(
        **values,
        claimed_by=reviewer,
        claimed_at=tx.now,
        lease_expires_at=expires,
        claim_key=claim_key,
    )
    tx.repo.add(row)
    return row
