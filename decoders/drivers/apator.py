"""Apator / Apator Powogaz water meters (APA, APT): the meters Polish utilities read most.

AT-WMBUS-08 and 17-2 send a manufacturer CI with a pulse counter, 16-2 a proprietary block after
standard mode-5 encryption, NA-1 its own AES block; Ultrimis, OP-04 and the wired APT-MBUS-NA speak
standard records with Apator status bits. Proprietary byte layouts live in apator_payloads.py.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib, num
from decoders.drivers.apator_payloads import (
    apator162_total_litres,
    apator_counter,
    eitn40_fields,
    eitn40_words,
    eitn_block,
    eitn_fields,
    na1_decrypt,
    na1_parse,
)
from decoders.drivers.base import reject, tg_parse_records
from decoders.model import Alarm, Reject, Rejection
from decoders.telegram import Telegram

MFCT_CI = range(0xA0, 0xB8)


class _Counter(SpecDriver):
    """AT-WMBUS-08 / 17-2: CI 0xA0 and a u32 pulse counter; no standard records."""

    meter_type = "WaterMeter"
    divisor = 3.0  # pulses per output unit step

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.ci not in MFCT_CI:
            return tg_parse_records(tg)
        if apator_counter(tg.payload) is None:
            return reject(tg, Reject.LENGTH, "Apator counter payload shorter than 4 bytes")
        tg.decryption = "plain"
        tg.readings = []
        return None

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        if tg.ci in MFCT_CI:
            c = apator_counter(tg.payload)
            if c is not None:
                out["total_m3"] = num(self.scale_counter(c))

    def scale_counter(self, c: int) -> float:
        return c / 3 / 1000


@register
class Apator08(_Counter):
    name = "apator08"
    detect = frozenset({("APT", 0x03, 0x03), ("APT", 0x0F, 0x0F)})
    spec = (F("total", "volume", "m3", scale=1 / 3),)


@register
class Apator172(_Counter):
    name = "apator172"
    media = "water"
    detect = frozenset({("APT", 0x04, 0x11)})

    def scale_counter(self, c: int) -> float:
        # The reference decoder reads this counter as m3 before the 1/3 pulse factor.
        return c / 3


@register
class Apator162(SpecDriver):
    name = "apator162"
    meter_type = "WaterMeter"
    detect = frozenset({("APA", 0x05, 0x06), ("APA", 0x05, 0x07)})
    spec = lib("total_m3")

    def payload(self, tg: Telegram) -> Rejection | None:
        body = tg.payload
        i = 0
        while i < len(body) and body[i] == 0x2F:
            i += 1
        if i < len(body) and body[i] in (0x0F, 0x80):
            tg.readings = []
            tg.mfct_data = body[i + 1:]
            return None
        return tg_parse_records(tg)

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        if "total_m3" in out or not tg.mfct_data:
            return
        litres = apator162_total_litres(b"\x0f" + tg.mfct_data)
        if litres is not None:
            out["total_m3"] = num(litres / 1000)


NA1_FRAME = Lookup((
    (0x01, "SUMMER_TIME"), (0x02, "HISTORICAL_INDICATION"), (0x04, "MAX_SPEED_EXCEEDED"),
    (0x08, "DEVICE_ACCESS_ERROR"), (0x10, "TWO_WAY_COM_BLOCK"), (0x20, "INSTALL_FRAME"),
    (0x40, "WRONG_TEMPERATURE"), (0x80, "SERVICE_EVENT"),
), mask=0xFF)
_NA1_COMMON = (
    (0x80, "MINIMUM_FLOW", Alarm.NO_CONSUMPTION), (0x40, "MAXIMUM_FLOW", Alarm.OVERFLOW),
    (0x20, "REVERSE_FLOW", Alarm.BACKFLOW), (0x10, "MEASUREMENT_UNCHANGED", Alarm.BLOCKED),
    (0x08, "LEAK", Alarm.LEAK), (0x04, "DEVICE_DISCONNECTED", Alarm.TAMPER_REMOVAL),
    (0x02, "MAGNETIC_FIELD", Alarm.TAMPER_MAGNET),
)
NA1_CURRENT = Lookup((*_NA1_COMMON, (0x01, "BATTERY_LOW", Alarm.LOW_BATTERY)), mask=0xFF)
NA1_HISTORIC = Lookup((*_NA1_COMMON, (0x01, "BATTERY_LIFETIME_THRESHOLD_EXCEEDED")), mask=0xFF)


@register
class ApatorNa1(SpecDriver):
    """APT-WMBUS-NA-1: ACC and a clear status byte, then one AES-CBC block whose first byte is 0x2F.

    The key must be configured (meters leave the factory with an all-zero key, which users then add):
    without one the telegram is NO_KEY, and a block not starting with 0x2F is a wrong key, never readings.
    """

    name = "apatorna1"
    meter_type = "WaterMeter"
    detect = frozenset({("APA", 0x14, 0x07)})
    # The same module also sends standard OMS frames (CI 0x7A): those read as any water meter.
    spec = lib("total_m3", "target_m3", "target_date", "meter_datetime", "total_backward_m3")
    status = None

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.ci not in MFCT_CI:
            return tg_parse_records(tg)
        key = tg.key()
        if key is None:
            return reject(tg, Reject.NO_KEY, "Apator NA-1 manufacturer AES block and no key configured")
        plain = na1_decrypt(tg.data, key, tg.tpl_offset)
        if plain is None:
            return reject(tg, Reject.LENGTH, "NA-1 frame shorter than its encrypted block")
        if plain[0] != 0x2F:
            return reject(tg, Reject.WRONG_KEY, "NA-1 block does not decrypt to its 0x2F marker")
        tg.payload = plain
        tg.security = "mfct_aes_cbc_iv"
        tg.decryption = "decrypted"
        tg.readings = []
        return None

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        if tg.decryption != "decrypted" or tg.ci not in MFCT_CI:
            return
        r = na1_parse(tg.data, tg.payload, tg.tpl_offset)
        out["historic_m3"] = num(r.historic_m3)
        out["historic_datetime"] = r.historic_datetime.strftime("%Y-%m-%d %H:%M")
        out["historic_age_h"] = r.historic_age_h
        out["meter_datetime"] = r.meter_datetime.strftime("%Y-%m-%d %H:%M")
        out["total_m3"] = num(r.total_m3)
        out["current_status"] = NA1_CURRENT.text(r.current_status)
        out["frame_status"] = NA1_FRAME.text(r.frame_status)
        out["historic_status"] = NA1_HISTORIC.text(r.historic_status)

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        if tg.decryption != "decrypted" or tg.ci not in MFCT_CI:
            return super().alarms(tg)
        r = na1_parse(tg.data, tg.payload, tg.tpl_offset)
        return frozenset(NA1_CURRENT.alarms(r.current_status)), {
            "current_status": r.current_status, "historic_status": r.historic_status,
            "frame_status": r.frame_status}


# Ultrimis error flags (3 bytes): realtime, this month, previous month.
_ULTRIMIS_BASE = (("TAMPER", Alarm.TAMPER), ("LOW_BATTERY", Alarm.LOW_BATTERY), ("DRY", Alarm.DRY),
                  ("NO_FLOW", Alarm.NO_CONSUMPTION), ("HIGH_TEMPERATURE", None), ("BURST", Alarm.BURST),
                  ("REVERSE", Alarm.BACKFLOW), ("LEAK", Alarm.LEAK))
ULTRIMIS_FLAGS = Lookup(tuple(
    (1 << (8 * byte + i), name + suffix, alarm if byte == 0 else None)
    for byte, suffix in ((0, ""), (1, "_THIS_MONTH"), (2, "_PREV_MONTH"))
    for i, (name, alarm) in enumerate(_ULTRIMIS_BASE)
), mask=0xFFFFFF, unknown="ERROR_FLAGS")


@register
class UltrimisV2(SpecDriver):
    name = "ultrimisv2"
    meter_type = "WaterMeter"
    detect = frozenset({("APA", 0x01, 0x16), ("APA", 0x20, 0x16)})
    status = "fields"
    spec = (
        F("status", None, kind="lookup", dif_vif="03FD17", lookup=ULTRIMIS_FLAGS, status=True),
        *lib("total_m3", "target_m3", "total_backward_m3"),
    )
    alarm_lookups = (("status", ULTRIMIS_FLAGS),)


@register
class Ultrimis(SpecDriver):
    name = "ultrimis"
    meter_type = "WaterMeter"
    detect = frozenset()  # ultrimisv2 claims these meters by detection
    spec = (
        *lib("total_m3", "target_m3"),
        F("current_status", None, kind="lookup", dif_vif="03FD17", lookup=ULTRIMIS_FLAGS),
        F("total_backward_flow", "volume", "m3", vifes=("backward",)),
    )


@register
class Op041a(SpecDriver):
    name = "op041a"
    meter_type = "WaterMeter"
    detect = frozenset({("APA", 0x1A, 0x07)})
    spec = lib("total_m3", "meter_datetime")


APT_MBUS_FLAGS = Lookup((
    (0x000001, "P_MAGNETIC_FIELD", None), (0x000002, "P_STRONG_LIGHT", None),
    (0x000004, "P_MBUS_DISCONNECTED", None), (0x000008, "P_DETECTION_WITHOUT_CHANGES", None),
    (0x000010, "P_MINIMUM_FLOW", None), (0x000020, "P_MAXIMUM_FLOW", None),
    (0x000040, "P_REVERSE_FLOW", None), (0x000800, "P_LEAK", None),
    (0x000100, "P_PROCESSOR_RESET", None), (0x000200, "P_CLOCK_HAND_ERROR", None),
    (0x000400, "BATTERY_LOW", Alarm.LOW_BATTERY), (0x000800, "P_DETECTOR_ERROR", None),
    (0x010000, "MAGNETIC_FIELD", Alarm.TAMPER_MAGNET), (0x020000, "STRONG_LIGHT", Alarm.TAMPER),
    (0x040000, "MBUS_DISCONNECTED", Alarm.TAMPER_REMOVAL), (0x080000, "DETECTION_WITHOUT_CHANGES", None),
    (0x100000, "MINIMUM_FLOW", Alarm.NO_CONSUMPTION), (0x200000, "MAXIMUM_FLOW", Alarm.OVERFLOW),
    (0x400000, "REVERSE_FLOW", Alarm.BACKFLOW), (0x800000, "PROCESSOR_RESET", Alarm.HARDWARE_ERROR),
), mask=0xFFFFFF, unknown="ERROR_FLAGS")


@register
class AptMbusNa(SpecDriver):
    """APT-MBUS-NA-1 (wired M-Bus)."""

    name = "aptmbusna"
    meter_type = "WaterMeter"
    detect = frozenset({("APA", 0x15, 0x07)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFF, bits=APT_MBUS_FLAGS.bits),
        *lib("meter_datetime", "fabrication_no", "total_m3", "target_m3", "target_date", "volume_flow_m3h",
             "operating_time_h"),
    )
    alarm_lookups = (("status", APT_MBUS_FLAGS),)


@register
class ApatorEitn(SpecDriver):
    """E-ITN 30.51 / 30.60 heat cost allocators: a manufacturer CI (0xA0, or 0xB6 with a header first)
    and a 16-byte block of season values (apator_payloads.eitn_fields)."""

    name = "apatoreitn"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("APA", 0x04, 0x08), ("APT", 0x04, 0x08)})

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.ci not in MFCT_CI:
            return tg_parse_records(tg)
        if eitn_block(tg.ci, tg.payload) is None:
            return reject(tg, Reject.LENGTH, "E-ITN block is not 16 bytes starting with 0xA0")
        tg.decryption = "plain"
        tg.readings = []
        return None

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        block = eitn_block(tg.ci, tg.payload) if tg.ci in MFCT_CI else None
        if block is not None:
            out.update((k, num(v) if isinstance(v, float) else v) for k, v in eitn_fields(block).items())

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        block = eitn_block(tg.ci, tg.payload) if tg.ci in MFCT_CI else None
        if block is not None and (block[6] or block[7]):
            found = frozenset(found | {Alarm.TAMPER_OPENING})
            bits["esb_date"] = block[6] | block[7] << 8
        return found, bits


@register
class ApatorEitn40(SpecDriver):
    """E-ITN 40 heat cost allocators: a manufacturer CI and 27 words (apator_payloads.eitn40_fields).
    Firmware versions 0x0A and 0x0E encrypt the block; that scheme is not implemented."""

    name = "apatoreitn40"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({(m, v, 0x08) for m in ("APA", "APT") for v in (0x09, 0x0A, 0x0D, 0x0E)})

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.ci not in MFCT_CI:
            return tg_parse_records(tg)
        ident = tg.meter
        if ident is not None and ident.version in (0x0A, 0x0E):
            return reject(tg, Reject.UNSUPPORTED_SECURITY, "E-ITN 40 encrypted firmware variant")
        if eitn40_words(tg.ci, tg.payload) is None:
            return reject(tg, Reject.LENGTH, "E-ITN 40 block is not 27 words")
        tg.decryption = "plain"
        tg.readings = []
        return None

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        w = eitn40_words(tg.ci, tg.payload) if tg.ci in MFCT_CI else None
        if w is not None:
            out.update((k, num(v) if isinstance(v, float) else v) for k, v in eitn40_fields(w).items())

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        w = eitn40_words(tg.ci, tg.payload) if tg.ci in MFCT_CI else None
        if w is None or not w[26]:
            return found, bits
        seal = w[26]
        more = {Alarm.TAMPER_OPENING} if seal == 0xFFFF else {
            a for bit, a in ((0x0F, Alarm.HARDWARE_ERROR), (0x10, Alarm.LOW_BATTERY), (0x20, Alarm.HARDWARE_ERROR),
                             (0x40, Alarm.TAMPER)) if seal & bit}
        bits["seal_status"] = seal
        return frozenset(found | more), bits
