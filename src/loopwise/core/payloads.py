"""Validation of what callers send: payloads, metadata, external ids and labels.

Pure functions; each raises a domain error naming the offending field and the problem, and
returns the canonical form that is stored.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from loopwise.core.enums import InputKind
from loopwise.errors import InvalidLabel, InvalidPayload

MAX_EXTERNAL_ID_LENGTH = 200
MAX_FEATURE_SIZE = 1e100
"""The largest size of a table's feature. Standardising a column (the tabular models and a cold
query do) sums the squares of its values, which overflows past about 1e154; a larger value is
almost always a marker (``sys.float_info.max`` for "missing"), not a measurement."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically (sorted keys, no spaces) for hashing and storage."""
    return _CANONICAL.encode(value)


def payload_digest(payload: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest of a canonical payload: equal payloads, equal digests."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def normalize_payload(
    payload: Any,
    *,
    kind: InputKind,
    feature_names: Sequence[str],
    max_bytes: int,
    field: str = "payload",
) -> dict[str, Any]:
    """Check a payload and return its canonical stored form.

    Text projects take ``"some text"`` or ``{"text": "some text"}`` and store
    ``{"text": ...}``. Tabular projects take ``{"features": [..]}`` in the project's feature
    order or ``{"features": {name: value}}`` naming every feature, and store the list form;
    each value a finite number of size at most ``MAX_FEATURE_SIZE`` (1e100).

    Raises
    ------
    InvalidPayload
        With ``field`` set to the dotted path of the problem.
    """
    return _canonical(payload, kind, feature_names, max_bytes, field)[0]


def normalize_with_digest(
    payload: Any,
    *,
    kind: InputKind,
    feature_names: Sequence[str],
    max_bytes: int,
    field: str = "payload",
) -> tuple[dict[str, Any], str]:
    """:func:`normalize_payload` and the :func:`payload_digest` of its result, serialising the
    payload once for both."""
    result, encoded = _canonical(payload, kind, feature_names, max_bytes, field)
    return result, hashlib.sha256(encoded).hexdigest()


def _canonical(
    payload: Any, kind: InputKind, feature_names: Sequence[str], max_bytes: int, field: str
) -> tuple[dict[str, Any], bytes]:
    if kind is InputKind.TEXT:
        result = _normalize_text(payload, field)
    else:
        result = _normalize_tabular(payload, feature_names, field)
    encoded = canonical_json(result).encode("utf-8")
    if len(encoded) > max_bytes:
        raise InvalidPayload(
            f"payload is {len(encoded)} bytes, over the limit of {max_bytes} bytes", field=field
        )
    return result, encoded


def _only(payload: Mapping[str, Any], key: str, what: str, field: str) -> None:
    """Refuse any field of ``payload`` other than ``key``, naming the first one."""
    if len(payload) == 1 and key in payload:
        return
    unknown = sorted(set(payload) - {key})
    if unknown:
        raise InvalidPayload(
            f"unknown field {unknown[0]!r}; {what} has only {key!r} (put other fields in metadata)",
            field=f"{field}.{unknown[0]}",
        )


def _normalize_text(payload: Any, field: str) -> dict[str, Any]:
    if isinstance(payload, str):
        payload = {"text": payload}
    if not isinstance(payload, Mapping):
        raise InvalidPayload("must be a string or an object with a 'text' field", field=field)
    _only(payload, "text", "a text payload", field)
    if "text" not in payload:
        raise InvalidPayload("is required", field=f"{field}.text")
    text = payload["text"]
    if not isinstance(text, str):
        raise InvalidPayload(f"must be a string, not {type(text).__name__}", field=f"{field}.text")
    if not text.strip():
        raise InvalidPayload("must not be empty", field=f"{field}.text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(
            "must be valid Unicode (no lone surrogates)", field=f"{field}.text"
        ) from None
    if "\x00" in text:
        raise InvalidPayload("must not contain NUL characters", field=f"{field}.text")
    return {"text": text}


def _normalize_tabular(payload: Any, feature_names: Sequence[str], field: str) -> dict[str, Any]:
    if not isinstance(payload, Mapping) or "features" not in payload:
        raise InvalidPayload("must be an object with a 'features' field", field=field)
    _only(payload, "features", "a tabular payload", field)
    raw = payload["features"]
    n = len(feature_names)
    values: list[Any]
    if isinstance(raw, Mapping):
        missing = [name for name in feature_names if name not in raw]
        extra = sorted(set(raw) - set(feature_names))
        if missing:
            raise InvalidPayload("is missing", field=f"{field}.features.{missing[0]}")
        if extra:
            raise InvalidPayload(
                "is not a feature of this project", field=f"{field}.features.{extra[0]}"
            )
        values = [raw[name] for name in feature_names]
        paths = [f"{field}.features.{name}" for name in feature_names]
    elif isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        values = list(raw)
        if len(values) != n:
            raise InvalidPayload(
                f"has {len(values)} values; this project has {n} features",
                field=f"{field}.features",
            )
        paths = [f"{field}.features[{i}]" for i in range(n)]
    else:
        raise InvalidPayload(
            "must be a list of numbers or an object of them", field=f"{field}.features"
        )
    out: list[float] = []
    for value, path in zip(values, paths, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidPayload(f"must be a number, not {type(value).__name__}", field=path)
        try:
            number = float(value)
        except OverflowError:
            raise InvalidPayload("is too large for a floating-point number", field=path) from None
        if not math.isfinite(number):
            raise InvalidPayload(
                "must be a finite number (NaN and infinity are refused)", field=path
            )
        oversized = feature_too_large(number)
        if oversized is not None:
            raise InvalidPayload(oversized, field=path)
        out.append(number)
    return {"features": out}


def feature_too_large(number: float) -> str | None:
    """Why ``number`` cannot be a table's feature (its size is over :data:`MAX_FEATURE_SIZE`),
    or ``None``."""
    if abs(number) <= MAX_FEATURE_SIZE:
        return None
    return (
        f"is {number:g}, beyond ±1e100: scaling its column would overflow (a marker for a "
        "missing value?)"
    )


def validate_metadata(metadata: Any, *, max_bytes: int, field: str = "metadata") -> dict[str, Any]:
    """Check item metadata: a JSON object of finite values, within the size limit."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidPayload("must be an object", field=field)
    for key in metadata:
        if not isinstance(key, str):
            raise InvalidPayload("keys must be strings", field=field)
    try:
        encoded = json.dumps(metadata, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"must be JSON with finite numbers ({exc})", field=field) from None
    if len(encoded.encode("utf-8")) > max_bytes:
        raise InvalidPayload(f"is over the limit of {max_bytes} bytes", field=field)
    result: dict[str, Any] = json.loads(encoded)
    return result


def validate_external_id(external_id: Any, *, field: str = "external_id") -> str:
    """Check a caller's id for an item: a non-empty string of at most 200 characters."""
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidPayload("must be a non-empty string", field=field)
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidPayload(
            f"is {len(external_id)} characters; at most {MAX_EXTERNAL_ID_LENGTH}", field=field
        )
    return external_id


def validate_label(label: Any, labels: Sequence[str], *, field: str = "label") -> str:
    """Check that ``label`` is one of the project's labels. A label that is not a string says
    what it is, since ``1`` reads as if it were in ``['0', '1']``."""
    if not isinstance(label, str) or label not in labels:
        message = f"{label!r} is not in the project's label set {list(labels)}"
        if not isinstance(label, str):
            kind = _json_kind(label)
            message += f": a label is a string, and this is {kind}"
            if kind == "a number" and str(label) in labels:
                message += f' (write "{label}")'
        raise InvalidLabel(message, field=field)
    return label


def _json_kind(value: Any) -> str:
    """What ``value`` is, in JSON's words (the form most callers send)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return f"a {type(value).__name__}"


def validate_label_set(labels: Any, *, field: str = "labels") -> tuple[str, ...]:
    """Check a project's label set: at least two distinct non-empty strings."""
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise InvalidPayload("must be a list of strings", field=field)
    out: list[str] = []
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise InvalidPayload("must be a non-empty string", field=f"{field}[{i}]")
        if label in out:
            raise InvalidPayload(f"{label!r} is listed twice", field=f"{field}[{i}]")
        out.append(label)
    if len(out) < 2:
        raise InvalidPayload("needs at least two labels", field=field)
    return tuple(out)
