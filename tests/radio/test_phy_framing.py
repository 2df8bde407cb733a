"""Line codes, CRC syndrome arithmetic and CRC-aided repair."""

from __future__ import annotations

import numpy as np
import pytest

from collector.radio.framing import (
    Edit,
    FrameFail,
    decode_c1_a,
    decode_c1_b,
    decode_s1,
    decode_t1,
    repair_block,
    soft_3of6,
)
from collector.radio.phy import THREE_OF_SIX, THREE_OF_SIX_CHIPS, encode_3of6, telegram_chips
from decoders.crc import crc16_en13757, encode_frame_a, encode_frame_b

TG = bytes.fromhex("2E442D2C46464646300C8D207A70EA6021B1C178030FC51000430F9210000314072B05426CBE2B022D0C0001FF2100")


def test_three_of_six_table_is_a_weight_three_code():
    assert len(set(THREE_OF_SIX)) == 16
    assert all(bin(w).count("1") == 3 for w in THREE_OF_SIX)
    assert THREE_OF_SIX_CHIPS.sum(axis=1).tolist() == [3] * 16


def test_encode_3of6_is_high_nibble_first():
    chips = encode_3of6(b"\x3d")
    assert "".join(map(str, chips)) == "001011" + "110001"


def _soft(chips: np.ndarray) -> np.ndarray:
    return chips.astype(np.float32) * 2 - 1


@pytest.mark.parametrize("mode,fmt,decoder,skip", [
    ("T1", "A", decode_t1, 2 * 24 + 10),
    ("C1", "A", decode_c1_a, 2 * 16 + 10 + 16),
    ("C1", "B", decode_c1_b, 2 * 16 + 10 + 16),
    ("S1", "A", decode_s1, 2 * 279 + 18),
])
def test_clean_chips_decode_to_the_telegram(mode, fmt, decoder, skip):
    chips = telegram_chips(TG, mode, fmt)
    d = decoder(_soft(chips[skip:]))
    assert d.telegram == TG and d.mode == mode and d.frame_format == fmt


def test_soft_3of6_picks_the_nearest_word_and_offers_the_runner_up():
    chips = encode_3of6(b"\xa5")
    soft = _soft(chips)
    soft[0] = 0.1 * -soft[0]        # one weak, wrong chip: soft decoding still finds the byte
    sb = soft_3of6(soft)
    assert sb.data.tobytes() == b"\xa5"
    assert sb.costs.shape == (1, 2) and (sb.costs >= 0).all()


def test_repair_fixes_two_weak_bit_errors_and_no_more():
    data = bytearray(TG[:10])
    block = data + crc16_en13757(data).to_bytes(2, "big")
    bad = bytearray(block)
    bad[3] ^= 0x10
    bad[7] ^= 0x01
    edits = [Edit(3, 0x10, 0.1), Edit(7, 0x01, 0.2)] + [Edit(i, 0x80, 5.0) for i in range(12)]
    fixed = bytearray(bad)
    assert repair_block(fixed, edits)
    assert fixed == block
    worse = bytearray(bad)
    worse[5] ^= 0x04
    assert not repair_block(worse, edits + [Edit(5, 0x04, 0.3)])  # three edits needed: refused


def test_repair_can_fix_the_crc_bytes_themselves():
    data = bytearray(TG[:10])
    block = data + crc16_en13757(data).to_bytes(2, "big")
    bad = bytearray(block)
    bad[11] ^= 0x20
    assert repair_block(bad, [Edit(11, 0x20, 0.1), Edit(2, 0x01, 0.2)])
    assert bad == block


def test_t1_with_a_bad_block_fails_as_crc():
    frame = bytearray(encode_frame_a(TG))
    frame[20] ^= 0xFF
    frame[21] ^= 0xFF
    frame[22] ^= 0xFF
    with pytest.raises(FrameFail) as exc:
        decode_t1(_soft(encode_3of6(bytes(frame))))
    assert exc.value.reason == "CRC"


def test_c1_b_with_a_bad_crc_fails():
    frame = bytearray(encode_frame_b(TG))
    frame[-1] ^= 0x5A
    frame[-3] ^= 0xA5
    bits = np.unpackbits(np.frombuffer(bytes(frame), np.uint8))
    with pytest.raises(FrameFail):
        decode_c1_b(_soft(bits))


def test_wmbus_crc_has_period_151_so_long_format_b_blocks_can_alias():
    from decoders.crc import decode_frame_b

    frame = bytearray(encode_frame_b(TG))
    bits = np.unpackbits(np.frombuffer(bytes(frame), np.uint8))
    bits[40] ^= 1
    bits[40 + 151] ^= 1
    alias = np.packbits(bits).tobytes()
    assert decode_frame_b(alias) != TG             # a different telegram with a valid CRC


def test_format_b_refuses_a_reading_with_a_likely_crc_alias():
    frame = encode_frame_b(TG)
    soft = _soft(np.unpackbits(np.frombuffer(frame, np.uint8))) * np.float32(1.0)
    rng = np.random.default_rng(0)
    soft += rng.normal(0, 0.25, len(soft)).astype(np.float32)     # ~13 dB
    assert decode_c1_b(soft).telegram == TG        # clean: accepted
    soft[40] = -0.05 * np.sign(soft[40])           # two weak, wrong chips 151 apart: CRC still passes
    soft[40 + 151] = -0.05 * np.sign(soft[40 + 151])
    with pytest.raises(FrameFail) as exc:
        decode_c1_b(soft)
    assert exc.value.reason == "AMBIGUOUS"


def test_repair_takes_more_edits_only_when_they_are_erased_decisions():
    data = bytearray(TG[:10])
    block = data + crc16_en13757(data).to_bytes(2, "big")
    bad = bytearray(block)
    for pos, bit in ((2, 0x01), (4, 0x10), (6, 0x02)):
        bad[pos] ^= bit
    others = [Edit(i, 0x80, 5.0) for i in range(8)]
    erased = bytearray(bad)
    assert repair_block(erased, [Edit(2, 0x01, 0.0), Edit(4, 0x10, 0.0), Edit(6, 0x02, 0.2)] + others) == 3
    assert erased == block
    doubtful = bytearray(bad)
    assert repair_block(doubtful, [Edit(2, 0x01, 0.1), Edit(4, 0x10, 0.1), Edit(6, 0x02, 0.2)] + others) is None
