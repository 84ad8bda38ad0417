"""Active learning: the unlabelled pool, and each project's active-learning settings.

Revision ID: 0008_active_learning_pool
Revises: 0007_no_project_fk_bulk
Create Date: 2026-12-06 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008_active_learning_pool'
down_revision: str | None = '0007_no_project_fk_bulk'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('pool_item',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('project_id', Id, nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('payload', Json, nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('metadata', Json, nullable=False),
    sa.Column('item_id', Id, nullable=True),
    sa.Column('queried_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_pool_item_item_id_item')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_pool_item_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pool_item')),
    sa.UniqueConstraint('project_id', 'external_id', name='uq_pool_item_project_external_id')
    )
    with op.batch_alter_table('pool_item', schema=None) as batch_op:
        batch_op.create_index(
            'ix_pool_item_waiting', ['project_id', 'id'], unique=False,
            sqlite_where=sa.text('item_id IS NULL'), postgresql_where=sa.text('item_id IS NULL'),
        )
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_learning', Json, server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('active_learning')
    with op.batch_alter_table('pool_item', schema=None) as batch_op:
        batch_op.drop_index('ix_pool_item_waiting')
    op.drop_table('pool_item')
