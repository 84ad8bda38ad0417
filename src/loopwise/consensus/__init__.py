"""Consensus: turn several reviewers' answers into one label per task.

Every aggregator reads the same long table (``tasks, workers, labels``), so they swap freely.
"""

from __future__ import annotations

from loopwise.consensus.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_kappa,
    specific_agreement,
)
from loopwise.consensus.base import Aggregator
from loopwise.consensus.dawid_skene import DawidSkene
from loopwise.consensus.majority_vote import MajorityVote

AGGREGATORS: dict[str, type[Aggregator]] = {cls.name: cls for cls in (MajorityVote, DawidSkene)}

__all__ = [
    "AGGREGATORS",
    "Aggregator",
    "DawidSkene",
    "MajorityVote",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_kappa",
    "specific_agreement",
]
