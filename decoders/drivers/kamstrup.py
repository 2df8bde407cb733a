"""Kamstrup: Multical 21 / flowIQ water meters, Multical 30x/40x/60x/80x heat meters, pressure sensor,
Omnipower electricity meter.

Kamstrup C1 meters send a full frame only every few packets and compact frames (CI 0x79) otherwise;
the formats each model uses are shipped here (`compact_formats`, keyed by the CRC of the DIF/VIF list)
so that a drive-by pass decodes compact frames without waiting for a full frame.
"""

from __future__ import annotations

from decoders.crc import crc16_en13757
from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib
from decoders.model import Alarm


def formats(*headers: str) -> dict[int, bytes]:
    """DIF/VIF header lists -> {format signature: headers}."""
    out = {}
    for h in headers:
        b = bytes.fromhex(h)
        out[crc16_en13757(b)] = b
    return out


def _duration(mask: int, shift: int) -> Lookup:
    names = ("", "1-8 hours", "9-24 hours", "2-3 days", "4-7 days", "8-14 days", "15-21 days", "22-31 days")
    return Lookup(tuple((i << shift, n) for i, n in enumerate(names)), mask=mask, default="", kind="index")


KAMWATER_INFO = Lookup((
    (0x001, "DRY", Alarm.DRY), (0x002, "REVERSE", Alarm.BACKFLOW), (0x004, "LEAK", Alarm.LEAK),
    (0x008, "BURST", Alarm.BURST), (0x010, "TAMPER", Alarm.TAMPER), (0x020, "LOW_BATTERY", Alarm.LOW_BATTERY),
    (0x040, "LOW_AMBIENT_TEMPERATURE", Alarm.FROST), (0x080, "FLOW_ABOVE_Q4", Alarm.OVERFLOW),
    (0x200, "NO_CONSUMPTION", Alarm.NO_CONSUMPTION),
), mask=0xFFFFFFFF, unknown="ERROR_FLAGS")
KAMWATER_INFO16 = Lookup(KAMWATER_INFO.bits[:4], mask=0x000F, unknown="ERROR_FLAGS")
KAMWATER_CURRENT = Lookup(KAMWATER_INFO.bits[:4], mask=0x000F, default="", unknown="ERROR_FLAGS")


@register
class KamWater(SpecDriver):
    name = "kamwater"
    aliases = ("multical21", "flowiq2200", "flowiq3100")
    meter_type = "WaterMeter"
    detect = frozenset({("KAM", 0x1B, 0x06), ("KAM", 0x1B, 0x16), ("KAW", 0x3A, 0x16), ("KAW", 0x3C, 0x16),
                        ("KAM", 0x1D, 0x16), ("KAW", 0x42, 0x06), ("KAW", 0x42, 0x16)})
    compact_formats = formats(
        "02FF2004134413615B6167",
        "02FF20041392013BA1015B8101E7FF0F",
        "04FF234413523B06FF1B426C61675167023B04138101E7FF0F",
        "02FF2004134413426C523B615B616751678101E7FF0F06FF1B",
        "02FF2004134413A1015B8101E7FF0F",
        "02FF2004134413615B5167",
        "02FF2004134413",
        "02FF200413523B",
        "04FF2304134413426C023B92013BA2013B06FF1BA1015B91015BA10167",
    )
    status = "tpl"
    spec = (
        F("status", None, kind="lookup", dif_vif="04FF23", lookup=KAMWATER_INFO, status=True),
        F("status16", None, kind="lookup", dif_vif="02FF20", lookup=KAMWATER_INFO16, status=True),
        *lib("total_m3", "target_m3", "target_date", "flow_m3h"),
        F("current_status", None, kind="lookup", dif_vif="02FF20", lookup=KAMWATER_CURRENT),
        F("flow_temperature", "flow_temperature", "c", storage=None, function=None),
        F("min_flow", "volume_flow", "m3h", function="minimum", storage=2),
        F("max_flow", "volume_flow", "m3h", function="maximum", storage=2),
        F("min_flow_temperature", "flow_temperature", "c", function="minimum", storage=2),
        F("max_flow_temperature", "flow_temperature", "c", function="maximum", storage=2),
        F("min_external_temperature_last_month", "external_temperature", "c", function="minimum", storage=1),
        F("min_external_temperature_last_day", "external_temperature", "c", function="minimum", storage=2),
        F("max_external_temperature", "external_temperature", "c", function="maximum", storage=1),
        F("time_dry", None, kind="lookup", dif_vif="02FF20", lookup=_duration(0x0070, 4)),
        F("time_reversed", None, kind="lookup", dif_vif="02FF20", lookup=_duration(0x0380, 7)),
        F("time_leaking", None, kind="lookup", dif_vif="02FF20", lookup=_duration(0x1C00, 10)),
        F("time_bursting", None, kind="lookup", dif_vif="02FF20", lookup=_duration(0xE000, 13)),
    )
    alarm_lookups = (("status", KAMWATER_INFO), ("status16", KAMWATER_INFO16))

    def extra(self, tg, out):  # type: ignore[no-untyped-def]
        out.pop("status16", None)


_KAMHEAT_NAMES = (
    "VOLTAGE_INTERRUPTED", "LOW_BATTERY_LEVEL", "SENSOR_ERROR", "SENSOR_T1_ABOVE_MEASURING_RANGE",
    "SENSOR_T2_ABOVE_MEASURING_RANGE", "SENSOR_T1_BELOW_MEASURING_RANGE", "SENSOR_T2_BELOW_MEASURING_RANGE",
    "TEMP_DIFF_WRONG_POLARITY", "FLOW_SENSOR_WEAK_OR_AIR", "WRONG_FLOW_DIRECTION", "RESERVED_BIT_10",
    "FLOW_INCREASED", "IN_A1_LEAKAGE_IN_THE_SYSTEM", "IN_B1_LEAKAGE_IN_THE_SYSTEM", "IN_A1_A2_EXTERNAL_ALARM",
    "IN_B1_B2_EXTERNAL_ALARM", "V1_COMMUNICATION_ERROR", "V1_WRONG_PULSE_FIGURE", "IN_A2_LEAKAGE_IN_THE_SYSTEM",
    "IN_B2_LEAKAGE_IN_THE_SYSTEM", "T3_ABOVE_MEASURING_RANGE_OR_SWITCHED_OFF",
    "T3_BELOW_MEASURING_RANGE_OR_SWITCHED_OFF", "V2_COMMUNICATION_ERROR", "V2_WRONG_PULSE_FIGURE", "V2_AIR",
    "V2_WRONG_FLOW_DIRECTION", "RESERVED_BIT_26", "V2_INCREASED_FLOW", "V1_V2_BURST_WATER_LOSS",
    "V1_V2_BURST_WATER_PENETRATION", "V1_V2_LEAKAGE_WATER_LOSS", "V1_V2_LEAKAGE_WATER_PENETRATION",
)
_KAMHEAT_ALARMS = {1: Alarm.LOW_BATTERY, 2: Alarm.HARDWARE_ERROR, 9: Alarm.BACKFLOW, 12: Alarm.LEAK,
                   13: Alarm.LEAK, 18: Alarm.LEAK, 19: Alarm.LEAK, 28: Alarm.BURST, 29: Alarm.BURST,
                   30: Alarm.LEAK, 31: Alarm.LEAK}
KAMHEAT_INFO = Lookup(tuple((1 << i, n, _KAMHEAT_ALARMS.get(i)) for i, n in enumerate(_KAMHEAT_NAMES)),
                      mask=0xFFFFFFFF, unknown="ERROR_FLAGS")
KAMHEAT_INFO16 = Lookup(tuple(
    (1 << i, n if i < 12 else f"RESERVED_BIT_{i}", _KAMHEAT_ALARMS.get(i) if i < 12 else None)
    for i, n in enumerate(_KAMHEAT_NAMES[:16])
), mask=0xFFFF, unknown="ERROR_FLAGS")
KAMHEAT_INFO16 = Lookup(tuple(
    (b, "RESERVED_BIT_2" if b == 0x4 else n, a) for b, n, a in KAMHEAT_INFO16.bits
), mask=0xFFFF, unknown="ERROR_FLAGS")
KAMHEAT_NARROW = Lookup((
    (0x0001, "VOLTAGE_INTERRUPTED"), (0x0008, "SENSOR_T1_OUTSIDE_MEASURING_RANGE"),
    (0x0004, "SENSOR_T2_OUTSIDE_MEASURING_RANGE"), (0x0020, "SENSOR_T3_OUTSIDE_MEASURING_RANGE"),
    (0x0040, "LEAKAGE_COLD_WATER", Alarm.LEAK), (0x0100, "LEAKAGE_HOT_WATER", Alarm.LEAK),
    (0x0200, "BURST_WATER_LOSS", Alarm.BURST), (0x0010, "V1_COMMUNICATION_ERROR"),
    (0x0400, "V2_COMMUNICATION_ERROR"), (0x0800, "V1_WRONG_PULSE_FIGURE"), (0x0080, "V2_WRONG_PULSE_FIGURE"),
    (0x1000, "V1_AIR"), (0x2000, "V2_AIR"), (0x4000, "V1_WRONG_FLOW_DIRECTION"),
    (0x8000, "V2_WRONG_FLOW_DIRECTION"),
), mask=0xFFFF, unknown="NARROW_ERROR_FLAGS")


@register
class KamHeat(SpecDriver):
    name = "kamheat"
    aliases = ("multical302", "multical303", "multical403", "multical602", "multical603", "multical803")
    meter_type = "HeatMeter"
    detect = frozenset({("KAM", 0x30, 0x04), ("KAM", 0x30, 0x0D), ("KAM", 0x30, 0x0C), ("KAM", 0x40, 0x04),
                        ("KAM", 0x40, 0x0C), ("KAM", 0x40, 0x0D), ("KAM", 0x19, 0x04), ("KAM", 0x34, 0x04), ("KAM", 0x34, 0x0A),
                        ("KAM", 0x34, 0x0B), ("KAM", 0x34, 0x0C), ("KAM", 0x34, 0x0D), ("KAM", 0x1C, 0x04),
                        ("KAM", 0x35, 0x04), ("KAM", 0x35, 0x0C), ("KAM", 0x39, 0x04)})
    compact_formats = formats(
        "030643060314426C022D01FF21",
        "030E430E0313426C022D01FF21",
        "040604FF0704FF080414043B0259025D04FF22026C44064414426C",
        # Multical 602 (KAM,1C,04)
        "02F9FF15040604EEFF0704EEFF0804148440148480401402FD17026C426C44064414C44014C4804014043B0259025D",
    )
    status = "tpl"
    spec = (
        F("status", None, kind="lookup", dif_vif="04FF22", lookup=KAMHEAT_INFO, status=True),
        F("status16", None, kind="lookup", dif_vif="02FF22", lookup=KAMHEAT_INFO16, status=True),
        error_flags("status_narrow", bits=KAMHEAT_NARROW.bits, unknown="NARROW_ERROR_FLAGS"),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_backward", "energy", "kwh", vifes=("backward",)),
        F("total_volume", "volume", "m3"),
        F("total_volume_subunit{subunit}", "volume", "m3", subunit=range(1, 5)),
        F("volume_flow", "volume_flow", "m3h"),
        F("power", "power", "kw"),
        F("max_power", "power", "kw", function="maximum"),
        F("t1_temperature", "flow_temperature", "c"),
        F("t2_temperature", "return_temperature", "c"),
        F("max_flow", "volume_flow", "m3h", function="maximum"),
        F("forward_energy", None, "m3c", kind="int", dif_vif="04FF07"),
        F("return_energy", None, "m3c", kind="int", dif_vif="04FF08"),
        F("target_energy", "energy", "kwh", storage=1),
        F("target_energy_backward", "energy", "kwh", storage=1, vifes=("backward",)),
        F("target_volume", "volume", "m3", storage=1),
        F("target_volume_subunit{subunit}", "volume", "m3", storage=1, subunit=range(1, 5)),
        F("operating_time", "operating_time", "h", vifes=None),
        F("enhanced_id", None, kind="hex", dif_vif="02F9FF15"),
        F("va", None, "counter", kind="int", dif_vif="04EEFF07"),
        F("vb", None, "counter", kind="int", dif_vif="04EEFF08"),
        *lib("fabrication_no", "meter_date", "meter_datetime", "on_time_h"),
        F("on_time_at_error", "on_time", "h", function="error"),
        F("flow_return_temperature_difference", "temperature_difference", "c"),
        F("target", ("date", "datetime"), "date", kind="date", storage=1),
    )
    alarm_lookups = (("status", KAMHEAT_INFO), ("status16", KAMHEAT_INFO16), ("status_narrow", KAMHEAT_NARROW))

    def extra(self, tg, out):  # type: ignore[no-untyped-def]
        out.pop("status16", None)
        out.pop("status_narrow", None)


@register
class KamPress(SpecDriver):
    name = "kampress"
    meter_type = "PressureSensor"
    detect = frozenset({("KAM", 0x01, 0x18)})
    compact_formats = formats("226912690269" "05FF0905FF0A02FD17")
    status = "fields"
    spec = (
        error_flags(bits=((0x08, "LOW", Alarm.HARDWARE_ERROR), (0x10, "HIGH", None)), mask=0xFF),
        F("pressure", "pressure", "bar"),
        F("max_pressure", "pressure", "bar", function="maximum"),
        F("min_pressure", "pressure", "bar", function="minimum"),
        F("alfa", None, "counter", dif_vif="05FF09"),
        F("beta", None, "counter", dif_vif="05FF0A"),
    )


@register
class Omnipower(SpecDriver):
    name = "omnipower"
    meter_type = "ElectricityMeter"
    detect = frozenset({("KAM", 0x30, 0x02)})
    compact_formats = formats("040404843C042B04AB3C")
    spec = (
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_production", "energy", "kwh", vifes=("backward",)),
        F("current_power_consumption", "power", "kw"),
        F("current_power_production", "power", "kw", vifes=("backward",)),
    )
