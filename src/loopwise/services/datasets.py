"""The labelled data a project has: training, held-out and golden sets, read in one go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopwise.core.entities import Project
from loopwise.core.enums import LabelSplit
from loopwise.services.context import Tx


@dataclass(frozen=True)
class LabelledSet:
    payloads: list[dict[str, Any]]
    targets: list[str]
    weights: list[float]

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class DataSets:
    train: LabelledSet
    holdout: LabelledSet
    golden: LabelledSet


def load_datasets(tx: Tx, project: Project) -> DataSets:
    """Split resolved labels: train and holdout by their stored split; golden items apart.

    Golden items are neither trained on nor part of the holdout, so each set measures one thing.
    """
    golden_rows = tx.repo.golden_items(project.id)
    golden_ids = {g.item_id for g, _ in golden_rows}
    parts: dict[str, tuple[list[dict[str, Any]], list[str], list[float]]] = {
        s.value: ([], [], []) for s in LabelSplit
    }
    for label, item in tx.repo.labelled_items(project.id):
        if item.id in golden_ids:
            continue
        payloads, targets, weights = parts[label.split]
        payloads.append(item.payload)
        targets.append(label.value)
        weights.append(label.weight)
    golden = LabelledSet(
        [i.payload for _, i in golden_rows],
        [g.label for g, _ in golden_rows],
        [1.0] * len(golden_rows),
    )
    return DataSets(
        train=LabelledSet(*parts[LabelSplit.TRAIN.value]),
        holdout=LabelledSet(*parts[LabelSplit.HOLDOUT.value]),
        golden=golden,
    )
