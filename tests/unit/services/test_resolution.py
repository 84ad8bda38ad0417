"""Stable per-item numbers: the same item always lands in the same split, QA sample, golden set."""

from __future__ import annotations

import numpy as np

from loopwise.core.entities import Project, TrainingConfig
from loopwise.core.enums import InputKind, LabelSource, LabelSplit
from loopwise.services.resolution import golden_reason, split_for, unit_hash, unit_hashes


def test_many_at_once_are_the_numbers_of_each() -> None:
    ids = [f"item-{i}" for i in range(2000)] + ["", "é", "x" * 200, "10"]
    found = unit_hashes(7, ids, "qa")
    assert found.dtype == np.float64
    assert found.tolist() == [unit_hash(7, e, "qa") for e in ids]
    assert found.min() >= 0.0
    assert found.max() < 1.0
    assert unit_hashes(7, [], "qa").shape == (0,)


def project(project_id: int, seed: int | None) -> Project:
    return Project(
        id=project_id,
        name=f"p{project_id}",
        labels=("ham", "spam"),
        input_kind=InputKind.TEXT,
        training=TrainingConfig(split_seed=seed),
    )


def test_the_split_seed_keys_the_held_out_and_golden_sets() -> None:
    ids = [f"item-{i}" for i in range(500)]

    def sets(p: Project) -> tuple[set[str], set[str]]:
        held = {e for e in ids if split_for(p, e) is LabelSplit.HOLDOUT}
        golden = {e for e in ids if golden_reason(p, e, "ham", "spam", LabelSource.REVIEWER)}
        return held, golden

    seeded = sets(project(1, 42))
    assert sets(project(2, 42)) == seeded
    assert sets(project(42, None)) == seeded, "no seed: the id keys the hash"
    assert sets(project(1, None)) != seeded
    held, golden = seeded
    assert 50 <= len(held) <= 150
    assert 50 <= len(golden) <= 150
    assert held == {e for e in ids if unit_hash(42, e, "split") < 0.2}
