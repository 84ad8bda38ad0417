"""SQLite: a pool item's id is never given out again once its candidate is removed.

The feature store keeps each candidate's features, inputs and term counts under its pool-item
id (``loopwise.store.features``). Candidates can now be removed from the pool; SQLite numbers
the rows of a table without ``AUTOINCREMENT`` from the largest id it holds, so a candidate
added after the newest ones were removed would take a removed one's id and be scored on its
stored features. With ``AUTOINCREMENT`` SQLite numbers from the largest id it ever gave out
(``sqlite_sequence``). The table is copied into one declared so, ids kept; its partial index
is made again on the copy.

PostgreSQL's sequences never give an id out twice: nothing changes there.

Revision ID: 0010_pool_ids_never_reused
Revises: 0009_set_checked_keys
Create Date: 2026-12-07 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_pool_ids_never_reused'
down_revision: str | None = '0009_set_checked_keys'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _copied(autoincrement: bool) -> None:
    op.drop_index('ix_pool_item_waiting', table_name='pool_item')
    with op.batch_alter_table(
        'pool_item', recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
    ):
        pass
    op.create_index(
        'ix_pool_item_waiting', 'pool_item', ['project_id', 'id'], unique=False,
        sqlite_where=sa.text('item_id IS NULL'),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _copied(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _copied(autoincrement=False)
