"""Model versions and the operating numbers, against the real service."""

from __future__ import annotations

import pytest

from loopwise.core.enums import ModelStage
from loopwise.errors import ModelVersionNotFound, NotAllowed, NotEnoughLabels, PromotionRefused
from tests.client.conftest import OTHER, PROJECT, Connect, api


def test_train_evaluate_promote_and_roll_back(connect: Connect) -> None:
    admin = connect("admin")
    (first,) = admin.models(PROJECT)
    assert (first.version, first.stage) == (1, ModelStage.PRODUCTION)
    assert 0 < first.trained_on <= 24
    assert first.promoted_at is not None

    candidate = admin.train(PROJECT)
    assert (candidate.version, candidate.stage) == (2, ModelStage.CANDIDATE)
    assert candidate.metrics
    report = admin.evaluation(PROJECT, candidate.version)
    assert isinstance(report, dict)
    assert report

    promotion = admin.promote(PROJECT, candidate.version, force=True)
    assert promotion.promoted
    assert isinstance(promotion.report, dict)
    stages = {m.version: m.stage for m in admin.models(PROJECT)}
    assert stages == {1: ModelStage.ARCHIVED, 2: ModelStage.PRODUCTION}

    back = admin.rollback(PROJECT)
    assert (back.version, back.stage) == (1, ModelStage.PRODUCTION)


def test_promote_defaults_to_the_latest_candidate(connect: Connect) -> None:
    admin = connect("admin")
    admin.train(PROJECT)
    promotion = admin.promote(PROJECT, force=True)
    assert promotion.promoted
    assert [m.version for m in admin.models(PROJECT) if m.stage is ModelStage.PRODUCTION] == [2]


def test_what_the_models_refuse(connect: Connect) -> None:
    admin = connect("admin")
    with pytest.raises(NotEnoughLabels) as not_enough:
        admin.train(OTHER)
    assert api(not_enough.value).status == 409
    with pytest.raises(PromotionRefused):
        admin.rollback(PROJECT)
    with pytest.raises(ModelVersionNotFound):
        admin.evaluation(PROJECT, 99)
    with pytest.raises(NotAllowed):
        connect("viewer").train(PROJECT)


def test_the_operating_numbers(connect: Connect) -> None:
    connect("client").submit(PROJECT, {"payload": "hello", "external_id": "s-1"})
    viewer = connect("viewer")
    stats = viewer.stats(PROJECT)
    assert isinstance(stats, dict)
    assert stats
    assert isinstance(viewer.reviewer_quality(PROJECT), list)
    assert isinstance(viewer.agreement(PROJECT), dict)
    assert isinstance(viewer.agreement(PROJECT, period="week"), dict)
    assert isinstance(viewer.fatigue(PROJECT, bucket=10), list)
    routing = viewer.routing(PROJECT)
    assert isinstance(routing, dict)
    assert routing
