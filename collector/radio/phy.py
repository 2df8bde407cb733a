"""wM-Bus physical-layer facts (EN 13757-4) and the line codes: 3-of-6, NRZ, Manchester.

Chips are uint8 arrays of 0/1; chip 1 is the higher frequency (+deviation), as an RTL-SDR delivers it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.radio.crc import encode_frame_a, encode_frame_b

T1C1_FREQ_HZ = 868.95e6
S1_FREQ_HZ = 868.30e6
T1C1_CHIP_RATE = 100_000.0
S1_CHIP_RATE = 32_768.0


@dataclass(frozen=True, slots=True)
class ModeParams:
    name: str
    freq_hz: float
    chip_rate: float
    deviation_hz: float


MODES: dict[str, ModeParams] = {
    "T1": ModeParams("T1", T1C1_FREQ_HZ, T1C1_CHIP_RATE, 50_000.0),
    "C1": ModeParams("C1", T1C1_FREQ_HZ, T1C1_CHIP_RATE, 45_000.0),
    "S1": ModeParams("S1", S1_FREQ_HZ, S1_CHIP_RATE, 50_000.0),
}

# nibble -> 6-chip word, MSB first
THREE_OF_SIX = (0b010110, 0b001101, 0b001110, 0b001011, 0b011100, 0b011001, 0b011010, 0b010011,
                0b101100, 0b100101, 0b100110, 0b100011, 0b110100, 0b110001, 0b110010, 0b101001)
# 16 x 6 table of chips (0/1) for the soft decoder
THREE_OF_SIX_CHIPS = np.array([[(w >> (5 - i)) & 1 for i in range(6)] for w in THREE_OF_SIX], dtype=np.int8)

SYNC_T1C1 = "0000111101"          # after the "01" preamble; with 3 preamble pairs reads 0x543D
SYNC_C1_A = "0101010011001101"    # 0x54CD after the sync: C1 frame format A
SYNC_C1_B = "0101010000111101"    # 0x543D after the sync: C1 frame format B
SYNC_S1 = "000111011010010110"    # 18 chips, Manchester violations on purpose


def bits_of(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")


def bytes_to_bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def encode_3of6(data: bytes) -> np.ndarray:
    words = []
    for b in data:
        words.append(THREE_OF_SIX[b >> 4])
        words.append(THREE_OF_SIX[b & 15])
    w = np.array(words, dtype=np.uint8)
    return ((w[:, None] >> np.arange(5, -1, -1, dtype=np.uint8)) & 1).astype(np.uint8).ravel()


def encode_manchester(bits: np.ndarray) -> np.ndarray:
    """Bit 1 -> chips "01", bit 0 -> chips "10" (the "01" preamble reads as ones); this polarity is
    the one rtl_433's mode-S decoder accepts."""
    out = np.empty(2 * len(bits), dtype=np.uint8)
    out[0::2] = 1 - bits
    out[1::2] = bits
    return out


def telegram_chips(telegram: bytes, mode: str, frame_format: str = "A", *, preamble_pairs: int | None = None,
                   postamble: bool = True) -> np.ndarray:
    """Normalised telegram -> the chips a meter sends (preamble, sync, coded frame, postamble)."""
    mode = mode.upper()
    frame_format = frame_format.upper()
    if mode == "T1":
        frame = encode_frame_a(telegram)
        pre = "01" * (preamble_pairs if preamble_pairs is not None else 24)
        body = encode_3of6(frame)
        tail = "0101" if postamble else ""
        return np.concatenate([bits_of(pre + SYNC_T1C1), body, bits_of(tail)])
    if mode == "C1":
        if frame_format == "A":
            frame, marker = encode_frame_a(telegram), SYNC_C1_A
        elif frame_format == "B":
            frame, marker = encode_frame_b(telegram), SYNC_C1_B
        else:
            raise ValueError(f"C1 frame format must be A or B, not {frame_format!r}")
        pre = "01" * (preamble_pairs if preamble_pairs is not None else 16)
        tail = "0101" if postamble else ""
        return np.concatenate([bits_of(pre + SYNC_T1C1 + marker), bytes_to_bits(frame), bits_of(tail)])
    if mode == "S1":
        frame = encode_frame_a(telegram)
        pre = "01" * (preamble_pairs if preamble_pairs is not None else 279)
        body = encode_manchester(bytes_to_bits(frame))
        tail = "0101" if postamble else ""
        return np.concatenate([bits_of(pre + SYNC_S1), body, bits_of(tail)])
    raise ValueError(f"unknown mode {mode!r}")
