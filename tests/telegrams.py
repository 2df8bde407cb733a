"""Hand-built telegrams shared by test modules (a plain module: conftest files are not imported by name)."""

from __future__ import annotations


def bcd(n: int, nbytes: int) -> bytes:
    """n as nbytes of little-endian BCD, the way the A field and BCD records carry it."""
    digits = f"{n:0{nbytes * 2}d}"[-nbytes * 2:]
    return bytes(int(digits[i:i + 2], 16) for i in range(len(digits) - 2, -1, -2))


def water_telegram(meter: int, volume_l: int, acc: int = 0) -> bytes:
    """An unencrypted OMS water meter (KAM, version 0x1B, type 7) with current and due-date volume:
    decodes to two readings. Distinct meter numbers give distinct telegrams and distinct readings."""
    body = (bytes([0x44, 0x2D, 0x2C]) + bcd(meter, 4) + bytes([0x1B, 0x07, 0x7A, acc & 0xFF, 0, 0, 0])
            + b"\x0c\x13" + bcd(volume_l, 4) + b"\x4c\x13" + bcd(max(volume_l - 5000, 0), 4))
    return bytes([len(body)]) + body
