"""How a project's active learning chooses from its unlabelled pool.

Stored with the project and changed with ``Loopwise.set_active_learning``; the defaults suit a
project that starts now::

    strategy: default            # a name in loopwise.active_learning.STRATEGIES
    batch: 50                    # items a query turns into review tasks
    explore: 0.1                 # share of each batch chosen at random (0 to switch off)
    requery_after_promotion: true  # query a batch each time a new model is promoted
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loopwise.active_learning import STRATEGIES
from loopwise.errors import InvalidInput


class ActiveLearningConfig(BaseModel):
    """A project's active-learning settings (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    strategy: str = "default"
    batch: int = Field(default=50, ge=1, le=10_000)
    explore: float = Field(default=0.1, ge=0.0, lt=1.0)
    requery_after_promotion: bool = True

    @field_validator("strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"{value!r} is not a strategy; choose one of {sorted(STRATEGIES)}")
        return value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ActiveLearningConfig:
        return cls.model_validate(data or {})


def parse_active_learning(data: Any) -> ActiveLearningConfig:
    """Validate active-learning settings given as a mapping.

    Raises
    ------
    InvalidInput
        ``field`` is ``active_learning.<setting>`` for the first setting at fault.
    """
    if isinstance(data, ActiveLearningConfig):
        return data
    if not isinstance(data, dict):
        raise InvalidInput("must be a mapping of settings", field="active_learning")
    try:
        return ActiveLearningConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "is not an active-learning setting"
        field = f"active_learning.{path}" if path else "active_learning"
        raise InvalidInput(message, field=field) from None
