"""Techem (TCH): MK Radio 3/4 water meters, Compact V/5 heat meters, FHKV data III/IV heat cost allocators,
Smoke detector 2.

Most Techem radio frames use a manufacturer CI (0xA0-0xA2) and fixed little-endian words: a billing
date packed as day(5) month(4) year(7) bits, the value at that date, the current period's start (day and
month only; the year follows from the billing date) and the current period's value. They are turned into
equivalent standard records (`_synth`) so the same field tables apply; dates are computed in `extra`.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, lib, num, numbers
from decoders.drivers.base import reject, tg_parse_records
from decoders.model import Alarm, Rejection
from decoders.records import RecordError, parse_records
from decoders.telegram import Telegram

MFCT_CI = range(0xA0, 0xB8)


def prev_date(raw: int) -> tuple[int, int, int]:
    return raw >> 9, (raw >> 5) & 0x0F, raw & 0x1F


def curr_date(raw: int, prev: tuple[int, int, int], fix_zero: bool = False) -> tuple[int, int, int]:
    """Start of the current period; its year is the billing year unless day/month rolled over."""
    day = (raw >> 4) & 0x1F
    month = (raw >> 9) & 0x0F
    if fix_zero:
        day = day or 1
        month = month or 12
    py, pm, pd = prev
    year = py + (1 if (month < pm or (month == pm and day <= pd)) else 0)
    return year, month, day


def date_str(ymd: tuple[int, int, int]) -> str:
    y, m, d = ymd
    yy = 2000 + y + (m - 1) // 12
    mm = (m - 1) % 12 + 1
    return (_dt.date(yy, mm, 1) + _dt.timedelta(days=d - 1)).isoformat()


def _synth(tg: Telegram, records: bytes) -> Rejection | None:
    try:
        tg.readings = parse_records(records, 0, len(records))[0]
    except RecordError as e:
        return reject(tg, e.reason, e.detail)
    tg.decryption = "plain"
    return None


def _u16(b: bytes, i: int) -> int:
    return b[i] | b[i + 1] << 8


class _TechemMfct(SpecDriver):
    """Frames with a manufacturer CI: a layout function turns the payload into standard records."""

    min_len = 9

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.ci not in MFCT_CI:
            return tg_parse_records(tg)
        p = tg.payload
        if len(p) < self.min_len:
            tg.readings = []
            tg.decryption = "plain"
            return None
        return _synth(tg, self.records(p))

    def records(self, p: bytes) -> bytes:
        raise NotImplementedError


class _MkRadio(_TechemMfct):
    """Lead byte, previous date, previous volume, current date, volume since then (0.1 m3 units)."""

    meter_type = "WaterMeter"
    # Techem's own device types: 0x62 warm water, 0x72 cold water.
    techem_media = {0x62: "warm water", 0x72: "cold water"}

    def media_for(self, tg: Telegram) -> str:
        ident = tg.meter
        if ident is not None and ident.device_type in self.techem_media:
            return self.techem_media[ident.device_type]
        return super().media_for(tg)
    with_dates = True
    spec = (F("target", "volume", "m3", storage=1), F("current", "volume", "m3"))

    def records(self, p: bytes) -> bytes:
        return (b"\x02\xfd\x3a" + p[1:3] + b"\x42\x15" + p[3:5] + b"\x42\xfd\x3a" + p[5:7]
                + b"\x02\x15" + p[7:9])

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        cur = out.pop("current_m3", None)
        target = out.get("target_m3")
        if numbers(target, cur):
            out["total_m3"] = num(target + cur)
        if self.with_dates and tg.ci in MFCT_CI and len(tg.payload) >= 9:
            prev = prev_date(_u16(tg.payload, 1))
            out["current_date"] = date_str(curr_date(_u16(tg.payload, 5), prev))
            out["prev_date"] = date_str(prev)


@register
class MkRadio3(_MkRadio):
    name = "mkradio3"
    detect = frozenset({("TCH", 0x74, 0x62), ("TCH", 0x74, 0x72)})


@register
class MkRadio4(_MkRadio):
    name = "mkradio4"
    detect = frozenset({("TCH", 0x95, 0x62), ("TCH", 0x95, 0x72), ("TCH", 0x70, 0x62), ("TCH", 0x70, 0x72)})
    with_dates = False


@register
class MkRadio4a(SpecDriver):
    name = "mkradio4a"
    meter_type = "WaterMeter"
    detect = frozenset({("TCH", 0x95, 0x37), ("HYD", 0xFE, 0x06)})
    spec = lib("target_m3", "target_date")


@register
class Compact5(_TechemMfct):
    """Compact V / 5 heat meter: previous period and current period energy (kWh, 3 bytes each)."""

    name = "compact5"
    meter_type = "HeatMeter"
    media = "heat"
    # device type 0x43 (heat, Techem coding); the reference also claims version 0x45 with types 0x04 and 0xC3
    detect = frozenset({("TCH", 0x39, 0x43), ("TCH", 0x45, 0x43), ("TCH", 0x22, 0x43), ("TCH", 0x45, 0x04),
                        ("TCH", 0x45, 0xC3)})
    min_len = 10

    def records(self, p: bytes) -> bytes:
        return b"\x43\x06" + p[3:6] + b"\x03\x06" + p[7:10]

    spec = (F("previous", "energy", "kwh", storage=1), F("current", "energy", "kwh"))

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        prev, cur = out.get("previous_kwh"), out.get("current_kwh")
        if numbers(prev, cur):
            out["total_kwh"] = num(prev + cur)


@register
class Vario411(SpecDriver):
    """Vario 4 heat meter in the OMS layout (ELL/AFL, standard records): the previous year's energy and date."""

    name = "vario411"
    meter_type = "HeatMeter"
    detect = frozenset({("TCH", 0x28, 0x04)})
    spec = (F("target", "energy", "kwh", storage=1), F("target", ("date",), "date", kind="date", storage=1))


@register
class Vario451(Compact5):
    """Vario 4 / 451 heat meter: the Compact V layout with both periods counted in MJ (1/1000 GJ)."""

    name = "vario451"
    detect = frozenset({("TCH", 0x27, 0xC3)})

    def records(self, p: bytes) -> bytes:
        return b"\x43\x0E" + p[3:6] + b"\x03\x0E" + p[7:10]   # VIF 0x0E: energy in 10^6 J

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        # the sum of the two periods, rounded once (not the sum of the rounded halves)
        prev = next((r.value for r in tg.readings if r.quantity == "energy" and r.storage == 1), None)
        curr = next((r.value for r in tg.readings if r.quantity == "energy" and r.storage == 0), None)
        if numbers(prev, curr):
            out["total_kwh"] = num(prev + curr)


@register
class FhkvDataIII(_TechemMfct):
    """FHKV data III: dates and HCA units as above, then room and radiator temperature (0.01 C);
    frames led by 0x0F carry one more byte before the temperatures."""

    name = "fhkvdataiii"
    meter_type = "HeatCostAllocationMeter"
    media = "heat cost allocator"
    detect = frozenset({("TCH", 0x69, 0x80), ("TCH", 0x94, 0x80)})
    min_len = 13
    spec = (
        F("current", "hca", "hca"),
        F("previous", "hca", "hca", storage=1),
        F("temp_room", "external_temperature", "c"),
        F("temp_radiator", "return_temperature", "c"),
    )

    def records(self, p: bytes) -> bytes:
        t = 10 if p[0] == 0x0F else 9
        return (b"\x42\x6e" + p[3:5] + b"\x02\x6e" + p[7:9] + b"\x02\x65" + p[t:t + 2]
                + b"\x02\x5d" + p[t + 2:t + 4])

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        if tg.ci in MFCT_CI and len(tg.payload) >= self.min_len:
            prev = prev_date(_u16(tg.payload, 1))
            out["current_date"] = date_str(curr_date(_u16(tg.payload, 5), prev, fix_zero=True))
            out["previous_date"] = date_str(prev)


TSD2_STATUS = Lookup(((0, "OK"), (1, "SMOKE"), (128, "DEFECT", Alarm.HARDWARE_ERROR)),
                     mask=0xFF, kind="index", unknown="STATUS")


@register
class Tsd2(SpecDriver):
    name = "tsd2"
    meter_type = "SmokeDetector"
    media = "smoke detector"
    detect = frozenset({("TCH", 0x76, 0xF0)})

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.ci not in MFCT_CI:
            return tg_parse_records(tg)
        tg.readings = []
        tg.decryption = "plain"
        return None

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        p = tg.payload
        if tg.ci not in MFCT_CI:
            return
        if len(p) < 3:
            out["status"] = "DECODING_ERROR_payload"
            out["prev_date"] = None
            return
        out["status"] = TSD2_STATUS.text(p[0])
        out["prev_date"] = date_str(prev_date(_u16(p, 1)))

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        if tg.ci in MFCT_CI and tg.payload:
            bits["smoke_status"] = tg.payload[0]
            found = found | TSD2_STATUS.alarms(tg.payload[0])
        return frozenset(found), bits


@lru_cache(maxsize=1024)  # a meter's history start changes once a month: the dates repeat per telegram
def _month_ends_after(start: _dt.date, n: int) -> tuple[str, ...]:
    out = []
    y, m = start.year, start.month
    for _ in range(n):
        m += 1
        if m > 12:
            y, m = y + 1, 1
        nxt = _dt.date(y + (m == 12), m % 12 + 1, 1)
        out.append((nxt - _dt.timedelta(days=1)).isoformat())
    return tuple(out)


@register
class FhkvDataIV(SpecDriver):
    """FHKV data IV: standard records plus a history record (LVAR) of monthly HCA units, newest last in
    transmission order, for the months after the storage-8 date."""

    name = "fhkvdataiv"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("TCH", 0x94, 0x08), ("TCH", 0x69, 0x08)})
    status = "tpl"
    spec = (
        F("current_consumption", "hca", "hca"),
        F("set", "date", "date", kind="date", storage=1),
        F("consumption_at_set_date", "hca", "hca", storage=1),
        F("set_date_8", "date", kind="date", storage=8),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        start = None
        history = None
        for r in tg.readings:
            if r.quantity == "date" and r.storage == 8 and isinstance(r.value, _dt.date):
                start = r.value
            elif r.quantity == "hca" and r.storage == 8 and (int(r.dif_vif[:2], 16) & 0x0F) == 0x0D:
                history = r.raw
        if start is None or history is None or len(history) < 4:
            return
        values = [history[i] | history[i + 1] << 8 for i in range(len(history) - 2, 1, -2)]
        for n, (v, d) in enumerate(zip(values, _month_ends_after(start, len(values)), strict=True), 1):
            out[f"consumption_at_set_date_{n}_hca"] = v
            out[f"consumption_at_set_date_{n}"] = d
