"""Resolution: a label written while the project's split settings change (a known limitation
on PostgreSQL, measured and left: see the test)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import update

from loopwise import Loopwise, Verdict
from loopwise.core.entities import Project
from loopwise.core.enums import LabelSplit
from loopwise.errors import Conflict
from loopwise.services import answers, resolution
from loopwise.services.resolution import unit_hash
from loopwise.store.tables import ReviewTaskRow
from tests.factories import NO_HOLDOUT, add_reviewers, make_text_project, scored_item
from tests.integration.helpers import one

MOVED = {"holdout_share": 0.9, "golden_share": 0.0}
"""The split's change: from nothing held out (``NO_HOLDOUT``) to 90%."""


def writer(lw: Loopwise, path: str, external_id: str) -> Callable[[], Any]:
    """A use case that labels ``external_id``, queued for review: a reviewer's verdict, the
    second of two reviews (consensus), or an imported label."""
    add_reviewers(lw, "sms", "alice", "bob")
    lw.submit("sms", [scored_item(external_id, "hello there", [0.5, 0.5])])
    if path == "import":
        row = {"external_id": external_id, "payload": "hello there", "label": "ham"}
        return lambda: lw.import_labels("sms", [row])
    task = one(lw, "review_task")["id"]
    if path == "consensus":
        lw.set_review_config("sms", {"overlap": 2})
        with lw.ctx.engine.begin() as connection:
            connection.execute(update(ReviewTaskRow).values(required_reviews=2))
        assert lw.claim_next("sms", "alice") is not None
        lw.submit_verdict("sms", task, "alice", Verdict.CORRECT, label="ham")
    reviewer = "bob" if path == "consensus" else "alice"
    assert lw.claim_next("sms", reviewer) is not None
    return lambda: lw.submit_verdict("sms", task, reviewer, Verdict.CORRECT, label="ham")


RACE = (
    "known limitation on PostgreSQL: a resolution reads the split settings without a lock, so "
    "a change committed between that read and the label's insert leaves the project's first "
    "labels split by the settings of before. Reading the settings again after the insert "
    "(1ab4195, reverted) closed it, and cost about 0.25-0.5 ms more per resolving verdict "
    "(2.1-3.4 ms before), for a race only while a project has no label yet"
)


@pytest.mark.parametrize("path", ["verdict", "consensus", "import"])
def test_a_label_split_as_the_split_changes_lands_where_the_settings_that_stand_say(
    lw: Loopwise, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The use case reads the settings, then waits (in ``split_for``) while the settings
    change.

    On PostgreSQL the change goes through (the project has no label yet) and commits before
    the label is written: the label should be split by the new settings, not by those read
    (it is not, :data:`RACE`: the test then ends as an expected failure, and passes once the
    race is closed). SQLite runs one write transaction at a time: the change waits
    for the use case, then finds the label and is refused; the label keeps the settings it was
    split by.
    """
    sqlite = lw.ctx.engine.dialect.name == "sqlite"
    project = make_text_project(lw, training=NO_HOLDOUT)
    key = project.split_key
    external_id = next(f"x{i}" for i in range(100) if unit_hash(key, f"x{i}", "split") < 0.9)
    write = writer(lw, path, external_id)
    real = resolution.split_for
    split_read, changed = threading.Event(), threading.Event()

    def split_then_wait(project: Project, external_id: str) -> LabelSplit:
        split = real(project, external_id)
        split_read.set()
        changed.wait(timeout=0.5 if sqlite else 10)
        return split

    monkeypatch.setattr(resolution, "split_for", split_then_wait)
    monkeypatch.setattr(answers, "split_for", split_then_wait)
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(write)
        assert split_read.wait(timeout=10)
        try:
            lw.set_training_config("sms", MOVED)
            moved = True
        except Conflict:
            moved = False
        changed.set()
        result = written.result()

    assert moved is not sqlite  # on PostgreSQL the change really went through first
    expected = LabelSplit.HOLDOUT if moved else LabelSplit.TRAIN
    split = LabelSplit(one(lw, "label")["split"])
    if not sqlite and split is LabelSplit.TRAIN:
        pytest.xfail(RACE)  # the label kept the settings it had read
    assert split is expected
    if path != "import":
        assert result.label is not None
        assert result.label.split is expected
