"""Validation of what callers send: every refusal names the exact field that is wrong."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopwise.core.enums import InputKind
from loopwise.core.payloads import (
    MAX_EXTERNAL_ID_LENGTH,
    canonical_json,
    normalize_payload,
    normalize_with_digest,
    payload_digest,
    validate_external_id,
    validate_label,
    validate_label_set,
    validate_metadata,
)
from loopwise.errors import InvalidInput, InvalidLabel, InvalidPayload

FEATURES = ("a", "b", "c")
BIG = 64 * 1024
DETERMINISTIC = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def text(payload: Any, *, max_bytes: int = BIG, field: str = "payload") -> dict[str, Any]:
    return normalize_payload(
        payload, kind=InputKind.TEXT, feature_names=(), max_bytes=max_bytes, field=field
    )


def tabular(payload: Any, *, max_bytes: int = BIG, field: str = "payload") -> dict[str, Any]:
    return normalize_payload(
        payload, kind=InputKind.TABULAR, feature_names=FEATURES, max_bytes=max_bytes, field=field
    )


class TestTextPayload:
    def test_a_string_is_stored_as_a_text_object(self) -> None:
        assert text("hello world") == {"text": "hello world"}

    def test_a_text_object_is_stored_unchanged(self) -> None:
        assert text({"text": "hello world"}) == {"text": "hello world"}

    def test_text_is_not_stripped(self) -> None:
        assert text("  padded \n") == {"text": "  padded \n"}

    @pytest.mark.parametrize(
        ("payload", "field", "message"),
        [
            ("", "payload.text", "must not be empty"),
            ({"text": ""}, "payload.text", "must not be empty"),
            ("   \t\n ", "payload.text", "must not be empty"),
            ({"text": 5}, "payload.text", "must be a string, not int"),
            ({"text": None}, "payload.text", "must be a string, not NoneType"),
            ({"text": ["a"]}, "payload.text", "must be a string, not list"),
            ({}, "payload.text", "is required"),
            ({"text": "hi", "lang": "en"}, "payload.lang", "unknown field 'lang'"),
            ({"body": "hi"}, "payload.body", "unknown field 'body'"),
            ("bad\x00byte", "payload.text", "must not contain NUL characters"),
            (42, "payload", "must be a string or an object with a 'text' field"),
            (["hi"], "payload", "must be a string or an object with a 'text' field"),
            (None, "payload", "must be a string or an object with a 'text' field"),
        ],
    )
    def test_refusals_name_the_field(self, payload: Any, field: str, message: str) -> None:
        with pytest.raises(InvalidPayload) as info:
            text(payload)
        assert info.value.field == field
        assert message in info.value.message

    def test_the_field_prefix_is_the_callers(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            text({"text": " "}, field="items[3].payload")
        assert info.value.field == "items[3].payload.text"
        assert str(info.value) == "items[3].payload.text: must not be empty"

    def test_size_limit_is_inclusive_and_counts_the_canonical_form(self) -> None:
        # '{"text":"' is 9 bytes and '"}' is 2, so 9 characters of ASCII make exactly 20 bytes.
        assert text("a" * 9, max_bytes=20) == {"text": "a" * 9}
        with pytest.raises(InvalidPayload) as info:
            text("a" * 10, max_bytes=20)
        assert info.value.field == "payload"
        assert info.value.message == "payload is 21 bytes, over the limit of 20 bytes"

    def test_size_is_counted_in_utf8_bytes_not_characters(self) -> None:
        assert text("e" * 5, max_bytes=20) == {"text": "eeeee"}
        with pytest.raises(InvalidPayload, match="21 bytes"):
            text("é" * 5, max_bytes=20)  # 5 characters, 10 bytes

    @DETERMINISTIC
    @given(st.text(min_size=1).filter(lambda s: bool(s.strip()) and "\x00" not in s))
    def test_any_non_blank_text_round_trips(self, value: str) -> None:
        assert text(value) == {"text": value}
        assert text({"text": value}) == {"text": value}

    def test_text_that_is_not_valid_unicode_is_refused(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            text("half a pair: \ud800")
        assert info.value.field == "payload.text"


class TestTabularPayload:
    def test_list_form_is_stored_as_floats(self) -> None:
        assert tabular({"features": [1, 2.5, -3]}) == {"features": [1.0, 2.5, -3.0]}

    def test_tuple_form_is_accepted(self) -> None:
        assert tabular({"features": (0, 0, 0)}) == {"features": [0.0, 0.0, 0.0]}

    def test_dict_form_is_stored_in_the_projects_feature_order(self) -> None:
        stored = tabular({"features": {"c": 3, "a": 1.5, "b": 2}})
        assert stored == {"features": [1.5, 2.0, 3.0]}

    def test_numpy_floats_are_numbers(self) -> None:
        stored = tabular({"features": [np.float64(0.5), 1, 2]})
        assert stored == {"features": [0.5, 1.0, 2.0]}
        assert all(type(v) is float for v in stored["features"])

    @pytest.mark.parametrize(
        ("payload", "field", "message"),
        [
            ([1, 2, 3], "payload", "must be an object with a 'features' field"),
            ("1,2,3", "payload", "must be an object with a 'features' field"),
            ({"values": [1, 2, 3]}, "payload", "must be an object with a 'features' field"),
            ({"features": [1, 2, 3], "id": 7}, "payload.id", "unknown field 'id'"),
            ({"features": "1,2,3"}, "payload.features", "must be a list of numbers"),
            ({"features": 3}, "payload.features", "must be a list of numbers"),
            ({"features": [1, 2]}, "payload.features", "has 2 values; this project has 3"),
            ({"features": [1, 2, 3, 4]}, "payload.features", "has 4 values; this project has 3"),
            ({"features": []}, "payload.features", "has 0 values; this project has 3"),
            ({"features": {"a": 1, "c": 3}}, "payload.features.b", "is missing"),
            (
                {"features": {"a": 1, "b": 2, "c": 3, "zzz": 4}},
                "payload.features.zzz",
                "is not a feature of this project",
            ),
            ({"features": [1, 2, math.nan]}, "payload.features[2]", "finite number"),
            ({"features": [math.inf, 2, 3]}, "payload.features[0]", "finite number"),
            ({"features": [1, -math.inf, 3]}, "payload.features[1]", "finite number"),
            ({"features": [1, True, 3]}, "payload.features[1]", "must be a number, not bool"),
            ({"features": [1, 2, "3"]}, "payload.features[2]", "must be a number, not str"),
            ({"features": [None, 2, 3]}, "payload.features[0]", "must be a number, not NoneType"),
            ({"features": [1, [2], 3]}, "payload.features[1]", "must be a number, not list"),
            (
                {"features": {"a": 1, "b": 2, "c": math.nan}},
                "payload.features.c",
                "finite number",
            ),
            (
                {"features": {"a": False, "b": 2, "c": 3}},
                "payload.features.a",
                "must be a number, not bool",
            ),
        ],
    )
    def test_refusals_name_the_field(self, payload: Any, field: str, message: str) -> None:
        with pytest.raises(InvalidPayload) as info:
            tabular(payload)
        assert info.value.field == field
        assert message in info.value.message

    def test_the_first_bad_value_is_named(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            tabular({"features": [1, math.nan, "x"]})
        assert info.value.field == "payload.features[1]"

    def test_the_field_prefix_is_the_callers(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            tabular({"features": [1, 2, math.nan]}, field="items[7].payload")
        assert info.value.field == "items[7].payload.features[2]"

    def test_size_limit_applies(self) -> None:
        stored = tabular({"features": [1, 2, 3]})
        size = len(canonical_json(stored).encode("utf-8"))
        assert tabular({"features": [1, 2, 3]}, max_bytes=size) == stored
        with pytest.raises(InvalidPayload) as info:
            tabular({"features": [1, 2, 3]}, max_bytes=size - 1)
        assert info.value.field == "payload"

    @DETERMINISTIC
    @given(st.lists(st.floats(min_value=-1e100, max_value=1e100), min_size=3, max_size=3))
    def test_list_and_dict_forms_agree_on_any_finite_values(self, values: list[float]) -> None:
        from_list = tabular({"features": values})
        from_dict = tabular(
            {"features": dict(zip(reversed(FEATURES), reversed(values), strict=True))}
        )
        assert from_list == from_dict == {"features": values}

    @pytest.mark.parametrize("value", [1.7976931348623157e308, -1e101, 10**101])
    def test_a_value_too_large_to_scale_is_refused(self, value: float) -> None:
        with pytest.raises(InvalidPayload) as info:
            tabular({"features": [1, value, 3]})
        assert info.value.field == "payload.features[1]"
        assert "beyond ±1e100: scaling its column would overflow" in info.value.message
        assert tabular({"features": [1, 1e100, -1e100]})["features"][1:] == [1e100, -1e100]

    def test_an_integer_too_large_for_a_float_is_refused(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            tabular({"features": [1, 10**400, 3]})
        assert info.value.field == "payload.features[1]"


class TestDigest:
    def test_canonical_json_sorts_keys_and_keeps_unicode(self) -> None:
        assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'

    def test_digest_is_sha256_of_the_canonical_form(self) -> None:
        expected = hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
        assert payload_digest({"b": 1, "a": "é"}) == expected

    def test_different_texts_have_different_digests(self) -> None:
        assert payload_digest({"text": "a"}) != payload_digest({"text": "b"})

    @DETERMINISTIC
    @given(
        st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                lambda inner: st.lists(inner, max_size=3),
                max_leaves=5,
            ),
            max_size=4,
        ),
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
    )
    def test_digests_are_equal_iff_canonical_payloads_are(
        self, first: dict[str, Any], second: dict[str, Any]
    ) -> None:
        reordered = dict(reversed(list(first.items())))
        assert payload_digest(first) == payload_digest(reordered)
        same_canonical = canonical_json(first) == canonical_json(second)
        assert (payload_digest(first) == payload_digest(second)) is same_canonical


class TestMetadata:
    def test_none_is_empty(self) -> None:
        assert validate_metadata(None, max_bytes=BIG) == {}

    def test_json_values_round_trip(self) -> None:
        metadata = {"source": "web", "score": 0.5, "tags": ["a", "b"], "nested": {"n": None}}
        assert validate_metadata(metadata, max_bytes=BIG) == metadata

    def test_tuples_become_lists(self) -> None:
        assert validate_metadata({"pair": (1, 2)}, max_bytes=BIG) == {"pair": [1, 2]}

    @pytest.mark.parametrize(
        ("metadata", "message"),
        [
            ("source=web", "must be an object"),
            ([["source", "web"]], "must be an object"),
            (3, "must be an object"),
            ({1: "x"}, "keys must be strings"),
            ({"score": math.nan}, "must be JSON with finite numbers"),
            ({"score": math.inf}, "must be JSON with finite numbers"),
            ({"deep": {"list": [1.0, -math.inf]}}, "must be JSON with finite numbers"),
            ({"when": object()}, "must be JSON with finite numbers"),
        ],
    )
    def test_refusals(self, metadata: Any, message: str) -> None:
        with pytest.raises(InvalidPayload) as info:
            validate_metadata(metadata, max_bytes=BIG, field="items[0].metadata")
        assert info.value.field == "items[0].metadata"
        assert message in info.value.message

    def test_size_limit_is_inclusive(self) -> None:
        # json.dumps({"k": "vvv"}) is '{"k": "vvv"}': 12 bytes.
        assert validate_metadata({"k": "vvv"}, max_bytes=12) == {"k": "vvv"}
        with pytest.raises(InvalidPayload) as info:
            validate_metadata({"k": "vvvv"}, max_bytes=12)
        assert info.value.field == "metadata"
        assert info.value.message == "is over the limit of 12 bytes"


class TestExternalId:
    def test_a_string_is_kept_as_is(self) -> None:
        assert validate_external_id("order-17") == "order-17"

    def test_an_int_is_accepted_as_its_string(self) -> None:
        assert validate_external_id(42) == "42"
        assert validate_external_id(0) == "0"

    def test_the_longest_allowed_id(self) -> None:
        longest = "x" * MAX_EXTERNAL_ID_LENGTH
        assert MAX_EXTERNAL_ID_LENGTH == 200
        assert validate_external_id(longest) == longest

    def test_one_character_too_long(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            validate_external_id("x" * 201)
        assert info.value.field == "external_id"
        assert info.value.message == "is 201 characters; at most 200"

    @pytest.mark.parametrize("external_id", ["", "   ", None, True, 1.5, ["a"], b"id"])
    def test_refusals(self, external_id: Any) -> None:
        with pytest.raises(InvalidPayload) as info:
            validate_external_id(external_id, field="items[2].external_id")
        assert info.value.field == "items[2].external_id"
        assert info.value.message == "must be a non-empty string"


class TestLabels:
    def test_a_known_label_is_returned(self) -> None:
        assert validate_label("spam", ("ham", "spam")) == "spam"

    @pytest.mark.parametrize("label", ["eggs", "Spam", "", 1, None])
    def test_an_unknown_label_is_refused(self, label: Any) -> None:
        with pytest.raises(InvalidLabel) as info:
            validate_label(label, ("ham", "spam"), field="label")
        assert info.value.field == "label"
        assert "not in the project's label set ['ham', 'spam']" in info.value.message
        assert isinstance(info.value, InvalidInput)

    @pytest.mark.parametrize(
        ("label", "says"),
        [
            (1, 'a label is a string, and this is a number (write "1")'),
            (2, "a label is a string, and this is a number"),
            (None, "a label is a string, and this is null"),
            (True, "a label is a string, and this is true or false"),
            (["1"], "a label is a string, and this is a list"),
        ],
    )
    def test_a_label_that_is_not_a_string_says_what_it_is(self, label: Any, says: str) -> None:
        with pytest.raises(InvalidLabel) as info:
            validate_label(label, ("0", "1"), field="rows[0].label")
        assert info.value.message.endswith(says)
        assert info.value.message.startswith(f"{label!r} is not in the project's label set")

    def test_label_sets_keep_their_order(self) -> None:
        assert validate_label_set(["spam", "ham"]) == ("spam", "ham")
        assert validate_label_set(("a", "b", "c")) == ("a", "b", "c")

    @pytest.mark.parametrize(
        ("labels", "field", "message"),
        [
            ("ham,spam", "labels", "must be a list of strings"),
            ({"ham", "spam"}, "labels", "must be a list of strings"),
            (None, "labels", "must be a list of strings"),
            (["ham"], "labels", "needs at least two labels"),
            ([], "labels", "needs at least two labels"),
            (["ham", "ham"], "labels[1]", "'ham' is listed twice"),
            (["ham", "spam", "ham"], "labels[2]", "'ham' is listed twice"),
            (["ham", ""], "labels[1]", "must be a non-empty string"),
            (["  ", "spam"], "labels[0]", "must be a non-empty string"),
            (["ham", 3], "labels[1]", "must be a non-empty string"),
        ],
    )
    def test_label_set_refusals(self, labels: Any, field: str, message: str) -> None:
        with pytest.raises(InvalidPayload) as info:
            validate_label_set(labels)
        assert info.value.field == field
        assert message in info.value.message


class TestNormalizeWithDigest:
    @pytest.mark.parametrize(
        ("kind", "payload"),
        [
            (InputKind.TEXT, "héllo"),
            (InputKind.TEXT, {"text": "a\tb"}),
            (InputKind.TABULAR, {"features": {"y": 2, "x": 1.5}}),
        ],
    )
    def test_is_the_canonical_payload_and_its_digest(self, kind: InputKind, payload: Any) -> None:
        names = ("x", "y")
        expected = normalize_payload(payload, kind=kind, feature_names=names, max_bytes=BIG)
        assert normalize_with_digest(payload, kind=kind, feature_names=names, max_bytes=BIG) == (
            expected,
            payload_digest(expected),
        )

    def test_refuses_what_normalize_refuses(self) -> None:
        with pytest.raises(InvalidPayload) as info:
            normalize_with_digest(
                "x" * 50, kind=InputKind.TEXT, feature_names=(), max_bytes=20, field="items[2]"
            )
        assert info.value.field == "items[2]"
