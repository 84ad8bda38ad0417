"""Review workflow: reviewers and project members, gold items, task SLA, ageing, tags, escalation.

Revision ID: 0004_review_workflow
Revises: 0003_calibration
Create Date: 2026-11-23 02:49:05.440542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004_review_workflow'
down_revision: str | None = '0003_calibration'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reviewer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('max_open_tasks', sa.Integer(), nullable=False),
    sa.Column('daily_limit', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_last_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviewer')),
    sa.UniqueConstraint('name', name=op.f('uq_reviewer_name'))
    )
    op.create_table('project_member',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reviewer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flag_reason', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_member_project_id_project')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewer.id'], name=op.f('fk_project_member_reviewer_id_reviewer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_member')),
    sa.UniqueConstraint('project_id', 'reviewer_id', name='uq_project_member_project_reviewer')
    )
    with op.batch_alter_table('project_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_member_reviewer_id'), ['reviewer_id'], unique=False)

    op.create_table('honeypot',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_honeypot_item_id_item')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_honeypot_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_honeypot')),
    sa.UniqueConstraint('item_id', name=op.f('uq_honeypot_item_id'))
    )
    with op.batch_alter_table('honeypot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_honeypot_project_id'), ['project_id'], unique=False)

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'{}'"), nullable=False))

    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.String(length=16), server_default='review', nullable=False))
        batch_op.add_column(sa.Column('gold_correct', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('session_position', sa.Integer(), nullable=True))
        batch_op.create_index('ix_review_item_reviewer', ['item_id', 'reviewer'], unique=False)
        batch_op.create_index('ix_review_project_id', ['project_id', 'id'], unique=False)
        batch_op.create_index('ix_review_reviewer_time', ['reviewer', 'created_at'], unique=False)

    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('base_priority', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('promote_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('required_tags', sa.String(length=400), server_default='', nullable=False))
        batch_op.add_column(sa.Column('skips', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('honeypot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('escalated_from', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.drop_index(batch_op.f('ix_review_task_queue'))
        batch_op.create_index('ix_review_task_lease', ['project_id', 'lease_expires_at'], unique=False)
        batch_op.create_index('ix_review_task_holder', ['claimed_by', 'status'], unique=False)
        batch_op.create_index('ix_review_task_promote', ['project_id', 'promote_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_review_task_escalated_from_review_task'), 'review_task', ['escalated_from'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_review_task_honeypot_id_honeypot'), 'honeypot', ['honeypot_id'], ['id'])

    # Tasks made before SLAs existed: their level is their original level and their deadline
    # is when they were made (already due), so SLA reports count them as waiting too long.
    op.execute("UPDATE review_task SET base_priority = priority, due_at = created_at")
    op.execute(
        "UPDATE review SET stage = (SELECT stage FROM review_task WHERE review_task.id = review.task_id)"
    )
    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.alter_column('base_priority', existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column('due_at', existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index(
        'ix_review_task_serve',
        'review_task',
        ['project_id', 'stage', 'status', 'priority', sa.text('priority_score DESC'), 'id'],
        unique=False,
    )



def downgrade() -> None:
    op.drop_index('ix_review_task_serve', table_name='review_task')
    with op.batch_alter_table('review_task', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_review_task_honeypot_id_honeypot'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_review_task_escalated_from_review_task'), type_='foreignkey')
        batch_op.drop_index('ix_review_task_promote')
        batch_op.drop_index('ix_review_task_lease')
        batch_op.drop_index('ix_review_task_holder')
        batch_op.create_index(batch_op.f('ix_review_task_queue'), ['project_id', 'status', 'stage', 'priority', 'priority_score'], unique=False)
        batch_op.drop_column('escalated_from')
        batch_op.drop_column('honeypot_id')
        batch_op.drop_column('skips')
        batch_op.drop_column('required_tags')
        batch_op.drop_column('promote_at')
        batch_op.drop_column('due_at')
        batch_op.drop_column('base_priority')

    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index('ix_review_reviewer_time')
        batch_op.drop_index('ix_review_project_id')
        batch_op.drop_index('ix_review_item_reviewer')
        batch_op.drop_column('session_position')
        batch_op.drop_column('gold_correct')
        batch_op.drop_column('stage')

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('review')

    with op.batch_alter_table('honeypot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_honeypot_project_id'))

    op.drop_table('honeypot')
    with op.batch_alter_table('project_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_member_reviewer_id'))

    op.drop_table('project_member')
    op.drop_table('reviewer')
