"""Settling an item's ground truth: the label, the final decision, the golden set, the audit event.

Shared by review verdicts and imported labels so that both write the same rows the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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
from loopwise.store.tables import (
    DecisionRow,
    GoldenItemRow,
    ItemRow,
    LabelRow,
    ReviewTaskRow,
)

FloatArray = npt.NDArray[np.float64]


def unit_hash(project_id: int, external_id: str, salt: str) -> float:
    """A stable number in [0, 1) for an item: the same item always lands in the same split."""
    digest = hashlib.sha256(f"{salt}:{project_id}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def unit_hashes(project_id: int, external_ids: Sequence[str], salt: str) -> FloatArray:
    """:func:`unit_hash` of many items at once, shape ``(n,)`` (the same numbers)."""
    prefix = f"{salt}:{project_id}:"
    tops = b"".join(hashlib.sha256((prefix + e).encode()).digest()[:8] for e in external_ids)
    return np.ldexp(np.frombuffer(tops, dtype=">u8").astype(np.float64), -64)


def split_for(project: Project, external_id: str) -> LabelSplit:
    share = project.training.holdout_share
    return (
        LabelSplit.HOLDOUT
        if unit_hash(project.id, external_id, "split") < share
        else LabelSplit.TRAIN
    )


def resolve_item(
    tx: Tx,
    project: Project,
    item: ItemRow,
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
    decision = tx.repo.decision_for(item.id)
    before = (
        None if decision is None else {"final_label": decision.final_label, "route": decision.route}
    )
    if decision is None:
        decision = DecisionRow(
            project_id=project.id,
            item_id=item.id,
            prediction_id=None,
            route=Route.HUMAN.value,
            origin=DecisionOrigin.IMPORT.value,
            reasons=["ground truth imported"],
            policy_version=project.routing.version,
            created_at=tx.now,
        )
        tx.session.add(decision)
    decision.final_label = value
    decision.decided_by = actor
    decision.decided_at = tx.now
    item.status = ItemStatus.RESOLVED.value
    item.updated_at = tx.now
    if task is not None:
        task.status = TaskStatus.DONE.value
        task.resolved_at = tx.now
        task.lease_expires_at = None
    label_row: LabelRow | None = None
    if value is not None:
        label_row = LabelRow(
            project_id=project.id,
            item_id=item.id,
            value=value,
            source=source.value,
            split=split_for(project, item.external_id).value,
            weight=weight,
            agreement=agreement,
            review_task_id=None if task is None else task.id,
            created_by=actor,
            created_at=tx.now,
        )
        tx.session.add(label_row)
        if (
            predicted_label is not None
            and predicted_label != value
            and unit_hash(project.id, item.external_id, "golden") < project.training.golden_share
        ):
            tx.session.add(
                GoldenItemRow(
                    project_id=project.id,
                    item_id=item.id,
                    label=value,
                    reason=f"model predicted {predicted_label!r}; {source.value} said {value!r}",
                    created_at=tx.now,
                )
            )
    tx.session.flush()
    tx.audit(
        actor=actor,
        action="item.resolved",
        entity_type="item",
        entity_id=item.id,
        project_id=project.id,
        before=before,
        after={
            "final_label": value,
            "source": source.value,
            "agreement": agreement,
            "task_id": None if task is None else task.id,
            "predicted_label": predicted_label,
        },
    )
    return label_row
