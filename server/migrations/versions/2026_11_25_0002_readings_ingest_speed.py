"""readings ingest speed: no FKs from readings/alarms to raw_telegrams, natural key led by (meter, time)

Bulk ingest on PostgreSQL measured the FK check to raw_telegrams.sha256 as the largest single cost; raw
telegrams may also be pruned by a retention policy while readings stay. The natural key's unique index,
reordered to (meter_id, value_at, …), serves per-meter time-range queries, so the separate
(meter_id, value_at) index goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:15:59.800752
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ["meter_id", "quantity", "function", "storage", "tariff", "subunit", "value_at", "source"]
NEW_KEY = ["meter_id", "value_at", "quantity", "function", "storage", "tariff", "subunit", "source"]


def upgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_alarms_telegram_sha256_raw_telegrams"), type_="foreignkey")

    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readings_meter_id"))
        batch_op.drop_constraint(batch_op.f("fk_readings_telegram_sha256_raw_telegrams"), type_="foreignkey")
        batch_op.drop_constraint("uq_readings_natural_key", type_="unique")
        batch_op.create_unique_constraint("uq_readings_natural_key", NEW_KEY)


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_constraint("uq_readings_natural_key", type_="unique")
        batch_op.create_unique_constraint("uq_readings_natural_key", OLD_KEY)
        batch_op.create_foreign_key(batch_op.f("fk_readings_telegram_sha256_raw_telegrams"), "raw_telegrams",
                                    ["telegram_sha256"], ["sha256"])
        batch_op.create_index(batch_op.f("ix_readings_meter_id"), ["meter_id", "value_at"], unique=False)

    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_alarms_telegram_sha256_raw_telegrams"), "raw_telegrams",
                                    ["telegram_sha256"], ["sha256"])
