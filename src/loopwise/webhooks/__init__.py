"""Webhooks: Standard Webhooks signing and verification, and one HTTP delivery attempt.

The outbox and the worker that retries live with the services; nothing here touches the database.
"""

from loopwise.webhooks.delivery import (
    MAX_ATTEMPTS,
    DeliveryResult,
    backoff_seconds,
    deliver,
    parse_retry_after,
)
from loopwise.webhooks.signing import (
    InvalidWebhookSecret,
    Verifier,
    WebhookVerificationError,
    generate_secret,
    headers,
    parse_secret,
    sign,
    verify,
)

__all__ = [
    "MAX_ATTEMPTS",
    "DeliveryResult",
    "InvalidWebhookSecret",
    "Verifier",
    "WebhookVerificationError",
    "backoff_seconds",
    "deliver",
    "generate_secret",
    "headers",
    "parse_retry_after",
    "parse_secret",
    "sign",
    "verify",
]
