"""Labels out (streamed, with provenance) and in; the golden set; gold (honeypot) items."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from loopwise.api.routes.v1.labels import CSV_COLUMNS
from loopwise.datasets import TextDataset, load_labelled
from loopwise.store.tables import DecisionRow, GoldenItemRow, HoneypotRow, ItemRow, LabelRow
from tests.api.conftest import Space, World, error, iso
from tests.factories import NO_HOLDOUT


def label_rows(world: World, space: Space) -> dict[str, LabelRow]:
    project_id = world.lw.project(space.name).id
    rows = world.rows(
        select(ItemRow.external_id, LabelRow)
        .join(LabelRow, LabelRow.item_id == ItemRow.id)
        .where(ItemRow.project_id == project_id)
    )
    return {str(row[0]): row[1] for row in rows}


@pytest.fixture
def labelled(world: World) -> Space:
    """Two imported labels (``imp-0`` ham, ``imp-1`` spam, with metadata) and one a reviewer
    gave (``rev-0``: the caller's model said ham, the reviewer spam), all in training (no
    held-out share, so no correction joins the golden set by itself)."""
    space = world.space(training=NO_HOLDOUT)
    world.lw.import_labels(
        space.name,
        [
            {"external_id": "imp-0", "payload": "see you at 5", "label": "ham"},
            {
                "external_id": "imp-1",
                "payload": "WIN A PRIZE",
                "label": "spam",
                "metadata": {"src": "crm"},
            },
        ],
        actor="importer",
    )
    space.submit("rev-0", (0.6, 0.4))
    space.token("reviewer")
    entry = world.lw.claim_next(space.name, space.account("reviewer"))
    assert entry is not None
    world.lw.submit_verdict(
        space.name, entry.task.id, space.account("reviewer"), "correct", label="spam"
    )
    return space


def provenance(world: World, space: Space) -> list[dict[str, Any]]:
    """What an export must say about the :func:`labelled` labels, oldest first."""
    stored = label_rows(world, space)
    common = {"weight": 1.0, "model_version": None, "golden": False}
    imported = {"origin": "import", "reasons": ["ground truth imported"]}
    [routed] = world.rows(
        select(DecisionRow.reasons).where(DecisionRow.item_id == stored["rev-0"].item_id)
    )
    assert routed[0]  # why the item was sent to people
    return [
        {
            **common,
            **imported,
            "external_id": "imp-0",
            "payload": {"text": "see you at 5"},
            "metadata": {},
            "label": "ham",
            "source": "import",
            "split": "train",
            "agreement": None,
            "created_by": "importer",
            "created_at": stored["imp-0"].created_at.isoformat(),
            "review_task_id": None,
            "model_prediction": None,
        },
        {
            **common,
            **imported,
            "external_id": "imp-1",
            "payload": {"text": "WIN A PRIZE"},
            "metadata": {"src": "crm"},
            "label": "spam",
            "source": "import",
            "split": "train",
            "agreement": None,
            "created_by": "importer",
            "created_at": stored["imp-1"].created_at.isoformat(),
            "review_task_id": None,
            "model_prediction": None,
        },
        {
            **common,
            "origin": "routed",
            "reasons": routed[0],
            "external_id": "rev-0",
            "payload": {"text": "text of rev-0"},
            "metadata": {},
            "label": "spam",
            "source": "reviewer",
            "split": "train",
            "agreement": stored["rev-0"].agreement,
            "created_by": space.account("reviewer"),
            "created_at": stored["rev-0"].created_at.isoformat(),
            "review_task_id": stored["rev-0"].review_task_id,
            "model_prediction": "ham",
        },
    ]


class TestExportLabels:
    def test_jsonl_streamed_with_provenance(self, world: World, labelled: Space) -> None:
        response = world.client.get(labelled.url("/labels"), headers=labelled.header("viewer"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        assert "content-length" not in response.headers
        lines = response.text.splitlines()
        assert [json.loads(line) for line in lines] == provenance(world, labelled)
        assert label_rows(world, labelled)["rev-0"].review_task_id is not None

    def test_csv_streamed_with_provenance(self, world: World, labelled: Space) -> None:
        response = world.client.get(
            labelled.url("/labels?format=csv"), headers=labelled.header("viewer")
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{labelled.name}-labels.csv"'
        )
        reader = csv.DictReader(io.StringIO(response.text))
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        as_text = [
            {
                key: json.dumps(value, ensure_ascii=False)
                if key in ("payload", "metadata", "reasons")
                else ("" if value is None else str(value))
                for key, value in row.items()
            }
            for row in provenance(world, labelled)
        ]
        assert list(reader) == as_text

    def test_either_export_is_a_file_simulate_reads(
        self, world: World, labelled: Space, tmp_path: Path
    ) -> None:
        for fmt in ("csv", "jsonl"):
            response = world.client.get(
                labelled.url(f"/labels?format={fmt}"), headers=labelled.header("viewer")
            )
            path = tmp_path / f"labels.{fmt}"
            path.write_bytes(response.content)
            data = load_labelled(path)
            assert isinstance(data, TextDataset)
            assert data.texts == ("see you at 5", "WIN A PRIZE", "text of rev-0")
            assert data.labels == ("ham", "spam", "spam")

    def test_an_empty_project_exports_nothing(self, world: World, space: Space) -> None:
        assert world.client.get(space.url("/labels"), headers=space.header("viewer")).text == ""
        assert world.client.get(
            space.url("/labels?format=csv"), headers=space.header("viewer")
        ).text == (",".join(CSV_COLUMNS) + "\r\n")

    def test_404_before_the_stream_starts(self, world: World) -> None:
        response = world.client.get(
            "/v1/projects/none-such/labels", headers=world.tokens.header("admin")
        )
        assert response.status_code == 404
        assert response.json() == error(
            "project_not_found", "no project named 'none-such'", "project"
        )


class TestImportLabels:
    def test_counts_and_stores_them(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/labels"),
            json={
                "rows": [
                    {"external_id": "i-0", "payload": "hi mum", "label": "ham"},
                    {
                        "external_id": "i-1",
                        "payload": "FREE CASH",
                        "label": "spam",
                        "metadata": {"k": 1},
                    },
                ]
            },
            headers=space.header("admin"),
        )
        assert response.status_code == 200
        assert response.json() == {"count": 2}
        stored = label_rows(world, space)
        assert {k: (v.value, v.source, v.created_by) for k, v in stored.items()} == {
            "i-0": ("ham", "import", space.account("admin")),
            "i-1": ("spam", "import", space.account("admin")),
        }
        (status,) = world.scalars(select(ItemRow.status).where(ItemRow.id == stored["i-1"].item_id))
        assert status == "resolved"

    def test_422_names_the_row_and_imports_nothing(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/labels"),
            json={"rows": [{"payload": "ok", "label": "ham"}, {"payload": "bad", "label": "eggs"}]},
            headers=space.header("admin"),
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_label",
            "'eggs' is not in the project's label set ['ham', 'spam']",
            "rows[1].label",
        )
        assert label_rows(world, space) == {}


class TestAddGolden:
    def test_puts_a_labelled_item_in_the_golden_set(self, world: World, labelled: Space) -> None:
        response = world.client.post(
            labelled.url("/golden"),
            json={"external_id": "imp-1", "label": "spam", "reason": "a past error"},
            headers=labelled.header("admin"),
        )
        assert response.status_code == 200
        assert response.json() == {"count": 1}
        item_id = label_rows(world, labelled)["imp-1"].item_id
        ((label, reason, created_at),) = world.rows(
            select(GoldenItemRow.label, GoldenItemRow.reason, GoldenItemRow.created_at).where(
                GoldenItemRow.item_id == item_id
            )
        )
        assert (label, reason, created_at) == ("spam", "a past error", world.clock.now())
        exported = world.client.get(labelled.url("/labels"), headers=labelled.header("viewer"))
        golden = {
            row["external_id"]: row["golden"] for row in map(json.loads, exported.text.splitlines())
        }
        assert golden == {"imp-0": False, "imp-1": True, "rev-0": False}

    def test_404_for_an_unknown_item(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/golden"),
            json={"external_id": "nope", "label": "ham"},
            headers=space.header("admin"),
        )
        assert response.status_code == 404
        assert response.json() == error(
            "item_not_found", f"no item 'nope' in project {space.name!r}", "external_id"
        )

    def test_422_for_a_label_outside_the_set(self, world: World, labelled: Space) -> None:
        response = world.client.post(
            labelled.url("/golden"),
            json={"external_id": "imp-0", "label": "eggs"},
            headers=labelled.header("admin"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_label"
        assert (
            world.scalars(
                select(GoldenItemRow).where(
                    GoldenItemRow.project_id == world.lw.project(labelled.name).id
                )
            )
            == []
        )


class TestListGolden:
    def test_what_was_added_oldest_first(self, world: World, labelled: Space) -> None:
        for external_id, label in (("imp-1", "spam"), ("imp-0", "ham")):
            world.lw.add_golden(labelled.name, external_id, label, reason="checked")
        response = world.client.get(labelled.url("/golden"), headers=labelled.header("viewer"))
        assert response.status_code == 200
        at = iso(world.clock.now())
        assert response.json() == [
            {"external_id": "imp-1", "label": "spam", "reason": "checked", "created_at": at},
            {"external_id": "imp-0", "label": "ham", "reason": "checked", "created_at": at},
        ]


class TestAddGold:
    def test_adds_honeypots_that_clients_never_see(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/gold"),
            json={"items": [{"external_id": "g-0", "payload": "known spam", "label": "spam"}]},
            headers=space.header("admin"),
        )
        assert response.status_code == 200
        assert response.json() == {"count": 1}
        ((external_id, label),) = world.rows(
            select(ItemRow.external_id, HoneypotRow.label)
            .join(HoneypotRow, HoneypotRow.item_id == ItemRow.id)
            .where(HoneypotRow.project_id == world.lw.project(space.name).id)
        )
        assert (external_id, label) == ("g-0", "spam")
        hidden = world.client.get(space.url("/decisions/g-0"), headers=space.header("client"))
        assert hidden.status_code == 404
        listed = world.client.get(space.url("/decisions"), headers=space.header("client"))
        assert listed.json()["decisions"] == []

    def test_422_names_the_item(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/gold"),
            json={"items": [{"payload": "a", "label": "ham"}, {"payload": "b", "label": "eggs"}]},
            headers=space.header("admin"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "items[1].label"
        assert (
            world.scalars(
                select(HoneypotRow).where(HoneypotRow.project_id == world.lw.project(space.name).id)
            )
            == []
        )
