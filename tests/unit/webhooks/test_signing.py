"""Standard Webhooks signing and verification (``loopwise.webhooks.signing``)."""

from __future__ import annotations

import base64
import doctest
from datetime import UTC, datetime

import pytest

import loopwise.webhooks
from loopwise.errors import InvalidInput, LoopwiseError
from loopwise.testing import FrozenClock
from loopwise.webhooks import (
    InvalidWebhookSecret,
    Verifier,
    WebhookVerificationError,
    generate_secret,
    headers,
    parse_secret,
    sign,
    verify,
)
from loopwise.webhooks import signing as signing_module

# The one published vector of Standard Webhooks, identical in the reference libraries' tests:
# libraries/python/tests/test_webhooks.py (test_sign_function), libraries/javascript/src/
# webhook.test.ts ("sign function works") and libraries/go/webhook_test.go (TestWebhookSign) of
# github.com/standard-webhooks/standard-webhooks.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
# From the same Python test (test_invalid_signature_raises_error): the vector with its last
# base64 digit changed, so it differs from the right signature only in the final bits.
VECTOR_NEAR_MISS = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
# A well-formed v1 signature of something else, used by all three reference test suites.
FOREIGN_SIGNATURE = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, FrozenClock's default start
BODY = b'{"type":"decision.made","data":{"item":"it_1","label":"spam"}}'
PAYLOAD = {"type": "decision.made", "data": {"item": "it_1", "label": "spam"}}


def at(unix: int) -> FrozenClock:
    return FrozenClock(datetime.fromtimestamp(unix, UTC))


def signed(secret: str = SECRET, msg_id: str = "msg_1", timestamp: int = NOW) -> dict[str, str]:
    return headers(secret, msg_id, timestamp, BODY)


def reason_of(verifier: Verifier, body: bytes, hdrs: dict[str, str]) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verifier.verify(body, hdrs)
    return caught.value.reason


class TestPublishedVector:
    """The reference vector, so loopwise interoperates with every Standard Webhooks library."""

    def test_sign_reproduces_the_published_signature(self) -> None:
        assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE

    def test_verify_accepts_the_published_signature(self) -> None:
        hdrs = {
            "webhook-id": VECTOR_ID,
            "webhook-timestamp": str(VECTOR_TIMESTAMP),
            "webhook-signature": VECTOR_SIGNATURE,
        }
        verifier = Verifier(VECTOR_SECRET, clock=at(VECTOR_TIMESTAMP + 10))
        assert verifier.verify(VECTOR_BODY, hdrs) == {"test": 2432232314}

    def test_verify_refuses_the_published_near_miss(self) -> None:
        hdrs = {
            "webhook-id": VECTOR_ID,
            "webhook-timestamp": str(VECTOR_TIMESTAMP),
            "webhook-signature": VECTOR_NEAR_MISS,
        }
        verifier = Verifier(VECTOR_SECRET, clock=at(VECTOR_TIMESTAMP))
        assert reason_of(verifier, VECTOR_BODY, hdrs) == "bad_signature"

    def test_the_module_docstring_example_runs(self) -> None:
        assert doctest.testmod(signing_module) == (0, 3)


class TestSecrets:
    def test_a_generated_secret_holds_32_random_bytes(self) -> None:
        first, second = generate_secret(), generate_secret()
        assert first.startswith("whsec_")
        assert len(parse_secret(first)) == 32
        assert first != second

    def test_parse_returns_the_key_bytes(self) -> None:
        assert parse_secret(SECRET) == bytes(range(32))
        assert parse_secret(VECTOR_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

    def test_unpadded_base64_is_accepted(self) -> None:
        assert parse_secret(SECRET.rstrip("=")) == bytes(range(32))

    @pytest.mark.parametrize(
        ("secret", "message"),
        [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret: must start with 'whsec_'"),
            ("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret: must start with 'whsec_'"),
            ("whsec_not base64!", "secret: must be 'whsec_' followed by standard base64"),
            ("whsec_" + base64.b64encode(b"x" * 23).decode(), "secret: holds 23 bytes; at least"),
            ("whsec_", "secret: holds 0 bytes; at least 24 are required"),
        ],
    )
    def test_bad_secrets_are_refused_without_quoting_them(self, secret: str, message: str) -> None:
        with pytest.raises(InvalidWebhookSecret) as caught:
            parse_secret(secret)
        assert str(caught.value).startswith(message)
        assert caught.value.field == "secret"
        tail = secret.removeprefix("whsec_")
        assert not tail or tail not in str(caught.value)

    def test_a_bad_secret_is_an_invalid_input(self) -> None:
        assert issubclass(InvalidWebhookSecret, InvalidInput)


class TestSigning:
    def test_headers_carry_id_timestamp_and_signature(self) -> None:
        assert headers(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == {
            "webhook-id": VECTOR_ID,
            "webhook-timestamp": "1614265330",
            "webhook-signature": VECTOR_SIGNATURE,
        }

    def test_every_signed_part_changes_the_signature(self) -> None:
        reference = sign(SECRET, "msg_1", NOW, BODY)
        assert sign(SECRET, "msg_2", NOW, BODY) != reference
        assert sign(SECRET, "msg_1", NOW + 1, BODY) != reference
        assert sign(SECRET, "msg_1", NOW, BODY + b" ") != reference
        assert sign(OTHER_SECRET, "msg_1", NOW, BODY) != reference

    @pytest.mark.parametrize("msg_id", ["", "msg.1", "msg 1", "msg\n1", "msg_é"])
    def test_ids_that_would_make_the_signed_string_ambiguous_are_refused(self, msg_id: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            sign(SECRET, msg_id, NOW, BODY)
        assert caught.value.field == "msg_id"

    def test_a_negative_timestamp_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            sign(SECRET, "msg_1", -1, BODY)
        assert caught.value.field == "timestamp"


class TestVerifier:
    def test_round_trip_returns_the_payload(self) -> None:
        assert Verifier(SECRET, clock=at(NOW)).verify(BODY, signed()) == PAYLOAD

    def test_header_names_are_case_insensitive(self) -> None:
        hdrs = {name.title(): value for name, value in signed().items()}
        assert set(hdrs) == {"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
        assert Verifier(SECRET, clock=at(NOW)).verify(BODY, hdrs) == PAYLOAD

    def test_a_tampered_body_is_refused(self) -> None:
        tampered = BODY.replace(b"spam", b"ham!")
        assert reason_of(Verifier(SECRET, clock=at(NOW)), tampered, signed()) == "bad_signature"

    def test_a_wrong_secret_is_refused(self) -> None:
        verifier = Verifier(OTHER_SECRET, clock=at(NOW))
        assert reason_of(verifier, BODY, signed()) == "bad_signature"

    def test_a_changed_id_or_timestamp_is_refused(self) -> None:
        verifier = Verifier(SECRET, clock=at(NOW))
        assert reason_of(verifier, BODY, {**signed(), "webhook-id": "msg_2"}) == "bad_signature"
        moved = {**signed(), "webhook-timestamp": str(NOW + 1)}
        assert reason_of(verifier, BODY, moved) == "bad_signature"

    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_each_missing_header_is_named(self, missing: str) -> None:
        hdrs = {name: value for name, value in signed().items() if name != missing}
        with pytest.raises(WebhookVerificationError) as caught:
            Verifier(SECRET, clock=at(NOW)).verify(BODY, hdrs)
        assert caught.value.reason == "missing_headers"
        assert str(caught.value) == f"missing {missing}"

    def test_an_unsigned_request_is_refused(self) -> None:
        hdrs = {"content-type": "application/json"}
        assert reason_of(Verifier(SECRET, clock=at(NOW)), BODY, hdrs) == "missing_headers"
        blank = {**signed(), "webhook-signature": "  "}
        assert reason_of(Verifier(SECRET, clock=at(NOW)), BODY, blank) == "missing_headers"

    @pytest.mark.parametrize(
        "raw", ["hello", "1.5e9", "-1767225600", "+1767225600", "1_767_225_600"]
    )
    def test_a_timestamp_that_is_not_unix_seconds_is_refused(self, raw: str) -> None:
        hdrs = {**signed(), "webhook-timestamp": raw}
        assert reason_of(Verifier(SECRET, clock=at(NOW)), BODY, hdrs) == "bad_timestamp"

    @pytest.mark.parametrize(
        ("offset", "reason"), [(-301, "too_old"), (301, "too_new"), (-3600, "too_old")]
    )
    def test_timestamps_outside_the_tolerance_are_refused(self, offset: int, reason: str) -> None:
        hdrs = signed(timestamp=NOW + offset)
        assert reason_of(Verifier(SECRET, clock=at(NOW)), BODY, hdrs) == reason

    @pytest.mark.parametrize("offset", [-300, 300])
    def test_the_tolerance_is_inclusive(self, offset: int) -> None:
        hdrs = signed(timestamp=NOW + offset)
        assert Verifier(SECRET, clock=at(NOW)).verify(BODY, hdrs) == PAYLOAD

    def test_the_tolerance_is_configurable(self) -> None:
        hdrs = signed(timestamp=NOW - 30)
        verifier = Verifier(SECRET, tolerance_seconds=10, clock=at(NOW))
        assert reason_of(verifier, BODY, hdrs) == "too_old"

    def test_a_replayed_attempt_is_refused(self) -> None:
        verifier = Verifier(SECRET, clock=at(NOW))
        hdrs = signed()
        assert verifier.verify(BODY, hdrs) == PAYLOAD
        assert reason_of(verifier, BODY, hdrs) == "replayed"

    def test_a_retry_with_a_new_timestamp_is_not_a_replay(self) -> None:
        """Senders retry with the same id and a fresh timestamp; refusing it would lose events."""
        verifier = Verifier(SECRET, clock=at(NOW))
        assert verifier.verify(BODY, signed(timestamp=NOW - 5)) == PAYLOAD
        assert verifier.verify(BODY, signed(timestamp=NOW)) == PAYLOAD

    def test_a_forged_request_is_not_remembered(self) -> None:
        verifier = Verifier(SECRET, clock=at(NOW))
        assert reason_of(verifier, BODY, signed(secret=OTHER_SECRET)) == "bad_signature"
        assert verifier.verify(BODY, signed()) == PAYLOAD

    def test_replay_memory_is_bounded_and_forgets_the_oldest(self) -> None:
        verifier = Verifier(SECRET, clock=at(NOW), remember=2)
        for msg_id in ("msg_1", "msg_2", "msg_3"):
            verifier.verify(BODY, signed(msg_id=msg_id))
        assert len(verifier._seen) == 2
        assert reason_of(verifier, BODY, signed(msg_id="msg_3")) == "replayed"
        assert verifier.verify(BODY, signed(msg_id="msg_1")) == PAYLOAD

    def test_expired_entries_are_dropped_from_memory(self) -> None:
        clock = at(NOW)
        verifier = Verifier(SECRET, clock=clock)
        verifier.verify(BODY, signed(msg_id="msg_1", timestamp=NOW))
        clock.advance(seconds=301)
        verifier.verify(BODY, signed(msg_id="msg_2", timestamp=NOW + 301))
        assert list(verifier._seen) == [("msg_2", NOW + 301)]

    def test_remember_zero_turns_replay_detection_off(self) -> None:
        verifier = Verifier(SECRET, clock=at(NOW), remember=0)
        assert verifier.verify(BODY, signed()) == PAYLOAD
        assert verifier.verify(BODY, signed()) == PAYLOAD

    def test_key_rotation_accepts_any_matching_v1_entry(self) -> None:
        old, new = signed(secret=OTHER_SECRET), signed()
        both = {
            **new,
            "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}",
        }
        assert Verifier(SECRET, clock=at(NOW)).verify(BODY, both) == PAYLOAD
        assert Verifier(OTHER_SECRET, clock=at(NOW)).verify(BODY, both) == PAYLOAD

    def test_the_reference_multi_signature_header_is_accepted(self) -> None:
        """The mix of the reference suites' ``multi sig payload is valid`` tests."""
        valid = signed()["webhook-signature"]
        entries = [FOREIGN_SIGNATURE, FOREIGN_SIGNATURE.replace("v1,", "v2,"), valid]
        hdrs = {**signed(), "webhook-signature": " ".join([*entries, FOREIGN_SIGNATURE])}
        assert Verifier(SECRET, clock=at(NOW)).verify(BODY, hdrs) == PAYLOAD

    @pytest.mark.parametrize("version", ["v1a", "v2", "V1", ""])
    def test_entries_of_other_versions_are_ignored(self, version: str) -> None:
        digest = signed()["webhook-signature"].removeprefix("v1,")
        hdrs = {**signed(), "webhook-signature": f"{version},{digest}"}
        assert reason_of(Verifier(SECRET, clock=at(NOW)), BODY, hdrs) == "bad_signature"

    @pytest.mark.parametrize("entry", ["v1,", "v1", "v1,not-base64!", "v1,AAAA", ","])
    def test_malformed_entries_never_match_and_never_crash(self, entry: str) -> None:
        hdrs = {**signed(), "webhook-signature": entry}
        assert reason_of(Verifier(SECRET, clock=at(NOW)), BODY, hdrs) == "bad_signature"

    @pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
    def test_an_authentic_body_that_is_not_a_json_object_is_refused(self, body: bytes) -> None:
        hdrs = headers(SECRET, "msg_1", NOW, body)
        assert reason_of(Verifier(SECRET, clock=at(NOW)), body, hdrs) == "bad_payload"

    def test_the_error_is_a_loopwise_error_with_a_code(self) -> None:
        error = WebhookVerificationError("too_old", "timestamp is older than the tolerance")
        assert isinstance(error, LoopwiseError)
        assert (error.code, error.reason) == ("webhook_verification_failed", "too_old")

    def test_negative_settings_are_refused(self) -> None:
        with pytest.raises(InvalidInput):
            Verifier(SECRET, tolerance_seconds=-1)
        with pytest.raises(InvalidInput):
            Verifier(SECRET, remember=-1)


class TestModuleVerify:
    def test_checks_signature_and_timestamp(self) -> None:
        assert verify(SECRET, BODY, signed(), clock=at(NOW)) == PAYLOAD
        with pytest.raises(WebhookVerificationError) as caught:
            verify(SECRET, BODY, signed(), clock=at(NOW + 301))
        assert caught.value.reason == "too_old"

    def test_is_stateless_so_it_cannot_see_replays(self) -> None:
        assert verify(SECRET, BODY, signed(), clock=at(NOW)) == PAYLOAD
        assert verify(SECRET, BODY, signed(), clock=at(NOW)) == PAYLOAD

    def test_uses_the_system_clock_by_default(self) -> None:
        now = int(datetime.now(UTC).timestamp())
        assert verify(SECRET, BODY, signed(timestamp=now)) == PAYLOAD


def test_every_export_is_importable_and_listed_once() -> None:
    exported = loopwise.webhooks.__all__
    assert [name for name in exported if not hasattr(loopwise.webhooks, name)] == []
    assert len(set(exported)) == len(exported)
    assert {"Verifier", "WebhookVerificationError", "deliver", "sign", "verify"} <= set(exported)
