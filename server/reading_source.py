"""Where a reading or a billed quantity came from. One vocabulary for the store (its `readings.source`
column) and for billing (printed on every billed quantity); kept free of SQLAlchemy so the pure billing
engine can use it."""

from __future__ import annotations

import enum


class ReadingSource(enum.StrEnum):
    RADIO = "radio"
    MANUAL = "manual"
    SELF_READING = "self_reading"
    ESTIMATE = "estimate"
    NORM = "norm"
    FAULTY_METER_RULE = "faulty_meter_rule"
