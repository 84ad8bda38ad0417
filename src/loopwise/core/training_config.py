"""Validating a project's training settings (:class:`~loopwise.core.entities.TrainingConfig`).

Given when a project is created and changed with ``Loopwise.set_training_config``::

    holdout_share: 0.2       # share of resolved labels held out to judge candidates, in [0, 1)
    golden_share: 0.2        # share of people's corrections kept in the golden set, in [0, 1)
    metric: accuracy         # or macro_f1: what "better overall" means at the promotion gate
    min_improvement: 0.0     # how much a candidate must beat production by, in [0, 1]
    split_seed: null         # keys the stable per-item hashes (null: the project's id)

A setting left out takes its default. The validation is pydantic's, strict (a number given as
text, or ``true`` as a seed, is refused rather than converted), and its first complaint becomes
an :class:`~loopwise.errors.InvalidInput` naming ``training.<setting>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loopwise.core.entities import TrainingConfig
from loopwise.errors import InvalidInput

#: Settings that decide on which side of the held-out split a label falls. Once a project has
#: labels they are fixed: a label written again after a change could land on the other side,
#: and a model trained on it would then be judged on it.
SPLIT_SETTINGS = ("holdout_share", "split_seed")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    holdout_share: float = Field(default=0.2, ge=0.0, lt=1.0)
    golden_share: float = Field(default=0.2, ge=0.0, lt=1.0)
    metric: Literal["accuracy", "macro_f1"] = "accuracy"
    min_improvement: float = Field(default=0.0, ge=0.0, le=1.0)
    split_seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)


def parse_training(data: TrainingConfig | Mapping[str, Any]) -> TrainingConfig:
    """Validate training settings given as a mapping (or check a :class:`TrainingConfig` built
    in Python, whose fields nothing checked yet).

    Raises
    ------
    InvalidInput
        ``field`` is ``training.<setting>`` for the first setting at fault, ``training`` when
        ``data`` is not a mapping.
    """
    if isinstance(data, TrainingConfig):
        given: Any = data.to_json()
    elif isinstance(data, Mapping):
        given = dict(data)
    else:
        raise InvalidInput("must be a mapping of settings", field="training")
    try:
        settings = _Settings.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = (
                f"is not a training setting; the settings are {sorted(_Settings.model_fields)}"
            )
        raise InvalidInput(message, field=f"training.{path}" if path else "training") from None
    return TrainingConfig(**settings.model_dump())
