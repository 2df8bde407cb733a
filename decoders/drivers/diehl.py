"""Diehl Metering (DME, HYD, SAP): IZAR RC 868 (PRIOS), Hydrus, IZAR RC i G4 / Altair (dme_07, dme173).

PRIOS frames (CI 0xA0-0xA7) carry no standard records: the header bytes 11-13 hold the transmit
period, battery life and alarm bits, and the LFSR-scrambled payload holds the volume, the billing
volume and its date (see diehl_prios.py). Hydrus frames are standard OMS, sometimes with the Diehl
"REAL_DATA" scrambling (CFG mode 16-31) instead of AES.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import DETECTORS, by_identity, register
from decoders.drivers._lib import F, Field, Lookup, SpecDriver, error_flags, lib, num
from decoders.drivers.base import reject, tg_parse_records
from decoders.drivers.diehl_prios import (
    DEFAULT_KEYS,
    DIEHL_MANUFACTURERS,
    Interpretation,
    diehl_identity,
    interpretation,
    prios_descramble,
    real_data_descramble,
)
from decoders.model import Alarm, Identity, Reject, Rejection
from decoders.telegram import Telegram


def fix_identity(tg: Telegram) -> None:
    """Diehl codes the A field its own way in PRIOS / REAL_DATA frames: use the printed id."""
    fixed = diehl_identity(tg.data)
    if fixed is not None and tg.identity is not None:
        ident, ver, typ = fixed
        tg.identity = Identity(tg.identity.manufacturer, ident, ver, typ)


# --- PRIOS (izar, izarv2) ------------------------------------------------------------------------

# Header alarm bits: byte 11 bit 7, byte 12 bits 5-7, byte 13 all, as one 24-bit value b11|b12<<8|b13<<16.
PRIOS_ALARM_BITS: tuple[tuple[int, str, Alarm | None], ...] = (
    (0x008000, "LEAKAGE", Alarm.LEAK),
    (0x002000, "METER_BLOCKED", Alarm.BLOCKED),
    (0x800000, "BACK_FLOW", Alarm.BACKFLOW),
    (0x400000, "UNDERFLOW", Alarm.UNDERFLOW),
    (0x200000, "OVERFLOW", Alarm.OVERFLOW),
    (0x100000, "SUBMARINE", Alarm.HARDWARE_ERROR),
    (0x080000, "SENSOR_FRAUD", Alarm.TAMPER),
    (0x020000, "MECHANICAL_FRAUD", Alarm.TAMPER_REMOVAL),
    (0x004000, "PREV_LEAKAGE", None),
    (0x040000, "PREV_SENSOR_FRAUD", None),
    (0x010000, "PREV_MECHANICAL_FRAUD", None),
)
PRIOS_STATUS = Lookup(tuple((b, n, a) for b, n, a in PRIOS_ALARM_BITS), mask=0xFFE000)


def _prios_word(data: bytes) -> int:
    return data[11] | data[12] << 8 | data[13] << 16


def _sap_labels(data: bytes) -> dict[str, str]:
    """Manufacture year, serial number and the letter prefix printed on SAP meters."""
    digits = f"{((data[7] & 0x03) << 24 | data[6] << 16 | data[5] << 8 | data[4]):08d}"
    yy = int(digits[:2])
    year = 1900 + yy if yy > 70 else 2000 + yy
    serial = f"{int(digits[2:]):06d}"
    supplier = chr(64 + (((data[9] & 0x0F) << 1) | (data[8] >> 7)))
    mtype = chr(64 + ((data[8] & 0x7C) >> 2))
    diameter = chr(64 + (((data[8] & 0x03) << 3) | (data[7] >> 5)))
    return {"prefix": f"{supplier}{yy:02d}{mtype}{diameter}", "serial_number": serial, "year": str(year)}


def _billing_date(b9: int, b10: int) -> tuple[int, int, int]:
    y = ((b10 & 0xF0) >> 1) + ((b9 & 0xE0) >> 5)
    return (1900 + y if y > 80 else 2000 + y), b10 & 0x0F, b9 & 0x1F


class _Prios(SpecDriver):
    media = "water"
    meter_type = "WaterMeter"
    detect = frozenset({("HYD", 0x85, 0x07), ("SAP", 0x00, 0x07), ("DME", 0x78, 0x07),
                        ("DME", 0x78, 0x06), ("HYD", 0x86, 0x07)})

    def payload(self, tg: Telegram) -> Rejection | None:
        kind = interpretation(tg.data)
        if kind not in (Interpretation.PRIOS, Interpretation.SAP_PRIOS):
            return tg_parse_records(tg)
        fix_identity(tg)
        plain = prios_descramble(tg.data, tg.key())
        if plain is None:
            return reject(tg, Reject.WRONG_KEY, "PRIOS check byte not found with the configured or default keys")
        tg.payload = plain
        tg.security = "mfct_diehl_prios"
        tg.decryption = "descrambled"
        tg.readings = []
        return None

    def prios(self, tg: Telegram) -> tuple[bytes, bytes] | None:
        if tg.decryption != "descrambled" or len(tg.payload) < 5:
            return None
        return tg.data, tg.payload

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        got = self.prios(tg)
        if got is None:
            return super().alarms(tg)
        word = _prios_word(got[0])
        return frozenset(PRIOS_STATUS.alarms(word)), {"prios_status": word}


def _sap_label_fields(data: bytes, year_field: str) -> dict[str, Any]:
    """Printed prefix, serial and year of a SAP-addressed PRIOS meter (izar and izarv2 name the year
    differently, as the reference does)."""
    if interpretation(data) is not Interpretation.SAP_PRIOS:
        return {}
    lab = _sap_labels(data)
    return {"prefix": lab["prefix"], "serial_number": lab["serial_number"], year_field: lab["year"]}


@register
class Izar(_Prios):
    name = "izar"

    def fields(self, tg: Telegram) -> dict[str, Any]:
        got = self.prios(tg)
        if got is None:
            return {}
        data, dec = got
        out = _sap_label_fields(data, "manufacture_year")
        out["total_m3"] = num(int.from_bytes(dec[1:5], "little") / 1000)
        if len(dec) > 8:
            out["last_month_total_m3"] = num(int.from_bytes(dec[5:9], "little") / 1000)
        if len(dec) > 10:
            y, m, d = _billing_date(dec[9], dec[10])
            out["last_month_measure_date"] = f"{y}-{m % 99:02d}-{d % 99:02d}"
        out["remaining_battery_life_y"] = num((data[12] & 0x1F) / 2)
        out["transmit_period_s"] = 1 << ((data[11] & 0x0F) + 2)
        cur = [n.lower() for b, n, _ in PRIOS_ALARM_BITS[:8] if _prios_word(data) & b]
        prev_map = ((0x004000, "leakage"), (0x040000, "sensor_fraud"), (0x010000, "mechanical_fraud"))
        prev = [n for b, n in prev_map if _prios_word(data) & b]
        if cur and data[11] & 0x80:
            out["current_alarms"] = "general_alarm"
        else:
            out["current_alarms"] = ",".join(cur) if cur else "no_alarm"
        out["previous_alarms"] = ",".join(prev) if prev else "no_alarm"
        return out


@register
class IzarV2(_Prios):
    name = "izarv2"
    detect = frozenset()  # izar claims the same meters by detection; izarv2 is chosen by name

    def payload(self, tg: Telegram) -> Rejection | None:
        rej = super().payload(tg)
        if rej is None and tg.decryption == "descrambled":
            # The reference classifies this driver's PRIOS step as a payload transformation (public
            # keys: obfuscation, not security); report it the same way.
            tg.security = "none"
            tg.decryption = "plain"
        return rej

    def prios(self, tg: Telegram) -> tuple[bytes, bytes] | None:
        if len(tg.payload) < 5 or tg.readings or interpretation(tg.data) not in (
                Interpretation.PRIOS, Interpretation.SAP_PRIOS):
            return None
        return tg.data, tg.payload

    def fields(self, tg: Telegram) -> dict[str, Any]:
        got = self.prios(tg)
        if got is None:
            return {}
        data, dec = got
        out = _sap_label_fields(data, "manufacture_y")
        out["total_m3"] = num(int.from_bytes(dec[1:5], "little") / 1000)
        if len(dec) >= 11:
            out["target_m3"] = num(int.from_bytes(dec[5:9], "little") / 1000)
            y, m, d = _billing_date(dec[9], dec[10])
            out["target_date"] = f"{y}-{m:02d}-{d:02d}"
        out["battery_y"] = num((data[12] & 0x1F) * 0.5)
        out["transmit_period_s"] = 1 << ((data[11] & 0x0F) + 2)
        out["status"] = PRIOS_STATUS.text(_prios_word(data))
        return out


# --- OMS Diehl water meters -----------------------------------------------------------------------

class DiehlOms(SpecDriver):
    """Standard records; REAL_DATA scrambled payloads are descrambled first (plain ones pass)."""

    meter_type = "WaterMeter"
    # Diehl's published OMS default: the second PRIOS key, twice, tried when no key is configured.
    default_keys = (DEFAULT_KEYS[1] * 2,)

    def payload(self, tg: Telegram) -> Rejection | None:
        if interpretation(tg.data) is Interpretation.REAL_DATA:
            fix_identity(tg)
            if tg.decryption == "pending" or 16 <= tg.security_mode <= 31:
                plain = real_data_descramble(tg.data, tg.key())
                if plain is not None and tg.payload_offset == 15:
                    tg.payload = plain
                    tg.security = "mfct_diehl_real_data"
                    tg.decryption = "descrambled"
                else:
                    tg.security = "mfct_diehl_real_data"
                    tg.decryption = "already_decrypted"
        return tg_parse_records(tg)


STATUS_FLAGS = error_flags(mask=0xFFFF)


@register
class Hydrus(DiehlOms):
    name = "hydrus"
    detect = frozenset({("DME", 0x70, 0x07), ("DME", 0x76, 0x07), ("HYD", 0x24, 0x07), ("HYD", 0x8B, 0x07),
                        ("HYD", 0x8B, 0x06), ("DME", 0x70, 0x06), ("DME", 0x70, 0x16)})
    status = "tpl"
    spec = (
        STATUS_FLAGS,
        *lib("total_m3"),
        F("total_tariff{tariff}", "volume", "m3", tariff=range(1, 3)),
        F("total_tariff{tariff}_at_date", "volume", "m3", storage=1, tariff=range(1, 3)),
        *lib("flow_m3h"),
        F("total_at_date", "volume", "m3", storage=1),
        F("at", "date", "date", kind="date", storage=1),
        F("target", "volume", "m3", storage=3),
        F("target", "datetime", "datetime", kind="datetime", storage=3),
        *lib("remaining_battery_life_y", "operating_time_h", "actuality_duration_s", "meter_datetime",
             "customer", "flow_temperature_c", "external_temperature_c"),
    )


@register
class Dme07(DiehlOms):
    name = "dme_07"
    detect = frozenset({("DME", 0x7B, 0x07)})
    status = "fields"
    spec = (STATUS_FLAGS, *lib("total_m3"))


@register
class Dme173(DiehlOms):
    name = "dme173"
    detect = frozenset({("DME", 0x63, 0x07)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFFFF),
        *lib("total_m3", "flow_temperature_c", "total_backward_m3"),
        F("target", "volume", "m3", storage=8),
        F("target", "datetime", "datetime", kind="datetime", storage=8),
        F("total_at_set_date", "volume", "m3", storage=1),
        F("set", "date", "date", kind="date", storage=1),
    )


__all__ = ["Dme07", "Dme173", "Field", "Hydrus", "Izar", "IzarV2", "fix_identity"]


def _detect(tg: Telegram) -> SpecDriver | None:
    """PRIOS / REAL_DATA frames: correct the identity first, then detect by the printed address."""
    data = tg.data
    if len(data) < 15 or tg.identity is None or tg.identity.manufacturer not in DIEHL_MANUFACTURERS:
        return None
    before = tg.identity
    fix_identity(tg)
    if tg.identity is before:
        return None
    found = by_identity(tg.identity)
    return found if isinstance(found, SpecDriver) else None


DETECTORS.append(_detect)
