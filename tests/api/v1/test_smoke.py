"""The shortest path through the service: a client submits, a reviewer resolves, the client
reads the final decision."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Tokens


def test_submit_review_and_read_back(client: TestClient, tokens: Tokens) -> None:
    submitted = client.post(
        "/v1/projects/sms/items",
        json={
            "payload": "Ok lar... see you soon",
            "external_id": "x-1",
            "probabilities": [0.5, 0.5],
        },
        headers=tokens.header("client"),
    )
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["status"] == "queued"
    assert body["ticket"] is not None

    claimed = client.post("/v1/projects/sms/queue/claim", headers=tokens.header("reviewer"))
    assert claimed.status_code == 200, claimed.text
    entry = claimed.json()["entry"]
    assert entry["item"]["external_id"] == "x-1"
    assert entry["task"]["claimed_by"] == "reviewer-1"

    verdict = client.post(
        f"/v1/projects/sms/tasks/{entry['task']['id']}/verdict",
        json={"verdict": "correct", "label": "ham", "error_category": "ambiguous_input"},
        headers=tokens.header("reviewer"),
    )
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["resolved"] is True

    decision = client.get("/v1/projects/sms/decisions/x-1", headers=tokens.header("client"))
    assert decision.status_code == 200
    assert decision.json()["status"] == "resolved"
    assert decision.json()["label"] == "ham"
    assert decision.json()["ticket"] is None
