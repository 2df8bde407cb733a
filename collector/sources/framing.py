"""Pure framing helpers shared by the stick drivers, their emulators and the raw-stream log reader.

Every framer has the shape ``decode(buf) -> (consumed, item)``:
* ``(0, None)``: not enough bytes yet, call again with more;
* ``(n, Skipped(reason))``: drop ``n`` bytes that cannot start a frame (resynchronisation);
* ``(n, message)``: one message made of the first ``n`` bytes.
Being pure functions on bytes, resynchronisation is tested with byte vectors, no port needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str   # "GARBAGE", "CHECKSUM", "LENGTH", ...


GARBAGE = Skipped("GARBAGE")
CHECKSUM = Skipped("CHECKSUM")


def _x25_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_X25 = _x25_table()


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25: CCITT reflected (poly 0x8408), init 0xFFFF, complemented. The iM871A's HCI CRC."""
    crc = 0xFFFF
    table = _X25
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF


def xor_checksum(data: bytes | bytearray | memoryview) -> int:
    cs = 0
    for b in data:
        cs ^= b
    return cs


# C fields a receiver can hear from a meter or a peer: SND_NR, SND_IR, ACC_NR, ACC_DMD, RSP_UD (with
# its FCB/ACD variants), SND_UD, REQ_UD1/2, CNF_IR, ACK, SND_NKE. Used to find sync in CRC-free streams.
VALID_C_FIELDS = frozenset({
    0x44, 0x46, 0x47, 0x48, 0x08, 0x18, 0x28, 0x38, 0x53, 0x73, 0x5A, 0x5B, 0x7A, 0x7B, 0x06, 0x00, 0x40,
})


def _mfct_ok(lo: int, hi: int) -> bool:
    code = lo | hi << 8  # bit 15 is set by some real meters (Apator), so it is not checked
    letters = ((code >> 10) & 0x1F, (code >> 5) & 0x1F, code & 0x1F)
    return all(1 <= x <= 26 for x in letters)


def _bcd(b: bytes) -> bool:
    return all((x >> 4) <= 9 and (x & 0xF) <= 9 for x in b)


def plausible_header(buf: bytes | bytearray, i: int = 0) -> bool | None:
    """Could a CRC-free telegram start at buf[i]? None: too few bytes to tell."""
    if len(buf) - i < 4:
        return None
    return buf[i] >= 10 and buf[i + 1] in VALID_C_FIELDS and _mfct_ok(buf[i + 2], buf[i + 3])


def decode_transparent(buf: bytes | bytearray, *, extra: int = 0, final: bool = False):
    """Frame a stream of CRC-free, L-prefixed telegrams (a transparent stick, a raw tty dump).

    ``extra`` bytes (an appended RSSI) are counted inside L by some sticks; they stay in the message.
    Without a checksum, sync is found by plausibility: L >= 10, a known C field, a manufacturer code of
    three letters. A header whose meter id is not BCD is distrusted when a BCD-id header starts inside
    it: a stray byte in front of a real frame would otherwise steal it (serial_rawtty_bad.hex).
    ``final``: no more bytes will come (end of a file), so an incomplete tail is garbage.
    """
    n = len(buf)
    if n == 0:
        return 0, None
    ok = plausible_header(buf, 0)
    if ok is None:
        return (n, GARBAGE) if final else (0, None)
    if not ok:
        return 1, GARBAGE
    total = buf[0] + 1
    if n < total:
        return (n, Skipped("LENGTH")) if final else (0, None)
    if not _bcd(bytes(buf[4:8])):
        for j in range(1, min(total, n - 8)):
            if plausible_header(buf, j) and _bcd(bytes(buf[j + 4:j + 8])):
                return 1, GARBAGE
    return total, bytes(buf[:total])


def stalled_on_false_start(buf: bytes | bytearray, decode: Callable[[bytes], tuple[int, Any]],
                           start: int, *, weak_check: bool = False) -> int:
    """A header at buf[0] announced more bytes than have come; is it a false start?

    Garbage can look like a header with a large length, and would hold back the real frames behind
    it until that many bytes arrive. If a later `start` byte begins a whole frame that passes its
    check, the header at 0 was garbage: return that offset to skip to (0 = keep waiting). With a weak
    check (an XOR byte), the frame must also end the buffer or be followed by another start byte, so
    that bytes inside a genuine frame still arriving are not mistaken for one.
    """
    j = buf.find(bytes([start]), 1)
    while j > 0:
        consumed, item = decode(bytes(buf[j:]))
        if consumed and item is not None and not isinstance(item, Skipped):
            end = j + consumed
            if not weak_check or end == len(buf) or buf[end] == start:
                return j
        j = buf.find(bytes([start]), j + 1)
    return 0
