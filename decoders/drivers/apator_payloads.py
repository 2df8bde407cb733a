"""Apator proprietary payloads, as pure functions over bytes (no driver mechanism here).

* AT-WMBUS-16-2 (APA/05/06-07): standard mode-5 TPL, then after 2F2F a 0x0F manufacturer block:
  one lead byte, 7 status bytes, then tag-length-value records (the tag fixes the length), optional
  0xFF padding and a 2-byte checksum. Tag 0x10 holds the total volume in litres (u32 LE).
* AT-WMBUS-08 (APT/03/03, APT/0F/0F) and 17-2 (APT/04/11): CI 0xA0, the first four payload bytes are
  a pulse counter (u32 LE) of 1/3 litre (08) or, in the 17-2, of 1/3 of the reference decoder's unit.
* APT-WMBUS-NA-1 (APA/14/07): CI 0xA0/0xA1, ACC and a clear frame-status byte, then one AES-128-CBC
  block (IV = M A V T + ACC x 8) with a packed total, the meter clock, the last historic reading as
  age and delta, and two status bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# --- AT-WMBUS-16-2 -------------------------------------------------------------------------------

# Tag -> number of value bytes after the tag. Learned from the meter's record structure; tags not
# listed end the walk (the total, when present, normally comes before them).
_T162_LENGTHS: dict[int, int] = {
    0x00: 4, 0x01: 3, 0x10: 4, 0x11: 2, 0x40: 6, 0x41: 2, 0x42: 4, 0x43: 2, 0x44: 3,
    0x8A: 9, 0x8B: 6, 0x8C: 6, 0x8E: 7,
    0xA0: 4, 0xA1: 4, 0xA2: 1, 0xA3: 7, 0xA4: 4, 0xA5: 1, 0xA6: 3, 0xA9: 1, 0xAF: 1,
    0xB0: 5, 0xB1: 8, 0xB2: 16, 0xB3: 8, 0xB4: 2, 0xB5: 16, 0xF0: 4,
}
for _t in range(0x71, 0x7D):  # history blocks: one byte, then (tag - 0x6F) quads
    _T162_LENGTHS[_t] = 1 + 4 * (_t - 0x6F)
for _t in (0x80, 0x81, 0x82, 0x83, 0x84, 0x86, 0x87):
    _T162_LENGTHS[_t] = 10
for _t in (0x85, 0x88, 0x8F):
    _T162_LENGTHS[_t] = 11
for _t in (0xA7, 0xA8, 0xAA, 0xAB, 0xAC, 0xAD):
    _T162_LENGTHS[_t] = 2
for _t in list(range(0xB6, 0xC0)) + list(range(0xC0, 0xC8)) + [0xD0, 0xD3]:
    _T162_LENGTHS[_t] = 3


def apator162_records(block: bytes) -> tuple[bytes, list[tuple[int, bytes]]] | None:
    """Split a 16-2 manufacturer block (starting at its 0x0F lead byte or the byte in its place).

    Returns (status 7 bytes, [(tag, value)]) or None when the block does not follow the structure.
    """
    if len(block) < 1 + 7 + 2:
        return None
    status = block[1:8]
    pos, end = 8, len(block) - 2  # the last two bytes are a checksum
    records: list[tuple[int, bytes]] = []
    while pos < end:
        tag = block[pos]
        if tag == 0xFF:
            if any(b != 0xFF for b in block[pos:end]):
                return None
            break
        n = _T162_LENGTHS.get(tag)
        if n is None or pos + 1 + n > end:
            return None
        records.append((tag, block[pos + 1:pos + 1 + n]))
        pos += 1 + n
    return status, records


def apator162_total_litres(block: bytes) -> int | None:
    """The total (tag 0x10) of a 16-2 block. Records are walked only as far as needed: meters append
    blocks whose tags are not known yet, and the total comes before them."""
    pos = 8
    while pos < len(block):
        tag = block[pos]
        n = _T162_LENGTHS.get(tag)
        if n is None or pos + 1 + n > len(block):
            return None
        if tag == 0x10:
            return int.from_bytes(block[pos + 1:pos + 5], "little")
        pos += 1 + n
    return None


# --- AT-WMBUS-08 / 17-2 --------------------------------------------------------------------------

def apator_counter(payload: bytes) -> int | None:
    """The leading u32 LE pulse counter of an 08 / 17-2 payload (after CI 0xA0)."""
    if len(payload) < 4:
        return None
    return int.from_bytes(payload[0:4], "little")


# --- APT-WMBUS-NA-1 ------------------------------------------------------------------------------

NA1_EPOCH = datetime(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class Na1Reading:
    total_m3: float
    meter_datetime: datetime
    historic_m3: float
    historic_age_h: int
    historic_datetime: datetime
    frame_status: int
    current_status: int
    historic_status: int


def na1_decrypt(frame: bytes, key: bytes, ci_pos: int = 10) -> bytes | None:
    """Decrypt the one AES block of an NA-1 frame (CI, ACC, frame status, 16 bytes ciphertext)."""
    if len(frame) < ci_pos + 3 + 16 or len(key) != 16:
        return None
    acc = frame[ci_pos + 1]
    iv = frame[2:10] + bytes([acc]) * 8
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(frame[ci_pos + 3:ci_pos + 19]) + dec.finalize()


@lru_cache(maxsize=4096)  # fields and alarms both read it; repeats of one frame cost nothing
def na1_parse(frame: bytes, plain: bytes, ci_pos: int = 10) -> Na1Reading:
    raw = int.from_bytes(plain[1:5], "little")
    mult = 10 ** ((raw >> 4) & 3)
    total_l = ((raw >> 8) * 16 + (raw & 0x0F)) * mult
    secs = int.from_bytes(plain[5:9], "little")
    meter_dt = NA1_EPOCH + timedelta(seconds=secs)
    age_low, age_meta = plain[9], plain[10]
    d0, d1, d2 = plain[11], plain[12], plain[13]
    age_h = (age_meta >> 2) * 256 + age_low
    delta = ((d2 << 18) + (d1 << 10) + (d0 << 2) + (age_meta & 3)) * mult
    return Na1Reading(
        total_m3=total_l / 1000,
        meter_datetime=meter_dt,
        historic_m3=(total_l - delta) / 1000,
        historic_age_h=age_h,
        historic_datetime=meter_dt - timedelta(hours=age_h),
        frame_status=frame[ci_pos + 2],
        current_status=plain[14],
        historic_status=plain[15],
    )


# --- E-ITN 30.51 heat cost allocator -------------------------------------------------------------------
# A 16-byte block: 0xA0 and the low byte of the season start date (the block marker is its high byte),
# two unused bytes, then little-endian words: previous season's units, the electronic-seal break date
# (0 = intact), this season's units, today's date, the average room temperature of the previous and of
# this season (whole degrees in the high byte, 1/256 in the low byte). Dates are Apator's 16-bit form:
# day in bits 0-4, month in bits 5-8, year - 2000 in bits 9-13.

EITN_BLOCK = 16


def eitn_block(ci: int, payload: bytes) -> bytes | None:
    """The 16-byte E-ITN block of a CI 0xA0 frame (the CI byte is its first byte) or of a CI 0xB6 frame
    (after a header whose length is its first byte)."""
    if ci == 0xA0:
        block = bytes([0xA0]) + payload
    elif ci == 0xB6 and payload:
        block = payload[payload[0] + 1:]
    else:
        return None
    return block if len(block) == EITN_BLOCK and block[0] == 0xA0 else None


def eitn_date(word: int) -> str | None:
    if word == 0:
        return None
    return f"{2000 + ((word >> 9) & 0x1F):04d}-{(word >> 5) & 0x0F:02d}-{word & 0x1F:02d}"


def eitn_fields(block: bytes) -> dict[str, object]:
    def w(i: int) -> int:
        return block[i] | block[i + 1] << 8

    esb = w(6)
    return {
        "current_hca": w(8),
        "previous_hca": w(4),
        "current_date": eitn_date(w(10)),
        "season_start_date": eitn_date(block[0] << 8 | block[1]),
        "esb_date": eitn_date(esb),
        "status": "SEAL_BROKEN" if esb else "OK",
        "temp_room_avg_c": block[15] + block[14] / 256,
        "temp_room_prev_avg_c": block[13] + block[12] / 256,
    }


# --- E-ITN 40 heat cost allocator (two temperature sensors) ----------------------------------------------
# 27 little-endian words after CI 0xA0 (or after a CI 0xB6 header and an 0xA0 byte): an unused word, the
# season start (day/month only), radiator and room temperature (signed, 1/16 degree), this month's
# units, 15 monthly values (1 = previous month), this season's, the previous, 2 and 3 seasons ago
# units, today's date (year in bits 9-15), the day of week and a seal/sensor status word (0xFFFF: seal
# broken). Firmware versions 0x09/0x0D send it plain, 0x0A/0x0E encrypted.

EITN40_WORDS = 27
EITN40_STATUS = (
    (0x0001, "SENSOR_RADIATOR_OPEN"), (0x0002, "SENSOR_RADIATOR_SHORT"), (0x0004, "SENSOR_ROOM_OPEN"),
    (0x0008, "SENSOR_ROOM_SHORT"), (0x0010, "LOW_BATTERY"), (0x0020, "EEPROM_ERROR"),
    (0x0040, "OPTICAL_TAMPER"),
)


def eitn40_words(ci: int, payload: bytes) -> list[int] | None:
    n = 2 * EITN40_WORDS
    if ci == 0xB6 and payload:
        payload = payload[payload[0] + 1:]
        if payload[:1] != b"\xa0":
            return None
        payload = payload[1:]
    elif ci == 0xA0 and len(payload) == n + 1 and payload[0] == 0xA0:
        payload = payload[1:]
    elif ci != 0xA0:
        return None
    if len(payload) != n:
        return None
    return [payload[i] | payload[i + 1] << 8 for i in range(0, n, 2)]


def _eitn40_date(word: int, year_bits: int) -> str:
    year = (word >> 9) & ((1 << year_bits) - 1)
    return f"{2000 + year:04d}-{(word >> 5) & 0x0F:02d}-{word & 0x1F:02d}"


def eitn40_fields(w: list[int]) -> dict[str, object]:
    def signed(v: int) -> int:
        return v - 0x10000 if v & 0x8000 else v

    out: dict[str, object] = {
        "current_hca": w[20], "previous_hca": w[21], "previous_2y_hca": w[22], "previous_3y_hca": w[23],
        "current_month_hca": w[4], "previous_month_hca": w[5],
    }
    for m in range(2, 16):
        out[f"previous_month_{m:02d}_hca"] = w[4 + m]
    out["current_date"] = _eitn40_date(w[24], 7)
    out["season_start_date"] = _eitn40_date(w[1], 5)
    out["temp_radiator_c"] = signed(w[2]) / 16
    out["temp_room_c"] = signed(w[3]) / 16
    seal = w[26]
    if seal == 0xFFFF:
        out["status"] = "SEAL_BROKEN"
    else:
        words = [name for bit, name in EITN40_STATUS if seal & bit]
        rest = seal & ~sum(bit for bit, _ in EITN40_STATUS)
        if rest:
            words.append(f"STATUS_{rest:X}")
        out["status"] = " ".join(sorted(words)) if words else "OK"
    return out
