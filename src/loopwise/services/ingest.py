"""Scoring and storing a batch of new items: predict, calibrate, route, then write every row.

The work is done per batch, not per item: the model's features are computed once (the
classifier and the out-of-distribution detector share them), routing votes on whole arrays,
values that repeat across the batch (rule names, task deadlines) are made once, and each table
gets its rows in one bulk insert with ids reserved up front (see :mod:`loopwise.store.bulk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.core.entities import Project
from loopwise.core.enums import ItemStatus, Priority, Route, Stage
from loopwise.errors import InvalidInput
from loopwise.routing import RoutingBatch, RoutingPolicy
from loopwise.routing.fields import metadata_columns, referenced_fields
from loopwise.routing.policy import RoutingOutcome
from loopwise.scoring import entropy
from loopwise.services.context import Context, Tx
from loopwise.services.resolution import unit_hashes
from loopwise.services.routing import RoutingState, routing_state
from loopwise.services.tasks import rule_demands, task_values
from loopwise.store.tables import (
    DecisionRow,
    ItemRow,
    ModelVersionRow,
    PredictionRow,
    ReviewTaskRow,
)
from loopwise.training.features import model_features
from loopwise.training.models import model_inputs, validated_inputs

CALLER_MODEL = "caller-model"
"""Who decided an item auto-decided on the caller's own probabilities."""
_TEXT: dict[StrEnum, str] = {m: m.value for enum in (Route, ItemStatus) for m in enum}
"""Stored values of routes and statuses (``.value`` is a slow property, asked per row)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """One validated item of a batch, in its stored form."""

    external_id: str
    payload: dict[str, Any]
    digest: str
    metadata: dict[str, Any]
    probabilities: tuple[float, ...] | None
    field: str
    index: int
    repeat: bool = False  # the same id and payload appeared earlier in the batch


@dataclass(frozen=True)
class Scored:
    """A batch predicted and routed, before anything is stored."""

    model_row: ModelVersionRow | None
    raw: npt.NDArray[np.float64] | None
    version_ids: list[int | None]
    state: RoutingState
    batch: RoutingBatch
    outcome: RoutingOutcome


@dataclass(frozen=True)
class Stored:
    """What was written for each item of a batch, in batch order."""

    item_ids: list[int]
    statuses: list[ItemStatus]
    routes: Sequence[Route]
    predicted: list[str | None]
    confidence: list[float | None]
    reasons: list[tuple[str, ...]]
    task_ids: list[int | None]


@dataclass(frozen=True)
class _Predicted:
    """Probabilities per row (``None``: no model and none given), the model version that made
    them (``None``: the caller's), and out-of-distribution scores with the model's cut-off
    (``-inf`` on the caller's rows; ``None`` when the policy or the model has no detector)."""

    probabilities: npt.NDArray[np.float64] | None
    version_ids: list[int | None]
    ood_score: npt.NDArray[np.float64] | None = None
    ood_threshold: float | None = None


def _predict(
    ctx: Context, project: Project, model_row: ModelVersionRow | None, batch: list[Prepared]
) -> _Predicted:
    """The caller's probabilities where given, the production model's otherwise."""
    n, k = len(batch), len(project.labels)
    given = [p.probabilities is not None for p in batch]
    if all(given):
        given_probs = np.asarray([p.probabilities for p in batch], dtype=np.float64)
        return _Predicted(given_probs, [None] * n)
    if model_row is None:
        if any(given):
            raise InvalidInput(
                "mixes items with and without probabilities while the project has no model",
                field="items",
            )
        return _Predicted(None, [None] * n)
    model = ctx.models.get(model_row)
    todo = [i for i, g in enumerate(given) if not g]
    inputs = model_inputs(project.input_kind, [batch[i].payload for i in todo])
    detector = model.ood if project.routing.ood is not None else None
    with validated_inputs():
        if detector is None:
            ours, ood = model.predict_proba(inputs), None
        else:
            features = model_features(model, inputs)  # computed once for both
            ours, ood = model.predict_proba_features(features), detector.score(features)
    threshold = None if detector is None else float(detector.threshold_)
    if len(todo) == n:
        return _Predicted(ours, [model_row.id] * n, ood, threshold)
    probs = np.zeros((n, k), dtype=np.float64)
    probs[todo] = ours
    versions: list[int | None] = [None] * n
    for i in todo:
        versions[i] = model_row.id
    for i, g in enumerate(given):
        if g:
            probs[i] = batch[i].probabilities
    if ood is not None:
        full = np.full(n, -np.inf)
        full[todo] = ood
        ood = full
    return _Predicted(probs, versions, ood, threshold)


def _batch(
    project: Project, fresh: list[Prepared], predicted: _Predicted, state: RoutingState
) -> RoutingBatch:
    """What the rules see. Loopwise's own predictions are calibrated and checked for being out
    of distribution; the caller's own probabilities are taken as given, and cannot pass a
    certified threshold, which was certified for loopwise's model."""
    n = len(fresh)
    fields = metadata_columns([p.metadata for p in fresh], referenced_fields(project.routing))
    keys = unit_hashes(project.split_key, [p.external_id for p in fresh], "qa")
    raw, version_ids = predicted.probabilities, predicted.version_ids
    if raw is None:
        return RoutingBatch(project.labels, None, n, fields=fields, keys=keys)
    ours = [i for i, v in enumerate(version_ids) if v is not None]
    model_conf = raw.max(axis=1)
    if len(ours) == n:
        calibrated = state.calibrator.transform(raw)
    else:
        calibrated = raw.copy()
        if ours:
            calibrated[ours] = state.calibrator.transform(raw[ours])
        if project.routing.target_error is not None:
            model_conf[[i for i, v in enumerate(version_ids) if v is None]] = -np.inf
    return RoutingBatch(
        project.labels,
        calibrated,
        n,
        raw_confidence=model_conf,
        fields=fields,
        ood_score=predicted.ood_score,
        ood_threshold=predicted.ood_threshold,
        keys=keys,
        predicted_index=np.asarray(raw.argmax(axis=1), dtype=np.int64),
    )


def score_and_route(ctx: Context, tx: Tx, project: Project, fresh: list[Prepared]) -> Scored:
    """Predict (or take the caller's probabilities), calibrate and route a prepared batch."""
    model_row = tx.repo.production_model(project.id)
    predicted = _predict(ctx, project, model_row, fresh)
    state = routing_state(ctx, tx, project, model_row)
    batch = _batch(project, fresh, predicted, state)
    policy = RoutingPolicy.from_config(
        project.routing, project.labels, certificate=state.certificate
    )
    return Scored(
        model_row, predicted.probabilities, predicted.version_ids, state, batch, policy.route(batch)
    )


def item_values(
    project: Project, prepared: Prepared, status: ItemStatus, now: datetime
) -> dict[str, Any]:
    """The columns of a newly accepted item."""
    return {
        "project_id": project.id,
        "external_id": prepared.external_id,
        "payload": prepared.payload,
        "payload_sha256": prepared.digest,
        "meta": prepared.metadata,
        "status": _TEXT[status],
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
    labels = project.labels
    predicted = [labels[j] for j in batch.predicted.tolist()]
    confidence = batch.confidence.tolist()
    uncertainty = entropy(batch.probabilities).tolist()
    ood: list[float | None] = [None] * len(item_ids)
    if batch.ood_score is not None:
        finite = np.isfinite(batch.ood_score).tolist()
        ood = [s if f else None for s, f in zip(batch.ood_score.tolist(), finite, strict=True)]
    calibration_id = scored.state.calibration_id
    return [
        {
            "project_id": project.id,
            "item_id": item_id,
            "model_version_id": version,
            "probabilities": probabilities,
            "predicted_label": label,
            "confidence": conf,
            "uncertainty": unc,
            "ood_score": score,
            "calibration_id": calibration_id if version else None,
            "created_at": now,
        }
        for item_id, version, probabilities, label, conf, unc, score in zip(
            item_ids,
            scored.version_ids,
            scored.raw.tolist(),
            predicted,
            confidence,
            uncertainty,
            ood,
            strict=True,
        )
    ]


def decision_values(
    project: Project,
    scored: Scored,
    item_ids: Sequence[int],
    prediction_ids: Sequence[int | None],
    reasons: Sequence[tuple[str, ...]],
    rules: Sequence[tuple[str, ...]],
    now: datetime,
) -> list[dict[str, Any]]:
    """The decision rows of a routed batch: the route, every reason and rule behind it, and for
    automatic decisions the final label (the model's class) and who decided."""
    outcome, model_row = scored.outcome, scored.model_row
    labels = project.labels
    predicted = (
        [None] * len(item_ids)
        if scored.batch.probabilities is None
        else [labels[j] for j in scored.batch.predicted.tolist()]
    )
    ours = CALLER_MODEL if model_row is None else f"model:v{model_row.version}"
    rule_lists = {fired: list(fired) for fired in set(rules)}  # one list, one JSON text each
    policy_version = outcome.policy.version
    out = []
    for item_id, prediction_id, route, why, fired, label, version in zip(
        item_ids,
        prediction_ids,
        outcome.routes,
        reasons,
        rules,
        predicted,
        scored.version_ids,
        strict=True,
    ):
        auto = route is Route.AUTO
        out.append(
            {
                "project_id": project.id,
                "item_id": item_id,
                "prediction_id": prediction_id,
                "route": _TEXT[route],
                "reasons": list(why),
                "rules": rule_lists[fired],
                "final_label": label if auto else None,
                "decided_by": (CALLER_MODEL if version is None else ours) if auto else None,
                "policy_version": policy_version,
                "created_at": now,
                "decided_at": now if auto else None,
            }
        )
    return out


def store_routed(
    ctx: Context, tx: Tx, project: Project, fresh: list[Prepared], actor: str
) -> Stored:
    """Score and route ``fresh`` (new, validated items) and write their item, prediction,
    decision and review task rows and one ``item.routed`` audit event each."""
    scored = score_and_route(ctx, tx, project, fresh)
    model_row, batch, outcome = scored.model_row, scored.batch, scored.outcome
    n, now = len(fresh), tx.now
    routes = outcome.routes
    auto = [route is Route.AUTO for route in routes]
    statuses = [ItemStatus.DECIDED if a else ItemStatus.QUEUED for a in auto]
    with_model = batch.probabilities is not None and scored.raw is not None
    reserved = tx.repo.reserve_ids(
        {
            ItemRow: n,
            PredictionRow: n if with_model else 0,
            DecisionRow: n,
            ReviewTaskRow: n - sum(auto),
        }
    )
    ids = reserved or {}
    item_ids = tx.repo.insert_many(
        ItemRow,
        _numbered(
            [item_values(project, p, s, now) for p, s in zip(fresh, statuses, strict=True)],
            ids.get(ItemRow),
        ),
    )
    predicted: list[str | None] = [None] * n
    conf: list[float | None] = [None] * n
    prediction_ids: list[int | None] = [None] * n
    if with_model:
        # the model's own class; calibration only changes confidence
        predicted = [project.labels[j] for j in batch.predicted.tolist()]
        conf = batch.confidence.tolist()
        prediction_ids = list(
            tx.repo.insert_many(
                PredictionRow,
                _numbered(
                    prediction_values(project, scored, item_ids, now), ids.get(PredictionRow)
                ),
            )
        )
    reasons, rules = outcome.all_reasons(), outcome.all_rules()
    decisions = decision_values(project, scored, item_ids, prediction_ids, reasons, rules, now)
    tx.repo.insert_many(DecisionRow, _numbered(decisions, ids.get(DecisionRow)))
    task_ids = _store_tasks(project, tx, outcome, item_ids, rules, auto, ids.get(ReviewTaskRow))
    version = None if model_row is None else model_row.version
    for i, p in enumerate(fresh):
        tx.audit(
            actor=actor,
            action="item.routed",
            entity_type="item",
            entity_id=item_ids[i],
            project_id=project.id,
            after={
                "external_id": p.external_id,
                "route": _TEXT[routes[i]],
                "reasons": list(reasons[i]),
                "predicted_label": predicted[i],
                "confidence": conf[i],
                "model_version": None if scored.version_ids[i] is None else version,
                "task_id": task_ids[i],
            },
        )
    return Stored(item_ids, statuses, routes, predicted, conf, reasons, task_ids)


def _store_tasks(
    project: Project,
    tx: Tx,
    outcome: RoutingOutcome,
    item_ids: list[int],
    rules: list[tuple[str, ...]],
    auto: list[bool],
    reserved: list[int] | None,
) -> list[int | None]:
    """A review task for every item routed to people; the task id per item (``None``: auto)."""
    queued = [i for i, a in enumerate(auto) if not a]
    if not queued:
        return [None] * len(auto)
    demands: dict[tuple[str, ...], tuple[int, tuple[str, ...]]] = {}
    made: dict[tuple[Stage, int, int, tuple[str, ...]], dict[str, Any]] = {}
    priorities = outcome.priority.tolist()
    scores = outcome.priority_score.tolist()
    values = []
    for i in queued:
        fired = rules[i]
        demand = demands.get(fired)
        if demand is None:
            demand = demands[fired] = rule_demands(project, fired)
        stage = Stage.EXPERT if outcome.routes[i] is Route.EXPERT else Stage.REVIEW
        key = (stage, priorities[i], *demand)
        template = made.get(key)
        if template is None:
            template = made[key] = task_values(
                project,
                0,
                stage=stage,
                priority=Priority(priorities[i]),
                score=0.0,
                now=tx.now,
                reviews=demand[0],
                tags=demand[1],
            )
        values.append({**template, "item_id": item_ids[i], "priority_score": float(scores[i])})
    ids = tx.repo.insert_many(ReviewTaskRow, _numbered(values, reserved))
    task_ids: list[int | None] = [None] * len(auto)
    for i, task_id in zip(queued, ids, strict=True):
        task_ids[i] = task_id
    return task_ids


def _numbered(rows: list[dict[str, Any]], ids: list[int] | None) -> list[dict[str, Any]]:
    """Give ``rows`` the ids reserved for them (none reserved: the database numbers them)."""
    if ids:
        for row, row_id in zip(rows, ids, strict=True):
            row["id"] = row_id
    return rows
