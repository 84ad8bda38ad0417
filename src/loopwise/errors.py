"""Domain errors. They carry domain words, never HTTP status codes; the API maps them in one place.

::

    LoopwiseError
    ├── InvalidInput                 bad data from the caller (field + problem)
    │   ├── InvalidLabel             a label outside the project's label set
    │   ├── InvalidPayload           text / features / metadata that fail validation
    │   ├── UnknownStrategy          an active-learning strategy name nobody registered
    │   ├── EmptyPool                an active-learning query with nothing left to choose from
    │   └── NotEnoughInPool          asked for more items than the pool has left
    ├── NotFound
    │   ├── ProjectNotFound
    │   ├── ItemNotFound
    │   ├── TaskNotFound
    │   ├── ReviewerNotFound
    │   ├── ModelVersionNotFound
    │   ├── TokenNotFound
    │   └── WebhookNotFound
    ├── Unauthenticated              no token, or one that is unknown, expired or revoked
    ├── NotAllowed                   the actor's role or membership does not permit it
    ├── Conflict                     the request is well formed but clashes with stored state
    │   ├── DuplicateProject
    │   ├── DuplicateExternalId      same external id, different payload
    │   ├── TaskNotClaimable         nothing to claim, or taken by someone else
    │   ├── NotTaskHolder            verdict for a task one does not hold
    │   ├── LeaseExpired
    │   ├── DuplicateReviewer
    │   ├── LimitReached             a reviewer's limit on held tasks or reviews a day
    │   ├── UndoWindowClosed         too late, or others acted on the task since
    │   ├── ConcurrentChange         a concurrent writer won a race, again and again
    │   └── PromotionRefused         the gate said no, or nothing to roll back to
    ├── NotEnoughLabels              training needs more (or more varied) resolved labels
    ├── NoProductionModel
    └── ArtifactIntegrityError       a model file whose checksum does not match its record
"""

from __future__ import annotations


class LoopwiseError(Exception):
    """Base of every error loopwise raises on purpose.

    Parameters
    ----------
    message:
        A sentence a person can act on.
    field:
        Dotted path of the offending input (``items[3].payload.text``), when there is one.
    """

    code = "loopwise_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(LoopwiseError):
    code = "invalid_input"


class InvalidLabel(InvalidInput):
    code = "invalid_label"


class InvalidPayload(InvalidInput):
    code = "invalid_payload"


class UnknownStrategy(InvalidInput):
    code = "unknown_strategy"


class EmptyPool(InvalidInput):
    code = "empty_pool"


class NotEnoughInPool(InvalidInput):
    code = "not_enough_in_pool"


class NotFound(LoopwiseError):
    code = "not_found"


class ProjectNotFound(NotFound):
    code = "project_not_found"


class ItemNotFound(NotFound):
    code = "item_not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"


class ReviewerNotFound(NotFound):
    code = "reviewer_not_found"


class TokenNotFound(NotFound):
    code = "token_not_found"


class WebhookNotFound(NotFound):
    code = "webhook_not_found"


class Unauthenticated(LoopwiseError):
    code = "unauthenticated"


class NotAllowed(LoopwiseError):
    code = "not_allowed"


class ModelVersionNotFound(NotFound):
    code = "model_version_not_found"


class Conflict(LoopwiseError):
    code = "conflict"


class DuplicateProject(Conflict):
    code = "duplicate_project"


class DuplicateExternalId(Conflict):
    code = "duplicate_external_id"


class TaskNotClaimable(Conflict):
    code = "task_not_claimable"


class NotTaskHolder(Conflict):
    code = "not_task_holder"


class LeaseExpired(Conflict):
    code = "lease_expired"


class DuplicateReviewer(Conflict):
    code = "duplicate_reviewer"


class LimitReached(Conflict):
    code = "limit_reached"


class UndoWindowClosed(Conflict):
    code = "undo_window_closed"


class ConcurrentChange(Conflict):
    code = "concurrent_change"


class PromotionRefused(Conflict):
    code = "promotion_refused"


class NotEnoughLabels(LoopwiseError):
    code = "not_enough_labels"


class NoProductionModel(LoopwiseError):
    code = "no_production_model"


class ArtifactIntegrityError(LoopwiseError):
    code = "artifact_integrity"


__all__ = [
    "ArtifactIntegrityError",
    "ConcurrentChange",
    "Conflict",
    "DuplicateExternalId",
    "DuplicateProject",
    "DuplicateReviewer",
    "InvalidInput",
    "InvalidLabel",
    "InvalidPayload",
    "ItemNotFound",
    "LeaseExpired",
    "LimitReached",
    "LoopwiseError",
    "ModelVersionNotFound",
    "NoProductionModel",
    "NotAllowed",
    "NotEnoughLabels",
    "NotFound",
    "NotTaskHolder",
    "ProjectNotFound",
    "PromotionRefused",
    "ReviewerNotFound",
    "TaskNotClaimable",
    "TaskNotFound",
    "TokenNotFound",
    "Unauthenticated",
    "UndoWindowClosed",
    "WebhookNotFound",
]
