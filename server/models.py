"""The reading store's tables (SQLAlchemy 2.x declarative, typed).

Only `server/store.py` (the API), `server/repository.py` (dialect-specific bulk SQL), `server/imports.py`
and `server/redecode.py` touch these tables; importer, billing and the back-office API go through
`server.store.Store`.

Conventions (engineering.md §5):
- every ingest table has a natural-key UNIQUE constraint, so replays are absorbed by ON CONFLICT DO NOTHING;
- surrogate integer PKs (BIGINT on PostgreSQL, INTEGER on SQLite because only `INTEGER PRIMARY KEY` is
  SQLite's auto-incrementing rowid);
- timestamps are `DateTime(timezone=True)` and always UTC: `UTCDateTime` refuses naive datetimes on the way
  in and re-attaches UTC on the way out (SQLite stores no zone);
- quantities are exact: `Micro` stores a Decimal as a BIGINT count of millionths, so sums on SQLite are
  exact too (SQLite has no DECIMAL);
- relationships are `lazy="raise"`: implicit lazy loading is a bug, not a slow query;
- foreign keys on the registry tables, none on the ingest tables (raw_telegrams, readings): PostgreSQL
  checks an FK per row with a lock on the referenced row, which cut bulk ingest several-fold
  (bench/store/probe_merge_costs.py); the store fills those ids itself inside the same transaction;
- a MetaData naming convention, so Alembic can drop and alter constraints by name on both dialects.

Tables:
  accounts, service_points                     who pays and where water is drawn
  meters, meter_installations                  devices (registered or merely heard) and where/when fitted
  meter_keys                                   AES keys, encrypted at rest (see server/keyvault.py)
  vans, routes, route_stops                    who drives where
  ingest_batches, raw_telegrams, readings,     everything a van delivered, deduplicated
  alarms, dead_letters
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite auto-increments only an `INTEGER PRIMARY KEY` column.
PK = BigInteger().with_variant(Integer(), "sqlite")

MICRO = Decimal(1_000_000)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC only, pass an aware datetime")
        value = value.astimezone(dt.UTC)
        # SQLite compares timestamps as text: one canonical, zone-less form keeps ORDER BY and ranges right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Micro(TypeDecorator[Decimal]):
    """An exact decimal with six places, stored as a BIGINT count of millionths."""

    impl = BigInteger()
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | float | None, dialect) -> int | None:
        if value is None:
            return None
        return to_micro(value)

    def process_result_value(self, value: int | None, dialect) -> Decimal | None:
        if value is None:
            return None
        return from_micro(value)


def to_micro(value: Decimal | int | float) -> int:
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((d * MICRO).to_integral_value())


def from_micro(value: int) -> Decimal:
    return (Decimal(value) / MICRO).normalize() if value % 1_000_000 else Decimal(value // 1_000_000)


class MeterRole(enum.StrEnum):
    MAIN = "main"                  # wodomierz główny: water billed from it
    GARDEN = "garden"              # customer's sub-meter for irrecoverably used water (art. 27 ust. 6)
    SEWAGE = "sewage"              # sewage flow meter (art. 27 ust. 4)
    OWN_INTAKE = "own_intake"      # customer's own well: adds to sewage



class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), Decimal: Micro()}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Account(Base):
    """A customer (contract holder). `login` is the customer-portal user name."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    login: Mapped[str | None] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)

    service_points: Mapped[list[ServicePoint]] = relationship(back_populates="account", lazy="raise")

    def __repr__(self) -> str:  # never the password hash
        return f"Account(id={self.id!r}, number={self.number!r})"


class ServicePoint(Base):
    """A place water is delivered (a connection). Unmetered and temporary ones are billed by norms."""

    __tablename__ = "service_points"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    connection: Mapped[str] = mapped_column(String(16), default="metered")  # metered|unmetered|temporary
    tariff_group: Mapped[str] = mapped_column(String(32), default="household")
    norm_category: Mapped[str | None] = mapped_column(String(64))  # key into billing's norm table
    norm_units: Mapped[Decimal | None] = mapped_column()  # persons, m2 … as the norm's unit says
    sewered: Mapped[bool] = mapped_column(Boolean, default=True)
    max_daily_m3: Mapped[Decimal | None] = mapped_column()  # plausibility limit for billing
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    active_from: Mapped[dt.date | None] = mapped_column(Date)
    active_to: Mapped[dt.date | None] = mapped_column(Date)

    account: Mapped[Account | None] = relationship(back_populates="service_points", lazy="raise")
    installations: Mapped[list[MeterInstallation]] = relationship(back_populates="service_point", lazy="raise")


class Meter(Base):
    """A radio device by its four-part identity. Rows appear for registry meters and for every device heard
    (role None: not in the registry), so raw telegrams and readings always have a meter to point at."""

    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("manufacturer", "address", "version", "device_type"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    manufacturer: Mapped[str] = mapped_column(String(3))
    address: Mapped[str] = mapped_column(String(16))     # Identity.id: eight BCD digits as printed
    version: Mapped[int] = mapped_column(SmallInteger)
    device_type: Mapped[int] = mapped_column(SmallInteger)
    role: Mapped[str | None] = mapped_column(String(16))  # MeterRole; None: heard, not registered
    model: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(64))  # the number on the body, if not the radio id
    driver: Mapped[str | None] = mapped_column(String(64))  # force a driver when auto-detection is wrong
    legalised_on: Mapped[dt.date | None] = mapped_column(Date)
    legalised_until: Mapped[dt.date | None] = mapped_column(Date)
    register_digits: Mapped[int | None] = mapped_column(SmallInteger)  # whole m3 digits: rollover at 10**n
    transmit_interval_s: Mapped[int | None] = mapped_column(Integer)
    transmit_window: Mapped[str | None] = mapped_column(String(64))
    plausible_min_m3: Mapped[Decimal | None] = mapped_column()
    plausible_max_m3: Mapped[Decimal | None] = mapped_column()
    first_heard_at: Mapped[dt.datetime | None] = mapped_column()
    registered_at: Mapped[dt.datetime | None] = mapped_column()

    installations: Mapped[list[MeterInstallation]] = relationship(back_populates="meter", lazy="raise")


class MeterInstallation(Base):
    """A meter fitted at a service point from `installed_at` until `removed_at` (None: still there).
    A replacement is two rows: the old meter's final reading and the new meter's initial reading."""

    __tablename__ = "meter_installations"
    __table_args__ = (UniqueConstraint("meter_id", "installed_at"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    service_point_id: Mapped[int] = mapped_column(ForeignKey("service_points.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # MeterRole at this point
    installed_at: Mapped[dt.datetime] = mapped_column()
    removed_at: Mapped[dt.datetime | None] = mapped_column()
    initial_reading: Mapped[Decimal] = mapped_column(default=Decimal(0))
    final_reading: Mapped[Decimal | None] = mapped_column()

    meter: Mapped[Meter] = relationship(back_populates="installations", lazy="raise")
    service_point: Mapped[ServicePoint] = relationship(back_populates="installations", lazy="raise")


class MeterFault(Base):
    """A malfunction of a meter from `start` until `end` (None: still faulty). Billing replaces readings
    inside it by the faulty-meter rule (3-month average)."""

    __tablename__ = "meter_faults"
    __table_args__ = (UniqueConstraint("meter_id", "start"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    start: Mapped[dt.datetime] = mapped_column()
    end: Mapped[dt.datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(String(300), default="")


class MeterKey(Base):
    """An AES-128 key, AES-GCM encrypted with the master key (server/keyvault.py). `manufacturer` '' means
    any manufacturer, as in decoders.keys.KeyStore CSVs without that column."""

    __tablename__ = "meter_keys"
    __table_args__ = (UniqueConstraint("address", "manufacturer"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    address: Mapped[str] = mapped_column(String(16))
    manufacturer: Mapped[str] = mapped_column(String(3), default="")
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(default=_now)

    def __repr__(self) -> str:  # the ciphertext is no secret, but keep key material out of logs entirely
        return f"MeterKey(address={self.address!r}, manufacturer={self.manufacturer!r})"


class Van(Base):
    __tablename__ = "vans"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the van_id used in MQTT topics
    name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)


class Route(Base):
    __tablename__ = "routes"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    van_id: Mapped[int | None] = mapped_column(ForeignKey("vans.id"), index=True)
    planned_for: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)


class RouteStop(Base):
    __tablename__ = "route_stops"
    __table_args__ = (UniqueConstraint("route_id", "meter_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class IngestBatch(Base):
    """One delivered batch, inserted in the same transaction as its rows: a replay is recognised up front."""

    __tablename__ = "ingest_batches"
    __table_args__ = (UniqueConstraint("van_id", "batch_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    van_id: Mapped[int] = mapped_column(ForeignKey("vans.id"))
    batch_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(default=_now)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    telegrams_new: Mapped[int] = mapped_column(Integer, default=0)
    readings_new: Mapped[int] = mapped_column(Integer, default=0)


class RawTelegram(Base):
    """Every distinct telegram heard, immutable. Natural key: SHA-256 of the normalised telegram, which
    covers manufacturer, address, version, type and access number (the access number alone wraps at 256).
    The same transmission heard again (another pass, another van, a replay) is the same row."""

    __tablename__ = "raw_telegrams"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    telegram: Mapped[bytes] = mapped_column(LargeBinary)
    # No FKs on this, the busiest table: PostgreSQL checks each with a row lock on the referenced row, and
    # every telegram of a batch points at the same van and batch rows (merge 18k -> 101k rows/s without
    # them, bench/store/probe_merge_costs.py). The store fills these ids itself in the same transaction
    # (repository.resolve_meters, the batch row it just inserted); meters, vans and batches are never deleted.
    meter_id: Mapped[int | None] = mapped_column(PK)
    access_no: Mapped[int | None] = mapped_column(SmallInteger)
    van_id: Mapped[int | None] = mapped_column(PK)
    batch_id: Mapped[int | None] = mapped_column(PK)
    received_at: Mapped[dt.datetime] = mapped_column()
    source: Mapped[str | None] = mapped_column(String(100))
    link_mode: Mapped[str | None] = mapped_column(String(8))
    rssi_dbm: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    decode_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    reject_reason: Mapped[str | None] = mapped_column(String(32))  # decoders.model.Reject value
    reject_detail: Mapped[str | None] = mapped_column(String(300))
    driver: Mapped[str | None] = mapped_column(String(64))
    decoder_version: Mapped[str | None] = mapped_column(String(32))

    # No (meter_id, received_at) B-tree: with telegrams from 25,000 meters interleaved it cost half of bulk
    # ingest (BENCHMARKS.md). Per-meter history is read from readings; redecode sorts once.
    __table_args__ = (
        # Telegrams arrive roughly in time order: a BRIN index on PostgreSQL costs almost nothing per insert
        # (a B-tree here halved bulk ingest); SQLite gets an ordinary index.
        Index(None, "received_at", postgresql_using="brin"),
        # Only the telegrams that failed are looked up by reason (amr redecode --reason NO_KEY).
        Index(None, "reject_reason", postgresql_where=text("NOT decode_ok"), sqlite_where=text("NOT decode_ok")),
    )


class Reading(Base):
    """One register value. Natural key: (meter, value_at, quantity, function, storage, tariff, subunit,
    source). `function` separates instantaneous from max/min records of the same quantity; `source`
    keeps an estimate at a period boundary from swallowing the real due-date reading that arrives later
    with the same timestamp. `value` holds numbers, `value_text` anything else (dates, strings)."""

    __tablename__ = "readings"
    __table_args__ = (
        # value_at second: the key's index then also serves "this meter's readings in a time range",
        # so no separate (meter_id, value_at) index has to be maintained on every insert.
        UniqueConstraint(
            "meter_id", "value_at", "quantity", "function", "storage", "tariff", "subunit", "source",
            name="uq_readings_natural_key",
        ),
        Index(None, "value_at", postgresql_using="brin"),  # period scans for billing; see raw_telegrams
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    # No FK either: the per-row FK trigger cost ~40 % of bulk ingest on PostgreSQL. Meter ids come from
    # repository.resolve_meters in the same transaction, meters are never deleted, and Store.add_readings
    # checks the ids it is given.
    meter_id: Mapped[int] = mapped_column(PK)
    quantity: Mapped[str] = mapped_column(String(48))
    function: Mapped[str] = mapped_column(String(16), default="instantaneous")
    storage: Mapped[int] = mapped_column(Integer, default=0)
    tariff: Mapped[int] = mapped_column(SmallInteger, default=0)
    subunit: Mapped[int] = mapped_column(SmallInteger, default=0)
    value_at: Mapped[dt.datetime] = mapped_column()
    meter_clock: Mapped[bool] = mapped_column(Boolean, default=False)  # value_at from the meter, not reception
    value: Mapped[Decimal | None] = mapped_column()
    value_text: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(20))  # ReadingSource
    # No FK: raw telegrams may be pruned by a retention policy while readings stay (engineering.md §5.4),
    # and the FK check was the largest single cost of bulk ingest (BENCHMARKS.md, reading store).
    telegram_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    decoder_version: Mapped[str | None] = mapped_column(String(32))
    entered_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)


class AlarmRecord(Base):
    """An alarm flag seen in a telegram. Natural key: (telegram, alarm)."""

    __tablename__ = "alarms"
    __table_args__ = (
        UniqueConstraint("telegram_sha256", "alarm"),
        Index(None, "meter_id", "observed_at"),
        Index(None, "observed_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    alarm: Mapped[str] = mapped_column(String(24))  # decoders.model.Alarm value
    observed_at: Mapped[dt.datetime] = mapped_column()
    telegram_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))  # no FK, as readings


class DeadLetter(Base):
    """A message (or one frame of a batch) the importer could not use, kept raw with the reason. Natural key:
    the payload's SHA-256, so a poison message redelivered ten times is one row.

    Open until `amr deadletters replay` gets it into the store (server/deadletters.py): then `resolved_at`
    and `resolution` (stored | duplicate) say when and how. `reason` stays what the importer said when it
    kept the row; `last_replay_at` / `last_replay` record the latest replay attempt and what it found."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    payload_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    van_code: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[dt.datetime] = mapped_column(default=_now)
    resolved_at: Mapped[dt.datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(32))
    last_replay_at: Mapped[dt.datetime | None]
    last_replay: Mapped[str | None] = mapped_column(Text)
