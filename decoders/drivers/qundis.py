"""Qundis / Landis+Gyr / Sontex-made QDS devices: Q water 5.5, Q caloric HCAs, Q heat 5.5, Q smoke, and
the LSE (Qundis OEM) water and heat meters.

Walk-by telegrams of these devices pack the billing values into one manufacturer record (DIF 0x0D,
VIF 0xFF 0x5F, 53 bytes): the current value, the due-date value and date, and the value and date at the
end of last month, at fixed offsets, with the value's VIF byte carried at offset 9. `qds_walk_by` turns
that block back into standard records so the same field table applies to both telegram kinds.
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib
from decoders.drivers.base import tg_parse_records
from decoders.model import Alarm, Rejection
from decoders.records import RecordError, parse_records
from decoders.telegram import Telegram

WALK_BY_DIF_VIF = "0DFF5F"
WALK_BY_LEN = 53
_WALK_BY_VIFS = frozenset({*range(0x00, 0x18), 0x6E})  # energy (Wh, J), volume, heat cost allocation


def qds_walk_by(raw: bytes) -> bytes | None:
    """The 53-byte walk-by block -> equivalent standard records (current, due date, end of month)."""
    if len(raw) != WALK_BY_LEN:
        return None
    vif = raw[9]
    # The block is only understood when that byte is a plain (unextended) energy, volume or HCA VIF;
    # otherwise (e.g. the encrypted walk-by variant) the bytes are not billing values.
    if vif not in _WALK_BY_VIFS:
        return None
    v = bytes((vif,))
    return (b"\x0c" + v + raw[12:16] + b"\x42\x6c" + raw[16:18] + b"\x4c" + v + raw[18:22]
            + b"\xc2\x08\x6c" + raw[22:24] + b"\xcc\x08" + v + raw[24:28])


class _Qds(SpecDriver):
    status = "tpl"

    def payload(self, tg: Telegram) -> Rejection | None:
        rej = tg_parse_records(tg)
        if rej is not None:
            return rej
        for r in tg.readings:
            if r.dif_vif == WALK_BY_DIF_VIF:
                extra = qds_walk_by(r.raw)
                if extra is not None:
                    try:
                        more = parse_records(extra, 0, len(extra))[0]
                    except RecordError:
                        break
                    tg.readings = [*tg.readings, *more]
                break
        return None


_ERROR_DATE = F("error", "date", "date", kind="date", function="error")


@register
class QWater(_Qds):
    name = "qwater"
    aliases = ("qwaterv2",)
    meter_type = "WaterMeter"
    # Q water 5.5 generations 0x16-0x1D (warm 0x06 / cold 0x07), and radio converters in front of them.
    detect = frozenset({*(("QDS", v, t) for v in range(0x16, 0x1E) for t in (0x06, 0x07)),
                        ("QDS", 0x33, 0x37), ("QDS", 0x35, 0x37), ("QDS", 0x35, 0x06), ("QDS", 0x35, 0x07)})
    spec = (
        *lib("meter_datetime", "total_m3"),
        F("due_date", "volume", "m3", storage=1),
        F("due", "date", "date", kind="date", storage=1),
        F("due_17_date", "volume", "m3", storage=17),
        F("due_17", "date", "date", kind="date", storage=17),
        F("volume_flow", "volume_flow", "m3h", vifes=("lower_limit_exceed_duration",)),
        _ERROR_DATE,
    )


@register
class QCaloric(_Qds):
    name = "qcaloric"
    aliases = ("whe5x", "whe46x")
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("QDS", 0x35, 0x08), ("QDS", 0x34, 0x08), ("LSE", 0x18, 0x08), ("LSE", 0x34, 0x08),
                        ("QDS", 0x36, 0x08)})
    spec = (
        F("current_consumption", "hca", "hca"),
        F("set", "date", "date", kind="date", storage=1),
        F("consumption_at_set_date", "hca", "hca", storage=1),
        F("set_date_1", "date", kind="date", storage=1),
        F("consumption_at_set_date_1", "hca", "hca", storage=1),
        F("set_date_{storage}", "date", kind="date", storage=range(2, 18)),
        F("consumption_at_set_date_{storage}", "hca", "hca", storage=range(2, 18)),
        F("error", "date", "date", kind="date", function="error", null=""),
        F("device", "datetime", "datetime", kind="datetime"),
        F("model_version", "model_version", kind="hex"),
        *lib("flow_temperature_c"),
    )


@register
class QHeat(_Qds):
    name = "qheat"
    meter_type = "HeatMeter"
    detect = frozenset({("QDS", 0x46, 0x37), ("QDS", 0x23, 0x37), ("QDS", 0x47, 0x37), ("QDS", 0x46, 0x04),
                        ("QDS", 0x47, 0x04)})
    spec = (
        F("total_energy_consumption", "energy", "kwh"),
        F("last_month", "date", "date", kind="date", storage=17, null=""),
        F("last_month_energy_consumption", "energy", "kwh", storage=17),
        F("last_year", "date", "date", kind="date", storage=1, null=""),
        F("last_year_energy_consumption", "energy", "kwh", storage=1),
        F("device_date_time", "datetime", kind="datetime"),
        F("device_error", "date", "date", kind="date", function="error", null=""),
    )


# Error-flag bits (VIF FD17) of the Q heat 5.5 generation, F0-F9 as the manufacturer numbers them.
_QHEAT55_FLAGS = (
    (0x0001, "NO_FLOW"),
    (0x0002, "SUPPLY_SENSOR_INTERRUPTED", Alarm.HARDWARE_ERROR),
    (0x0004, "RETURN_SENSOR_INTERRUPTED", Alarm.HARDWARE_ERROR),
    (0x0008, "TEMPERATURE_ELECTRONICS_ERROR", Alarm.HARDWARE_ERROR),
    (0x0010, "BATTERY_VOLTAGE_ERROR", Alarm.LOW_BATTERY),
    (0x0020, "SHORT_CIRCUIT_SUPPLY_SENSOR", Alarm.HARDWARE_ERROR),
    (0x0040, "SHORT_CIRCUIT_RETURN_SENSOR", Alarm.HARDWARE_ERROR),
    (0x0080, "MEMORY_ERROR", Alarm.HARDWARE_ERROR),
    (0x0100, "SABOTAGE", Alarm.TAMPER),
    (0x0200, "ELECTRONICS_ERROR", Alarm.HARDWARE_ERROR),
)


@register
class QHeatV2(_Qds):
    """Q heat 5.5 under the newer field names: the storage-17 (end of last month) and storage-1 (end of
    last year) values as target / target_year. Meters both drivers know stay detected as qheat."""

    name = "qheatv2"
    meter_type = "HeatMeter"
    detect = frozenset({("QDS", 0x23, 0x04), ("QDS", 0x3E, 0x37), ("QDS", 0x48, 0x04), ("QDS", 0x48, 0x37)})
    alarm_lookups = (("status", Lookup(_QHEAT55_FLAGS, 0xFFFF)),)
    spec = (
        error_flags(bits=_QHEAT55_FLAGS, mask=0xFFFF),
        F("total", "energy", "kwh"),
        F("target", "energy", "kwh", storage=17),
        F("target", "date", "date", kind="date", storage=17),
        F("target_year", "energy", "kwh", storage=1),
        F("target_year", "date", "date", kind="date", storage=1),
        F("device_error", "date", "date", kind="date", function="error"),
        *lib("meter_datetime"),
        F("enhanced_id", None, kind="hex", dif_vif="0779"),
    )


@register
class QSmoke(_Qds):
    name = "qsmoke"
    meter_type = "SmokeDetector"
    detect = frozenset({("QDS", 0x21, 0x1A), ("QDS", 0x23, 0x1A)})
    spec = (
        error_flags(mask=0xFFFFFF),
        F("last_alarm", "date", "date", kind="date", storage=6),
        F("alarm_counter", "plain_text_unit", kind="int", storage=6),
        F("message", "datetime", "datetime", kind="datetime"),
        F("test_button_last", "date", "date", kind="date", storage=4),
        F("test_button_counter", "plain_text_unit", kind="int", storage=4),
        F("transmission_counter", "access_number", kind="int"),
        F("at_error", "date", "date", kind="date", function="error"),
        F("some_sort_of_duration", "duration_since_readout", "h", vifes=None),
    )


@register
class Lse0717(SpecDriver):
    name = "lse_07_17"
    meter_type = "WaterMeter"
    detect = frozenset({("LSE", 0x16, 0x07), ("LSE", 0x17, 0x07), ("LSE", 0x18, 0x06), ("LSE", 0x18, 0x07),
                        ("LSE", 0xD8, 0x07)})
    spec = (
        F("consumption_at_set_date_8", "volume", "m3", storage=8),
        F("set_date_8", "date", kind="date", storage=8),
        F("device", "datetime", "datetime", kind="datetime"),
        F("model_version", "model_version", kind="hex"),
        *lib("total_m3"),
        F("due", "volume", "m3", storage=1),
        F("due", "date", "date", kind="date", storage=1),
        F("error_code", None, kind="lookup", dif_vif="02BB56", lookup=Lookup(mask=0xFFFF, unknown="ERROR")),
        _ERROR_DATE,
    )


@register
class QHeat55US(SpecDriver):
    name = "qheat_55_us"
    meter_type = "HeatMeter"
    detect = frozenset({("LUG", 0x07, 0x04), ("LUG", 0x0A, 0x04)})
    spec = (
        F("device", "datetime", "datetime", kind="datetime"),
        F("total_energy_consumption", "energy", "kwh"),
        F("key", "datetime", "datetime", kind="datetime", storage=1),
        F("key_datetime", "energy", "kwh", storage=1),
        F("prev_month", "datetime", "datetime", kind="datetime", storage=2),
        F("prev_{storage-1}_month", "energy", "kwh", storage=range(2, 15)),
        F("actuality_duration", "actuality_duration", "h"),
        F("time_without_measurement", "on_time", "h", function="error"),
    )


@register
class QHeat5US(SpecDriver):
    name = "qheat5us"
    meter_type = "HeatMeter"
    detect = frozenset({("LSE", 0x23, 0x04)})
    status = "tpl"
    spec = (
        *lib("fabrication_no", "meter_datetime"),
        F("meter_date_at_error", "date", kind="date", function="error", null=""),
        F("target", "date", "date", kind="date", storage=1),
        F("target", "energy", "kwh", storage=1),
        F("total", "energy", "kwh"),
    )


@register
class Lse08(SpecDriver):
    """Qundis (LSE) heat cost allocator, version 01: billing date and value in storage 8; the status is
    the TPL status byte (with the error-flags byte FD73 when sent)."""

    name = "lse_08"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("LSE", 0x01, 0x08)})
    status = "tpl"
    spec = (
        F("status", None, kind="lookup", dif_vif="01FD73", status=True, lookup=Lookup(mask=0xFF, unknown="ERROR_FLAGS")),
        F("current_consumption", "hca", "hca"),
        F("set", "date", "date", kind="date", storage=8),
        F("consumption_at_set_date", "hca", "hca", storage=8),
        F("device", "datetime", "datetime", kind="datetime"),
        F("duration_since_readout", "duration_since_readout", "h", vifes=("future_value",)),
        F("model_version", "model_version", kind="hex"),
    )
