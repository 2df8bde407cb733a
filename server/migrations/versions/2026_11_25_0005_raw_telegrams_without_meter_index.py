"""raw_telegrams without the (meter_id, received_at) index

With telegrams of 25,000 meters interleaved, every insert touched a random leaf of this B-tree; dropping it
about doubled bulk ingest into raw_telegrams on PostgreSQL (BENCHMARKS.md). Per-meter history is read from
readings (their unique key leads with meter_id, value_at); `amr redecode` sorts the telegrams once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 13:42:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_raw_telegrams_meter_id", table_name="raw_telegrams")


def downgrade() -> None:
    op.create_index("ix_raw_telegrams_meter_id", "raw_telegrams", ["meter_id", "received_at"])
