"""Foreign keys against set-checked keys: PostgreSQL's CPU for the rows an ingest writes.

Run ``.venv/bin/python bench/keys.py [--batches 20] [--postgres-url URL] [--json PATH]``.

Protocol: two fresh schemas on ``--postgres-url``, each with a project, a trained and promoted
model and its calibration (the SMS spam data). One stays at the head revision, where the six
references an ingest writes in bulk are checked once per statement by triggers (migration
``0009_set_checked_keys``); the other is downgraded to ``0008``, where they are foreign keys
checked row by row. Then ``--batches`` rounds, alternating between the two schemas: 1,000 item,
prediction and decision rows each, written by ``Repository.insert_many`` (``COPY``) in one
transaction, with the CPU time of the connection's PostgreSQL backend process
(``/proc/<pid>/stat``, 10 ms ticks: hence the many batches) measured around each table's
insert. Prints and writes ``database_us_per_row`` by table for ``foreign_keys`` and
``set_checked``; the database must run on this machine.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue

import argparse
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import select, text

from loopwise import Loopwise, Settings
from loopwise.datasets import load_sms_spam
from loopwise.services.context import Tx
from loopwise.store.db import alembic_config
from loopwise.store.tables import DecisionRow, ItemRow, PredictionRow
from loopwise.testing import scratch_schema

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BEFORE = "0008_active_learning_pool"
TABLES = (ItemRow, PredictionRow, DecisionRow)


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Target:
    """One schema with a promoted model, and the next rows to write into it."""

    def __init__(self, url: str, directory: Path, downgrade: bool) -> None:
        data = load_sms_spam()
        self.lw = Loopwise(Settings(database_url=url, data_dir=directory))
        self.lw.create_project("sms", list(data.label_set))
        seed = [
            {"external_id": f"seed-{i}", "payload": data.texts[i], "label": data.labels[i]}
            for i in range(300)
        ]
        self.lw.import_labels("sms", seed)
        self.lw.train("sms")
        self.lw.promote("sms")
        self.lw.submit("sms", [data.texts[400]])  # makes the calibration in force
        engine = self.lw.ctx.engine
        if downgrade:
            config = alembic_config(engine)
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, BEFORE)
        with engine.connect() as conn:
            self.project_id = conn.execute(text("SELECT id FROM project")).scalar_one()
            self.model_id, self.calibration_id = conn.execute(
                select(PredictionRow.model_version_id, PredictionRow.calibration_id).where(
                    PredictionRow.calibration_id.is_not(None)
                )
            ).one()
        self.count = 0
        self.seconds = {t.__tablename__: 0.0 for t in TABLES}

    def batch(self, n: int) -> None:
        now = datetime.now(UTC)
        start = self.count
        self.count += n
        items = [
            {
                "project_id": self.project_id,
                "external_id": f"x-{start + i}",
                "payload": {"text": f"a text to route {start + i}"},
                "payload_sha256": f"{start + i:064x}",
                "meta": {},
                "status": "decided",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        with self.lw.ctx.write() as tx:
            pid = tx.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            item_ids = self._timed(tx, pid, ItemRow, items)
            predictions = [
                {
                    "project_id": self.project_id,
                    "item_id": item_id,
                    "model_version_id": self.model_id,
                    "probabilities": [0.9, 0.1],
                    "predicted_label": "ham",
                    "confidence": 0.9,
                    "uncertainty": 0.47,
                    "ood_score": 0.3,
                    "calibration_id": self.calibration_id,
                    "created_at": now,
                }
                for item_id in item_ids
            ]
            prediction_ids = self._timed(tx, pid, PredictionRow, predictions)
            decisions = [
                {
                    "project_id": self.project_id,
                    "item_id": item_id,
                    "prediction_id": prediction_id,
                    "route": "auto",
                    "reasons": ["confidence 0.900 at or above threshold 0.750"],
                    "rules": [],
                    "final_label": "ham",
                    "decided_by": "model:v1",
                    "policy_version": 1,
                    "created_at": now,
                    "decided_at": now,
                }
                for item_id, prediction_id in zip(item_ids, prediction_ids, strict=True)
            ]
            self._timed(tx, pid, DecisionRow, decisions)

    def _timed(self, tx: Tx, pid: int, table: type[Any], rows: list[dict[str, Any]]) -> list[int]:
        before = backend_cpu(pid)
        ids = tx.repo.insert_many(table, rows)  # statement triggers ran before it returned
        self.seconds[table.__tablename__] += backend_cpu(pid) - before
        return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPWISE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_schema(args.postgres_url, "bench_keys") as head_url,
        scratch_schema(args.postgres_url, "bench_keys") as old_url,
    ):
        targets = {
            "set_checked": Target(head_url, Path(tmp) / "head", downgrade=False),
            "foreign_keys": Target(old_url, Path(tmp) / "old", downgrade=True),
        }
        for _ in range(args.batches):
            for target in targets.values():
                target.batch(1000)
        rows = args.batches * 1000
        out = {
            name: {
                "database_us_per_row": {
                    table: round(seconds / rows * 1e6, 1) for table, seconds in t.seconds.items()
                }
            }
            for name, t in targets.items()
        }
        for target in targets.values():
            target.lw.close()
    for name, figures in out.items():
        per_row = figures["database_us_per_row"]
        print(f"{name:13s} " + "  ".join(f"{k} {v:5.1f} µs/row" for k, v in per_row.items()))
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
