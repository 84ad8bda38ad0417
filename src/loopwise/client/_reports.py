"""The read-mostly half of :class:`~loopwise.client.Client`: operating numbers, the dashboard
and webhooks, over the transport every method shares (:class:`Transport`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx

from loopwise.client._models import Webhook, WebhookMessage, parse, parse_list
from loopwise.client._session import Session


class Transport:
    """Requests to the service: ``_send`` answers the response, ``_json`` its body."""

    _session: Session

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        return self._session.send(method, path, **options)

    def _json(self, method: str, path: str, **options: Any) -> Any:
        response = self._session.send(method, path, **options)
        return response.json() if response.content else None

    @staticmethod
    def _path(*parts: str | int) -> str:
        return "/v1/" + "/".join(quote(str(p), safe="") for p in parts)


class Reports(Transport):
    """Stats, dashboard and webhooks (see :class:`~loopwise.client.Client`)."""

    # -- stats ------------------------------------------------------------------------------
    def stats(self, project: str) -> dict[str, Any]:
        """Items by state, automation, human-AI agreement, queue health, latency, SLAs."""
        result: dict[str, Any] = self._json("GET", self._path("projects", project, "stats"))
        return result

    def reviewer_quality(self, project: str) -> list[dict[str, Any]]:
        """Every member's gold accuracy (95% Wilson interval), consensus skill and flag."""
        path = self._path("projects", project, "stats", "reviewers")
        result: list[dict[str, Any]] = self._json("GET", path)
        return result

    def agreement(self, project: str, *, period: Literal["day", "week"] = "day") -> dict[str, Any]:
        """Inter-reviewer agreement (Krippendorff's alpha, Fleiss' kappa), overall and by
        ``period``."""
        path = self._path("projects", project, "stats", "agreement")
        result: dict[str, Any] = self._json("GET", path, params={"period": period})
        return result

    def fatigue(self, project: str, *, bucket: int = 25) -> list[dict[str, Any]]:
        """Gold accuracy by position in reviewers' sessions, ``bucket`` tasks per row."""
        path = self._path("projects", project, "stats", "fatigue")
        result: list[dict[str, Any]] = self._json("GET", path, params={"bucket": bucket})
        return result

    def routing(self, project: str) -> dict[str, Any]:
        """The policy, calibration and certificate in force, and what each tier took."""
        result: dict[str, Any] = self._json(
            "GET", self._path("projects", project, "stats", "routing")
        )
        return result

    def dashboard(self, project: str, *, period: Literal["day", "hour"] = "day") -> dict[str, Any]:
        """Every dashboard chart as columns and data (see ``docs/review-ui.md``)."""
        path = self._path("projects", project, "dashboard")
        result: dict[str, Any] = self._json("GET", path, params={"period": period})
        return result

    def dashboard_csv(
        self, project: str, key: str, *, period: Literal["day", "hour"] = "day"
    ) -> str:
        """One dashboard chart's table as CSV text."""
        path = self._path("projects", project, "dashboard", f"{key}.csv")
        return self._send("GET", path, params={"period": period}).text

    # -- webhooks ---------------------------------------------------------------------------
    def add_webhook(
        self,
        project: str,
        url: str,
        *,
        events: Sequence[str] | None = None,
        secret: str | None = None,
    ) -> tuple[Webhook, str]:
        """Subscribe ``url`` to ``events`` (all by default).

        Returns
        -------
        (Webhook, str)
            The subscription and its signing secret, which the service shows only this once.
        """
        body = {"url": url, "events": None if events is None else list(events), "secret": secret}
        data = self._json("POST", self._path("projects", project, "webhooks"), body=body)
        return parse(Webhook, data), str(data["secret"])

    def webhooks(self, project: str) -> list[Webhook]:
        """The project's subscriptions."""
        return parse_list(Webhook, self._json("GET", self._path("projects", project, "webhooks")))

    def remove_webhook(self, project: str, webhook_id: int) -> None:
        """Unsubscribe. Raises ``WebhookNotFound``."""
        self._send("DELETE", self._path("projects", project, "webhooks", webhook_id))

    def webhook_messages(
        self,
        project: str,
        *,
        status: Literal["pending", "delivered", "failed"] | None = None,
        limit: int = 100,
    ) -> list[WebhookMessage]:
        """The project's outbox, newest first."""
        path = self._path("projects", project, "webhooks", "messages")
        data = self._json("GET", path, params={"status": status, "limit": limit})
        return parse_list(WebhookMessage, data)
