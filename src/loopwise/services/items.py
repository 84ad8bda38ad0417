"""Use cases on items: submit (accept, predict, route: one transaction) and read back."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from loopwise.core.entities import Decision, Item, Prediction, Project
from loopwise.core.enums import ItemStatus, Route
from loopwise.core.payloads import (
    normalize_with_digest,
    validate_external_id,
    validate_label,
    validate_metadata,
)
from loopwise.errors import (
    Conflict,
    DuplicateExternalId,
    InvalidInput,
    InvalidPayload,
    ItemNotFound,
    LoopwiseError,
)
from loopwise.scoring import check_probability_row
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.services.ingest import Prepared, store_routed
from loopwise.store import mappers
from loopwise.store.tables import ItemRow


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


_FIELDS = frozenset({"payload", "external_id", "metadata", "probabilities"})


def _fields(raw: Any) -> tuple[Any, Any, Any, Any]:
    """Payload, external id, metadata and probabilities of one input (an ItemIn, a mapping
    with a ``payload``, or a bare payload)."""
    if isinstance(raw, ItemIn):
        return raw.payload, raw.external_id, raw.metadata, raw.probabilities
    if (type(raw) is dict or isinstance(raw, Mapping)) and "payload" in raw:
        if not _FIELDS.issuperset(raw):
            unknown = sorted(set(raw) - _FIELDS)
            raise InvalidPayload(f"unknown field {unknown[0]!r}", field=unknown[0])
        return raw["payload"], raw.get("external_id"), raw.get("metadata"), raw.get("probabilities")
    return raw, None, None, None


RowsFor = Literal["submit", "pool", "labels"]
"""The use case rows are for: :func:`submit_items`, ``add_to_pool``, ``import_labels``."""


def check_unlabelled(rows: Sequence[Any]) -> None:
    """Refuse a pool candidate with a label or probabilities (``add_to_pool``'s rows)."""
    for i, row in enumerate(rows if isinstance(rows, Sequence) else ()):
        if isinstance(row, dict):
            extra = sorted(set(row) & {"probabilities", "label"})
            if extra:
                raise InvalidInput(
                    "a pool item carries no label or probabilities; import labelled items "
                    "with import_labels",
                    field=f"rows[{i}].{extra[0]}",
                )


def check_rows(ctx: Context, project_name: str, rows: Sequence[Any], *, use: RowsFor) -> None:
    """Validate ``rows`` as the use case ``use`` (:func:`submit_items`, ``add_to_pool``,
    ``import_labels``) validates each row, writing nothing: payload, metadata, external id, the
    label, and an external id repeated with another payload (or label) anywhere in ``rows``.

    Each of those takes at most ``max_batch_items`` rows, one transaction each; a file read
    by the CLI is checked whole first, so a bad row anywhere means nothing is written. What only
    the stored state can refuse (an external id stored with another payload) is left to them.

    Raises
    ------
    LoopwiseError
        As those use cases; the field names the row by its position in ``rows``
        (``rows[7000].payload.text``).
    """
    with ctx.read() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence) or not rows:
        raise InvalidInput("must be a non-empty list of rows", field="rows")
    size = ctx.settings.max_batch_items
    first: dict[str, tuple[int, str, str | None]] = {}
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        values: list[str | None] = [None] * len(chunk)
        try:
            if use == "pool":
                check_unlabelled(chunk)
            if use == "labels":
                for i, row in enumerate(chunk):
                    if not isinstance(row, Mapping) or "label" not in row:
                        raise InvalidInput("each row needs a 'label'", field=f"rows[{i}].label")
                    values[i] = validate_label(
                        row["label"], project.labels, field=f"rows[{i}].label"
                    )
                chunk = [{k: v for k, v in row.items() if k != "label"} for row in chunk]
            prepared = prepare_items(
                ctx, project, chunk, name="rows", ids_from_payloads=use == "pool"
            )
        except LoopwiseError as exc:
            raise shifted(exc, start) from None
        for entry in prepared:
            at = start + entry.index
            seen = first.setdefault(entry.external_id, (at, entry.digest, values[entry.index]))
            if seen[1] != entry.digest:
                raise DuplicateExternalId(
                    f"external id {entry.external_id!r} is in rows[{seen[0]}] with another payload",
                    field=f"rows[{at}].external_id",
                )
            if seen[2] != values[entry.index]:
                raise Conflict(
                    f"item {entry.external_id!r} is labelled {seen[2]!r} in rows[{seen[0]}] and "
                    f"{values[entry.index]!r} here",
                    field=f"rows[{at}].label",
                )


def shifted(exc: LoopwiseError, offset: int) -> LoopwiseError:
    """``exc`` about ``rows[3]`` of a batch that starts at ``offset``, naming
    ``rows[{offset + 3}]`` instead: in its field, and where its message names a row
    (``is in rows[1] with another payload``). ``items[...]`` fields too."""
    field = None
    if exc.field is not None:
        field = _ROW.sub(lambda m: f"{m.group(1)}[{int(m.group(2)) + offset}]", exc.field, count=1)
    message = _ROW_IN_TEXT.sub(lambda m: f"in rows[{int(m.group(1)) + offset}]", exc.message)
    return type(exc)(message, field=field)


_ROW = re.compile(r"^(rows|items)\[(\d+)\]")
_ROW_IN_TEXT = re.compile(r"in rows\[(\d+)\]")


def payload_external_id(digest: str) -> str:
    """The external id of a pool candidate added without one: its payload's digest. The same
    payload is then one candidate (added again, it is skipped), and the file that added it
    names it to remove it, found through the pool's index of external ids."""
    return f"sha256:{digest}"


def prepare_items(
    ctx: Context,
    project: Project,
    items: Sequence[Any],
    *,
    name: str = "items",
    ids_from_payloads: bool = False,
) -> list[Prepared]:
    """Validate a whole batch before anything is written; errors name ``{name}[i].field``.

    Returns one entry per input, in order. A repeat of an external id with the same payload is
    marked ``repeat``; with another payload it is refused. An input without an external id gets
    a random one, or with ``ids_from_payloads`` (pool candidates) its payload's
    (:func:`payload_external_id`).
    """
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidInput("must be a list of items", field=name)
    if not items:
        raise InvalidInput("must not be empty", field=name)
    limit = ctx.settings.max_batch_items
    if len(items) > limit:
        raise InvalidInput(f"has {len(items)} items; at most {limit} per batch", field=name)
    max_bytes = ctx.settings.max_payload_bytes
    kind, feature_names, n_labels = project.input_kind, project.feature_names, len(project.labels)
    prepared: list[Prepared] = []
    seen: dict[str, Prepared] = {}
    for i, raw in enumerate(items):
        base = f"{name}[{i}]"
        try:
            payload, external_id, metadata, probabilities = _fields(raw)
        except InvalidPayload as exc:
            raise InvalidPayload(exc.message, field=f"{base}.{exc.field}") from None
        payload, digest = normalize_with_digest(
            payload,
            kind=kind,
            feature_names=feature_names,
            max_bytes=max_bytes,
            field=f"{base}.payload",
        )
        metadata = validate_metadata(metadata, max_bytes=max_bytes, field=f"{base}.metadata")
        if external_id is not None:
            external_id = validate_external_id(external_id, field=f"{base}.external_id")
        elif ids_from_payloads:
            external_id = payload_external_id(digest)
        else:
            external_id = uuid.uuid4().hex
        if probabilities is not None:
            if len(probabilities) != n_labels:
                raise InvalidInput(
                    f"has {len(probabilities)} values; the project has {n_labels} labels",
                    field=f"{base}.probabilities",
                )
            probabilities = check_probability_row(probabilities, field=f"{base}.probabilities")
        entry = Prepared(external_id, payload, digest, metadata, probabilities, base, i)
        earlier = seen.get(external_id)
        if earlier is not None:
            if earlier.digest != digest:
                raise DuplicateExternalId(
                    f"external id {external_id!r} is in {name}[{earlier.index}] "
                    "with another payload",
                    field=f"{base}.external_id",
                )
            prepared.append(replace(entry, repeat=True))
            continue
        seen[external_id] = entry
        prepared.append(entry)
    return prepared


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
        fresh: list[Prepared] = []
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


def _route_fresh(
    ctx: Context, tx: Tx, project: Project, fresh: list[Prepared], actor: str
) -> list[Routed]:
    if not fresh:
        return []
    stored = store_routed(ctx, tx, project, fresh, actor)
    return [
        Routed(
            item_id=item_id,
            external_id=p.external_id,
            status=status,
            route=route,
            final_label=label if route is Route.AUTO else None,
            predicted_label=label,
            confidence=confidence,
            reasons=reasons,
            task_id=task_id,
            duplicate=False,
        )
        for p, item_id, status, route, label, confidence, reasons, task_id in zip(
            fresh,
            stored.item_ids,
            stored.statuses,
            stored.routes,
            stored.predicted,
            stored.confidence,
            stored.reasons,
            stored.task_ids,
            strict=True,
        )
    ]


def _describe_existing(tx: Tx, rows: Sequence[ItemRow]) -> list[Routed]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    decisions = tx.repo.decisions_for(ids)
    tasks = tx.repo.open_tasks_for(ids)
    predictions = tx.repo.latest_predictions(ids)
    out = []
    for row in rows:
        decision = decisions.get(row.id)
        prediction = predictions.get(row.id)
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
