"""Real data sets bundled with loopwise (see ``README.md`` beside this file for their sources)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from loopwise.errors import InvalidInput


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


def load_labelled_csv(path: str | Path, *, name: str | None = None) -> TextDataset:
    """Read a CSV with ``label`` and ``text`` columns; repeated texts keep their first label.

    Raises
    ------
    InvalidInput
        The file is missing, lacks a column, has an empty label or text, or has fewer than two
        labels. The field names the file (and row).
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot be read: {exc.strerror}", field=str(path)) from None
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    with handle:
        reader = csv.DictReader(handle)
        missing = {"label", "text"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidInput(
                f"needs columns 'label' and 'text'; missing {sorted(missing)}", field=str(path)
            )
        for line, row in enumerate(reader, start=2):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if not text or not label:
                raise InvalidInput("has an empty label or text", field=f"{path}:{line}")
            if text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(label)
    if len(set(labels)) < 2:
        raise InvalidInput("needs at least two distinct labels", field=str(path))
    return TextDataset(name or path.stem, tuple(texts), tuple(labels))


def load_sms_spam() -> TextDataset:
    """SMS Spam Collection (Almeida and Gómez Hidalgo, 2011; CC BY 4.0): 5,160 distinct texts."""
    ref = resources.files(__package__).joinpath("sms_spam.csv")
    with resources.as_file(ref) as path:
        return load_labelled_csv(path, name="sms_spam")


def load_trec_questions() -> TextDataset:
    """TREC question classification (Li and Roth, COLING 2002): 6 coarse labels."""
    ref = resources.files(__package__).joinpath("trec_questions.csv")
    with resources.as_file(ref) as path:
        return load_labelled_csv(path, name="trec_questions")


__all__ = ["TextDataset", "load_labelled_csv", "load_sms_spam", "load_trec_questions"]
