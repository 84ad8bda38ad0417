"""Items people see get an index on their payload's digest, per project.

A query of the active-learning pool sets aside a chosen candidate whose payload an item already
holds, queued for review or resolved (asking people again about a text they have seen, or will
see, spends a label for nothing); it finds those items by probing this index with the chosen
candidates' digests. Without it, each query read every item of the project.

Only items queued or resolved are indexed: a digest is random, so at scale nearly every entry
lands on a page of its own, and over every item an ingest paid 31 us more a row on SQLite at two
million rows (38 against 7). The model's own decisions, most of an ingest, write nothing here.
``bench/item_digest_index.py``; the figures are in ``docs/benchmarks.md``.

Revision ID: 0012_item_payload_index
Revises: 0011_pool_chosen_index
Create Date: 2026-12-07 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_item_payload_index'
down_revision: str | None = '0011_pool_chosen_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SEEN_BY_PEOPLE = "(status = 'queued' OR status = 'resolved')"


def upgrade() -> None:
    op.create_index(
        'ix_item_project_payload', 'item', ['project_id', 'payload_sha256'], unique=False,
        sqlite_where=sa.text(SEEN_BY_PEOPLE),
        postgresql_where=sa.text(SEEN_BY_PEOPLE),
    )


def downgrade() -> None:
    op.drop_index('ix_item_project_payload', table_name='item')
