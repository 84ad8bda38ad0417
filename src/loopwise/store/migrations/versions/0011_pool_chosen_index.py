"""The pool's chosen candidates get a partial index, as its waiting ones have.

The pool's status counts the candidates queries chose, and the pool's listing pages through
them; both scanned the project's whole pool for the few with an item (0.45 s of SQLite's
0.65 s status of a million candidates). Indexed only over the chosen, both read the chosen
alone. Candidates are added unchosen, so adding writes nothing to this index.

Revision ID: 0011_pool_chosen_index
Revises: 0010_pool_ids_never_reused
Create Date: 2026-12-07 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_pool_chosen_index'
down_revision: str | None = '0010_pool_ids_never_reused'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # not in batch mode: on SQLite that could copy the table, declared AUTOINCREMENT by 0010
    op.create_index(
        'ix_pool_item_chosen', 'pool_item', ['project_id', 'id'], unique=False,
        sqlite_where=sa.text('item_id IS NOT NULL'),
        postgresql_where=sa.text('item_id IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_pool_item_chosen', table_name='pool_item')
