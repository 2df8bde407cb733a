"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 13:02:27.675656
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('login', sa.String(length=100), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('login', name=op.f('uq_accounts_login')),
    sa.UniqueConstraint('number', name=op.f('uq_accounts_number'))
    )
    op.create_table('dead_letters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payload_sha256', sa.LargeBinary(length=32), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('van_code', sa.String(length=64), nullable=True),
    sa.Column('topic', sa.String(length=300), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters')),
    sa.UniqueConstraint('payload_sha256', name=op.f('uq_dead_letters_payload_sha256'))
    )
    op.create_table('meter_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('address', sa.String(length=16), nullable=False),
    sa.Column('manufacturer', sa.String(length=3), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_keys')),
    sa.UniqueConstraint('address', 'manufacturer', name=op.f('uq_meter_keys_address_manufacturer'))
    )
    op.create_table('meters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('manufacturer', sa.String(length=3), nullable=False),
    sa.Column('address', sa.String(length=16), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('device_type', sa.SmallInteger(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('serial', sa.String(length=64), nullable=True),
    sa.Column('driver', sa.String(length=64), nullable=True),
    sa.Column('legalised_on', sa.Date(), nullable=True),
    sa.Column('legalised_until', sa.Date(), nullable=True),
    sa.Column('register_digits', sa.SmallInteger(), nullable=True),
    sa.Column('transmit_interval_s', sa.Integer(), nullable=True),
    sa.Column('transmit_window', sa.String(length=64), nullable=True),
    sa.Column('plausible_min_m3', sa.BigInteger(), nullable=True),
    sa.Column('plausible_max_m3', sa.BigInteger(), nullable=True),
    sa.Column('first_heard_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meters')),
    sa.UniqueConstraint('manufacturer', 'address', 'version', 'device_type', name=op.f('uq_meters_manufacturer_address_version_device_type'))
    )
    op.create_table('vans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vans')),
    sa.UniqueConstraint('code', name=op.f('uq_vans_code'))
    )
    op.create_table('ingest_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('van_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('telegrams_new', sa.Integer(), nullable=False),
    sa.Column('readings_new', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['van_id'], ['vans.id'], name=op.f('fk_ingest_batches_van_id_vans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_batches')),
    sa.UniqueConstraint('van_id', 'batch_id', name=op.f('uq_ingest_batches_van_id_batch_id'))
    )
    op.create_table('meter_faults',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_meter_faults_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_faults')),
    sa.UniqueConstraint('meter_id', 'start', name=op.f('uq_meter_faults_meter_id_start'))
    )
    op.create_table('routes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('van_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('planned_for', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['van_id'], ['vans.id'], name=op.f('fk_routes_van_id_vans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routes')),
    sa.UniqueConstraint('name', name=op.f('uq_routes_name'))
    )
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routes_van_id'), ['van_id'], unique=False)

    op.create_table('service_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('connection', sa.String(length=16), nullable=False),
    sa.Column('tariff_group', sa.String(length=32), nullable=False),
    sa.Column('norm_category', sa.String(length=64), nullable=True),
    sa.Column('norm_units', sa.BigInteger(), nullable=True),
    sa.Column('sewered', sa.Boolean(), nullable=False),
    sa.Column('max_daily_m3', sa.BigInteger(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('active_from', sa.Date(), nullable=True),
    sa.Column('active_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_service_points_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_points')),
    sa.UniqueConstraint('code', name=op.f('uq_service_points_code'))
    )
    with op.batch_alter_table('service_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_points_account_id'), ['account_id'], unique=False)

    op.create_table('meter_installations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('service_point_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('initial_reading', sa.BigInteger(), nullable=False),
    sa.Column('final_reading', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_meter_installations_meter_id_meters')),
    sa.ForeignKeyConstraint(['service_point_id'], ['service_points.id'], name=op.f('fk_meter_installations_service_point_id_service_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_installations')),
    sa.UniqueConstraint('meter_id', 'installed_at', name=op.f('uq_meter_installations_meter_id_installed_at'))
    )
    with op.batch_alter_table('meter_installations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_installations_meter_id'), ['meter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meter_installations_service_point_id'), ['service_point_id'], unique=False)

    op.create_table('raw_telegrams',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.LargeBinary(length=32), nullable=False),
    sa.Column('telegram', sa.LargeBinary(), nullable=False),
    sa.Column('meter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('access_no', sa.SmallInteger(), nullable=True),
    sa.Column('van_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('link_mode', sa.String(length=8), nullable=True),
    sa.Column('rssi_dbm', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('decode_ok', sa.Boolean(), nullable=False),
    sa.Column('reject_reason', sa.String(length=32), nullable=True),
    sa.Column('reject_detail', sa.String(length=300), nullable=True),
    sa.Column('driver', sa.String(length=64), nullable=True),
    sa.Column('decoder_version', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['ingest_batches.id'], name=op.f('fk_raw_telegrams_batch_id_ingest_batches')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_raw_telegrams_meter_id_meters')),
    sa.ForeignKeyConstraint(['van_id'], ['vans.id'], name=op.f('fk_raw_telegrams_van_id_vans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_telegrams')),
    sa.UniqueConstraint('sha256', name=op.f('uq_raw_telegrams_sha256'))
    )
    with op.batch_alter_table('raw_telegrams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_raw_telegrams_meter_id'), ['meter_id', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_raw_telegrams_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_raw_telegrams_reject_reason'), ['reject_reason'], unique=False)

    op.create_table('route_stops',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('route_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_route_stops_meter_id_meters')),
    sa.ForeignKeyConstraint(['route_id'], ['routes.id'], name=op.f('fk_route_stops_route_id_routes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route_stops')),
    sa.UniqueConstraint('route_id', 'meter_id', name=op.f('uq_route_stops_route_id_meter_id'))
    )
    with op.batch_alter_table('route_stops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_route_stops_meter_id'), ['meter_id'], unique=False)

    op.create_table('alarms',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('alarm', sa.String(length=24), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('telegram_sha256', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_alarms_meter_id_meters')),
    sa.ForeignKeyConstraint(['telegram_sha256'], ['raw_telegrams.sha256'], name=op.f('fk_alarms_telegram_sha256_raw_telegrams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarms')),
    sa.UniqueConstraint('telegram_sha256', 'alarm', name=op.f('uq_alarms_telegram_sha256_alarm'))
    )
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alarms_meter_id'), ['meter_id', 'observed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alarms_observed_at'), ['observed_at'], unique=False)

    op.create_table('readings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.String(length=48), nullable=False),
    sa.Column('function', sa.String(length=16), nullable=False),
    sa.Column('storage', sa.Integer(), nullable=False),
    sa.Column('tariff', sa.SmallInteger(), nullable=False),
    sa.Column('subunit', sa.SmallInteger(), nullable=False),
    sa.Column('value_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('meter_clock', sa.Boolean(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=True),
    sa.Column('value_text', sa.String(length=200), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('telegram_sha256', sa.LargeBinary(length=32), nullable=True),
    sa.Column('decoder_version', sa.String(length=32), nullable=True),
    sa.Column('entered_by', sa.String(length=100), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_readings_meter_id_meters')),
    sa.ForeignKeyConstraint(['telegram_sha256'], ['raw_telegrams.sha256'], name=op.f('fk_readings_telegram_sha256_raw_telegrams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readings')),
    sa.UniqueConstraint('meter_id', 'quantity', 'function', 'storage', 'tariff', 'subunit', 'value_at', 'source', name='uq_readings_natural_key')
    )
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readings_meter_id'), ['meter_id', 'value_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_readings_value_at'), ['value_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readings_value_at'))
        batch_op.drop_index(batch_op.f('ix_readings_meter_id'))

    op.drop_table('readings')
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alarms_observed_at'))
        batch_op.drop_index(batch_op.f('ix_alarms_meter_id'))

    op.drop_table('alarms')
    with op.batch_alter_table('route_stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_route_stops_meter_id'))

    op.drop_table('route_stops')
    with op.batch_alter_table('raw_telegrams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_raw_telegrams_reject_reason'))
        batch_op.drop_index(batch_op.f('ix_raw_telegrams_received_at'))
        batch_op.drop_index(batch_op.f('ix_raw_telegrams_meter_id'))

    op.drop_table('raw_telegrams')
    with op.batch_alter_table('meter_installations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_installations_service_point_id'))
        batch_op.drop_index(batch_op.f('ix_meter_installations_meter_id'))

    op.drop_table('meter_installations')
    with op.batch_alter_table('service_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_points_account_id'))

    op.drop_table('service_points')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routes_van_id'))

    op.drop_table('routes')
    op.drop_table('meter_faults')
    op.drop_table('ingest_batches')
    op.drop_table('vans')
    op.drop_table('meters')
    op.drop_table('meter_keys')
    op.drop_table('dead_letters')
    op.drop_table('accounts')
