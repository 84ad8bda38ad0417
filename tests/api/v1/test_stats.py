"""The operating numbers over HTTP: project stats, reviewer quality, agreement, fatigue and
routing."""

from __future__ import annotations

import pytest

from loopwise.core.policy import RoutingConfig
from tests.api.conftest import Space, World, corrected_twice


@pytest.fixture
def worked(world: World) -> Space:
    """Two items decided by the caller's model (``a-0``, ``a-1``), one (``q-1``, the model
    said ham) that two people both corrected to spam, a minute after it came in (overlap 2),
    and one that came in then and waits in the queue (``q-0``)."""
    return corrected_twice(world)


class TestProjectStats:
    def test_the_whole_picture(self, world: World, worked: Space) -> None:
        response = world.client.get(worked.url("/stats"), headers=worked.header("client"))
        assert response.status_code == 200
        assert response.json() == {
            "items": 4,
            "decided": 2,
            "queued": 1,
            "resolved": 1,
            "routes": {"auto": 2, "human": 2},
            "open_tasks": 1,
            "labels": 1,
            "human_ai_agreement": 0.0,
            "agreement_by_label": {"spam": {"n": 1, "agreed": 0, "share": 0.0}},
            "queue": [
                {
                    "priority": "normal",
                    "stage": "review",
                    "tasks": 1,
                    "claimed": 0,
                    "oldest_age_seconds": 0.0,
                    "past_due": 0,
                }
            ],
            "latency": {
                "resolutions": 1,
                "measured": 1,
                "mean_seconds": 60.0,
                "p50_seconds": 60.0,
                "p90_seconds": 60.0,
                "p99_seconds": 60.0,
            },
            "sla": {
                "finished": 1,
                "on_time": 1,
                "on_time_rate": 1.0,
                "open_past_due": 0,
                "by_priority": {
                    "normal": {"finished": 1, "on_time": 1, "on_time_rate": 1.0, "open_past_due": 0}
                },
            },
            "cost": {"reviews": 2, "expert_reviews": 0, "gold_reviews": 0, "decisions": 4},
            "as_of": world.clock.now().isoformat(),
            "automation_rate": 0.5,
        }

    def test_an_empty_project(self, world: World, space: Space) -> None:
        body = world.client.get(space.url("/stats"), headers=space.header("viewer")).json()
        assert (body["items"], body["queue"], body["automation_rate"]) == (0, [], 0.0)


class TestReviewerQuality:
    def test_every_reviewing_member(self, world: World, worked: Space) -> None:
        response = world.client.get(worked.url("/stats/reviewers"), headers=worked.header("viewer"))
        assert response.status_code == 200
        body = response.json()
        no_gold = {
            "answers": 0,
            "correct": 0,
            "accuracy": None,
            "low": 0.0,
            "high": 1.0,
            "below_floor": False,
        }
        assert [{k: v for k, v in r.items() if k != "consensus_skill"} for r in body] == [
            {
                "reviewer": worked.account(role),
                "role": role,
                "reviews": 1,
                "gold": no_gold,
                "flagged": None,
                "session_count": 1,
                "session_minutes": 0.0,
            }
            for role in ("expert", "reviewer")
        ]
        assert all(0.5 < r["consensus_skill"] <= 1.0 for r in body)


class TestAgreement:
    def test_two_people_who_agree(self, world: World, worked: Space) -> None:
        response = world.client.get(worked.url("/stats/agreement"), headers=worked.header("viewer"))
        assert response.status_code == 200
        assert response.json() == {
            "items": 1,
            "answers": 2,
            "alpha": 1.0,
            "fleiss": 1.0,
            "raters": 2,
            "by_label": {"ham": None, "spam": 1.0},
            "pairs": [[worked.account("expert"), worked.account("reviewer"), 1.0, 1]],
            "periods": [[world.clock.now().date().isoformat(), 1, 1.0]],
        }

    def test_by_week(self, world: World, worked: Space) -> None:
        body = world.client.get(
            worked.url("/stats/agreement?period=week"), headers=worked.header("viewer")
        ).json()
        assert [(p[1], p[2]) for p in body["periods"]] == [(1, 1.0)]

    def test_nothing_to_compare(self, world: World, space: Space) -> None:
        assert world.client.get(
            space.url("/stats/agreement"), headers=space.header("viewer")
        ).json() == {
            "items": 0,
            "answers": 0,
            "alpha": None,
            "fleiss": None,
            "raters": None,
            "by_label": {"ham": None, "spam": None},
            "pairs": [],
            "periods": [],
        }


class TestFatigue:
    def test_no_gold_answers_no_buckets(self, world: World, worked: Space) -> None:
        response = world.client.get(
            worked.url("/stats/fatigue?bucket=10"), headers=worked.header("viewer")
        )
        assert response.status_code == 200
        assert response.json() == []


class TestRouting:
    def test_policy_and_what_each_tier_took(self, world: World, worked: Space) -> None:
        response = world.client.get(worked.url("/stats/routing"), headers=worked.header("viewer"))
        assert response.status_code == 200
        assert response.json() == {
            "policy": RoutingConfig(auto_threshold=0.75, ood=None).to_json(),
            "model_version": None,
            "calibration": None,
            "certificate": None,
            "certificate_text": None,
            "tiers": {"auto": 2, "human": 2},
            "rules": {"confidence": 2},
            "qa_checked": 0,
            "qa_accuracy": None,
        }

    def test_with_a_production_model(self, world: World) -> None:
        body = world.client.get(
            "/v1/projects/sms/stats/routing", headers=world.tokens.header("viewer")
        ).json()
        assert body["model_version"] == 1
        assert body["policy"]["auto_threshold"] == 0.75
