"""The client's public surface, its independence from FastAPI, and its bodies kept in step
with the API's schemas."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import BaseModel

import loopwise.client
from loopwise.api import schemas
from loopwise.client import _models
from tests.unit.test_architecture import ADAPTER_LIBRARIES, imported_modules

EXPECTED = [
    "ActiveLearning",
    "ApiError",
    "Chosen",
    "Client",
    "Decision",
    "DecisionsPage",
    "Item",
    "ItemLike",
    "Me",
    "ModelVersion",
    "PoolCandidate",
    "PoolPage",
    "PoolRemoval",
    "PoolStatus",
    "Prediction",
    "Project",
    "Promotion",
    "QueryResult",
    "QueueEntry",
    "Review",
    "Routed",
    "ServerError",
    "ServiceUnavailable",
    "StoredItem",
    "Task",
    "VerdictResult",
    "Webhook",
    "WebhookMessage",
]

MIRRORS: list[tuple[type, type[BaseModel]]] = [
    (_models.Item, schemas.ItemIn),
    (_models.Me, schemas.MePublic),
    (_models.Project, schemas.ProjectPublic),
    (_models.Routed, schemas.RoutedPublic),
    (_models.Decision, schemas.DecisionPublic),
    (_models.DecisionsPage, schemas.DecisionsPublic),
    (_models.Task, schemas.TaskPublic),
    (_models.StoredItem, schemas.ItemPublic),
    (_models.Prediction, schemas.PredictionPublic),
    (_models.Review, schemas.ReviewPublic),
    (_models.QueueEntry, schemas.QueueEntryPublic),
    (_models.VerdictResult, schemas.VerdictPublic),
    (_models.ModelVersion, schemas.ModelVersionPublic),
    (_models.Promotion, schemas.PromotionPublic),
    (_models.PoolStatus, schemas.PoolStatusPublic),
    (_models.PoolRemoval, schemas.PoolRemovedPublic),
    (_models.PoolCandidate, schemas.PoolCandidatePublic),
    (_models.PoolPage, schemas.PoolCandidatesPublic),
    (_models.Chosen, schemas.ChosenPublic),
    (_models.QueryResult, schemas.QueryPublic),
    (_models.ActiveLearning, schemas.ActiveLearningPublic),
    (_models.Webhook, schemas.WebhookPublic),
    (_models.WebhookMessage, schemas.MessagePublic),
]


def test_the_public_names_are_exactly_the_expected_list() -> None:
    assert sorted(loopwise.client.__all__) == EXPECTED
    assert [n for n in EXPECTED if getattr(loopwise.client, n, None) is None] == []


@pytest.mark.parametrize(("mine", "theirs"), MIRRORS, ids=lambda t: t.__name__)
def test_every_body_has_the_fields_of_its_api_schema(mine: type, theirs: type[BaseModel]) -> None:
    assert [f.name for f in dataclasses.fields(mine)] == list(theirs.model_fields)


def test_every_body_is_frozen() -> None:
    for mine, _ in MIRRORS:
        assert mine.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_the_client_imports_only_errors_and_the_core_of_loopwise() -> None:
    """No FastAPI, Starlette, SQLAlchemy (nor the API, services or store that bring them)."""
    allowed = ("loopwise.client", "loopwise.errors", "loopwise.core")
    offenders = []
    for path in sorted(Path(loopwise.client.__file__).parent.glob("*.py")):
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"))):
            top = module.split(".")[0]
            if top in ADAPTER_LIBRARIES or (
                top == "loopwise" and not any(module.startswith(a) for a in allowed)
            ):
                offenders.append(f"{path.name}: {module}")
    assert offenders == []
