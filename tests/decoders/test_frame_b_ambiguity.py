"""Frame B and CRC-free telegrams both have L == len - 1: which reading wins."""

from __future__ import annotations

from decoders import DecoderState, decode
from decoders.core import ambiguous_frame_b
from decoders.crc import encode_frame_b

# A CRC-free telegram whose last two bytes happen to be a valid frame-B CRC over the rest (found by the
# sync engineer's synthetic drive: 1 in 65,536 telegrams are like this).
LOOKALIKE = bytes.fromhex("1a442d2c005700101b077a010000000c13501041004c1350014100")


def test_lookalike_is_read_crc_free():
    assert ambiguous_frame_b(LOOKALIKE)
    state = DecoderState()
    result = decode(LOOKALIKE, state=state)
    assert result.ok
    assert result.frame_format == "none"
    assert [(r.storage, r.value) for r in result.readings] == [(0, 411.05), (1, 410.15000000000003)]
    assert not result.notes
    assert state.decoded == 1 and sum(state.rejections.values()) == 0


def test_genuine_frame_b_still_read_as_frame_b(corpus):
    checked = 0
    for case in corpus:
        if case["header"]["frame"] != "wmbus" or case["key"] or case["prior_telegrams"]:
            continue
        plain = bytes.fromhex(case["telegram"])
        if case["header"]["dll_crc"] != "none" or len(plain) > 120:
            continue
        expected = decode(plain)
        if not expected.ok or expected.notes:
            continue
        framed = decode(encode_frame_b(plain))
        assert framed.ok and framed.frame_format == "B", case["driver"]
        assert [(r.quantity, r.storage, r.value) for r in framed.readings] == \
            [(r.quantity, r.storage, r.value) for r in expected.readings]
        checked += 1
    assert checked > 100
