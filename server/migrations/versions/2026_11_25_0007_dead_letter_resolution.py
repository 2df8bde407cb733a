"""dead letters: resolution and the latest replay

`amr deadletters replay` feeds an open dead letter through the importer again; a row it got into the store
is marked resolved (when, and how: stored | duplicate) instead of deleted, so the table keeps the history.
`last_replay_at` / `last_replay` record the latest attempt, also for a row that is still bad. Existing rows
come out open (NULL). No index: the table is small and read by operators, never on the ingest path.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('last_replay_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_replay', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_column('last_replay')
        batch_op.drop_column('last_replay_at')
        batch_op.drop_column('resolution')
        batch_op.drop_column('resolved_at')
