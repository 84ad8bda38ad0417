"""How a project's people work: overlap, consensus, SLAs, ageing, gold tasks, undo and fatigue.

Stored with the project and changed with ``Loopwise.set_review_config``; every field has a
default that suits a small team (one review per task, no gold), so a project works without
one. For example::

    overlap: 3                   # independent reviews per task (rules can ask for more)
    aggregator: dawid_skene      # or majority_vote
    min_agreement: 0.66          # share agreeing with the result; below it -> expert
    sla_minutes: {urgent: 60, high: 240, normal: 1440, low: 4320}
    ageing_minutes: 240          # every 4 h waiting moves a task up one priority level
    gold_rate: 0.05              # share of a reviewer's tasks that are gold (honeypot) items
    gold_floor: 0.8              # reviewers whose gold accuracy is surely below this are flagged
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loopwise.core.enums import Priority
from loopwise.errors import InvalidInput

DEFAULT_SLA_MINUTES: dict[str, int] = {
    "urgent": 60,
    "high": 240,
    "normal": 1440,
    "low": 4320,
    "discovery": 10080,
}
Minutes = Annotated[int, Field(ge=1, le=525_600)]


class ReviewConfig(BaseModel):
    """A project's review workflow (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    overlap: int = Field(default=1, ge=1, le=10)
    aggregator: Literal["majority_vote", "dawid_skene"] = "dawid_skene"
    min_agreement: float = Field(default=0.66, ge=0.0, le=1.0)
    consensus_window: int = Field(default=2000, ge=10, le=200_000)
    sla_minutes: dict[str, Minutes] = Field(default_factory=lambda: dict(DEFAULT_SLA_MINUTES))
    ageing_minutes: Minutes | None = 240
    gold_rate: float = Field(default=0.0, ge=0.0, le=0.5)
    gold_floor: float = Field(default=0.8, ge=0.0, le=1.0)
    gold_min_answers: int = Field(default=10, ge=1, le=10_000)
    undo_seconds: int = Field(default=120, ge=0, le=86_400)
    skips_to_escalate: int = Field(default=3, ge=1, le=100)
    lease_seconds: int | None = Field(default=None, ge=5, le=86_400)
    break_after_minutes: Minutes = 90
    break_after_tasks: int = Field(default=200, ge=1, le=100_000)
    session_gap_minutes: Minutes = 20

    @field_validator("sla_minutes")
    @classmethod
    def _every_level(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(DEFAULT_SLA_MINUTES))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a priority; use {list(DEFAULT_SLA_MINUTES)}")
        return {**DEFAULT_SLA_MINUTES, **value}

    def sla(self, priority: Priority) -> int:
        """Minutes a task of ``priority`` may wait before it breaches its SLA."""
        return self.sla_minutes[priority.name.lower()]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ReviewConfig:
        return cls.model_validate(data or {})


def parse_review_config(data: Any) -> ReviewConfig:
    """Validate a review configuration given as a mapping.

    Raises
    ------
    InvalidInput
        ``field`` is ``review.<setting>`` for the first setting at fault.
    """
    if isinstance(data, ReviewConfig):
        return data
    if not isinstance(data, dict):
        raise InvalidInput("a review configuration is a mapping of settings", field="review")
    try:
        return ReviewConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "is not a review setting"
        raise InvalidInput(message, field=f"review.{path}" if path else "review") from None
