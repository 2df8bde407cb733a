"""B METERS (BMT): Hydrodigit, IWM-TX5 water meters, Hydrocal M3/M4 heat meters, RFM-AMB room sensor.

Hydrodigit appends a 0x0F manufacturer block whose first byte says which optional parts follow:
battery level, fraud type and date, leak date, backflow volume, twelve monthly totals.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Field, Lookup, SpecDriver, lib, num
from decoders.model import Alarm
from decoders.telegram import Telegram

HYDRODIGIT_CONTENTS = Lookup((
    (0x01, "BATTERY_VOLTAGE"), (0x02, "FRAUD_DATE"), (0x80, "LEAK_DATE"), (0x04, "BACKFLOW"),
    (0x10, "MONTHLY_DATA"),
), mask=0x97, default="")
HYDRODIGIT_FRAUD = Lookup((
    (0x80, "MAGNETIC_FRAUD_ATTEMPT", Alarm.TAMPER_MAGNET), (0x40, "SENSOR_FRAUD_ATTEMPT", Alarm.TAMPER),
    (0x20, "MODULE_REMOVED", Alarm.TAMPER_REMOVAL),
), mask=0xE0, default="NO_TYPE_INFO")
# Battery level nibble -> volts (0, 14 and 15 mean full).
_BATTERY_V = (3.7, 1.9, 2.1, 2.2, 2.3, 2.4, 2.5, 2.65, 2.8, 2.9, 3.05, 3.2, 3.35, 3.5, 3.7, 3.7)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def _bcd(b: int) -> int:
    return (b >> 4) * 10 + (b & 0x0F)


def _date_or_none(y: int, m: int, d: int) -> str | None:
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return None
    return f"{2000 + y:04d}-{m:02d}-{d:02d}"


def hydrodigit_block(block: bytes) -> dict[str, Any]:
    """Fields of a Hydrodigit manufacturer block (the bytes after DIF 0x0F)."""
    out: dict[str, Any] = {}
    if not block:
        return out
    flags = block[0]
    out["contents"] = HYDRODIGIT_CONTENTS.text(flags)
    pos = 1

    def take(n: int) -> bytes | None:
        nonlocal pos
        if pos + n > len(block):
            return None
        b = block[pos:pos + n]
        pos += n
        return b

    if flags & 0x01 and (b := take(1)) is not None:
        out["voltage_v"] = _BATTERY_V[b[0] & 0x0F]
    if flags & 0x02 and (b := take(4)) is not None:
        out["fraud_type"] = HYDRODIGIT_FRAUD.text(b[0])
        out["fraud_date"] = _date_or_none(_bcd(b[1]), b[2] & 0x0F, _bcd(b[3]))
    if flags & 0x80 and (b := take(3)) is not None:
        out["leak_date"] = _date_or_none(_bcd(b[0]), _bcd(b[1]), _bcd(b[2]))
    if flags & 0x04 and (b := take(4)) is not None:
        out["backflow_m3"] = num(int.from_bytes(b, "little") / 1000)
    if flags & 0x10:
        for month in _MONTHS:
            b = take(3)
            if b is None:
                break
            v = int.from_bytes(b, "little")
            out[f"{month}_total_m3"] = num(v / 100 if v < 10_000_000 else 0)
    return out


@register
class Hydrodigit(SpecDriver):
    name = "hydrodigit"
    meter_type = "WaterMeter"
    detect = frozenset({("BMT", 0x13, 0x06), ("BMT", 0x17, 0x06), ("BMT", 0x13, 0x07), ("BMT", 0x15, 0x07),
                        ("BMT", 0x17, 0x07)})
    spec = (*lib("total_m3"), F("meter", "datetime", "datetime", kind="datetime"))

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        if tg.mfct_data:
            out.update(hydrodigit_block(tg.mfct_data))

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        block = tg.mfct_data
        if block and block[0] & 0x02:
            off = 2 if block[0] & 0x01 else 1
            if off < len(block):
                found = found | HYDRODIGIT_FRAUD.alarms(block[off])
                bits["fraud_type"] = block[off]
        if block and block[0] & 0x80:
            found = found | {Alarm.LEAK}
        if block and block[0] & 0x04:
            found = found | {Alarm.BACKFLOW}
        return frozenset(found), bits


BMT_TPL = {0x40: "TAMPER"}


@register
class Iwmtx5(SpecDriver):
    name = "iwmtx5"
    meter_type = "WaterMeter"
    detect = frozenset({("BMT", 0x18, 0x07), ("BMT", 0x18, 0x06)})
    status = "tpl"
    tpl_mfct_bits = BMT_TPL
    spec = (
        F("status", "error_flags", kind="lookup", lookup=Lookup(mask=0xFFFFFFFF, unknown="ERROR_FLAGS"),
          status=True),
        *lib("meter_datetime", "total_m3"),
    )


@register
class Hydrocalm3(SpecDriver):
    name = "hydrocalm3"
    meter_type = "HeatCoolingMeter"
    detect = frozenset({("BMT", 0x0B, 0x0D)})
    status = "tpl"
    tpl_mfct_bits = {0x80: "SABOTAGE_ENCLOSURE"}
    spec = (
        F("total_heating", "energy", "kwh"),
        F("total_cooling", "energy", "kwh", nth=2),
        F("device", "datetime", "datetime", kind="datetime"),
        F("total_heating", "volume", "m3"),
        F("total_cooling", "volume", "m3", nth=2),
        F("c1_volume", "volume", "m3", nth=3),
        F("c2_volume", "volume", "m3", nth=4),
        F("supply_temperature", "flow_temperature", "c"),
        F("return_temperature", "return_temperature", "c"),
    )


@register
class Hydrocalm4(SpecDriver):
    name = "hydrocalm4"
    meter_type = "HeatCoolingMeter"
    detect = frozenset({("BMT", 0x1A, 0x0D)})
    status = "tpl"
    tpl_mfct_bits = {0x80: "SABOTAGE_ENCLOSURE"}
    spec = (
        F("device", "datetime", "datetime", kind="datetime"),
        F("total_heating", "energy", "kwh"),
        F("total_cooling", "energy", "kwh", tariff=1),
        F("total_heating", "volume", "m3"),
        F("total_cooling", "volume", "m3", tariff=1),
        F("c1_volume", "volume", "m3", subunit=1),
        F("c2_volume", "volume", "m3", subunit=2),
        *lib("volume_flow_m3h", "power_kw"),
        F("supply_temperature", "flow_temperature", "c"),
        F("return_temperature", "return_temperature", "c"),
    )


def _pair(base: str, q: str, unit: str) -> tuple[Field, ...]:
    return (
        F(f"current_{base}", q, unit),
        F(f"average_{base}_1h", q, unit, storage=1),
        F(f"average_{base}_24h", q, unit, storage=2),
        F(f"maximum_{base}_1h", q, unit, function="maximum"),
        F(f"minimum_{base}_1h", q, unit, function="minimum"),
        F(f"maximum_{base}_24h", q, unit, function="maximum", storage=1),
        F(f"minimum_{base}_24h", q, unit, function="minimum", storage=1),
    )


@register
class RfmAmb(SpecDriver):
    name = "rfmamb"
    meter_type = "TempHygroMeter"
    detect = frozenset({("BMT", 0x10, 0x1B)})
    status = "tpl"
    tpl_mfct_bits = {0x08: "MODULE_REMOVED"}
    spec = (
        *_pair("temperature", "external_temperature", "c"),
        *_pair("relative_humidity", "relative_humidity", "rh"),
        F("device", "datetime", "datetime", kind="datetime"),
    )


# Hydroclima RKN0 manufacturer block (after DIF 0x0F, in frames that also carry the 036E allocation
# record): frame id, status, time, date, then little-endian words in 1/100 degree: average ambient
# temperature this month, maximum ambient temperature, (its date, the number of measurements), average
# ambient and average heater temperature last month. RKN9 frames carry monthly units and dates only.
_HYDROCLIMA_TEMPS = ((7, "average_ambient_temperature_c"), (9, "max_ambient_temperature_c"),
                     (15, "average_ambient_temperature_last_month_c"),
                     (17, "average_heater_temperature_last_month_c"))


@register
class Hydroclima(SpecDriver):
    name = "hydroclima"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("BMP", 0x53, 0x08)})
    spec = (F("current_consumption", "hca", "hca"),)

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        block = tg.mfct_data
        if not block or not any(r.dif_vif == "036E" for r in tg.readings):
            return
        for pos, name in _HYDROCLIMA_TEMPS:
            if pos + 1 < len(block):
                out[name] = num((block[pos] | block[pos + 1] << 8) / 100)
