"""Zenner (ZRI): Minomess water meter, the 0x0B water module with its proprietary block, C5-ISF heat meter."""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib, num
from decoders.model import Alarm, Reading
from decoders.telegram import Telegram


def _date_digits(r: Reading) -> str:
    """A type G date printed as text digit by digit, unset (FFFF) included: 2127-15-31."""
    b = r.raw
    return f"{2000 + (((b[0] & 0xE0) >> 5) | ((b[1] & 0xF0) >> 1)):04d}-{b[1] & 0x0F:02d}-{b[0] & 0x1F:02d}"


# Minomess error flags (VIF FD17): the bits are named; an unnamed one prints ERROR_FLAGS_<hex>.
MINOMESS_FLAGS = (
    (0x8000, "WAS_REMOVED", Alarm.TAMPER), (0x4000, "WAS_TAMPERED", Alarm.TAMPER), (0x2000, "WAS_LEAKING", None),
    (0x1000, "TEMPORARY_ERROR", None), (0x0800, "PERMANENT_ERROR", Alarm.HARDWARE_ERROR),
    (0x0400, "BATTERY_EOL", Alarm.LOW_BATTERY), (0x0200, "ABNORMAL_ERROR", Alarm.HARDWARE_ERROR),
    (0x0080, "BURSTING", Alarm.BURST), (0x0040, "REMOVED", Alarm.TAMPER), (0x0020, "LEAKING", Alarm.LEAK),
    (0x0010, "WAS_BACKFLOWING", None), (0x0008, "BACKFLOWING", Alarm.BACKFLOW), (0x0004, "WAS_BLOCKED", None),
    (0x0002, "UNDERSIZED", None), (0x0001, "OVERSIZED", Alarm.OVERFLOW),
)


@register
class Minomess(SpecDriver):
    """Zenner Minomess water meter, radio (via a radio converter) and wired M-Bus. The billing value is in
    storage 8 on radio and storage 1 on the wired meter; its date prints as text (unset: 2127-15-31). The
    status is the error-flags record alone (the TPL status byte is not part of it)."""

    name = "minomess"
    meter_type = "WaterMeter"
    detect = frozenset({("ZRI", 0x14, 0x37), ("ZRI", 0x18, 0x37), ("ZRI", 0x00, 0x16), ("ZRI", 0x00, 0x07),
                        ("ZRI", 0x01, 0x16), ("ZRI", 0x01, 0x06)})
    status = "fields"
    alarm_lookups = (("status", Lookup(MINOMESS_FLAGS, mask=0xFFFF)),)
    spec = (
        error_flags(bits=MINOMESS_FLAGS, mask=0xFFFF),
        *lib("meter_date", "fabrication_no", "operating_time_h", "on_time_h"),
        F("on_time_at_error", "on_time", "h", function="error"),
        *lib("meter_datetime", "total_m3", "total_backward_m3", "volume_flow_m3h"),
        F("target", "volume", "m3", storage=8),
        F("target_date", "date", kind="text", storage=8, fmt=_date_digits),
        F("target", "volume", "m3", storage=1),
        F("target_date", "date", kind="text", storage=1, fmt=_date_digits),
    )


@register
class Zenner0B(SpecDriver):
    """After 2F2F a 0x0F block: status word, billing volume and current volume as u32 in 1/256 litre."""

    name = "zenner0b"
    meter_type = "WaterMeter"
    detect = frozenset({("ZRI", 0x0B, 0x16), ("ZRI", 0x0B, 0x07)})
    status = "fields"

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        b = tg.mfct_data
        if len(b) < 12:
            return
        st = int.from_bytes(b[0:4], "little")
        out["_status_words"] = [f"STATUS_{st:X}"] if st else []
        out["target_m3"] = num(int.from_bytes(b[4:8], "little") / 256 / 1000)
        out["total_m3"] = num(int.from_bytes(b[8:12], "little") / 256 / 1000)


# C5-ISF error codes are shown as "Err NN" and sent with NN's digits as hex nibbles; larger codes are
# tested first and consume their bits.
C5ISF_ERRORS = Lookup((
    (0x100, "HARDWARE_ERROR3", Alarm.HARDWARE_ERROR), (0x50, "VALUE_OVERLOAD", Alarm.OVERFLOW),
    (0x40, "AIR_INSIDE", Alarm.DRY), (0x30, "REVERSE_FLOW", Alarm.BACKFLOW), (0x20, "DRY", Alarm.DRY),
    (0x10, "ERROR_MEASURING", Alarm.HARDWARE_ERROR), (0x09, "HARDWARE_ERROR2", Alarm.HARDWARE_ERROR),
    (0x08, "HARDWARE_ERROR1", Alarm.HARDWARE_ERROR), (0x07, "LOW_BATTERY", Alarm.LOW_BATTERY),
    (0x06, "SUPPLY_SENSOR_INTERRUPTED", Alarm.HARDWARE_ERROR),
    (0x05, "SHORT_CIRCUIT_SUPPLY_SENSOR", Alarm.HARDWARE_ERROR),
    (0x04, "RETURN_SENSOR_INTERRUPTED", Alarm.HARDWARE_ERROR),
    (0x03, "SHORT_CIRCUIT_RETURN_SENSOR", Alarm.HARDWARE_ERROR), (0x02, "TEMP_ABOVE_RANGE", None),
    (0x01, "TEMP_BELOW_RANGE", None),
), mask=0xFFFF, unknown="ERROR_FLAGS")


@register
class C5isf(SpecDriver):
    name = "c5isf"
    meter_type = "HeatCoolingMeter"
    detect = frozenset({("ZRI", 0x88, 0x04), ("ZRI", 0x88, 0x0D), ("ZRI", 0x88, 0x0C)})
    status = "tpl"
    alarm_lookups = (("status", C5ISF_ERRORS),)
    spec = (
        error_flags(mask=0xFFFF, bits=C5ISF_ERRORS.bits),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_cooling_consumption", "energy", "kwh", tariff=1),
        F("total_volume", "volume", "m3"),
        F("due", "date", "date", kind="date", storage=8),
        F("due_energy_consumption", "energy", "kwh", storage=8),
        *lib("volume_flow_m3h", "power_kw", "flow_temperature_c", "return_temperature_c"),
        F("total_energy_consumption_last_month", "energy", "kwh", storage=32),
        F("max_power_last_month", "power", "kw", storage=32, function="maximum", vifes=None),
        F("prev_{storage-31}_month", "energy", "kwh", storage=range(32, 46)),
        F("prev_{storage-31}_month", "date", "date", kind="date", storage=range(32, 46)),
    )
