"""Each stick driver end to end through its emulator on a pty, through real pyserial.

Unplug/replug is real: the emulator closes its pty (the driver's next read fails as on a yanked USB
stick) and later creates a new one behind the same symlinked path.
"""

from __future__ import annotations

import threading

import pytest

from collector.emulators.base import Transmission
from collector.sources import open_source
from collector.sources.base import SourceUnavailable
from collector.sources.probe import probe_port
from decoders.crc import encode_frame_a, encode_frame_b
from tests.sources.conftest import SAMPLE_A, SAMPLE_B, wireless_telegrams

STICKS = ["im871a", "amb8465", "cul"]
FAST = {"backoff_min": 0.01, "backoff_max": 0.05, "command_timeout": 1.0}


def recv_n(src, n, timeout=5.0):
    out = []
    for _ in range(n):
        frame = src.recv(timeout=timeout)
        assert frame is not None, f"only {len(out)} of {n} frames arrived; counters {src.counters}"
        out.append(frame)
    return out


@pytest.mark.parametrize("kind", STICKS)
def test_corpus_through_stick_in_order_with_rssi(emulator, kind):
    telegrams = wireless_telegrams(40)
    rssi = [-40.0 - (i % 50) for i in range(len(telegrams))]
    emu = emulator(kind, [Transmission(t, "T1", r) for t, r in zip(telegrams, rssi, strict=True)])
    with open_source(f"{kind}:{emu.port}:t1", **FAST) as src:
        frames = recv_n(src, len(telegrams))
        assert [f.telegram for f in frames] == telegrams
        assert [f.rssi_dbm for f in frames] == rssi
        assert {f.link_mode for f in frames} == {"T1"}
        assert {f.crc_ok for f in frames} == {True}
        assert {f.source for f in frames} == {f"{kind}:{emu.port}"}
        assert src.counters.frames == len(telegrams) and not src.counters.rejected
        assert all(a.received_at <= b.received_at for a, b in zip(frames, frames[1:], strict=False))


@pytest.mark.parametrize("kind", STICKS)
def test_stick_hears_only_the_configured_link_mode(emulator, kind):
    emu = emulator(kind, [Transmission(SAMPLE_A, "S1"), Transmission(SAMPLE_A, "C1"),
                          Transmission(SAMPLE_B, "T1")])
    with open_source(f"{kind}:{emu.port}:t1", **FAST) as src:
        assert [f.telegram for f in recv_n(src, 1)] == [SAMPLE_B]
        assert emu.wait_sent(3)
        assert src.recv(timeout=0.1) is None


@pytest.mark.parametrize("kind", STICKS)
def test_stick_c1_t1_together(emulator, kind):
    emu = emulator(kind, [Transmission(SAMPLE_A, "C1", -50, "B"), Transmission(SAMPLE_B, "T1", -60)])
    with open_source(f"{kind}:{emu.port}:c1,t1", **FAST) as src:
        frames = recv_n(src, 2)
        assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_B]
        if kind == "cul":  # culfw marks C1 frames B ("bY"), so the link mode is known per frame
            assert [f.link_mode for f in frames] == ["C1", "T1"]
            assert frames[0].frame_format == "B"


@pytest.mark.parametrize("kind", STICKS)
def test_stick_resyncs_over_garbage(emulator, kind):
    junk = {"im871a": b"\xa5\x81\x02\xa5\x00\x13\x37\xa5\xa5",
            "amb8465": b"\xff\x03\x40\x00\x01\xff\xff",
            "cul": b"\x00\x07garbage\r\nb12\r\n\xff\xfe\n"}[kind]
    emu = emulator(kind, [Transmission(SAMPLE_A, "T1"), junk, Transmission(SAMPLE_B, "T1"), junk,
                          Transmission(SAMPLE_A, "T1")])
    with open_source(f"{kind}:{emu.port}:t1", **FAST) as src:
        assert [f.telegram for f in recv_n(src, 3)] == [SAMPLE_A, SAMPLE_B, SAMPLE_A]
        assert sum(src.counters.rejected.values()) >= 2
        if kind != "cul":
            assert src.counters.bytes_discarded >= 2 * len(junk) - 2


@pytest.mark.parametrize("kind", STICKS)
def test_unplug_and_replug(emulator, kind):
    emu = emulator(kind, [Transmission(SAMPLE_A, "T1", -55)])
    with open_source(f"{kind}:{emu.port}:t1", **FAST) as src:
        assert recv_n(src, 1)[0].telegram == SAMPLE_A
        emu.unplug()
        assert src.recv(timeout=0.2) is None          # the port is gone: nothing, no exception
        assert src.counters.disconnects == 1
        emu.add(Transmission(SAMPLE_B, "T1", -65))
        emu.replug()                                   # a fresh pty, unconfigured, same path
        frame = recv_n(src, 1)[0]
        assert (frame.telegram, frame.rssi_dbm) == (SAMPLE_B, -65.0)
        assert src.counters.reconnects == 1
        # it configured the stick again after the replug
        assert len(emu.commands) >= 2


def test_port_absent_at_start_then_appears(emulator, tmp_path):
    emu = emulator("im871a", [Transmission(SAMPLE_A, "T1")])
    emu.unplug()
    with open_source(f"im871a:{emu.port}:t1", **FAST) as src:
        assert src.recv(timeout=0.1) is None
        emu.replug()
        assert recv_n(src, 1)[0].telegram == SAMPLE_A
        assert src.counters.reconnects == 0  # first connection, not a reconnection


def test_no_reconnect_means_a_typed_error(tmp_path):
    with open_source(f"cul:{tmp_path / 'nothing'}:t1", reconnect="false") as src, \
            pytest.raises(SourceUnavailable):
        src.recv(timeout=0.5)


def test_im871a_device_info_and_config(emulator):
    emu = emulator("im871a", [], firmware=0x16, uid=0xCAFE0001, wmbus_id=0x00102759)
    with open_source(f"im871a:{emu.port}:c1", **FAST) as src:
        assert src.recv(timeout=0.2) is None
        assert src.device_info["module"] == "iM871A"
        assert src.device_info["uid"] == "cafe0001"
        assert src.device_info["dongle_id"] == "00102759"
        assert src.device_info["config"]["link_mode"] == 7   # C1 receive = C1b
        assert src.device_info["config"]["auto_rssi"] == 1
        assert emu.commands[2] == (1, 3, bytes.fromhex("000207300100"))


def test_im871a_old_firmware_cannot_do_c1_t1(emulator):
    emu = emulator("im871a", [Transmission(SAMPLE_A, "T1")], firmware=0x10)
    with open_source(f"im871a:{emu.port}:c1,t1", **FAST) as src:
        assert src.recv(timeout=0.3) is None
        assert src.counters.rejected["HANDSHAKE"] >= 1
        assert "0x14" in src.rejections[0].detail


@pytest.mark.parametrize("command_mode, rssi", [(True, True), (True, False), (False, True), (False, False)])
def test_amb8465_both_output_framings(emulator, command_mode, rssi):
    emu = emulator("amb8465", [Transmission(SAMPLE_A, "T1", -60), Transmission(SAMPLE_B, "T1", -70.5)],
                   command_mode=command_mode, rssi=rssi)
    with open_source(f"amb8465:{emu.port}:t1", configure_memory=False, **FAST) as src:
        frames = recv_n(src, 2)
        assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_B]
        assert [f.rssi_dbm for f in frames] == ([-60.0, -70.5] if rssi else [None, None])
        assert src.device_info == {"serial": "0a0b0c0d", "cmd_out": command_mode, "rssi": rssi}
        assert (4, b"\x08") in emu.commands   # SET_MODE T1 -> 0x08
        assert emu.resets == 0


def test_amb8465_is_switched_to_command_mode_with_rssi(emulator):
    emu = emulator("amb8465", [Transmission(SAMPLE_A, "T1", -61)], command_mode=False, rssi=False)
    with open_source(f"amb8465:{emu.port}:t1", **FAST) as src:
        frame = recv_n(src, 1)[0]
        assert (frame.telegram, frame.rssi_dbm) == (SAMPLE_A, -61.0)
        assert src.device_info["cmd_out"] and src.device_info["rssi"]
    assert emu.commands[1:4] == [(9, bytes([5, 1, 1])), (9, bytes([69, 1, 1])), (5, b"")]
    assert emu.resets == 1
    with open_source(f"amb8465:{emu.port}:t1", **FAST) as src:  # already set: no second write
        src.recv(timeout=0.2)
    assert emu.resets == 1


def test_cul_crc_failures_and_truncation(emulator):
    bad = bytearray(encode_frame_a(SAMPLE_B))
    bad[20] ^= 0x10
    bad_b = bytearray(encode_frame_b(SAMPLE_A))
    bad_b[-2] ^= 0x01
    lines = [f"b{bytes(bad).hex()}2A80\r\n".encode(), f"bY{bytes(bad_b).hex()}2A80\r\n".encode(),
             f"b{encode_frame_a(SAMPLE_B).hex()[:101]}2A80\r\n".encode()]
    emu = emulator("cul", [*lines, Transmission(SAMPLE_A, "T1")])
    with open_source(f"cul:{emu.port}:t1", **FAST) as src:
        frames = recv_n(src, 3)
        assert [f.crc_ok for f in frames] == [False, False, True]
        # positionally stripped, the flipped bit kept: byte 20 on air is byte 18 of the telegram
        assert frames[0].telegram == SAMPLE_B[:18] + bytes([SAMPLE_B[18] ^ 0x10]) + SAMPLE_B[19:]
        assert frames[1].telegram == SAMPLE_A and frames[1].frame_format == "B"
        assert src.counters.crc_failures == 2
        assert src.counters.rejected == {"TRUNCATED": 1}
        assert emu.commands == ["V", "brt", "X21"]


def test_close_from_another_thread_while_blocked(emulator):
    emu = emulator("cul", [])
    src = open_source(f"cul:{emu.port}:t1", **FAST)
    assert src.recv(timeout=0.1) is None
    done = threading.Event()

    def reader():
        src.recv(timeout=None)
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    src.close()
    assert done.wait(5)
    assert src._serial is None  # the port was released


@pytest.mark.parametrize("kind", STICKS)
def test_auto_probe_finds_each_stick(emulator, kind, tmp_path):
    emu = emulator(kind, [Transmission(SAMPLE_A, "T1")])
    with open_source("auto:t1", ports=f"{tmp_path / 'absent'},{emu.port}", probe_timeout=0.2, **FAST) as src:
        assert src.kind == kind
        assert recv_n(src, 1)[0].telegram == SAMPLE_A


def test_probe_port_on_a_silent_port_returns_none(emulator):
    emu = emulator("cul", [])
    emu.version = "V 1.0 something else"
    assert probe_port(emu.port, ("T1",), kinds=("cul",), timeout=0.1) is None


def test_partial_frame_followed_by_silence_is_dropped(emulator):
    # A plausible transparent header announcing 48 bytes that never come: without the stale timer the
    # next telegram would be swallowed into it.
    emu = emulator("amb8465", [b"\x30\x44\xae\x0c\x11\x22\x33\x44"], command_mode=False, rssi=False)
    with open_source(f"amb8465:{emu.port}:t1", configure_memory=False, stale_after=0.1, **FAST) as src:
        assert src.recv(timeout=0.05) is None
        assert emu.wait_sent(1)
        for _ in range(100):  # bounded: 5 s at most
            if "STALE" in src.counters.rejected:
                break
            assert src.recv(timeout=0.05) is None
        assert src.counters.rejected["STALE"] == 1
        assert src.rejections[-1].raw == b"\x30\x44\xae\x0c\x11\x22\x33\x44"
        emu.add(Transmission(SAMPLE_B, "T1"))
        assert recv_n(src, 1)[0].telegram == SAMPLE_B


def test_emulator_driven_from_a_capture(emulator, tmp_path):
    from datetime import UTC, datetime

    from collector.emulators.base import load_transmissions
    from collector.sources.logs import CaptureWriter
    from decoders.frame import Frame

    cap = tmp_path / "drive.jsonl"
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    with CaptureWriter(cap) as w:
        w.write(Frame(SAMPLE_A, t0, "rtlsdr:0", "C1", "B", -71.0))
        w.write(Frame(SAMPLE_B, t0, "rtlsdr:0", "T1", "A", -88.5))
    tx = load_transmissions(cap)
    assert [(t.link_mode, t.rssi_dbm, t.frame_format) for t in tx] == [("C1", -71.0, "B"), ("T1", -88.5, "A")]
    emu = emulator("cul", tx)
    with open_source(f"cul:{emu.port}:c1,t1", **FAST) as src:
        frames = recv_n(src, 2)
    assert [(f.telegram, f.link_mode, f.rssi_dbm, f.frame_format) for f in frames] == [
        (SAMPLE_A, "C1", -71.0, "B"), (SAMPLE_B, "T1", -88.5, "A")]


@pytest.mark.parametrize("kind", ["im871a", "amb8465"])
def test_crc_free_telegram_that_looks_like_frame_b_is_kept_whole(emulator, kind):
    # A CRC-free telegram whose last two bytes happen to be a valid format-B CRC of the rest (1 in
    # 65536): a stick already stripped the CRCs, so nothing more may be cut off.
    lookalike = encode_frame_b(SAMPLE_A)
    emu = emulator(kind, [Transmission(lookalike, "T1")])
    with open_source(f"{kind}:{emu.port}:t1", **FAST) as src:
        frame = recv_n(src, 1)[0]
    assert frame.telegram == lookalike and frame.crc_ok is True
