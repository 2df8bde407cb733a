"""The billing engine's own inputs and outputs: plain dataclasses, no database.

The loader (server/billing/load.py) fills these from the store; tests build them by hand. Quantities are
`Decimal` m3, money is `Decimal` zł, instants are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from server.reading_source import ReadingSource


class Role(enum.StrEnum):
    MAIN = "main"
    GARDEN = "garden"            # garden sub-meter: deducted from sewage while legalised
    SEWAGE = "sewage"            # sewage flow meter: sewage = its delta (art. 27 ust. 4)
    OWN_INTAKE = "own_intake"    # own well: added to sewage (art. 27 ust. 5)


# Where a value or quantity came from; printed on every billed quantity (the store's vocabulary).
Source = ReadingSource


# The less trusted source wins when two readings are combined (interpolation): a quantity is only as
# good as its weakest boundary.
TRUST: dict[Source, int] = {
    Source.RADIO: 5,
    Source.MANUAL: 4,
    Source.SELF_READING: 3,
    Source.FAULTY_METER_RULE: 2,
    Source.NORM: 1,
    Source.ESTIMATE: 0,
}

REAL_SOURCES = frozenset({Source.RADIO, Source.MANUAL, Source.SELF_READING})


def weakest(*sources: Source) -> Source:
    return min(sources, key=TRUST.__getitem__)


class Connection(enum.StrEnum):
    METERED = "metered"
    UNMETERED = "unmetered"      # no main meter: norms (art. 27 ust. 1)
    TEMPORARY = "temporary"      # e.g. construction: norms until a meter is fitted


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """One register value as displayed by the meter (before rollover unwrapping)."""

    at: datetime
    value: Decimal
    source: Source = Source.RADIO
    due_date: bool = False       # the meter's own stored value for a due date (e.g. the 1st, 00:00)


@dataclass(frozen=True, slots=True)
class Fault:
    """A main-meter malfunction: readings inside [start, end) are not billed; the 3-month rule is."""

    start: datetime
    end: datetime | None = None  # None: still faulty


@dataclass(slots=True)
class Installation:
    """One meter in one role at one service point between two instants (a replacement = two of these)."""

    meter_id: str
    role: Role
    installed_at: datetime
    initial_value: Decimal = Decimal(0)
    removed_at: datetime | None = None
    final_value: Decimal | None = None
    readings: list[RegisterReading] = field(default_factory=list)
    register_modulus: Decimal | None = None   # e.g. 100000 for a 5-digit m3 register
    legalised_until: date | None = None       # garden sub-meters only count while legalised
    faults: list[Fault] = field(default_factory=list)
    plausible_min_m3: Decimal | None = None   # per month; the route sheet's plausibility limits
    plausible_max_m3: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    meter_id: str
    at: datetime
    kind: str


@dataclass(slots=True)
class ServicePoint:
    id: str
    account: str | None = None
    connection: Connection = Connection.METERED
    installations: list[Installation] = field(default_factory=list)
    norm_category: str | None = None     # key into the NormTable for unmetered spans
    norm_units: Decimal = Decimal(0)     # persons, m2 ... as the norm's unit says
    sewered: bool = True                 # connected to the sewer: sewage is billed
    max_daily_m3: Decimal | None = None  # plausibility limit; None: the run's default
    alarms: list[AlarmEvent] = field(default_factory=list)
    address: str = ""
    active_from: date | None = None      # contract: first active day (the store's service_points.active_from)
    active_to: date | None = None        # contract: last active day, inclusive; None: open


@dataclass(frozen=True, slots=True)
class NormEntry:
    category: str
    unit: str          # "person", "m2 of construction" ...
    value: Decimal     # m3 per unit per month
    description: str = ""


@dataclass(frozen=True, slots=True)
class Tariff:
    water_price: Decimal          # zł net per m3
    sewage_price: Decimal         # zł net per m3
    subscription: Decimal         # zł net per month
    vat_rate: Decimal             # 0.08
    name: str = ""


@dataclass(frozen=True, slots=True)
class Position:
    """A register position billed up to: the opening of the next period is the closing of this one."""

    meter_id: str
    at: datetime
    value: Decimal        # unwrapped relative to the installation's initial value, see register.py
    source: Source
    method: str


@dataclass(frozen=True, slots=True)
class Boundary:
    at: datetime
    value: Decimal
    source: Source
    method: str          # due_date | reading | interpolated | estimate | carried | installed | removed | last_reading


@dataclass(slots=True)
class MeterQuantity:
    """What one installation contributed in one period."""

    meter_id: str
    role: Role
    consumption: Decimal      # this period's own quantity (never negative for billing)
    settlement: Decimal       # correction of earlier estimates (signed)
    source: Source
    start: Boundary | None = None
    end: Boundary | None = None
    note: str = ""


@dataclass(slots=True)
class Quantity:
    m3: Decimal               # consumption of the period
    settlement_m3: Decimal    # signed correction of quantities billed earlier on estimates
    source: Source
    parts: list[MeterQuantity] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.m3 + self.settlement_m3


class ExceptionKind(enum.StrEnum):
    UNREAD = "unread"
    IMPLAUSIBLE = "implausible_reading"
    REVERSE = "reverse_consumption"
    SUBMETER_ABOVE_MAIN = "submeter_above_main"
    ALARM = "alarm"
    NO_HISTORY = "no_history_for_estimate"
    LEGALISATION_EXPIRED = "legalisation_expired"
    FAULTY_METER = "faulty_meter"
    NO_MAIN_METER = "no_main_meter"
    NO_NORM = "no_norm"
    PARTIAL_SEWAGE_METER = "partial_sewage_meter"
    OUTSIDE_CONTRACT = "consumption_outside_contract"   # metered in the period but before/after the contract
    CONTRACT_END_SETTLEMENT = "contract_end_settlement"   # a departed customer's end estimate, now read
    CONTRACT_START_SETTLEMENT = "contract_start_settlement"   # an arriving customer's start estimate, now read
    BILLING_ERROR = "billing_error"          # the service point could not be billed at all (data error)


@dataclass(frozen=True, slots=True)
class BillingException:
    service_point: str
    kind: ExceptionKind
    detail: str
    meter_id: str | None = None
    at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "service_point": self.service_point,
            "kind": str(self.kind),
            "meter_id": self.meter_id,
            "at": self.at.isoformat() if self.at else None,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ChargeLine:
    kind: str             # water | water_settlement | sewage | sewage_settlement | subscription
    quantity: Decimal
    unit: str
    unit_price: Decimal
    net: Decimal
    source: Source | None = None


@dataclass(slots=True)
class Bill:
    service_point: str
    account: str | None
    period_start: date
    period_end: date           # exclusive
    connection: Connection
    water: Quantity
    sewage: Quantity
    lines: list[ChargeLine]
    net: Decimal
    vat: Decimal
    gross: Decimal
    closing: list[Position] = field(default_factory=list)
    exceptions: list[BillingException] = field(default_factory=list)
    # where a contract ending in this period (active_to inside it) left each meter: the position the leaving
    # customer was billed up to; one valued by an estimate is settled by a later run (engine.settle_contract_end)
    final: list[Position] = field(default_factory=list)
    # where a contract starting in this period (active_from inside it, its first day included) started each meter:
    # the position its customer is billed from; one valued by an estimate is settled by a later run
    # (engine.settle_contract_start), since it is also where the previous customer's contract ended
    initial: list[Position] = field(default_factory=list)
