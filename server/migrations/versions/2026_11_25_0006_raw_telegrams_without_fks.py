"""raw telegrams without FKs (meter, van, batch)

PostgreSQL checks each FK with a row lock on the referenced row, and every telegram of a batch points at
the same van and ingest_batches rows: the server-side merge ran at 18k rows/s with the three FKs and 101k
without (bench/store/probe_merge_costs.py, BENCHMARKS.md). The store fills these ids itself in the same
transaction; meters, vans and batches are never deleted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:03:29.024635
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('raw_telegrams', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_raw_telegrams_meter_id_meters'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_raw_telegrams_batch_id_ingest_batches'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_raw_telegrams_van_id_vans'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('raw_telegrams', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_raw_telegrams_van_id_vans'), 'vans', ['van_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_raw_telegrams_batch_id_ingest_batches'), 'ingest_batches', ['batch_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_raw_telegrams_meter_id_meters'), 'meters', ['meter_id'], ['id'])
