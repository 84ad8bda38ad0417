"""Queue upkeep from partial indexes, and a project revision for caching parsed projects.

Lapsed leases and tasks due for ageing are looked up on every claim. Indexed over every task,
those probes walked past all the settled tasks whose old ``promote_at`` or ``lease_expires_at``
was already due; indexed only over open (or held) tasks they answer from an empty range.

``project.revision`` is raised by every ORM update of a project (SQLAlchemy's
``version_id_col``), so the claim and verdict paths can keep the parsed project between calls.

Revision ID: 0006_queue_partial_indexes
Revises: 0005_api_tokens_webhooks
Create Date: 2026-12-06 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_queue_partial_indexes'
down_revision: str | None = '0005_api_tokens_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.drop_index('ix_review_task_promote')
        batch_op.drop_index('ix_review_task_lease')
        batch_op.create_index(
            'ix_review_task_ageing', ['project_id', 'promote_at'], unique=False,
            sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.create_index(
            'ix_review_task_lapse', ['project_id', 'lease_expires_at'], unique=False,
            sqlite_where=sa.text("status = 'claimed'"),
            postgresql_where=sa.text("status = 'claimed'"),
        )


def downgrade() -> None:
    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.drop_index('ix_review_task_lapse')
        batch_op.drop_index('ix_review_task_ageing')
        batch_op.create_index('ix_review_task_lease', ['project_id', 'lease_expires_at'], unique=False)
        batch_op.create_index('ix_review_task_promote', ['project_id', 'promote_at'], unique=False)

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('revision')
