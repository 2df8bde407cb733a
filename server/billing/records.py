"""What a billing run leaves in the database: the run, one bill row per service point, closing positions.

These tables belong to billing, not to the reading store: they live on their own MetaData, are created on
first use, and are kept OUT of the store's schema so the store's Alembic comparison (`amr db check`,
autogenerate) never sees them — and never proposes to drop them. `records_engine(store)` gives the place:
- PostgreSQL: the schema `<store schema>_billing` in the same database (via schema_translate_map);
- SQLite file `x.sqlite`: the sibling file `x.billing.sqlite`;
- in-memory SQLite (tests only): the store's own engine.
The closing positions are what makes estimates settle exactly: the next run opens each meter where this run
closed it. The final positions do the same for a contract that ended: where its last bill left each meter, and
where a later run settled an estimate there (see engine.settle_contract_end); the start positions, for a contract
that started, where its first bill started each meter and what later runs settled there
(engine.settle_contract_start).
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from server import db
from server.models import PK, Micro, UTCDateTime


class BillingBase(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map = {dt.datetime: UTCDateTime(), Decimal: Micro()}


class BillingRun(BillingBase):
    __tablename__ = "billing_runs"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    period_start: Mapped[dt.date] = mapped_column(Date, index=True)
    period_end: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running")   # running | done | failed
    tariff: Mapped[str] = mapped_column(String(100), default="")
    service_points: Mapped[int] = mapped_column(Integer, default=0)
    exceptions: Mapped[int] = mapped_column(Integer, default=0)
    net: Mapped[Decimal] = mapped_column(default=Decimal(0))
    gross: Mapped[Decimal] = mapped_column(default=Decimal(0))
    files: Mapped[dict] = mapped_column(JSON, default=dict)


class BillRecord(BillingBase):
    __tablename__ = "billing_bills"
    __table_args__ = (UniqueConstraint("run_id", "service_point_id"), Index(None, "account_id"))

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    service_point_id: Mapped[int] = mapped_column(Integer)   # service_points.id of the store
    service_point: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(Integer)
    water_m3: Mapped[Decimal] = mapped_column()
    water_settlement_m3: Mapped[Decimal] = mapped_column()
    water_source: Mapped[str] = mapped_column(String(20))
    sewage_m3: Mapped[Decimal] = mapped_column()
    sewage_settlement_m3: Mapped[Decimal] = mapped_column()
    sewage_source: Mapped[str] = mapped_column(String(20))
    net: Mapped[Decimal] = mapped_column()
    vat: Mapped[Decimal] = mapped_column()
    gross: Mapped[Decimal] = mapped_column()
    exceptions: Mapped[int] = mapped_column(Integer, default=0)


class ClosingPosition(BillingBase):
    __tablename__ = "billing_positions"
    __table_args__ = (UniqueConstraint("run_id", "meter_id"), Index(None, "meter_id", "at"))

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    meter_id: Mapped[int] = mapped_column(Integer)   # meters.id of the store
    at: Mapped[dt.datetime] = mapped_column()
    value: Mapped[Decimal] = mapped_column()
    source: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))


def ensure_tables(bind: Engine, schema: str | None = None) -> None:
    BillingBase.metadata.create_all(bind, checkfirst=True)
    # billing_final_positions first shipped without settled_m3: add it to a table created then (its rows are
    # all bills' own positions, which NULL means)
    with bind.begin() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns("billing_final_positions", schema=schema)}
        if "settled_m3" not in cols:
            table = f'"{schema}".billing_final_positions' if schema else "billing_final_positions"
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN settled_m3 BIGINT"))


_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def billing_schema(store_engine: Engine) -> str | None:
    """The PostgreSQL schema billing's tables live in, or None on SQLite."""
    if store_engine.dialect.name != "postgresql":
        return None
    with store_engine.connect() as conn:
        current = conn.execute(text("SELECT current_schema()")).scalar() or "public"
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{current}_billing")[:63]


def records_engine(store) -> Engine:
    """The engine for billing's own tables (see the module docstring), tables created on first use."""
    eng: Engine = store.engine
    if eng in _ENGINES:
        return _ENGINES[eng]
    out, schema = eng, None
    if eng.dialect.name == "postgresql":
        schema = billing_schema(eng)
        with eng.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        out = eng.execution_options(schema_translate_map={None: schema})
    elif eng.dialect.name == "sqlite":
        path = eng.url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            p = Path(path)
            out = db.make_engine(f"sqlite:///{p.with_name(p.stem + '.billing' + p.suffix)}")
    ensure_tables(out, schema)
    _ENGINES[eng] = out
    return out


class _BoundaryPosition:
    """The columns, unique key and index billing_final_positions and billing_start_positions share (a mixin:
    each table gets its own Column, constraint and index objects, so both tables' DDL is what it was when each
    declared them itself). `at` is the contract's end (active_to + 1 day, 00:00) for a final position, its start
    (active_from, 00:00) for a start position."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (UniqueConstraint("run_id", "service_point_id", "meter_id", "at"), Index(None, "service_point_id"))

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    service_point_id: Mapped[int] = mapped_column(Integer)   # service_points.id of the store
    account_id: Mapped[int | None] = mapped_column(Integer)  # the customer billed: the store may reassign the point
    meter_id: Mapped[int] = mapped_column(Integer)           # meters.id of the store
    at: Mapped[dt.datetime] = mapped_column()                # the contract's end / start, 00:00
    value: Mapped[Decimal] = mapped_column()
    source: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    settled_m3: Mapped[Decimal | None] = mapped_column(nullable=True)   # NULL: a bill's own position


class FinalPosition(_BoundaryPosition, BillingBase):
    """Where a contract that ended in a run's period left a meter (`Bill.final`: the position its customer was
    billed up to at the contract's end; `settled_m3` NULL), or what a later run settled there (`settled_m3`: the
    signed m3 that run settled, 0 when nothing was owed or the meter is still unread; `value` the position
    valued then). For one (service point, meter, end): the bill row of the latest period's run is what the
    customer was billed, and per period the settlement row of its latest run is in force (a rerun replaces
    its period's run); see load._contract_boundaries for how a run settles only what is still owed."""

    __tablename__ = "billing_final_positions"


class StartPosition(_BoundaryPosition, BillingBase):
    """Where a contract that started in a run's period started a meter (`Bill.initial`: the position its customer
    was billed from; `settled_m3` NULL), or what a later run settled there: the same rows and rules as
    `FinalPosition`, for the other side of a change of customer (see engine.settle_contract_start). A table of its
    own, since the leaving customer's end and the arriving one's start are the same (service point, meter,
    instant) in the same run."""

    __tablename__ = "billing_start_positions"
