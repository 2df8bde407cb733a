"""The pure framers: byte vectors in, messages out; resynchronisation over garbage without a port."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.sources import amb8465, cul, im871a
from collector.sources.framing import Skipped, crc16_x25, decode_transparent, xor_checksum
from tests.sources.conftest import SAMPLE_A, SAMPLE_B


def run(decode, data: bytes, **kw: Any) -> tuple[list[Any], list[Skipped], int]:
    """Feed `data` one byte at a time (the worst split) and collect messages and skips."""
    buf = bytearray()
    messages, skips, skipped_bytes = [], [], 0
    for b in data:
        buf.append(b)
        while True:
            consumed, item = decode(buf, **kw)
            if consumed == 0:
                break
            del buf[:consumed]
            if isinstance(item, Skipped):
                skips.append(item)
                skipped_bytes += consumed
            elif item is not None:
                messages.append(item)
    return messages, skips, skipped_bytes


# --- checksums --------------------------------------------------------------------------------------

def test_x25_matches_the_documented_ping_response():
    # receivers.md: the iM871A answers a ping with A5 81 02 00 4C A3
    assert im871a.encode(im871a.EP_DEVMGMT, im871a.PING_RSP) == bytes.fromhex("A58102004CA3")
    assert crc16_x25(b"123456789") == 0x906E  # the CRC-16/X-25 check value


def test_xor_checksum_matches_documented_reset_and_factory_reset():
    assert amb8465.encode(amb8465.RESET) == bytes.fromhex("FF0500FA")
    assert amb8465.encode(amb8465.FACTORYRESET) == bytes.fromhex("FF1100EE")
    assert amb8465.encode(amb8465.GET, bytes([0x00, 0x80])) == bytes.fromhex("FF0A02008077")
    assert amb8465.encode(amb8465.SERIALNO) == bytes.fromhex("FF0B00F4")
    assert xor_checksum(b"\xff\x05\x00") == 0xFA


# --- iM871A HCI ---------------------------------------------------------------------------------------

def ind(telegram: bytes, rssi: int | None = 120, ts: int | None = None) -> bytes:
    return im871a.encode(im871a.EP_RADIOLINK, im871a.WMBUSMSG_IND, telegram[1:], rssi_raw=rssi, timestamp=ts)


def test_hci_round_trip_with_every_optional_field():
    data = ind(SAMPLE_A, rssi=77, ts=0x01020304)
    consumed, msg = im871a.decode(data)
    assert consumed == len(data)
    assert msg == im871a.HciMessage(2, 3, SAMPLE_A[1:], 0x01020304, 77, True)


def test_hci_resyncs_over_garbage_including_fake_start_bytes():
    garbage = b"\x00\xa5\xa5\x13\xff\xa5\x81\x02"  # A5s that do not start a valid frame
    data = garbage + ind(SAMPLE_A) + b"\xa5" + ind(SAMPLE_B)
    messages, skips, skipped = run(im871a.decode, data)
    assert [bytes([len(m.payload)]) + m.payload for m in messages] == [SAMPLE_A, SAMPLE_B]
    assert skipped == len(garbage) + 1
    assert all(s.reason in ("GARBAGE", "CHECKSUM") for s in skips)


def test_hci_crc_error_drops_the_frame_and_finds_the_next():
    bad = bytearray(ind(SAMPLE_A))
    bad[10] ^= 0x01
    messages, skips, _ = run(im871a.decode, bytes(bad) + ind(SAMPLE_B))
    assert [m.payload for m in messages] == [SAMPLE_B[1:]]
    assert Skipped("CHECKSUM") in skips


def test_hci_rejects_msg_ids_out_of_range():
    consumed, item = im871a.decode(bytes([0xA5, 0x82, 0x09, 0x00, 0, 0]))
    assert (consumed, item) == (1, Skipped("GARBAGE"))


def test_hci_config_payload_round_trip_and_set_config_layout():
    assert im871a.set_config_payload(3) == bytes.fromhex("000203300100")
    fields = {"link_mode": 3, "id": 0x12345678, "mfct": 0x0CAE, "auto_rssi": 1}
    assert im871a.parse_config(im871a.build_config(fields)) == fields


def test_hci_rssi_scale():
    assert im871a.rssi_dbm(45) == -100.0
    assert im871a.rssi_dbm(205) == -20.0
    assert im871a.rssi_dbm(240) == 0.0
    assert im871a.rssi_dbm(im871a.rssi_raw(-63.5)) == -63.5


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=30), st.sampled_from([SAMPLE_A, SAMPLE_B])), min_size=1,
                max_size=5))
def test_hci_recovers_every_frame_whatever_the_garbage(chunks):
    data = b"".join(g + ind(t) for g, t in chunks)
    messages, _, _ = run(im871a.decode, data)
    got = [bytes([len(m.payload)]) + m.payload for m in messages if m.msg_id == im871a.WMBUSMSG_IND]
    # Garbage may, with tiny probability, contain a whole valid CRC'd frame: every real one is found in order.
    it = iter(got)
    assert all(any(g == t for g in it) for _, t in chunks)


# --- AMB8465 ------------------------------------------------------------------------------------------

def test_amber_command_frames_resync_and_checksum():
    good = amb8465.encode(amb8465.DATA_IND, SAMPLE_A + b"\x10")
    bad = bytearray(amb8465.encode(amb8465.DATA_IND, SAMPLE_B + b"\x10"))
    bad[-1] ^= 0xFF
    data = b"\x01\x02\xff" + bytes(bad) + good
    messages, skips, _ = run(amb8465.decode, data)
    assert messages == [amb8465.AmberMessage(amb8465.DATA_IND, SAMPLE_A + b"\x10")]
    assert Skipped("CHECKSUM") in skips


def test_amber_transparent_frames_with_rssi_in_l():
    def transparent(t: bytes, rssi: int) -> bytes:
        body = bytearray(t + bytes([rssi]))
        body[0] = len(body) - 1
        return bytes(body)

    answer = amb8465.encode(amb8465.SET_MODE | amb8465.CONFIRM, b"\x00")
    data = b"\x99" + transparent(SAMPLE_A, 0x20) + answer + transparent(SAMPLE_B, 0xF0)
    messages, _, _ = run(amb8465.decode, data, transparent=True)
    assert isinstance(messages[1], amb8465.AmberMessage)
    tele = [amb8465.telegram_from_transparent(m.data, rssi=True) for m in (messages[0], messages[2])]
    assert tele == [(SAMPLE_A, 0x20), (SAMPLE_B, 0xF0)]
    assert amb8465.rssi_dbm(0x20) == -58.0
    assert amb8465.rssi_dbm(0xF0) == -82.0


# --- CUL --------------------------------------------------------------------------------------------

def test_cul_lines_and_telegram_parsing():
    messages, _, _ = run(cul.decode, b"V 1.67 CUL868\r\n\r\nb0011\nbY" + b"AB" * 14 + b"2A9C\r\n")
    assert [m.text for m in messages] == ["V 1.67 CUL868", "b0011", "bY" + "AB" * 14 + "2A9C"]
    assert cul.parse_telegram_line("b0011") == Skipped("TRUNCATED")
    assert cul.parse_telegram_line("b00x1" + "0" * 30) == Skipped("SYNTAX")
    assert cul.parse_telegram_line("TMODE") is None
    parsed = cul.parse_telegram_line("bY" + "AB" * 14 + "2A9C")
    assert parsed == cul.CulTelegram(b"\xab" * 14, True, 0x2A, 0x9C)
    assert cul.rssi_dbm(0x9C) == (0x9C - 256) / 2 - 74


def test_cul_odd_length_line_is_a_truncated_telegram():
    assert cul.parse_telegram_line("b" + "A" * 41) == Skipped("TRUNCATED")


# --- transparent (rawtty) -------------------------------------------------------------------------------

def test_transparent_resync_over_the_bad_sample(receiver_logs):
    data = b"".join(bytes.fromhex(x) for x in (receiver_logs / "serial_rawtty_bad.hex").read_text().split())
    buf = bytearray(data)
    frames, skipped = [], 0
    while buf:
        consumed, item = decode_transparent(buf, final=True)
        assert consumed > 0
        if isinstance(item, bytes):
            frames.append(item)
        else:
            skipped += consumed
        del buf[:consumed]
    assert frames == [SAMPLE_A, SAMPLE_B]
    assert skipped == 3 + 5


def test_transparent_waits_for_more_bytes_unless_final():
    assert decode_transparent(SAMPLE_A[:20]) == (0, None)
    consumed, item = decode_transparent(SAMPLE_A[:20], final=True)
    assert consumed == 20 and item == Skipped("LENGTH")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=30), st.sampled_from([SAMPLE_A, SAMPLE_B])), min_size=1,
                max_size=5))
def test_amber_command_mode_recovers_frames_whatever_the_garbage(chunks):
    # Garbage without the start byte: whatever else it holds, every real frame comes out, in order.
    data = b"".join(g.replace(b"\xff", b"\xfe") + amb8465.encode(amb8465.DATA_IND, t + b"\x30")
                    for g, t in chunks)
    messages, _, _ = run(amb8465.decode, data)
    assert [m.payload[:-1] for m in messages] == [t for _, t in chunks]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_framers_never_raise_and_always_progress(data):
    for decode, kw in ((im871a.decode, {}), (amb8465.decode, {}), (amb8465.decode, {"transparent": True}),
                       (cul.decode, {}), (decode_transparent, {})):
        buf = bytearray(data)
        for _ in range(len(data) + 1):
            consumed, item = decode(buf, **kw)
            assert 0 <= consumed <= len(buf)
            if consumed == 0:
                assert item is None
                break
            del buf[:consumed]
        if kw.get("transparent") is not None or decode in (cul.decode, decode_transparent):
            consumed, _ = decode(buf, final=True, **kw) if buf else (0, None)
            assert consumed == len(buf)
