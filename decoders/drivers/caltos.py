"""Zenner Caltos E (ZRI, version 0xFC, heat cost allocator), also sold as "Zenner HCA".

Besides the current and the billing-date values it sends a monthly history as one inverse compact
profile record (EN 13757-3: VIFE 0x13, variable length, storage 8): a spacing control byte (element
coding in the low nibble, as a DIF data code), a spacing value (0xFE: one month), then elements going
back in time from the record's base month (the date of storage 8). Elements never written are all 0xFF.
The manufacturer bits of the TPL status byte carry the allocator's own state.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, date_text, months_back_iso
from decoders.model import Alarm
from decoders.telegram import Telegram

_SIZE = {0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x6: 6, 0x7: 8, 0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
INVERSE_COMPACT_PROFILE = "error_13"  # combinable VIFE 0x13 (named by the old error-code range)


def compact_profile_values(raw: bytes) -> list[int | None]:
    """Element values of a compact profile record's data (None for an unset or invalid element)."""
    if len(raw) < 2:
        return []
    code = raw[0] & 0x0F
    size = _SIZE.get(code)
    if size is None:
        return []
    out: list[int | None] = []
    for i in range(2, len(raw) - size + 1, size):
        b = raw[i:i + size]
        if all(x == 0xFF for x in b):
            out.append(None)
        elif code >= 0x9:
            h = b[::-1].hex()
            out.append(int(h) if h.isdigit() else None)
        else:
            out.append(int.from_bytes(b, "little"))
    return out


@register
class Caltose(SpecDriver):
    name = "caltose"
    aliases = ("zennerhca",)
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("ZRI", 0xFC, 0x08)})
    status = "tpl"
    tpl_mfct_bits = {0x04: "BATTERY_WARNING", 0x08: "INVALID_METROLOGICAL_TABLE", 0x20: "REMOVAL",
                     0x40: "MODE_2F", 0x80: "PRODUCT_SCALE"}
    spec = (
        F("consumption", "hca", "hca"),
        F("target", "hca", "hca", storage=1),
        F("target", "date", "date", kind="date", storage=1),
        F("base", "date", "date", kind="date", storage=8),
        F("base", "hca", "hca", storage=8),
    )

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        if tg.sts and tg.sts & 0x20:  # the allocator was taken off the radiator
            found = frozenset(found | {Alarm.TAMPER_REMOVAL})
        return found, bits

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        prof = next((r for r in tg.readings if r.quantity == "hca" and INVERSE_COMPACT_PROFILE in r.vifes), None)
        base = next((r for r in tg.readings if r.quantity == "date" and prof is not None
                     and r.storage == prof.storage), None)
        text = date_text(base.raw) if base is not None else None
        if prof is None or text is None or len(prof.raw) < 2 or prof.raw[1] != 0xFE:
            return  # only monthly spacing (0xFE) is known from these meters
        for n, v in enumerate(compact_profile_values(prof.raw), 1):
            if v is None:
                continue
            out[f"consumption_{n}_hca"] = v
            out[f"consumption_{n}"] = months_back_iso(text, n)
