"""Which audit events become which webhook events, and what their ``data`` says.

Webhooks are derived from the audit trail of a transaction, so an event is announced exactly
when its change is committed and never otherwise. Pure: dictionaries in, dictionaries out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DECISION_MADE = "decision.made"
TASK_RESOLVED = "task.resolved"
MODEL_PROMOTED = "model.promoted"
MODEL_ROLLED_BACK = "model.rolled_back"
EVENT_TYPES = (DECISION_MADE, TASK_RESOLVED, MODEL_PROMOTED, MODEL_ROLLED_BACK)
"""Every event a webhook can subscribe to."""

SOURCES = frozenset({"item.routed", "item.resolved", "model.promoted", "model.rolled_back"})
"""The audit actions that can produce a webhook event (others are skipped without a look)."""


@dataclass(frozen=True)
class WebhookEvent:
    """One event of one project. ``item_id`` is set when the receiver needs the item's
    external id, which the caller looks up (audit events carry the database id only)."""

    project_id: int
    type: str
    data: dict[str, Any]
    item_id: int | None = None


def webhook_events(audit: Sequence[Mapping[str, Any]]) -> list[WebhookEvent]:
    """The webhook events that a transaction's audit events announce, in order.

    ``decision.made``: an item decided automatically, or resolved by people (its final label).
    ``task.resolved``: a review task settled with a label. ``model.promoted`` and
    ``model.rolled_back``: the production model changed.
    """
    out: list[WebhookEvent] = []
    for event in audit:
        action = event["action"]
        project_id = event["project_id"]
        if action not in SOURCES or project_id is None:
            continue
        after = event.get("after") or {}
        when = event["created_at"].isoformat()
        if action == "item.routed":
            if after.get("route") != "auto":
                continue
            item_id = int(event["entity_id"])
            out.append(
                WebhookEvent(
                    project_id,
                    DECISION_MADE,
                    {
                        "item_id": item_id,
                        "external_id": after.get("external_id"),
                        "status": "decided",
                        "label": after.get("predicted_label"),
                        "route": "auto",
                        "confidence": after.get("confidence"),
                        "model_version": after.get("model_version"),
                        "decided_at": when,
                    },
                )
            )
        elif action == "item.resolved":
            item_id = int(event["entity_id"])
            common = {
                "item_id": item_id,
                "label": after.get("final_label"),
                "source": after.get("source"),
                "agreement": after.get("agreement"),
                "task_id": after.get("task_id"),
            }
            out.append(
                WebhookEvent(
                    project_id,
                    DECISION_MADE,
                    {**common, "status": "resolved", "route": "human", "decided_at": when},
                    item_id=item_id,
                )
            )
            if after.get("task_id") is not None:
                out.append(
                    WebhookEvent(
                        project_id,
                        TASK_RESOLVED,
                        {**common, "predicted_label": after.get("predicted_label")},
                        item_id=item_id,
                    )
                )
        else:
            out.append(
                WebhookEvent(
                    project_id,
                    MODEL_PROMOTED if action == "model.promoted" else MODEL_ROLLED_BACK,
                    {"at": when, **after},
                )
            )
    return out
