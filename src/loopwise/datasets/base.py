"""What the data-set readers share: the two kinds of labelled data set, the file opener, the
check of feature names asked for, and the bound on a feature's size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from loopwise.core.payloads import feature_too_large
from loopwise.errors import InvalidInput

ID_COLUMN = "external_id"
"""A table's column that names its rows, never a feature (as in the item files the CLI reads)."""


@dataclass(frozen=True)
class TextDataset:
    """Distinct texts with their labels, in file order."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def label_set(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.labels)))

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class TableDataset:
    """Rows of numeric features with their labels, in file order."""

    name: str
    feature_names: tuple[str, ...]
    values: npt.NDArray[np.float64]
    """``(rows, features)`` float64, every value finite."""
    labels: tuple[str, ...]

    @property
    def label_set(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.labels)))

    def __len__(self) -> int:
        return len(self.labels)


def open_text(path: Path) -> TextIO:
    """``path`` opened to read as UTF-8 text, for the csv module (``newline=""``).

    A byte-order mark at the start is dropped (``utf-8-sig``): spreadsheets write one ("CSV
    UTF-8" in Excel), and read as plain UTF-8 it would become part of the first column's name
    (a CSV's ``external_id`` or ``label`` not found) or of the first JSON line (not valid JSON).

    Raises
    ------
    InvalidInput
        The file cannot be opened; the field names it.
    """
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot be read: {exc.strerror}", field=str(path)) from None


def check_feature_names(features: Sequence[str]) -> list[str]:
    """The feature names asked for (``--features``), as a list.

    Raises
    ------
    InvalidInput
        ``features`` names nothing, names one twice, or names ``label``.
    """
    columns = list(features)
    if not columns:
        raise InvalidInput("names no column", field="features")
    for column in columns:
        if columns.count(column) > 1:
            raise InvalidInput(f"names {column!r} twice", field="features")
        if column == "label":
            raise InvalidInput("'label' is the target, not a feature", field="features")
    return columns


def too_large(number: float, field: str) -> float:
    """``number``, if its size is at most :data:`~loopwise.core.payloads.MAX_FEATURE_SIZE`, as
    a project's tabular payloads must be.

    Raises
    ------
    InvalidInput
        It is larger: standardising its column would overflow.
    """
    oversized = feature_too_large(number)
    if oversized is not None:
        raise InvalidInput(oversized, field=field)
    return number
