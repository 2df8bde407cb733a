"""Request and response bodies. Quantities and money travel as decimal strings, never floats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field


class Problem(BaseModel):
    detail: str


class TokenRequest(BaseModel):
    login: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime


class MeterOut(BaseModel):
    id: int
    label: str
    manufacturer: str
    address: str
    version: int
    device_type: int
    role: str | None
    model: str | None
    legalised_until: dt.date | None
    register_digits: int | None


class InstallationOut(BaseModel):
    meter: MeterOut
    role: str
    installed_at: dt.datetime
    removed_at: dt.datetime | None
    initial_reading: str
    final_reading: str | None


class ServicePointOut(BaseModel):
    code: str
    account: str | None
    address: str
    connection: str
    sewered: bool
    norm_category: str | None


class ServicePointDetail(ServicePointOut):
    installations: list[InstallationOut]


class AccountOut(BaseModel):
    number: str
    name: str
    service_points: list[ServicePointDetail]


class ReadingOut(BaseModel):
    meter_id: int
    meter: str
    value_at: dt.datetime
    value: str
    unit: str
    source: str
    storage: int
    due_date: bool


class MeterConsumption(BaseModel):
    meter: str
    role: str
    m3: str
    settlement_m3: str
    source: str


class MonthConsumption(BaseModel):
    period: str
    water_m3: str
    water_source: str
    sewage_m3: str
    sewage_source: str
    meters: list[MeterConsumption]


class ConsumptionHistory(BaseModel):
    service_point: str
    months: list[MonthConsumption]


class AlarmOut(BaseModel):
    meter_id: int
    meter: str | None
    alarm: str
    observed_at: dt.datetime


class RouteProgressOut(BaseModel):
    route: str
    van: str | None
    total: int
    heard: int
    read: int
    unread: int


class BillingRunOut(BaseModel):
    id: int
    period_start: dt.date
    period_end: dt.date
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    tariff: str
    service_points: int
    exceptions: int
    net: str
    gross: str


class BillOut(BaseModel):
    run_id: int
    period_start: dt.date
    period_end: dt.date
    service_point: str
    water_m3: str
    water_settlement_m3: str
    water_source: str
    sewage_m3: str
    sewage_settlement_m3: str
    sewage_source: str
    net: str
    vat: str
    gross: str
    exceptions: int


class BillingRunDetail(BillingRunOut):
    bills: list[BillOut]


class GardenReadingIn(BaseModel):
    service_point: str = Field(min_length=1, max_length=32)
    meter_address: str = Field(min_length=1, max_length=16, description="the number printed on the sub-meter")
    value: Decimal = Field(ge=0, le=Decimal("99999999.999"), max_digits=12, decimal_places=3,
                           description="register in m3")
    read_at: dt.datetime | None = Field(None, description="when it was read; default now")


class GardenReadingOut(BaseModel):
    created: bool
    service_point: str
    meter: str
    value: str
    read_at: dt.datetime
    previous_value: str | None
    previous_at: dt.datetime | None
