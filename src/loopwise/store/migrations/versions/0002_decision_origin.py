"""Decision origin: routed at submission, or imported ground truth (not counted as routing).

Revision ID: 0002_decision_origin
Revises: 0001_initial_schema
Create Date: 2026-11-23 01:13:41.627678
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_decision_origin"
down_revision: str | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), server_default="routed", nullable=False)
        )
    # Imported ground truth never had a prediction nor a review task; a routed item always has
    # one of the two (queued with no model: a task; decided by a model: a prediction).
    op.execute(
        "UPDATE decision SET origin = 'import' WHERE prediction_id IS NULL "
        "AND item_id NOT IN (SELECT item_id FROM review_task)"
    )

def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("origin")
