"""Settling an item's ground truth: the label, the final decision, the golden set, the audit event.

Shared by review verdicts and imported labels so that both write the same rows the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.core.entities import Project
from loopwise.core.enums import (
    DecisionOrigin,
    ItemStatus,
    LabelSource,
    LabelSplit,
    Route,
    TaskStatus,
)
from loopwise.services.context import Tx
from loopwise.store.tables import DecisionRow, GoldenItemRow, LabelRow, ReviewTaskRow

FloatArray = npt.NDArray[np.float64]


def unit_hash(key: int, external_id: str, salt: str) -> float:
    """A stable number in [0, 1) for an item: the same item always lands in the same split.

    ``key`` is the project's :attr:`~loopwise.core.entities.Project.split_key`."""
    digest = hashlib.sha256(f"{salt}:{key}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def unit_hashes(key: int, external_ids: Sequence[str], salt: str) -> FloatArray:
    """:func:`unit_hash` of many items at once, shape ``(n,)`` (the same numbers)."""
    prefix = f"{salt}:{key}:"
    tops = b"".join(hashlib.sha256((prefix + e).encode()).digest()[:8] for e in external_ids)
    return np.ldexp(np.frombuffer(tops, dtype=">u8").astype(np.float64), -64)


def split_for(project: Project, external_id: str) -> LabelSplit:
    share = project.training.holdout_share
    return (
        LabelSplit.HOLDOUT
        if unit_hash(project.split_key, external_id, "split") < share
        else LabelSplit.TRAIN
    )


def resolve_item(
    tx: Tx,
    project: Project,
    item_id: int,
    external_id: str,
    value: str | None,
    *,
    source: LabelSource,
    actor: str,
    agreement: float | None = None,
    weight: float = 1.0,
    task: ReviewTaskRow | None = None,
    predicted_label: str | None = None,
) -> LabelRow | None:
    """Record ``value`` as the item's ground truth and its final decision.

    ``value`` ``None`` means people judged the input undecidable: the item is resolved with no
    training label. When a person's label differs from the model's ``predicted_label`` the item
    is a model error; a stable ``golden_share`` of those join the golden set (and are then never
    trained on), the rest teach the next model.
    """
    before = tx.repo.settle_decision(item_id, value, actor, tx.now)
    if before is None:
        tx.session.add(
            DecisionRow(
                project_id=project.id,
                item_id=item_id,
                prediction_id=None,
                route=Route.HUMAN.value,
                origin=DecisionOrigin.IMPORT.value,
                reasons=["ground truth imported"],
                policy_version=project.routing.version,
                final_label=value,
                decided_by=actor,
                created_at=tx.now,
                decided_at=tx.now,
            )
        )
    tx.repo.set_item_status(item_id, ItemStatus.RESOLVED, tx.now)
    if task is not None:
        task.status = TaskStatus.DONE.value
        task.resolved_at = tx.now
        task.lease_expires_at = None
    label_row: LabelRow | None = None
    if value is not None:
        label_row = LabelRow(
            project_id=project.id,
            item_id=item_id,
            value=value,
            source=source.value,
            split=split_for(project, external_id).value,
            weight=weight,
            agreement=agreement,
            review_task_id=None if task is None else task.id,
            created_by=actor,
            created_at=tx.now,
        )
        tx.session.add(label_row)
        reason = golden_reason(project, external_id, predicted_label, value, source)
        if reason is not None:
            tx.session.add(
                GoldenItemRow(
                    project_id=project.id,
                    item_id=item_id,
                    label=value,
                    reason=reason,
                    created_at=tx.now,
                )
            )
    tx.session.flush()
    audit_resolved(
        tx,
        project,
        item_id,
        value,
        source=source,
        actor=actor,
        agreement=agreement,
        task_id=None if task is None else task.id,
        predicted_label=predicted_label,
        before=before,
    )
    return label_row


def golden_reason(
    project: Project,
    external_id: str,
    predicted_label: str | None,
    value: str,
    source: LabelSource,
) -> str | None:
    """Why a resolved item joins the golden set, or ``None`` if it does not: it does when
    people corrected the model and it falls in the project's stable ``golden_share``."""
    if (
        predicted_label is None
        or predicted_label == value
        or unit_hash(project.split_key, external_id, "golden") >= project.training.golden_share
    ):
        return None
    return f"model predicted {predicted_label!r}; {source.value} said {value!r}"


def audit_resolved(
    tx: Tx,
    project: Project,
    item_id: int,
    value: str | None,
    *,
    source: LabelSource,
    actor: str,
    agreement: float | None,
    task_id: int | None,
    predicted_label: str | None,
    before: dict[str, Any] | None,
) -> dict[str, Any]:
    """The audit event of a resolution (what announces it to webhooks, too)."""
    return tx.audit(
        actor=actor,
        action="item.resolved",
        entity_type="item",
        entity_id=item_id,
        project_id=project.id,
        before=before,
        after={
            "final_label": value,
            "source": source.value,
            "agreement": agreement,
            "task_id": task_id,
            "predicted_label": predicted_label,
        },
    )
