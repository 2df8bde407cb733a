"""Static tables of the link and transport layers: manufacturer letters, device types, media names."""

from __future__ import annotations


def manufacturer_letters(m_field: int) -> str:
    """2-byte M field -> three letters. Bit 15 (set by meters that send a lower-case first letter) is
    ignored, as the letters only use 15 bits."""
    m = m_field & 0x7FFF
    return chr(((m >> 10) & 0x1F) + 64) + chr(((m >> 5) & 0x1F) + 64) + chr((m & 0x1F) + 64)


def manufacturer_code(letters: str) -> int:
    a, b, c = (ord(ch.upper()) - 64 for ch in letters)
    return (a << 10) | (b << 5) | c


# Precomputed: 32k entries are cheaper than three chr() calls per telegram. Built letter by letter (index
# = 5-bit codes in order), which at import costs a third of calling manufacturer_letters 32k times.
_LETTERS = [chr(64 + i) for i in range(32)]
MANUFACTURERS: tuple[str, ...] = tuple([a + b + c for a in _LETTERS for b in _LETTERS for c in _LETTERS])

# EN 13757-7 device types -> media names as wmbusmeters prints them.
MEDIA: dict[int, str] = {
    0x00: "other", 0x01: "oil", 0x02: "electricity", 0x03: "gas", 0x04: "heat", 0x05: "steam",
    0x06: "warm water", 0x07: "water", 0x08: "heat cost allocation", 0x09: "compressed air",
    0x0A: "cooling load volume at outlet", 0x0B: "cooling load volume at inlet", 0x0C: "heat volume at inlet",
    0x0D: "heat/cooling load", 0x0E: "bus/system component", 0x0F: "unknown", 0x10: "irrigation water",
    0x11: "water data logger", 0x12: "gas data logger", 0x13: "gas converter", 0x14: "calorific value",
    0x15: "hot water", 0x16: "cold water", 0x17: "dual register (hot/cold) water meter",
    0x18: "pressure", 0x19: "a/d converter", 0x1A: "smoke detector", 0x1B: "room sensor",
    0x1C: "gas detector", 0x1D: "reserved", 0x1E: "reserved", 0x1F: "reserved", 0x20: "breaker",
    0x21: "valve", 0x22: "reserved", 0x23: "reserved", 0x24: "reserved", 0x25: "customer unit",
    0x26: "reserved", 0x27: "reserved", 0x28: "waste water", 0x29: "garbage", 0x2A: "reserved",
    0x2B: "service unit", 0x2C: "reserved", 0x2D: "reserved", 0x2E: "reserved", 0x2F: "reserved",
    0x30: "reserved", 0x31: "communication controller", 0x32: "unidirectional repeater",
    0x33: "bidirectional repeater", 0x34: "reserved", 0x35: "reserved", 0x36: "radio converter (system side)",
    0x37: "radio converter (meter side)", 0x38: "bus converter (meter side)",
}

# wmbusmeters' names for our security labels (used to compare with the corpus).
CORPUS_SECURITY: dict[str, tuple[str, ...]] = {
    "none": ("none",),
    "mode5": ("TPL_AES_CBC_IV",),
    "mode7": ("AFL_AES_CMAC", "TPL_AES_CBC_NO_IV"),
    "ell_ctr": ("ELL_AES_CTR",),
}
