"""Model versions and the operating numbers, against the real service."""

from __future__ import annotations

import pytest

from loopwise.core.enums import ModelStage
from loopwise.errors import ModelVersionNotFound, NotAllowed, NotEnoughLabels, PromotionRefused
from tests.client.conftest import Connect, Space, api


@pytest.mark.usefixtures("retrainable")
def test_train_evaluate_promote_and_roll_back(connect: Connect, space: Space) -> None:
    admin = connect("admin")
    (first,) = admin.models(space.name)
    assert (first.version, first.stage) == (1, ModelStage.PRODUCTION)
    assert 0 < first.trained_on <= 24
    assert first.promoted_at is not None

    candidate = admin.train(space.name)
    assert (candidate.version, candidate.stage) == (2, ModelStage.CANDIDATE)
    assert candidate.metrics
    report = admin.evaluation(space.name, candidate.version)
    assert isinstance(report, dict)
    assert report

    promotion = admin.promote(space.name, candidate.version, force=True)
    assert promotion.promoted
    assert isinstance(promotion.report, dict)
    stages = {m.version: m.stage for m in admin.models(space.name)}
    assert stages == {1: ModelStage.ARCHIVED, 2: ModelStage.PRODUCTION}

    back = admin.rollback(space.name)
    assert (back.version, back.stage) == (1, ModelStage.PRODUCTION)


@pytest.mark.usefixtures("retrainable")
def test_promote_defaults_to_the_latest_candidate(connect: Connect, space: Space) -> None:
    admin = connect("admin")
    admin.train(space.name)
    promotion = admin.promote(space.name, force=True)
    assert promotion.promoted
    assert [m.version for m in admin.models(space.name) if m.stage is ModelStage.PRODUCTION] == [2]


def test_what_the_models_refuse(connect: Connect, space: Space, trained: Space) -> None:
    admin = connect("admin")
    with pytest.raises(NotEnoughLabels) as not_enough:
        admin.train(space.name)  # a project without labels
    assert api(not_enough.value).status == 409
    with pytest.raises(PromotionRefused):
        admin.rollback(trained.name)
    with pytest.raises(ModelVersionNotFound):
        admin.evaluation(trained.name, 99)
    with pytest.raises(NotAllowed):
        connect("viewer", on=trained).train(trained.name)


@pytest.mark.usefixtures("retrainable")
def test_the_operating_numbers(connect: Connect, space: Space) -> None:
    connect("client").submit(space.name, {"payload": "hello", "external_id": "s-1"})
    viewer = connect("viewer")
    stats = viewer.stats(space.name)
    assert isinstance(stats, dict)
    assert stats
    assert isinstance(viewer.reviewer_quality(space.name), list)
    assert isinstance(viewer.agreement(space.name), dict)
    assert isinstance(viewer.agreement(space.name, period="week"), dict)
    assert isinstance(viewer.fatigue(space.name, bucket=10), list)
    routing = viewer.routing(space.name)
    assert isinstance(routing, dict)
    assert routing


def test_the_dashboard_and_its_csv(connect: Connect, space: Space) -> None:
    connect("client").submit(space.name, {"payload": "hello", "external_id": "d-1"})
    viewer = connect("viewer")
    board = viewer.dashboard(space.name)
    keys = [chart["key"] for chart in board["charts"]]
    assert "automation" in keys
    assert "calibration" in keys
    queue = next(chart for chart in board["charts"] if chart["key"] == "queue")
    csv_text = viewer.dashboard_csv(space.name, "queue")
    assert csv_text.splitlines()[0] == ",".join(queue["columns"])
    assert len(csv_text.splitlines()) == 1 + len(queue["data"][0])
    assert viewer.dashboard(space.name, period="hour")["period"] == "hour"
