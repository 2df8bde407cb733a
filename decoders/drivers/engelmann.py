"""Engelmann (EFE) FAW water meter radio modules: standard records, a 15-month history (storage 2-16)
and their own error-flag bits."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags
from decoders.model import Alarm
from decoders.records import format_signature

_FAW_FLAGS = (
    (0x01, "VOLUME_DETECTION_COILS_DEFECT", Alarm.HARDWARE_ERROR), (0x02, "RESET"),
    (0x04, "CRC_ERROR", Alarm.HARDWARE_ERROR), (0x08, "REMOVAL_DETECTED", Alarm.TAMPER_REMOVAL),
    (0x10, "MAGNETIC_MANIPULATION", Alarm.TAMPER_MAGNET), (0x20, "LEAKAGE", Alarm.LEAK),
    (0x40, "BLOCKED", Alarm.BLOCKED), (0x80, "REVERSE_FLOW", Alarm.BACKFLOW),
)


@register
class EngelmannFaw(SpecDriver):
    name = "engelmann_faw"
    aliases = ("engelmann-faw",)
    meter_type = "WaterMeter"
    detect = frozenset({("EFE", 0x00, 0x06), ("EFE", 0x00, 0x07), ("EFE", 0x00, 0x16)})
    status = "tpl"
    alarm_lookups = (("status", Lookup(_FAW_FLAGS, 0xFF)),)
    # Compact frames (CI 73) of these modules use this record layout: billing date and value, error
    # flags, 15 monthly values, then the meter's clock and current volume.
    compact_formats = {format_signature(h): h for h in (bytes.fromhex(
        "426C441301FD17840113C40113840213C40213840313C40313840413C40413840513C40513840613C40613840713C407"
        "13840813046D0413"),)}
    spec = (
        F("total", "volume", "m3"),
        F("meter", "datetime", "datetime", kind="datetime"),
        error_flags(bits=_FAW_FLAGS, mask=0xFF),
        F("reporting", "date", "date", kind="date", storage=1),
        F("consumption_at_reporting_date", "volume", "m3", storage=1),
        F("consumption_{storage-1}_months_ago", "volume", "m3", storage=range(2, 17)),
    )
