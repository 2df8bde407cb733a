"""Ei Electronics (EIE) Ei6500 smoke alarm: event counters and dates per subunit 1 tariff (1 smoke
alarm, 2 removal, 3 test button), and a manufacturer record (DIF 84 40, VIF FF 2C) with the dust level,
battery voltage step, obstacle distance and head fault bits."""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Field, Lookup, SpecDriver, error_flags, raw_uint
from decoders.model import Alarm
from decoders.telegram import Telegram

_HEAD_BITS = (
    (0x00000020, "SOUNDER_FAULT", Alarm.HARDWARE_ERROR), (0x00000040, "TAMPER_WHILE_REMOVED", Alarm.TAMPER),
    (0x00000080, "EOL_REACHED"), (0x00001000, "LOW_BATTERY_FAULT", Alarm.LOW_BATTERY),
    (0x00002000, "ALARM_SENSOR_FAULT", Alarm.HARDWARE_ERROR), (0x00004000, "OBSTACLE_DETECTOR_FAULT"),
    (0x00008000, "EOL_WITHIN_12_MONTH"), (0x00020000, "ENV_CHANGED_SINCE_INSTALLATION"),
    (0x00040000, "COMM_TO_HEAD_FAULT", Alarm.HARDWARE_ERROR),
    (0x00080000, "INTERFERENCE_PREVENTING_OBSTACLE_DETECTION"), (0x01000000, "OBSTACLE_DETECTED"),
    (0x02000000, "SMOKE_DETECTOR_FULLY_COVERED", Alarm.TAMPER),
)
_HEAD_MASK = 0xFF8FF0E0  # bits 0-4 dust, 8-11 battery, 20-22 obstacle distance are values, not flags
_HEAD_KNOWN = sum(b for b, *_ in _HEAD_BITS) | 0x00010000
# bits 20-22: obstacle distance step (1 and step 0 "not completed" print nothing useful)
_OBSTACLE = {0: "SEODS_NOT_COMPLETED", 2: "45_TO_60_CM", 3: "38_TO_53_CM", 4: "33_TO_48_CM", 5: "28_TO_40_CM",
             6: "20_TO_33_CM", 7: "0_TO_25_CM"}
HEAD = "8440FF2C"


def _count(name: str, tariff: int) -> Field:
    return F(name, "cumulation_counter", "counter", kind="int", tariff=tariff, subunit=1)


@register
class Ei6500(SpecDriver):
    name = "ei6500"
    meter_type = "SmokeDetector"
    detect = frozenset({("EIE", 0x0C, 0x1A)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFF),
        F("last_alarm_date", "date", kind="date", tariff=1, subunit=1),
        _count("alarm", 1),
        F("software_version", "software_version", kind="hex"),
        F("message_datetime", "datetime", kind="datetime"),
        F("duration_removed", "tariff_duration", "h", tariff=2, subunit=1),
        F("last_remove_date", "date", kind="date", tariff=2, subunit=1),
        _count("removed", 2),
        F("test_button_last_date", "date", kind="date", tariff=3, subunit=1),
        _count("test_button", 3),
        F("installation_date", "date", kind="date", tariff=2),
        F("last_sound_check_date", "date", kind="date", storage=1),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        r = next((r for r in tg.readings if r.dif_vif == HEAD), None)
        v = raw_uint(r) if r is not None else None
        if v is None:
            return
        out["dust_level"] = f"DUST_{v & 0x1F}"
        out["battery_level"] = f"{2.25 + 0.05 * ((v >> 8) & 0x0F):.2f}V"
        out["obstacle_distance"] = _OBSTACLE.get((v >> 20) & 0x07, "")
        # head faults join the status; bit 16 set means the obstacle self-test (SEODS) has completed
        words = [name for bit, name, *_ in _HEAD_BITS if v & bit]
        if not v & 0x00010000:
            words.append("SEODS_NOT_YET_COMPLETED")
        rest = v & _HEAD_MASK & ~_HEAD_KNOWN
        if rest:
            words.append(f"HEAD_STATUS_{rest:X}")
        out["_status_words"] = words

    def alarms(self, tg: Telegram):  # type: ignore[no-untyped-def]
        found, bits = super().alarms(tg)
        r = next((r for r in tg.readings if r.dif_vif == HEAD), None)
        v = raw_uint(r) if r is not None else None
        if v is not None:
            found = frozenset(found | Lookup(_HEAD_BITS).alarms(v))
            bits["head_status"] = v
        return found, bits
