"""Deltamess / Engelmann Waterstar M (DWZ, EFE) water meters, with 15 monthly history values."""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib
from decoders.model import Alarm
from decoders.telegram import Telegram

# Error-flag bits (VIF FD17) of the Waterstar M.
_FLAGS = (
    (0x01, "SW_ERROR", Alarm.HARDWARE_ERROR),
    (0x02, "CRC_ERROR", Alarm.HARDWARE_ERROR),
    (0x04, "SENSOR_ERROR", Alarm.HARDWARE_ERROR),
    (0x08, "MEASUREMENT_ERROR", Alarm.HARDWARE_ERROR),
    (0x10, "BATTERY_VOLTAGE_ERROR", Alarm.LOW_BATTERY),
    (0x20, "MANIPULATION", Alarm.TAMPER),
    (0x40, "LEAKAGE_OR_NO_USAGE", Alarm.LEAK),
    (0x80, "REVERSE_FLOW", Alarm.BACKFLOW),
    (0x100, "OVERLOAD", Alarm.OVERFLOW),
)


@lru_cache(maxsize=4096)
def _months_back(d: _dt.date, n: int) -> str:
    m = d.month - 1 - n
    y = d.year + m // 12
    m = m % 12 + 1
    return (_dt.date(y, m, 1) + _dt.timedelta(days=d.day - 1)).isoformat()


@register
class WaterstarM(SpecDriver):
    name = "waterstarm"
    meter_type = "WaterMeter"
    detect = frozenset({("DWZ", 0x00, 0x06), ("DWZ", 0x00, 0x07), ("DWZ", 0x02, 0x06), ("DWZ", 0x02, 0x07),
                        ("EFE", 0x03, 0x07), ("EFE", 0x70, 0x07)})
    status = "tpl"
    alarm_lookups = (("status", Lookup(_FLAGS, 0xFFFF)),)
    spec = (
        error_flags(bits=_FLAGS, mask=0xFFFF),
        *lib("meter_datetime", "total_m3"),
        F("total_backwards", "volume", "m3", vifes=("backward",)),
        F("meter_version", "model_version", kind="hex"),
        F("parameter_set", "parameter_set", kind="hex"),
        F("battery", "voltage", "v"),
        F("consumption_at_set_date", "volume", "m3", storage=1),
        F("set", "date", "date", kind="date", storage=1),
        F("total_backwards_at_set_date", "volume", "m3", storage=1, vifes=("backward",)),
        F("consumption_at_history_{storage-1}", "volume", "m3", storage=range(2, 17)),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        # History values are month ends counted back from the meter's clock; the dates are not sent.
        now = next((r.raw for r in tg.readings if r.quantity == "datetime" and r.storage == 0), None)
        if now is None or len(now) < 4:
            return
        b2, b3 = now[2], now[3]
        year = 2000 + (((b2 & 0xE0) >> 5) | ((b3 & 0xF0) >> 1))
        try:
            today = _dt.date(year, b3 & 0x0F, b2 & 0x1F)
        except ValueError:
            return
        for r in tg.readings:
            if r.quantity == "volume" and 2 <= r.storage <= 16 and not r.vifes:
                n = r.storage - 1
                out[f"history_{n}_date"] = _months_back(today, n)
