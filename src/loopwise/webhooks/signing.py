"""Sign and verify webhooks in the Standard Webhooks format (https://www.standardwebhooks.com).

We follow a published format rather than inventing one so receivers can verify loopwise webhooks
with any Standard Webhooks library, in any language.

A secret is ``whsec_`` followed by the base64 of at least 24 random bytes (``generate_secret`` makes
32). A delivery carries three headers:

``webhook-id``
    The message id. It stays the same when a failed delivery is retried, so receivers can use it as
    an idempotency key.
``webhook-timestamp``
    Unix seconds of *this attempt*, so a retry carries a new one.
``webhook-signature``
    Space-separated ``<version>,<base64>`` entries; ``v1`` is HMAC-SHA256 over
    ``f"{webhook-id}.{webhook-timestamp}.{body}"``. During a key rotation the sender signs with
    the old and the new secret, and a receiver accepts the message if any ``v1`` entry matches.
    Other versions (``v1a`` is Ed25519) are skipped, not refused.

Example::

    >>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    >>> body = b'{"test": 2432232314}'
    >>> sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='

A receiver keeps one :class:`Verifier` per secret and calls ``verify(body, headers)`` on the raw
request body, *before* parsing it: re-serialised JSON rarely matches the signed bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

from loopwise.core.clock import Clock, SystemClock
from loopwise.errors import InvalidInput, LoopwiseError

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
"""The spec's floor: 192 bits of key."""

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

Reason = Literal[
    "missing_headers",
    "bad_timestamp",
    "too_old",
    "too_new",
    "bad_signature",
    "replayed",
    "bad_payload",
]


class InvalidWebhookSecret(InvalidInput):
    """A secret that is not ``whsec_`` + base64 of 24 bytes or more; the message never quotes it."""

    code = "invalid_webhook_secret"


class WebhookVerificationError(LoopwiseError):
    """A delivery that must not be trusted; ``reason`` says why in one machine-readable word.

    Parameters
    ----------
    reason:
        ``missing_headers``, ``bad_timestamp`` (not an integer), ``too_old`` / ``too_new`` (outside
        the tolerance), ``bad_signature`` (no ``v1`` entry matches), ``replayed`` (this exact
        message was accepted before) or ``bad_payload`` (authentic, but not a JSON object).
    message:
        A sentence for logs. Safe to show the sender: it names no secret and no expected signature.
    """

    code = "webhook_verification_failed"

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def generate_secret() -> str:
    """Return a new ``whsec_`` secret holding 32 random bytes, one per endpoint."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_secret(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_`` secret.

    Raises
    ------
    InvalidWebhookSecret
        Without the prefix (it tells a symmetric secret from an asymmetric ``whsk_`` key, and a
        pasted password from a secret), with invalid base64, or with fewer than 24 bytes.
    """
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidWebhookSecret(f"must start with {SECRET_PREFIX!r}", field="secret")
    encoded = secret.removeprefix(SECRET_PREFIX).strip()
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret(
            f"must be {SECRET_PREFIX!r} followed by standard base64", field="secret"
        ) from None
    if len(key) < MIN_SECRET_BYTES:
        raise InvalidWebhookSecret(
            f"holds {len(key)} bytes; at least {MIN_SECRET_BYTES} are required", field="secret"
        )
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.digest(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of one attempt.

    Parameters
    ----------
    secret:
        A ``whsec_`` secret.
    msg_id:
        The message id: printable ASCII without ``.`` or spaces, because a ``.`` would make the
        signed ``id.timestamp.body`` string ambiguous.
    timestamp:
        Unix seconds of the attempt (not of the event).
    body:
        The exact bytes that will be sent.
    """
    if (
        not msg_id
        or not msg_id.isascii()
        or not msg_id.isprintable()
        or any(c in msg_id for c in ". ")
    ):
        raise InvalidInput("must be printable ASCII without '.' or spaces", field="msg_id")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise InvalidInput("must be a non-negative integer of Unix seconds", field="timestamp")
    key = parse_secret(secret)
    return "v1," + base64.b64encode(_digest(key, msg_id, timestamp, body)).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one attempt (see :func:`sign`)."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


class Verifier:
    """Check that a delivery comes from the holder of ``secret``, recently, and only once.

    Parameters
    ----------
    secret:
        The endpoint's ``whsec_`` secret.
    tolerance_seconds:
        How far ``webhook-timestamp`` may be from the receiver's clock, either way. It bounds how
        long a captured request stays usable, and so how long ids must be remembered.
    clock:
        The receiver's time; a ``FrozenClock`` in tests.
    remember:
        How many accepted ``(webhook-id, webhook-timestamp)`` pairs to keep for replay detection;
        ``0`` turns replay detection off. Pairs older than the tolerance are forgotten first (they
        fail the timestamp check anyway); beyond ``remember`` the oldest go, which bounds memory at
        the cost of missing a replay under a flood of more than ``remember`` messages per window.

    Notes
    -----
    A replay is the *same attempt* again: same id and same timestamp. An attacker who captured a
    request cannot change its timestamp without breaking the signature, so this catches every
    replay, while a sender's retry (same id, new timestamp) still passes. Keying on the id alone
    would turn a retry after a failed ``2xx`` into a rejection, and the event would be lost;
    processing each id once is the receiver's idempotency, which only it can decide.
    """

    def __init__(
        self,
        secret: str,
        tolerance_seconds: int = 300,
        clock: Clock | None = None,
        remember: int = 10_000,
    ) -> None:
        if tolerance_seconds < 0:
            raise InvalidInput("must not be negative", field="tolerance_seconds")
        if remember < 0:
            raise InvalidInput("must not be negative", field="remember")
        self._key = parse_secret(secret)
        self.tolerance_seconds = tolerance_seconds
        self.clock: Clock = clock or SystemClock()
        self.remember = remember
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """Return the JSON object in ``body`` if the delivery is authentic, fresh and new.

        Parameters
        ----------
        body:
            The raw request body, exactly as received.
        headers:
            The request headers; names are matched case-insensitively.

        Raises
        ------
        WebhookVerificationError
            With ``reason`` saying which check failed. The checks run in order: headers,
            timestamp, signature, payload, replay; only an authentic message is remembered, so
            forged requests cannot fill the replay memory.
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        msg_id = lowered.get(ID_HEADER, "").strip()
        raw_timestamp = lowered.get(TIMESTAMP_HEADER, "").strip()
        signatures = lowered.get(SIGNATURE_HEADER, "").split()
        if not (msg_id and raw_timestamp and signatures):
            missing = [
                n
                for n in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
                if not lowered.get(n, "").strip()
            ]
            raise WebhookVerificationError("missing_headers", f"missing {', '.join(missing)}")

        if not (raw_timestamp.isascii() and raw_timestamp.isdigit() and len(raw_timestamp) <= 12):
            raise WebhookVerificationError(
                "bad_timestamp", f"{TIMESTAMP_HEADER} is not Unix seconds"
            )
        timestamp = int(raw_timestamp)
        now = self.clock.now().timestamp()
        if timestamp < now - self.tolerance_seconds:
            raise WebhookVerificationError("too_old", "timestamp is older than the tolerance")
        if timestamp > now + self.tolerance_seconds:
            raise WebhookVerificationError(
                "too_new", "timestamp is further ahead than the tolerance"
            )

        expected = _digest(self._key, msg_id, timestamp, body)
        if not any(_matches(expected, entry) for entry in signatures):
            raise WebhookVerificationError("bad_signature", "no v1 signature matches")

        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WebhookVerificationError("bad_payload", "body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookVerificationError("bad_payload", "body is not a JSON object")

        if self.remember:
            self._remember((msg_id, timestamp), oldest_valid=now - self.tolerance_seconds)
        return payload

    def _remember(self, key: tuple[str, int], oldest_valid: float) -> None:
        with self._lock:
            if key in self._seen:
                raise WebhookVerificationError("replayed", "this message was already accepted")
            self._seen[key] = None
            while self._seen:
                (_, first_timestamp) = first = next(iter(self._seen))
                if first_timestamp >= oldest_valid and len(self._seen) <= self.remember:
                    break
                del self._seen[first]


def _matches(expected: bytes, entry: str) -> bool:
    """Whether one ``version,base64`` entry is a ``v1`` signature equal to ``expected``."""
    version, _, encoded = entry.partition(",")
    if version != "v1":
        return False
    try:
        candidate = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected, candidate)


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: int = 300,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Check signature and timestamp of one delivery and return its JSON object.

    Stateless, so it cannot detect replays; a receiver that can keep state should hold one
    :class:`Verifier` instead.
    """
    return Verifier(secret, tolerance_seconds, clock, remember=0).verify(body, headers)
