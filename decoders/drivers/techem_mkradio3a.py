"""Techem MK Radio 3a water meter (TCH 50 72, manufacturer CI 0xA2).

Payload after the CI: two lead bytes, the current billing date (little-endian word: day 5 bits, month 4,
year since 2000 7), the total volume (3 bytes, 0.1 m3), one byte, then twelve 2-byte history entries
each followed by one byte. The entries are monthly consumptions (0.1 m3) split over two bytes: in the
first half of the month (day <= 15) the current month is the first byte alone and month k back is the
second byte of entry k-1 plus the first byte of entry k; later in the month entry k's two bytes are
month k back. `target_m3` is the current month, `last_<mon>_m3` the value for that calendar month.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, num
from decoders.drivers.techem import MFCT_CI, _MkRadio
from decoders.telegram import Telegram

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@register
class MkRadio3a(_MkRadio):
    name = "mkradio3a"
    detect = frozenset({("TCH", 0x50, 0x72)})
    min_len = 44
    spec = (F("total", "volume", "m3"),)

    def records(self, p: bytes) -> bytes:
        return b"\x03\x15" + p[4:7]   # DIF 3 bytes, VIF volume in 0.1 m3

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        p = tg.payload
        if tg.ci not in MFCT_CI or len(p) < self.min_len:
            return
        raw = p[2] | p[3] << 8
        day, month, year = raw & 0x1F, (raw >> 5) & 0x0F, raw >> 9
        if not 1 <= month <= 12:
            return
        hist = [(p[8 + 3 * k], p[9 + 3 * k]) for k in range(12)]
        if day <= 15:
            rel = [hist[0][0]] + [hist[k - 1][1] + hist[k][0] for k in range(1, 12)]
        else:
            rel = [lo + hi for lo, hi in hist]
        out["target_m3"] = num(rel[0] / 10)
        for m in range(1, 13):
            out[f"last_{MONTHS[m - 1]}_m3"] = num(rel[(month - m) % 12] / 10)
        out["target_date"] = f"{2000 + year:04d}-{month:02d}-{day:02d}"
