"""The demo's measure of what active learning's picks are worth: a model trained on them against
one trained on as many random draws from the same pool (split from :mod:`loopwise.demo`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from loopwise.datasets import TextDataset
from loopwise.services.loop import Loopwise
from loopwise.training.models import fit_model


class PickedAndDrawn:
    """Two models trained on the seed labels plus the pool picks so far: active learning's (with
    the labels the reviewers gave them) and random draws from the same pool (true labels)."""

    def __init__(
        self,
        lw: Loopwise,
        project: str,
        dataset: TextDataset,
        seed: list[int],
        test_inputs: Any,
        test_truth: np.ndarray[Any, Any],
    ) -> None:
        self.lw, self.project = lw, project
        self.texts = {f"p{i}": dataset.texts[i] for i in range(len(dataset))}
        self.truth = {f"p{i}": dataset.labels[i] for i in range(len(dataset))}
        self.base = [(dataset.texts[i], dataset.labels[i]) for i in seed]
        self.test_inputs, self.test_truth = test_inputs, test_truth
        self.picked: list[tuple[str, str]] = []
        self.drawn: list[str] = []

    def add(self, picked: list[tuple[str, str | None]], drawn: list[str]) -> None:
        self.picked += [(k, label) for k, label in picked if label is not None]
        self.drawn += drawn

    def accuracies(self) -> tuple[float, float]:
        chosen = [(self.texts[k], label) for k, label in self.picked]
        random_ = [(self.texts[k], self.truth[k]) for k in self.drawn]
        return self._accuracy(chosen), self._accuracy(random_)

    def _accuracy(self, extra: list[tuple[str, str]]) -> float:
        project = self.lw.project(self.project)
        rows = self.base + extra
        model = fit_model(
            None,
            project.input_kind,
            [text for text, _ in rows],
            [label for _, label in rows],
            project.labels,
        )
        predicted = np.asarray(model.labels)[model.predict_proba(self.test_inputs).argmax(axis=1)]
        return float(np.mean(predicted == self.test_truth))
