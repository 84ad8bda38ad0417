"""GET /v1/projects/{project}/golden: the golden set, readable by anyone who sees the numbers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Tokens


class TestListGolden:
    def test_lists_what_was_added_oldest_first(self, client: TestClient, tokens: Tokens) -> None:
        for external_id, label in (("seed-spam-0", "spam"), ("seed-ham-1", "ham")):
            added = client.post(
                "/v1/projects/sms/golden",
                json={"external_id": external_id, "label": label, "reason": "a past error"},
                headers=tokens.header("admin"),
            )
            assert added.status_code == 200, added.text
        listed = client.get("/v1/projects/sms/golden", headers=tokens.header("viewer"))
        assert listed.status_code == 200
        body = listed.json()
        assert [(g["external_id"], g["label"], g["reason"]) for g in body] == [
            ("seed-spam-0", "spam", "a past error"),
            ("seed-ham-1", "ham", "a past error"),
        ]
        assert set(body[0]) == {"external_id", "label", "reason", "created_at"}

    def test_outsiders_may_not_read_it(self, client: TestClient, tokens: Tokens) -> None:
        refused = client.get("/v1/projects/sms/golden", headers=tokens.header("outsider"))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not_allowed"
