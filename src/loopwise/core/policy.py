"""The routing policy a project declares: thresholds, calibration, business rules, QA sampling.

Written as YAML or JSON by people, validated by Pydantic, stored as JSON on the project. Errors
name the field and, for files, the line::

    auto_threshold: 0.9          # fixed threshold on calibrated confidence, or instead:
    target_error: 0.02           # auto-decide at most 2% errors ...
    target_confidence: 0.9       # ... with 90% confidence (a certified threshold)
    calibration: temperature     # none | temperature | isotonic | sigmoid
    expert_threshold: 0.5        # calibrated confidence below this -> expert
    class_thresholds: {spam: 0.97}
    always_review: [fraud]       # predicted classes people always check
    ood: {method: knn, quantile: 0.99, priority: high}
    qa_sample: 0.02              # share of auto-decidable items reviewed anyway, for QA
    rules:
      - name: large amount
        when: amount > 10000
        route: human
        priority: high
      - name: audit
        when: requires_audit
        route: expert
      - name: big vip
        when: {all: [tier == "vip", amount >= 500]}
        priority: urgent
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from loopwise.errors import InvalidInput

Operator = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not in", "exists", "missing", "true"]
OPERATORS: tuple[str, ...] = (
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not in",
    "exists",
    "missing",
    "true",
)
PriorityName = Literal["urgent", "high", "normal", "low"]
_CONDITION = re.compile(
    r"^\s*([A-Za-z_][\w.]*)\s*(==|!=|>=|<=|>|<|\bnot\s+in\b|\bin\b)\s*(.+?)\s*$"
)
_FIELD = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """``field op value`` over an item's metadata (dotted paths reach nested objects)."""

    field: str = Field(min_length=1)
    op: Operator
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _CONDITION.match(data)
        if match and not match.group(3).startswith(("<", ">", "=", "!")):
            field, op, raw = match.groups()
            op = " ".join(op.split())
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
            return {"field": field, "op": op, "value": value}
        bare = _FIELD.match(data)
        if bare:
            return {"field": bare.group(1), "op": "true"}
        raise ValueError(
            f"cannot read condition {data!r}: write '<field> <op> <value>' with op one of "
            f"{', '.join(OPERATORS[:8])}, or a bare field name for 'is true'"
        )

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in (">", ">=", "<", "<=") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError(f"'{self.op}' compares with a number, not {self.value!r}")
        if self.op in ("in", "not in") and not isinstance(self.value, list):
            raise ValueError(f"'{self.op}' needs a list of values, not {self.value!r}")
        return self


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


def _when_kind(value: Any) -> str:
    if isinstance(value, dict) and "all" in value:
        return "all"
    if isinstance(value, dict) and "any" in value:
        return "any"
    if isinstance(value, AllOf):
        return "all"
    if isinstance(value, AnyOf):
        return "any"
    return "condition"


When = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Condition, Tag("condition")],
    Discriminator(_when_kind),
]


TAG = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class RuleSpec(_Strict):
    """A business rule: items whose metadata match ``when`` go to ``route`` at ``priority``.

    ``reviews`` asks for that many independent reviews of the matching items (more than the
    project's ``overlap``); ``tags`` names the expertise a reviewer needs to take them.
    """

    name: str = Field(min_length=1, max_length=100)
    when: When
    route: Literal["human", "expert"] = "human"
    priority: PriorityName = "normal"
    reviews: int | None = Field(default=None, ge=1, le=10)
    tags: list[Annotated[str, Field(pattern=TAG)]] = Field(default_factory=list, max_length=8)


class OODSpec(_Strict):
    """Out-of-distribution check: inputs less typical than ``quantile`` of the training data."""

    method: Literal["knn", "isolation_forest"] = "knn"
    quantile: float = Field(default=0.99, gt=0.0, lt=1.0)
    route: Literal["human", "expert"] = "human"
    priority: PriorityName = "high"


Probability = Annotated[float, Field(ge=0.0, le=1.0)]
OpenUnit = Annotated[float, Field(gt=0.0, lt=1.0)]


class RoutingConfig(_Strict):
    """A project's routing policy (see the module docstring for the file format).

    ``target_error`` (alpha) switches from the fixed ``auto_threshold`` to a threshold certified
    on human-verified labels: auto-decided items err at most ``target_error`` with probability
    ``target_confidence`` (1 - delta). ``version`` is kept by loopwise, raised on every change.
    """

    version: int = Field(default=1, ge=1)
    auto_threshold: Probability = 0.9
    target_error: OpenUnit | None = None
    target_confidence: OpenUnit = 0.9
    calibration: Literal["none", "temperature", "isotonic", "sigmoid"] = "temperature"
    expert_threshold: Probability | None = None
    class_thresholds: dict[str, Probability] = Field(default_factory=dict)
    always_review: list[str] = Field(default_factory=list)
    ood: OODSpec | None = Field(default_factory=OODSpec)
    qa_sample: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    rules: list[RuleSpec] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _distinct_names(cls, rules: list[RuleSpec]) -> list[RuleSpec]:
        names = [r.name for r in rules]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"rule name {name!r} is used twice")
        return rules

    @field_validator("expert_threshold")
    @classmethod
    def _expert_below_auto(cls, value: float | None, info: ValidationInfo) -> float | None:
        auto = info.data.get("auto_threshold")
        if value is not None and auto is not None and value > auto:
            raise ValueError(f"must not be above auto_threshold ({auto})")
        return value

    @property
    def delta(self) -> float:
        return 1.0 - self.target_confidence

    def check_labels(self, labels: Sequence[str]) -> None:
        """Refuse classes the project does not have (``class_thresholds``, ``always_review``)."""
        for key in self.class_thresholds:
            if key not in labels:
                raise InvalidInput(
                    f"{key!r} is not a label of this project {list(labels)}",
                    field=f"class_thresholds.{key}",
                )
        for i, key in enumerate(self.always_review):
            if key not in labels:
                raise InvalidInput(
                    f"{key!r} is not a label of this project {list(labels)}",
                    field=f"always_review[{i}]",
                )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoutingConfig:
        return cls.model_validate(data)


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    previous: int | str | None = None
    for part in loc:
        if previous == "when" and part in ("all", "any", "condition"):
            previous = None  # the union branch's tag Pydantic inserts; people never wrote it
            continue
        previous = part
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line(node: yaml.Node | None, loc: Sequence[int | str], *, key: bool = False) -> int | None:
    """The 1-based line of the YAML node at ``loc``, or of its nearest ancestor found; with
    ``key`` the line of the last mapping key itself (for unknown fields)."""
    line = None if node is None else node.start_mark.line + 1
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                continue
            node = pair[0] if key and last else pair[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            continue
        line = node.start_mark.line + 1
    return line


def _loc_of(field: str) -> tuple[int | str, ...]:
    """``always_review[1]`` -> ``("always_review", 1)``; ``class_thresholds.x`` -> two keys."""
    parts: list[int | str] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _from_validation_error(exc: ValidationError, root: yaml.Node | None) -> InvalidInput:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    line = _line(root, loc, key=first["type"] == "extra_forbidden") if root is not None else None
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    elif first["type"] == "literal_error":
        message = f"{first.get('input')!r} is not allowed: {message.lower()}"
    prefix = f"line {line}: " if line is not None else ""
    return InvalidInput(f"{prefix}{message}", field=_path(loc) or "policy")


def parse_policy(data: Any, labels: Sequence[str]) -> RoutingConfig:
    """Validate a policy given as a mapping (an API body, a Python dict).

    Raises
    ------
    InvalidInput
        ``field`` is the path of the problem in the policy.
    """
    if not isinstance(data, dict):
        raise InvalidInput("a policy is a mapping of settings", field="policy")
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(exc, None) from None
    config.check_labels(labels)
    return config


def load_policy(text: str, labels: Sequence[str], *, version: int | None = None) -> RoutingConfig:
    """Parse and validate a policy written as YAML or JSON.

    Raises
    ------
    InvalidInput
        ``field`` is the path in the policy; the message starts with ``line N:`` when the
        problem can be placed in the text.
    """
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InvalidInput(
            f"{where}not valid YAML or JSON ({getattr(exc, 'problem', exc)})", field="policy"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("line 1: a policy is a mapping of settings", field="policy")
    if version is not None:
        data = {**data, "version": version}
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(exc, root) from None
    try:
        config.check_labels(labels)
    except InvalidInput as exc:
        line = _line(root, _loc_of(exc.field or ""))
        prefix = f"line {line}: " if line is not None else ""
        raise InvalidInput(f"{prefix}{exc.message}", field=exc.field) from None
    return config


def dump_policy(config: RoutingConfig) -> str:
    """The policy as YAML, the way ``loopwise routing show`` prints it."""
    return yaml.safe_dump(json.loads(config.model_dump_json()), sort_keys=False, allow_unicode=True)
