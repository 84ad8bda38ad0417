"""Claims can carry a key, and a key can be given back before its claim is made.

A review page claims its next task in the background. Left while that claim is in flight, the
page never learns which task the claim took, so it could not give it back: the task stayed
held until its lease ran out. Now each claim the page makes carries a key of its own
(``review_task.claim_key``), and a page being left gives back its claims in flight by key. A
key given back before its claim was made is remembered (``released_claim``, for a day) so that
claim, when it comes, takes nothing.

Revision ID: 0013_claim_keys
Revises: 0012_item_payload_index
Create Date: 2026-12-07 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_claim_keys'
down_revision: str | None = '0012_item_payload_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column: added in place on SQLite (batch mode could copy the table)
    op.add_column('review_task', sa.Column('claim_key', sa.String(length=64), nullable=True))
    op.create_table(
        'released_claim',
        sa.Column('reviewer', sa.String(length=200), nullable=False),
        sa.Column('claim_key', sa.String(length=64), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('reviewer', 'claim_key', name=op.f('pk_released_claim')),
    )
    op.create_index(
        op.f('ix_released_claim_released_at'), 'released_claim', ['released_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_released_claim_released_at'), table_name='released_claim')
    op.drop_table('released_claim')
    op.drop_column('review_task', 'claim_key')
