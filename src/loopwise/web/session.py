"""Browser sessions: a short-lived API token in an HttpOnly cookie, and its CSRF token.

Signing in exchanges the token a person pastes (from ``loopwise tokens create``) for a new
token of their own account named ``ui session`` that expires after :data:`SESSION_HOURS`;
signing out revokes it. The cookie is ``HttpOnly`` (page scripts cannot read it) and
``SameSite=Strict`` (other sites cannot send it). A state-changing request authenticated by
the cookie must also carry :func:`csrf_token` of the session in the ``X-CSRF-Token`` header:
the page has it, another origin cannot compute it without the session token. Nothing here
imports the web framework: the API's authentication uses it too.
"""

from __future__ import annotations

import hashlib
import hmac

from loopwise.errors import NotAllowed

SESSION_COOKIE = "lw_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_HOURS = 12
SESSION_TOKEN_NAME = "ui session"


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session (HMAC-SHA256 of a fixed message, keyed by the
    session token, so it is as unguessable as the session and needs no storage)."""
    return hmac.new(session_token.encode(), b"loopwise-csrf", hashlib.sha256).hexdigest()


def check_csrf(session_token: str, sent: str | None) -> None:
    """Raise ``NotAllowed`` unless ``sent`` is the session's CSRF token."""
    if not sent or not hmac.compare_digest(sent, csrf_token(session_token)):
        raise NotAllowed(
            "this request needs the page's CSRF token (reload the page and try again)",
            field="X-CSRF-Token",
        )
