"""Diehl / Sappel / Hydrometer proprietary scrambling: PRIOS (IZAR radio) and "REAL_DATA".

Both are the same 32-bit LFSR keystream. The seed is a 32-bit key (the XOR of the two halves of an
8-byte key) XORed with three big-endian words of the frame header as it was received: M+A[0:2],
A[2:4]+version+type, CI+three header bytes. The first 15 bytes (L..CI + 4) stay clear; every later
byte is XORed with the low byte of the register after eight shifts. Feedback taps: bits 1, 2, 11, 31.

PRIOS payloads are checked by their first byte (0x4B). REAL_DATA payloads (CI 0x7A with CFG mode
bit 12 set, or CI 0x71) are checked by a byte sum: (sum & 0xEF) == (CFG high byte & 0xEF).

Two default keys are published for these meters, so no user key is needed. Diehl also codes the
A field unlike the standard for these frames; `diehl_identity` gives the id as printed.
"""

from __future__ import annotations

import enum

from decoders.tables import MANUFACTURERS

# Published default PRIOS keys (8 bytes each; the LFSR uses the XOR of their two 32-bit halves).
DEFAULT_KEYS: tuple[bytes, ...] = (
    bytes.fromhex("39BC8A10E66D83F8"),
    bytes.fromhex("51728910E66D83F8"),
)

DIEHL_MANUFACTURERS = frozenset({"DME", "EWT", "HYD", "SAP", "SPL"})
PRIOS_CHECK_BYTE = 0x4B
HEADER_LEN = 15  # L C M M A A A A V T CI + 4 bytes of the PRIOS/TPL header stay clear


class Interpretation(enum.Enum):
    NA = "N/A"
    OMS = "OMS"
    REAL_DATA = "REAL_DATA"
    PRIOS = "PRIOS"
    SAP_PRIOS = "SAP_PRIOS"
    SAP_PRIOS_STD = "SAP_PRIOS_STD"
    PRIOS_SCR = "PRIOS_SCR"
    RESERVED = "RESERVED"


def interpretation(frame: bytes) -> Interpretation:
    """How a Diehl frame must be read, from C, M, CI and (for 0x7A) the CFG mode bits."""
    if len(frame) < HEADER_LEN:
        return Interpretation.NA
    mfct = MANUFACTURERS[(frame[2] | frame[3] << 8) & 0x7FFF]
    if mfct not in DIEHL_MANUFACTURERS or frame[1] not in (0x44, 0x46):
        return Interpretation.NA
    ci = frame[10]
    if ci == 0x71:
        return Interpretation.REAL_DATA
    if ci == 0x7A:
        return Interpretation.REAL_DATA if frame[14] & 0x10 else Interpretation.OMS
    if 0xA0 <= ci <= 0xA7:
        return Interpretation.SAP_PRIOS if mfct == "SAP" else Interpretation.PRIOS
    if ci == 0xB0:
        return Interpretation.SAP_PRIOS_STD if mfct == "SAP" else Interpretation.RESERVED
    if 0xB1 <= ci <= 0xB3:
        return Interpretation.PRIOS_SCR
    if 0xA8 <= ci <= 0xB7:
        return Interpretation.RESERVED
    return Interpretation.OMS


def diehl_identity(frame: bytes) -> tuple[str, int, int] | None:
    """(id, version, type) as the meter is labelled, or None when the standard A field applies.

    PRIOS and REAL_DATA frames carry version and type first and the id after them; SAP PRIOS frames
    use the version byte as a fifth id byte and are water meters.
    """
    kind = interpretation(frame)
    if kind in (Interpretation.PRIOS, Interpretation.PRIOS_SCR, Interpretation.REAL_DATA):
        ident = frame[6:10]
        return ident[::-1].hex(), frame[4], frame[5]
    if kind is Interpretation.SAP_PRIOS:
        return frame[4:8][::-1].hex(), 0x00, 0x07
    return None


def fold_key(key: bytes) -> int:
    """8-byte key -> 32-bit LFSR seed (longer keys: the first 8 bytes are used)."""
    return int.from_bytes(key[0:4], "big") ^ int.from_bytes(key[4:8], "big")


def _step8_bitwise(reg: int) -> int:
    """Eight LFSR steps, bit by bit (the definition; used to build the tables below)."""
    for _ in range(8):
        bit = ((reg >> 1) ^ (reg >> 2) ^ (reg >> 11) ^ (reg >> 31)) & 1
        reg = ((reg << 1) | bit) & 0xFFFFFFFF
    return reg


def _tables() -> tuple[list[int], list[int], list[int], list[int]]:
    # The feedback is linear over GF(2): the 8 new bits are the XOR of the contributions of each
    # register byte, so four 256-entry tables replace the bit loop.
    return tuple(  # type: ignore[return-value]
        [_step8_bitwise(v << (8 * k)) & 0xFF for v in range(256)] for k in range(4)
    )


_T0, _T1, _T2, _T3 = _tables()
_DEFAULT_SEEDS = tuple(fold_key(k) for k in DEFAULT_KEYS)


def _register(frame: bytes, seed: int) -> int:
    return (seed ^ int.from_bytes(frame[2:6], "big") ^ int.from_bytes(frame[6:10], "big")
            ^ int.from_bytes(frame[10:14], "big"))


def _keystream_xor(frame: bytes, seed: int, limit: int | None = None) -> bytearray:
    reg = _register(frame, seed)
    out = bytearray(frame[HEADER_LEN:] if limit is None else frame[HEADER_LEN:HEADER_LEN + limit])
    t0, t1, t2, t3 = _T0, _T1, _T2, _T3
    for i in range(len(out)):
        new = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24]
        reg = ((reg << 8) | new) & 0xFFFFFFFF
        out[i] ^= new
    return out


def _seeds(user_key: bytes | None) -> tuple[int, ...]:
    if user_key:
        return (fold_key(user_key),)
    return _DEFAULT_SEEDS


def prios_descramble(frame: bytes, user_key: bytes | None = None) -> bytes | None:
    """PRIOS payload (after the 15 clear bytes) or None when no key gives the 0x4B check byte."""
    if len(frame) <= HEADER_LEN:
        return None
    for seed in _seeds(user_key):
        if _keystream_xor(frame, seed, 1)[0] == PRIOS_CHECK_BYTE:
            return bytes(_keystream_xor(frame, seed))
    return None


def real_data_descramble(frame: bytes, user_key: bytes | None = None) -> bytes | None:
    """REAL_DATA payload or None when no key satisfies the byte-sum check.

    None also means the payload may already be plain (peer programs hand over descrambled frames).
    """
    if len(frame) <= HEADER_LEN:
        return None
    want = frame[14] & 0xEF
    for seed in _seeds(user_key):
        out = _keystream_xor(frame, seed)
        if (sum(out) & 0xEF) == want:
            return bytes(out)
    return None
