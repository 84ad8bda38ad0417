"""Use cases on items: submit (accept, predict, route: one transaction) and read back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.core.entities import Decision, Item, Prediction, Project
from loopwise.core.enums import ItemStatus, Priority, Route, Stage
from loopwise.core.payloads import (
    normalize_payload,
    payload_digest,
    validate_external_id,
    validate_metadata,
)
from loopwise.errors import DuplicateExternalId, InvalidInput, InvalidPayload, ItemNotFound
from loopwise.routing import RoutingBatch, RoutingPolicy
from loopwise.routing.fields import metadata_columns, referenced_fields
from loopwise.routing.policy import RoutingOutcome
from loopwise.scoring import check_probabilities, entropy
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.services.resolution import unit_hash
from loopwise.services.routing import RoutingState, routing_state
from loopwise.services.tasks import rule_demands, task_values
from loopwise.store import mappers
from loopwise.store.tables import (
    DecisionRow,
    ItemRow,
    ModelVersionRow,
    PredictionRow,
    ReviewTaskRow,
)
from loopwise.training.features import model_features
from loopwise.training.models import model_inputs

CALLER_MODEL = "caller-model"
"""Who decided an item auto-decided on the caller's own probabilities."""


@dataclass(frozen=True)
class ItemIn:
    """One item to submit.

    ``payload`` is the input (text, or ``{"features": ...}``); ``external_id`` is the caller's id,
    which makes submission idempotent; ``probabilities`` (aligned with the project's labels) are
    given when the caller's own model predicted and loopwise only routes.
    """

    payload: Any
    external_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    probabilities: Sequence[float] | None = None


@dataclass(frozen=True)
class Routed:
    """What happened to one submitted item."""

    item_id: int
    external_id: str
    status: ItemStatus
    route: Route
    final_label: str | None
    predicted_label: str | None
    confidence: float | None
    reasons: tuple[str, ...]
    task_id: int | None
    duplicate: bool


@dataclass(frozen=True)
class _Prepared:
    external_id: str
    payload: dict[str, Any]
    digest: str
    metadata: dict[str, Any]
    probabilities: tuple[float, ...] | None
    field: str
    index: int
    repeat: bool = False  # the same id and payload appeared earlier in the batch


def _coerce(raw: Any) -> ItemIn:
    if isinstance(raw, ItemIn):
        return raw
    if isinstance(raw, Mapping) and "payload" in raw:
        unknown = sorted(set(raw) - {"payload", "external_id", "metadata", "probabilities"})
        if unknown:
            raise InvalidPayload(f"unknown field {unknown[0]!r}", field=unknown[0])
        return ItemIn(
            payload=raw["payload"],
            external_id=raw.get("external_id"),
            metadata=raw.get("metadata"),
            probabilities=raw.get("probabilities"),
        )
    return ItemIn(payload=raw)


def prepare_items(
    ctx: Context, project: Project, items: Sequence[Any], *, name: str = "items"
) -> list[_Prepared]:
    """Validate a whole batch before anything is written; errors name ``{name}[i].field``.

    Returns one entry per input, in order. A repeat of an external id with the same payload is
    marked ``repeat``; with another payload it is refused.
    """
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidInput("must be a list of items", field=name)
    if not items:
        raise InvalidInput("must not be empty", field=name)
    limit = ctx.settings.max_batch_items
    if len(items) > limit:
        raise InvalidInput(f"has {len(items)} items; at most {limit} per batch", field=name)
    prepared: list[_Prepared] = []
    seen: dict[str, _Prepared] = {}
    for i, raw in enumerate(items):
        base = f"{name}[{i}]"
        try:
            item = _coerce(raw)
        except InvalidPayload as exc:
            raise InvalidPayload(exc.message, field=f"{base}.{exc.field}") from None
        payload = normalize_payload(
            item.payload,
            kind=project.input_kind,
            feature_names=project.feature_names,
            max_bytes=ctx.settings.max_payload_bytes,
            field=f"{base}.payload",
        )
        metadata = validate_metadata(
            item.metadata, max_bytes=ctx.settings.max_payload_bytes, field=f"{base}.metadata"
        )
        external_id = (
            uuid.uuid4().hex
            if item.external_id is None
            else validate_external_id(item.external_id, field=f"{base}.external_id")
        )
        probabilities = None
        if item.probabilities is not None:
            if len(item.probabilities) != len(project.labels):
                raise InvalidInput(
                    f"has {len(item.probabilities)} values; "
                    f"the project has {len(project.labels)} labels",
                    field=f"{base}.probabilities",
                )
            checked = check_probabilities([list(item.probabilities)], field=f"{base}.probabilities")
            probabilities = tuple(float(p) for p in checked[0])
        entry = _Prepared(
            external_id, payload, payload_digest(payload), metadata, probabilities, base, i
        )
        earlier = seen.get(external_id)
        if earlier is not None:
            if earlier.digest != entry.digest:
                raise DuplicateExternalId(
                    f"external id {external_id!r} appears earlier in this batch "
                    "with another payload",
                    field=f"{base}.external_id",
                )
            prepared.append(replace(entry, repeat=True))
            continue
        seen[external_id] = entry
        prepared.append(entry)
    return prepared


def _predict(
    ctx: Context, project: Project, model_row: ModelVersionRow | None, batch: list[_Prepared]
) -> tuple[npt.NDArray[np.float64] | None, list[int | None]]:
    """Probabilities for the batch: the caller's where given, the production model's otherwise."""
    n, k = len(batch), len(project.labels)
    given = [p.probabilities is not None for p in batch]
    if all(given):
        return np.asarray([p.probabilities for p in batch], dtype=np.float64), [None] * n
    if model_row is None:
        if any(given):
            raise InvalidInput(
                "mixes items with and without probabilities while the project has no model",
                field="items",
            )
        return None, [None] * n
    model = ctx.models.get(model_row)
    probs = np.zeros((n, k), dtype=np.float64)
    versions: list[int | None] = [None] * n
    todo = [i for i, g in enumerate(given) if not g]
    probs[todo] = model.predict_proba(
        model_inputs(project.input_kind, [batch[i].payload for i in todo])
    )
    for i in range(n):
        if given[i]:
            probs[i] = batch[i].probabilities
        else:
            versions[i] = model_row.id
    return probs, versions


@retry_on_conflict
def submit_items(
    ctx: Context, project_name: str, items: Sequence[Any], *, actor: str = "client"
) -> list[Routed]:
    """Accept a batch of items, predict and route each, in one transaction.

    Idempotent on ``external_id``: an item already accepted with the same payload is returned as
    it stands (``duplicate=True``); the same id with a different payload is refused. Every
    accepted item leaves this call decided or queued, never in between.
    """
    with ctx.write() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        prepared = prepare_items(ctx, project, items)
        unique = [p for p in prepared if not p.repeat]
        existing = tx.repo.items_by_external_id(project.id, [p.external_id for p in unique])
        fresh: list[_Prepared] = []
        for entry in unique:
            row = existing.get(entry.external_id)
            if row is None:
                fresh.append(entry)
            elif row.payload_sha256 != entry.digest:
                raise DuplicateExternalId(
                    f"external id {entry.external_id!r} was accepted before with another payload",
                    field=f"{entry.field}.external_id",
                )
        results = _route_fresh(ctx, tx, project, fresh, actor)
        by_id = {r.external_id: r for r in results}
        duplicates = [existing[p.external_id] for p in unique if p.external_id not in by_id]
        by_id.update((r.external_id, r) for r in _describe_existing(tx, duplicates))
        return [
            replace(by_id[p.external_id], duplicate=True) if p.repeat else by_id[p.external_id]
            for p in prepared
        ]


def _batch(
    ctx: Context,
    project: Project,
    model_row: ModelVersionRow | None,
    fresh: list[_Prepared],
    raw: npt.NDArray[np.float64] | None,
    version_ids: list[int | None],
    state: RoutingState,
) -> RoutingBatch:
    """What the rules see. Loopwise's own predictions are calibrated and checked for being out
    of distribution; the caller's own probabilities are taken as given, and cannot pass a
    certified threshold, which was certified for loopwise's model."""
    n = len(fresh)
    fields = metadata_columns([p.metadata for p in fresh], referenced_fields(project.routing))
    keys = np.asarray([unit_hash(project.id, p.external_id, "qa") for p in fresh])
    if raw is None:
        return RoutingBatch(project.labels, None, n, fields=fields, keys=keys)
    ours = [i for i, v in enumerate(version_ids) if v is not None]
    calibrated = raw.copy()
    model_conf = raw.max(axis=1)
    if ours:
        calibrated[ours] = state.calibrator.transform(raw[ours])
    if len(ours) < n and project.routing.target_error is not None:
        model_conf[[i for i, v in enumerate(version_ids) if v is None]] = -np.inf
    ood_score = ood_threshold = None
    model = None if model_row is None or not ours else ctx.models.get(model_row)
    if project.routing.ood is not None and model is not None and model.ood is not None:
        ood_score = np.full(n, -np.inf)
        inputs = model_inputs(project.input_kind, [fresh[i].payload for i in ours])
        ood_score[ours] = model.ood.score(model_features(model, inputs))
        ood_threshold = float(model.ood.threshold_)
    return RoutingBatch(
        project.labels,
        calibrated,
        n,
        raw_confidence=model_conf,
        fields=fields,
        ood_score=ood_score,
        ood_threshold=ood_threshold,
        keys=keys,
        predicted_index=np.asarray(raw.argmax(axis=1), dtype=np.int64),
    )


@dataclass(frozen=True)
class Scored:
    """A batch predicted and routed, before anything is stored."""

    model_row: ModelVersionRow | None
    raw: npt.NDArray[np.float64] | None
    version_ids: list[int | None]
    state: RoutingState
    batch: RoutingBatch
    outcome: RoutingOutcome


def score_and_route(ctx: Context, tx: Tx, project: Project, fresh: list[_Prepared]) -> Scored:
    """Predict (or take the caller's probabilities), calibrate and route a prepared batch."""
    model_row = tx.repo.production_model(project.id)
    raw, version_ids = _predict(ctx, project, model_row, fresh)
    state = routing_state(ctx, tx, project, model_row)
    batch = _batch(ctx, project, model_row, fresh, raw, version_ids, state)
    policy = RoutingPolicy.from_config(
        project.routing, project.labels, certificate=state.certificate
    )
    return Scored(model_row, raw, version_ids, state, batch, policy.route(batch))


def item_values(
    project: Project, prepared: _Prepared, status: ItemStatus, now: datetime
) -> dict[str, Any]:
    """The columns of a newly accepted item."""
    return {
        "project_id": project.id,
        "external_id": prepared.external_id,
        "payload": prepared.payload,
        "payload_sha256": prepared.digest,
        "meta": prepared.metadata,
        "status": status.value,
        "created_at": now,
        "updated_at": now,
    }


def prediction_values(
    project: Project, scored: Scored, item_ids: Sequence[int], now: datetime
) -> list[dict[str, Any]]:
    """The prediction rows of a scored batch: the model's own probabilities and class, the
    calibrated confidence, the uncertainty (normalised entropy of the calibrated probabilities),
    the out-of-distribution score and the calibration used."""
    batch = scored.batch
    assert batch.probabilities is not None
    assert scored.raw is not None
    uncertainty = entropy(batch.probabilities)
    return [
        {
            "project_id": project.id,
            "item_id": item_ids[i],
            "model_version_id": scored.version_ids[i],
            "probabilities": scored.raw[i].tolist(),
            "predicted_label": project.labels[int(batch.predicted[i])],
            "confidence": float(batch.confidence[i]),
            "uncertainty": float(uncertainty[i]),
            "ood_score": None
            if batch.ood_score is None or not np.isfinite(batch.ood_score[i])
            else float(batch.ood_score[i]),
            "calibration_id": scored.state.calibration_id if scored.version_ids[i] else None,
            "created_at": now,
        }
        for i in range(len(item_ids))
    ]


def _route_fresh(
    ctx: Context, tx: Tx, project: Project, fresh: list[_Prepared], actor: str
) -> list[Routed]:
    if not fresh:
        return []
    scored = score_and_route(ctx, tx, project, fresh)
    model_row, raw, version_ids, batch = (
        scored.model_row,
        scored.raw,
        scored.version_ids,
        scored.batch,
    )
    outcome = scored.outcome
    policy = outcome.policy
    probs = batch.probabilities
    now = tx.now
    statuses = [
        ItemStatus.DECIDED if r is Route.AUTO else ItemStatus.QUEUED for r in outcome.routes
    ]
    item_ids = tx.repo.insert_many(
        ItemRow,
        [item_values(project, p, status, now) for p, status in zip(fresh, statuses, strict=True)],
    )
    predicted: list[str | None] = [None] * len(fresh)
    conf: list[float | None] = [None] * len(fresh)
    prediction_ids: list[int | None] = [None] * len(fresh)
    if probs is not None and raw is not None:
        # the model's own class; calibration only changes confidence
        predicted = [project.labels[j] for j in batch.predicted.tolist()]
        conf = batch.confidence.tolist()
        prediction_ids = list(
            tx.repo.insert_many(PredictionRow, prediction_values(project, scored, item_ids, now))
        )
    reasons = [outcome.reasons(i) for i in range(len(fresh))]
    decided_by = [
        CALLER_MODEL if model_row is None or v is None else f"model:v{model_row.version}"
        for v in version_ids
    ]
    tx.repo.insert_many(
        DecisionRow,
        [
            {
                "project_id": project.id,
                "item_id": item_ids[i],
                "prediction_id": prediction_ids[i],
                "route": outcome.routes[i].value,
                "reasons": list(reasons[i]),
                "rules": list(outcome.rules(i)),
                "final_label": predicted[i] if outcome.routes[i] is Route.AUTO else None,
                "decided_by": decided_by[i] if outcome.routes[i] is Route.AUTO else None,
                "policy_version": policy.version,
                "created_at": now,
                "decided_at": now if outcome.routes[i] is Route.AUTO else None,
            }
            for i in range(len(fresh))
        ],
    )
    queued = [i for i, r in enumerate(outcome.routes) if r is not Route.AUTO]
    demands = [rule_demands(project, outcome.rules(i)) for i in queued]
    task_ids = tx.repo.insert_many(
        ReviewTaskRow,
        [
            task_values(
                project,
                item_ids[i],
                stage=Stage.EXPERT if outcome.routes[i] is Route.EXPERT else Stage.REVIEW,
                priority=Priority(int(outcome.priority[i])),
                score=float(outcome.priority_score[i]),
                now=now,
                reviews=reviews,
                tags=tags,
            )
            for i, (reviews, tags) in zip(queued, demands, strict=True)
        ],
    )
    task_by_row = dict(zip(queued, task_ids, strict=True))
    results = []
    for i, p in enumerate(fresh):
        route = outcome.routes[i]
        results.append(
            Routed(
                item_id=item_ids[i],
                external_id=p.external_id,
                status=statuses[i],
                route=route,
                final_label=predicted[i] if route is Route.AUTO else None,
                predicted_label=predicted[i],
                confidence=conf[i],
                reasons=reasons[i],
                task_id=task_by_row.get(i),
                duplicate=False,
            )
        )
        tx.audit(
            actor=actor,
            action="item.routed",
            entity_type="item",
            entity_id=item_ids[i],
            project_id=project.id,
            after={
                "external_id": p.external_id,
                "route": route.value,
                "reasons": list(reasons[i]),
                "predicted_label": predicted[i],
                "confidence": conf[i],
                "model_version": None
                if model_row is None or version_ids[i] is None
                else model_row.version,
                "task_id": task_by_row.get(i),
            },
        )
    return results


def _describe_existing(tx: Tx, rows: Sequence[ItemRow]) -> list[Routed]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    decisions = tx.repo.decisions_for(ids)
    tasks = tx.repo.open_tasks_for(ids)
    out = []
    for row in rows:
        decision = decisions.get(row.id)
        prediction = tx.repo.latest_prediction(row.id)
        task = tasks.get(row.id)
        out.append(
            Routed(
                item_id=row.id,
                external_id=row.external_id,
                status=ItemStatus(row.status),
                route=Route(decision.route) if decision else Route.HUMAN,
                final_label=decision.final_label if decision else None,
                predicted_label=prediction.predicted_label if prediction else None,
                confidence=prediction.confidence if prediction else None,
                reasons=tuple(decision.reasons) if decision else (),
                task_id=task.id if task else None,
                duplicate=True,
            )
        )
    return out


@dataclass(frozen=True)
class ItemView:
    item: Item
    prediction: Prediction | None
    decision: Decision | None


def get_item(ctx: Context, project_name: str, external_id: str) -> ItemView:
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        row = tx.repo.items_by_external_id(project.id, [external_id]).get(external_id)
        if row is None:
            raise ItemNotFound(
                f"no item {external_id!r} in project {project_name!r}", field="external_id"
            )
        prediction = tx.repo.latest_prediction(row.id)
        decision = tx.repo.decision_for(row.id)
        return ItemView(
            item=mappers.item(row),
            prediction=None if prediction is None else mappers.prediction(prediction),
            decision=None if decision is None else mappers.decision(decision),
        )
