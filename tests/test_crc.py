"""CRC-16/EN-13757 and frame formats A/B."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoders.crc import (
    FrameError,
    crc16_en13757,
    decode_frame_a,
    decode_frame_b,
    encode_frame_a,
    encode_frame_b,
    frame_a_length,
    normalise,
)


def test_crc_known_answer():
    # CRC-16/EN-13757 check value for "123456789" (reveng catalogue): 0xC2B7
    assert crc16_en13757(b"123456789") == 0xC2B7


def test_frame_a_layout():
    telegram = bytes.fromhex("2E44333003020100071B7A634820252F2F0265840842658308820165950802FB1AAE0142FB1AAE018201FB1AA9012F")
    frame = encode_frame_a(telegram)
    assert len(frame) == frame_a_length(telegram[0])
    assert frame[10:12] == crc16_en13757(telegram[:10]).to_bytes(2, "big")
    assert decode_frame_a(frame) == telegram


telegrams = st.binary(min_size=9, max_size=250).map(lambda b: bytes([len(b)]) + b)


@given(telegrams)
def test_round_trip_a_and_b(t):
    assert decode_frame_a(encode_frame_a(t)) == t
    assert normalise(encode_frame_a(t)) == (t, "A")
    if len(t) <= 250:
        assert decode_frame_b(encode_frame_b(t)) == t


@given(telegrams, st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_corruption_is_a_crc_error(t, pos, flip):
    frame = bytearray(encode_frame_a(t))
    pos %= len(frame)
    if pos == 0:
        pos = 1  # corrupting L changes the length, covered below
    frame[pos] ^= flip
    with pytest.raises(FrameError) as e:
        decode_frame_a(bytes(frame))
    assert e.value.reason == "CRC"


def test_short_frame_is_a_length_error():
    with pytest.raises(FrameError) as e:
        decode_frame_a(b"\x2e\x44")
    assert e.value.reason == "LENGTH"


def test_corpus_round_trip(corpus):
    for case in corpus:
        if case["header"]["frame"] != "wmbus" or case["header"]["dll_crc"] != "none":
            continue
        t = bytes.fromhex(case["telegram"])
        assert normalise(encode_frame_a(t)) == (t, "A")
        assert normalise(encode_frame_b(t)) == (t, "B")
        assert normalise(t) == (t, "none")
