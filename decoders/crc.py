"""CRC-16/EN-13757 and the wireless M-Bus frame formats A and B.

Pure functions on bytes. A *normalised* telegram starts at L, carries no CRC bytes, and its L equals
len(telegram) - 1 (format A's meaning of L). Radios, sticks and logs hand us frames with or without
CRCs, in format A or B; everything downstream sees only normalised telegrams.
"""

from __future__ import annotations

POLY = 0x3D65


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLY) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _table()


try:  # a C implementation when available: 40x faster, and every CRC-free telegram is checked for frame B
    from fastcrc import crc16 as _fastcrc16

    _fast = _fastcrc16.en_13757
except ImportError:  # pragma: no cover - the pure version below is the reference
    _fast = None


def crc16_en13757(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-16 with polynomial 0x3D65, init 0, result complemented (sent big-endian)."""
    if crc == 0 and _fast is not None:
        return _fast(data if type(data) is bytes else bytes(data))
    return crc16_en13757_py(data, crc)


def crc16_en13757_py(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """The table-driven pure-Python reference of `crc16_en13757`."""
    table = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ b) & 0xFF]
    return crc ^ 0xFFFF


def _crc_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return crc16_en13757(data).to_bytes(2, "big")


class FrameError(ValueError):
    """A frame whose length or CRC does not fit the format it claims."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # "LENGTH" or "CRC"
        self.detail = detail


# --- format A -------------------------------------------------------------------------------------

def frame_a_length(l_field: int) -> int:
    """On-air byte count of a format-A frame (L byte included) for a given L."""
    data_after_first = max(l_field - 9, 0)
    blocks = (data_after_first + 15) // 16
    return l_field + 1 + 2 * (1 + blocks)


def encode_frame_a(telegram: bytes) -> bytes:
    """Normalised telegram -> format-A frame with a CRC after the first 10 bytes and every 16 after."""
    if len(telegram) < 10 or telegram[0] != len(telegram) - 1:
        raise FrameError("LENGTH", f"telegram of {len(telegram)} bytes has L={telegram[0] if telegram else None}")
    out = bytearray(telegram[:10])
    out += _crc_bytes(telegram[:10])
    for i in range(10, len(telegram), 16):
        block = telegram[i:i + 16]
        out += block
        out += _crc_bytes(block)
    return bytes(out)


def decode_frame_a(frame: bytes) -> bytes:
    """Format-A frame (CRCs present) -> normalised telegram. Raises FrameError."""
    if len(frame) < 12:
        raise FrameError("LENGTH", f"format A frame of {len(frame)} bytes is shorter than block 1")
    l_field = frame[0]
    need = frame_a_length(l_field)
    if len(frame) < need:
        raise FrameError("LENGTH", f"format A with L={l_field} needs {need} bytes, got {len(frame)}")
    out = bytearray()
    pos = 0
    size = 10
    remaining = l_field + 1
    while remaining > 0:
        size = min(size, remaining)
        block = frame[pos:pos + size]
        if frame[pos + size:pos + size + 2] != _crc_bytes(block):
            raise FrameError("CRC", f"format A block at offset {pos} fails its CRC")
        out += block
        pos += size + 2
        remaining -= size
        size = 16
    return bytes(out)


# --- format B -------------------------------------------------------------------------------------

def encode_frame_b(telegram: bytes) -> bytes:
    """Normalised telegram -> format-B frame (L counts the CRC bytes too)."""
    if len(telegram) < 10 or telegram[0] != len(telegram) - 1:
        raise FrameError("LENGTH", "not a normalised telegram")
    n = len(telegram)
    if n <= 126:
        body = bytearray(telegram)
        body[0] = n - 1 + 2
        return bytes(body) + _crc_bytes(body)
    body = bytearray(telegram)
    body[0] = n - 1 + 4
    if body[0] > 255:
        raise FrameError("LENGTH", "telegram too long for format B")
    first, rest = bytes(body[:126]), bytes(body[126:])
    return first + _crc_bytes(first) + rest + _crc_bytes(rest)


def decode_frame_b(frame: bytes) -> bytes:
    """Format-B frame -> normalised telegram. Raises FrameError."""
    if len(frame) < 12:
        raise FrameError("LENGTH", f"format B frame of {len(frame)} bytes is too short")
    l_field = frame[0]
    total = l_field + 1
    if len(frame) < total:
        raise FrameError("LENGTH", f"format B with L={l_field} needs {total} bytes, got {len(frame)}")
    frame = frame[:total]
    if total <= 128:
        body, crc = frame[:-2], frame[-2:]
        if _crc_bytes(body) != crc:
            raise FrameError("CRC", "format B block 2 fails its CRC")
        out = bytearray(body)
        out[0] = len(out) - 1
        return bytes(out)
    first, crc1 = frame[:126], frame[126:128]
    rest, crc2 = frame[128:-2], frame[-2:]
    if _crc_bytes(first) != crc1:
        raise FrameError("CRC", "format B block 2 fails its CRC")
    if _crc_bytes(rest) != crc2:
        raise FrameError("CRC", "format B block 3 fails its CRC")
    out = bytearray(first + rest)
    out[0] = len(out) - 1
    return bytes(out)


def normalise(data: bytes) -> tuple[bytes, str]:
    """Return (normalised telegram, "A" | "B" | "none") for bytes that may or may not carry DLL CRCs.

    Tries format A, then B; if neither checks out and L already equals len - 1, the bytes are taken as
    CRC-free (as sticks and peer programs hand them over). Otherwise raises FrameError.
    """
    if not data:
        raise FrameError("LENGTH", "empty frame")
    l_field = data[0]
    if len(data) == frame_a_length(l_field):
        try:
            return decode_frame_a(data), "A"
        except FrameError:
            pass
    if len(data) == l_field + 1:
        try:
            return decode_frame_b(data), "B"
        except FrameError:
            pass
        return bytes(data), "none"
    raise FrameError("LENGTH", f"L={l_field} fits neither {len(data)} bytes nor a format A/B frame")
