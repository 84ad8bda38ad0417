"""The loop on a tabular project (scikit-learn's bundled breast-cancer data) and with a custom
estimator: the same services, a different input kind and model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.naive_bayes import GaussianNB

from loopwise import InputKind, ItemStatus, Loopwise, Route, RoutingConfig
from loopwise.errors import InvalidInput, InvalidPayload


@pytest.fixture
def cancer(lw: Loopwise) -> tuple[np.ndarray, list[str], list[str]]:
    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    labels = [str(data.target_names[t]) for t in data.target]
    lw.create_project(
        "cancer",
        ["malignant", "benign"],
        input_kind=InputKind.TABULAR,
        feature_names=names,
        routing=RoutingConfig(auto_threshold=0.95),
    )
    return np.asarray(data.data), names, labels


def test_tabular_project_trains_routes_and_resolves(
    lw: Loopwise, cancer: tuple[np.ndarray, list[str], list[str]]
) -> None:
    x, names, y = cancer
    seed = [
        {"external_id": f"c{i}", "payload": {"features": x[i].tolist()}, "label": y[i]}
        for i in range(300)
    ]
    assert lw.import_labels("cancer", seed) == 300
    model = lw.train("cancer")
    assert model.algorithm == "logreg"
    assert lw.promote("cancer").promoted
    stream = [
        {
            "external_id": f"c{i}",
            "payload": {"features": dict(zip(names, x[i].tolist(), strict=True))},
        }
        for i in range(300, 569)
    ]
    routed = lw.submit("cancer", stream)
    auto = [r for r in routed if r.route is Route.AUTO]
    assert len(auto) > 150, "a scaled logistic regression is confident on most of this data"
    accuracy = np.mean([r.final_label == y[int(r.external_id[1:])] for r in auto])
    assert accuracy > 0.95
    queued = [r for r in routed if r.status is ItemStatus.QUEUED]
    assert all(r.task_id is not None for r in queued)
    stored = lw.item("cancer", "c300").item.payload["features"]
    assert stored == pytest.approx(x[300].tolist())


def test_custom_estimator_and_gradient_boosting(
    lw: Loopwise, cancer: tuple[np.ndarray, list[str], list[str]]
) -> None:
    x, _, y = cancer
    lw.import_labels(
        "cancer",
        [
            {"external_id": f"c{i}", "payload": {"features": x[i].tolist()}, "label": y[i]}
            for i in range(200)
        ],
    )
    custom = lw.train("cancer", estimator=GaussianNB())
    assert custom.algorithm == "custom:GaussianNB"
    boosted = lw.train("cancer", algorithm="gradient_boosting")
    assert boosted.algorithm == "gradient_boosting"
    assert [m.version for m in lw.models("cancer")] == [1, 2]
    with pytest.raises(InvalidInput) as info:
        lw.train("cancer", algorithm="tfidf_logreg")
    assert info.value.field == "algorithm"
    with pytest.raises(InvalidInput) as info:
        lw.train("cancer", estimator=object())
    assert info.value.field == "estimator"


def test_wrong_feature_count_is_refused_by_name(
    lw: Loopwise, cancer: tuple[np.ndarray, list[str], list[str]]
) -> None:
    x, names, _ = cancer
    with pytest.raises(InvalidPayload) as info:
        lw.submit("cancer", [{"payload": {"features": x[0].tolist()[:-1]}}])
    assert info.value.field == "items[0].payload.features"
    assert f"this project has {len(names)} features" in info.value.message
    assert lw.stats("cancer").items == 0
