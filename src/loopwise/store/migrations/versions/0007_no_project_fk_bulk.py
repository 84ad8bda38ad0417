"""No foreign key on ``project_id`` of the tables every ingest writes in bulk.

``prediction``, ``decision``, ``review_task`` and ``audit_event`` rows carry their item's
project id (whose own key is checked); each key cost a check per row at every ingest. See
``loopwise.store.tables.NO_PROJECT_KEY``.

Revision ID: 0007_no_project_fk_bulk
Revises: 0006_queue_partial_indexes
Create Date: 2026-12-06 07:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007_no_project_fk_bulk'
down_revision: str | None = '0006_queue_partial_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('prediction', 'decision', 'review_task', 'audit_event')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_project_id_project', type_='foreignkey')
    _audit_triggers()


def _audit_triggers() -> None:
    """SQLite rebuilt ``audit_event`` to drop the key, and its triggers went with the old
    table: put back the ones that keep it append-only (as in the first migration)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_event_no_{verb.lower()} BEFORE {verb} "
                "ON audit_event BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                f'fk_{table}_project_id_project', 'project', ['project_id'], ['id']
            )
    _audit_triggers()
