"""Closed vocabularies of the domain, stored as their string values."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class InputKind(StrEnum):
    TEXT = "text"
    TABULAR = "tabular"


class Route(StrEnum):
    """Where a prediction goes: decided by the machine, or by a person of which tier."""

    AUTO = "auto"
    HUMAN = "human"
    EXPERT = "expert"


class DecisionOrigin(StrEnum):
    """How an item got its decision: routed when it was submitted, or imported ground truth
    (which never passed through routing and so does not count in automation figures)."""

    ROUTED = "routed"
    IMPORT = "import"
    GOLD = "gold"  # a gold (honeypot) item: known answer, shown to reviewers to measure them
    DISCOVERY = "discovery"  # chosen from the unlabelled pool by active learning, to be labelled


class ItemStatus(StrEnum):
    """An accepted item is always in exactly one of these states: never lost."""

    DECIDED = "decided"  # the machine decided; no person looked
    QUEUED = "queued"  # waiting for (or in) human review
    RESOLVED = "resolved"  # a person (or imported ground truth) settled it


class TaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    ESCALATED = "escalated"  # handed on to an expert task; this one is closed
    CANCELLED = "cancelled"


class Role(StrEnum):
    """What an account may do.

    ``reviewer`` reviews tasks of its projects, ``expert`` also expert tasks, ``admin`` everything
    on every project; ``client`` (a service) submits items and reads decisions of its projects,
    ``viewer`` reads their numbers. Only the first three ever review.
    """

    REVIEWER = "reviewer"
    EXPERT = "expert"
    ADMIN = "admin"
    CLIENT = "client"
    VIEWER = "viewer"

    @property
    def reviews(self) -> bool:
        """Whether this role works on review tasks."""
        return self in (Role.REVIEWER, Role.EXPERT, Role.ADMIN)


class Stage(StrEnum):
    REVIEW = "review"
    EXPERT = "expert"


class Priority(IntEnum):
    """Lower value is served first."""

    URGENT = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    DISCOVERY = 4
    """Items active learning chose from the pool: served when nothing routed is waiting (and
    moved up by ageing like any task, so they are labelled in the end)."""


class Verdict(StrEnum):
    """What a reviewer says of the model's suggestion.

    ``approve``: the suggestion is right. ``correct``: it is wrong and this is the right label.
    ``reject``: it is wrong; with a label it is a correction, without one on a two-label project
    the other label is meant, and without one on a larger label set the input is judged
    undecidable (resolved with no training label). ``escalate``: hand the task to an expert
    (a label, if given, is kept as this reviewer's opinion). ``skip``: pass on the task without
    an answer; it goes back to the queue for others.
    """

    APPROVE = "approve"
    REJECT = "reject"
    CORRECT = "correct"
    ESCALATE = "escalate"
    SKIP = "skip"

    @property
    def answers(self) -> bool:
        """Whether the verdict says what the label is (skips and escalations do not count)."""
        return self in (Verdict.APPROVE, Verdict.REJECT, Verdict.CORRECT)


class LabelSource(StrEnum):
    IMPORT = "import"  # ground truth brought in from outside (seed labels)
    REVIEWER = "reviewer"
    CONSENSUS = "consensus"
    EXPERT = "expert"


class ModelStage(StrEnum):
    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class LabelSplit(StrEnum):
    """Which use a resolved label is put to: fitting models, or judging them."""

    TRAIN = "train"
    HOLDOUT = "holdout"


DEFAULT_ERROR_TAXONOMY: tuple[str, ...] = (
    "ambiguous_input",
    "missing_context",
    "noisy_input",
    "new_pattern",
    "model_bias",
    "guideline_gap",
)
