"""cheaper time indexes: BRIN on PostgreSQL for received_at / value_at, partial reject_reason index

B-tree indexes on the time columns halved bulk ingest into raw_telegrams; telegrams and readings arrive
roughly in time order, so PostgreSQL gets BRIN indexes (SQLite keeps B-trees). The reject_reason index
only covers telegrams that failed, the only ones looked up by reason.

Alembic's comparison does not see index methods or predicates; tests/server/test_migrations.py checks
these definitions directly.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:38:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILED = sa.text("NOT decode_ok")


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.drop_index("ix_raw_telegrams_received_at", table_name="raw_telegrams")
        op.create_index("ix_raw_telegrams_received_at", "raw_telegrams", ["received_at"], postgresql_using="brin")
        op.drop_index("ix_readings_value_at", table_name="readings")
        op.create_index("ix_readings_value_at", "readings", ["value_at"], postgresql_using="brin")
    op.drop_index("ix_raw_telegrams_reject_reason", table_name="raw_telegrams")
    op.create_index("ix_raw_telegrams_reject_reason", "raw_telegrams", ["reject_reason"],
                    postgresql_where=FAILED, sqlite_where=FAILED)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_raw_telegrams_reject_reason", table_name="raw_telegrams")
    op.create_index("ix_raw_telegrams_reject_reason", "raw_telegrams", ["reject_reason"])
    if pg:
        op.drop_index("ix_readings_value_at", table_name="readings")
        op.create_index("ix_readings_value_at", "readings", ["value_at"])
        op.drop_index("ix_raw_telegrams_received_at", table_name="raw_telegrams")
        op.create_index("ix_raw_telegrams_received_at", "raw_telegrams", ["received_at"])
