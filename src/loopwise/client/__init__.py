"""The Python client of the loopwise HTTP service.

Typed methods for every resource of ``/v1``, retries with backoff on 429, 503 and network
failures, and the library's own error classes (``except ItemNotFound`` works the same with
:class:`~loopwise.Loopwise` in-process and with the service)::

    from loopwise.client import Client, Item

    with Client("https://loopwise.example.com", token) as client:
        routed = client.submit("sms", Item("Free entry! Text WIN", external_id="m-1"))
        if routed.status == "queued":
            decision = client.decision("sms", "m-1", wait=30)  # people may resolve it meanwhile
        results = client.submit_many("sms", items, batch_size=1000)  # any number, in order
        for decision in client.iter_decisions("sms", route="human"):
            print(decision.external_id, decision.label, decision.decided_by)
        for row in client.export_labels("sms"):
            train_on(row["payload"], row["label"])

Reviewers use ``claim``, ``heartbeat``, ``verdict``, ``release`` and ``undo`` with their own
token; admins manage projects, models and webhooks. Active learning: ``add_to_pool`` unlabelled
candidates, ``query`` to queue the most informative for review. Errors are drawn in :mod:`._errors`.
"""

from loopwise.client._bulk import ItemLike
from loopwise.client._client import Client
from loopwise.client._errors import ApiError, ServerError, ServiceUnavailable
from loopwise.client._models import (
    ActiveLearning,
    Chosen,
    Decision,
    DecisionsPage,
    Item,
    Me,
    ModelVersion,
    PoolCandidate,
    PoolPage,
    PoolRemoval,
    PoolStatus,
    Prediction,
    Project,
    Promotion,
    QueryResult,
    QueueEntry,
    Review,
    Routed,
    StoredItem,
    Task,
    VerdictResult,
    Webhook,
    WebhookMessage,
)

__all__ = [
    "ActiveLearning",
    "ApiError",
    "Chosen",
    "Client",
    "Decision",
    "DecisionsPage",
    "Item",
    "ItemLike",
    "Me",
    "ModelVersion",
    "PoolCandidate",
    "PoolPage",
    "PoolRemoval",
    "PoolStatus",
    "Prediction",
    "Project",
    "Promotion",
    "QueryResult",
    "QueueEntry",
    "Review",
    "Routed",
    "ServerError",
    "ServiceUnavailable",
    "StoredItem",
    "Task",
    "VerdictResult",
    "Webhook",
    "WebhookMessage",
]
