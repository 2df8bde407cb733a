"""readings without meter fk

The per-row FK check on readings.meter_id cost ~40 % of bulk ingest on PostgreSQL (BENCHMARKS.md). Meter
ids come from the store in the same transaction, meters are never deleted, and Store.add_readings checks
the ids it is given.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:24:09.040998
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_readings_meter_id_meters'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_readings_meter_id_meters'), 'meters', ['meter_id'], ['id'])
