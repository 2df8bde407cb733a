"""Maddalena (MAD): EVO 868 / Microsonic water meters.

The EVO 868 module sends two billing dates (storage 1 and 2), the maximum flow since a date (storage 3)
and a twelve-month history (storage 8-19) whose only date is the one of storage 8, the reference: the
value of storage 8+n belongs to the month end n months before it.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, error_flags, lib, month_history_dates
from decoders.telegram import Telegram


@register
class Maddalena(SpecDriver):
    name = "maddalena"
    meter_type = "WaterMeter"
    detect = frozenset({("MAD", 0x01, 0x07), ("MAD", 0x01, 0x06)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFFFF),
        *lib("total_m3", "target_m3", "target_date", "fabrication_no", "meter_datetime"),
    )


@register
class Evo868(SpecDriver):
    name = "evo868"
    meter_type = "WaterMeter"
    detect = frozenset({("MAD", 0x50, 0x06), ("MAD", 0x50, 0x07), ("MAD", 0x50, 0x16)})
    status = "tpl"
    status_name = "current_status"
    spec = (
        error_flags("current_status", mask=0xFFFF),
        *lib("total_m3", "fabrication_no", "device_datetime"),
        F("consumption_at_set_date", "volume", "m3", storage=1),
        F("set_date", "date", kind="date", storage=1),
        F("consumption_at_set_date_2", "volume", "m3", storage=2),
        F("set_date_2", "date", kind="date", storage=2),
        F("max_flow_since_datetime", "volume_flow", "m3h", storage=3, function="maximum"),
        F("max_flow", "datetime", "datetime", kind="datetime", storage=3),
        F("history_reference", "date", "date", kind="date", storage=8),
        F("consumption_at_history_{storage-7}", "volume", "m3", storage=range(8, 20)),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        month_history_dates(tg, out, "volume", 8, 19, "history_{n}_date")


@register
class Microclima(SpecDriver):
    """Maddalena MicroClima heat meter (MAD 00 04). A short telegram carries the current values, a long one
    the energy at up to 31 billing dates (storage 1..31) with only the date of storage 1: the date of
    storage n is that date n-1 months back."""

    name = "microclima"
    meter_type = "HeatMeter"
    detect = frozenset({("MAD", 0x00, 0x04)})
    status = "tpl"
    spec = (
        error_flags(),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_volume", "volume", "m3"),
        *lib("volume_flow_m3h", "power_kw"),
        F("temperature_difference", "temperature_difference", "c"),
        *lib("meter_datetime", "flow_temperature_c", "return_temperature_c"),
        F("model_version", "model_version", kind="hex"),
        F("parameter_set", "parameter_set", kind="hex"),
        F("consumption_at_set_date_{storage}", "energy", "kwh", storage=range(1, 32)),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        month_history_dates(tg, out, "energy", 1, 31, "set_date_{n}_date")
