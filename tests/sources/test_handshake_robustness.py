"""Opening a live receiver against a hostile or broken peer: each case a handshake campaign found
(tests/campaigns/handshake_mutations.py, 2026-11-25) ends in a typed error, or in a working source, promptly;
nothing else escapes, and close() from another thread ends a handshake at once."""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import struct
import sys
import threading
import time
import warnings

import pytest

from collector.emulators.amb8465 import Amb8465Emulator
from collector.emulators.base import Transmission
from collector.emulators.im871a import Im871aEmulator
from collector.emulators.rtltcp_server import RtlTcpServer
from collector.sources import amb8465, im871a, open_source
from collector.sources.base import SourceUnavailable, SpecError
from collector.sources.rtltcp import RtlTcpSource
from tests.sources.conftest import SAMPLE_A

HEADER = b"RTL0" + struct.pack(">II", 5, 29)


# --- sticks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reconnect", [False, True])
def test_close_during_the_handshake_ends_it_at_once(emulator, reconnect):
    # The stick never gives the answer the handshake waits for; the caller gives up and closes. recv used
    # to spin on the dropped port until the command timeout (2 s here), then count a HANDSHAKE rejection
    # and, without reconnect, raise SourceUnavailable out of a source that had been closed.
    emu = emulator("cul", [], version="V 1.0 something else")
    src = open_source(f"cul:{emu.port}:t1", reconnect=reconnect, command_timeout=2.0)
    out: dict[str, object] = {}

    def reader() -> None:
        try:
            out["frame"] = src.recv(timeout=5.0)
        except Exception as exc:  # noqa: BLE001 - what the test is about
            out["exc"] = exc
        out["at"] = time.monotonic()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.2)
    closed_at = time.monotonic()
    src.close()
    t.join(3.0)
    assert not t.is_alive()
    assert "exc" not in out, out.get("exc")
    assert out["frame"] is None
    assert out["at"] - closed_at < 0.5
    assert "HANDSHAKE" not in src.counters.rejected
    assert src._serial is None  # the port was released


class _LosesOneSetAnswer(Amb8465Emulator):
    """Writes the RSSI_Enable parameter as asked, but its answer is lost once."""

    lost = False

    def _command(self, msg: amb8465.AmberMessage) -> None:
        if msg.cmd == amb8465.SET and msg.payload[:1] == bytes([amb8465.P_RSSI]) and not self.lost:
            self.lost = True
            self.memory[amb8465.P_RSSI] = msg.payload[2]
            return
        super()._command(msg)


def test_amb8465_parameters_of_a_failed_handshake_are_applied_before_they_are_trusted(tmp_path):
    # The first handshake set CMD_OUT and RSSI in parameter memory, then timed out before the RESET that
    # applies them. The retry read a memory that said "command mode + RSSI" while the stick still ran
    # transparent without RSSI: every telegram after was garbage to the driver, for good.
    emu = _LosesOneSetAnswer([], path=tmp_path / "ttyamb", command_mode=False, rssi=False).start()
    try:
        with open_source(f"amb8465:{emu.port}:t1", command_timeout=0.2, backoff_min=0.01) as src:
            frame = None
            deadline = time.monotonic() + 4.0
            while frame is None and time.monotonic() < deadline:
                if emu.pending() == 0:
                    emu.add(Transmission(SAMPLE_A, "T1", -61.0))
                frame = src.recv(timeout=0.1)
            assert frame is not None, src.counters
            assert (frame.telegram, frame.rssi_dbm) == (SAMPLE_A, -61.0)
            assert src.counters.rejected["HANDSHAKE"] == 1
        # the retry applied the written parameters (RESET) before reading them back, and wrote nothing more
        assert [c[0] for c in emu.commands] == [amb8465.GET, amb8465.SET, amb8465.SET,
                                                amb8465.RESET, amb8465.GET, amb8465.SERIALNO, amb8465.SET_MODE]
        assert emu.resets == 1
    finally:
        emu.stop()


class _AnswersAnotherOffset(Amb8465Emulator):
    """Answers a read of the parameter memory with the bytes from offset 0x10 on."""

    def _command(self, msg: amb8465.AmberMessage) -> None:
        if msg.cmd == amb8465.GET:
            self._reply(msg.cmd, bytes([0x10, 0x70]) + bytes(self.memory[0x10:0x80]))
            return
        super()._command(msg)


def test_amb8465_memory_answer_for_another_offset_is_a_handshake_error(tmp_path):
    # It was read as if it started at 0: CMD_OUT and RSSI_Enable came from other parameters.
    emu = _AnswersAnotherOffset([], path=tmp_path / "ttyamb", command_mode=True, rssi=True)
    emu.memory[0x10 + amb8465.P_CMD_OUT] = emu.memory[0x10 + amb8465.P_RSSI] = 0
    emu.start()
    try:
        with open_source(f"amb8465:{emu.port}:t1", reconnect=False, command_timeout=0.2) as src, \
                pytest.raises(SourceUnavailable, match="offset"):
            src.recv(timeout=0.5)
        assert src.counters.rejected["HANDSHAKE"] == 1
    finally:
        emu.stop()


class _CutsTheConfig(Im871aEmulator):
    """Answers GET_CONFIG with its payload cut inside the wM-Bus id (CRC valid)."""

    def _reply(self, msg_id: int, payload: bytes = b"") -> None:
        super()._reply(msg_id, payload[:8] if msg_id == im871a.GET_CONFIG_RSP else payload)


def test_im871a_config_answer_cut_inside_a_field_is_a_handshake_error(tmp_path):
    # It was read zero-padded: device_info said dongle_id 00000000 (or 000000xx) as if the stick said so.
    emu = _CutsTheConfig([], path=tmp_path / "ttyim").start()
    try:
        with open_source(f"im871a:{emu.port}:t1", reconnect=False, command_timeout=0.2) as src, \
                pytest.raises(SourceUnavailable, match="ends inside"):
            src.recv(timeout=0.5)
        assert src.counters.rejected["HANDSHAKE"] == 1
    finally:
        emu.stop()


def test_im871a_config_with_every_field_whole_still_parses():
    fields = {"device_mode": 0, "link_mode": 3, "c_field": 0x44, "mfct": 0x0CAE, "id": 0x12345678}
    assert im871a.parse_config(im871a.build_config(fields)) == fields
    with pytest.raises(ValueError, match="ends inside id"):
        im871a.parse_config(im871a.build_config(fields)[:-3])


@pytest.mark.parametrize("options", [
    {"command_timeout": "inf"}, {"command_timeout": "1e300"},   # OverflowError out of recv (select)
    {"command_timeout": "nan"},   # "failed during handshake: Write timeout", retried for ever with reconnect
    {"command_timeout": "-1"},    # "cannot open ...: Not a valid timeout", the same
    {"command_timeout": "0"}, {"backoff_min": "nan"}, {"backoff_max": "x"}, {"stale_after": "inf"},
    {"baudrate": "abc"},          # ValueError
    {"baudrate": "-9600"},
])
def test_stick_timing_option_that_is_no_duration_is_a_spec_error(emulator, options):
    emu = emulator("cul", [])
    with pytest.raises(SpecError):
        open_source(f"cul:{emu.port}:t1", reconnect="false", **options).recv(timeout=0.5)


@pytest.mark.parametrize("options", [{"probe_timeout": "soon"}, {"command_timeout": "inf"}])
def test_auto_timing_option_that_is_no_duration_is_a_spec_error(emulator, options):
    emu = emulator("cul", [])
    with pytest.raises(SpecError):
        open_source("auto:t1", ports=emu.port, **options)


# --- rtl_tcp --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with RtlTcpServer(bytes([127, 128]) * 4096, loop=True) as srv:
        yield srv


@pytest.mark.parametrize("options", [
    {"gain": "abc"}, {"gain": "0x10"}, {"gain": "nan"}, {"gain": "inf"},
    {"gain": "1e21"},            # was sent as 3735027712 tenths of a dB (the low 32 bits of 1e22)
    {"gain": "300000000"},       # 3e9 tenths: the server reads the 32 bits back as a negative gain
    {"ppm": "auto"}, {"ppm": "1e12"}, {"ppm": "\u00b2"}, {"ppm": "5000000000"}, {"ppm": "3000000000"},
    {"connect_timeout": "soon"}, {"connect_timeout": "0"},
    {"connect_timeout": "1e20"},  # OverflowError from the socket's timeout
    {"gian": "12"},              # a misspelt option was ignored: the dongle ran at auto gain
])
def test_rtltcp_option_the_protocol_cannot_carry_is_a_spec_error(server, options):
    with pytest.raises(SpecError):
        open_source(f"rtltcp:127.0.0.1:{server.port}", **options).close()


@pytest.mark.parametrize("port", ["\u00b2", "99999", "0"])
def test_rtltcp_port_that_is_no_port_is_a_spec_error(port):
    with pytest.raises(SpecError):
        open_source(f"rtltcp:127.0.0.1:{port}")


def test_rtltcp_host_name_too_long_for_dns_is_unavailable():
    # "label too long": a UnicodeError from the idna codec inside create_connection escaped
    for host in ("a" * 300, "x" * 64 + ".example"):
        with pytest.raises(SourceUnavailable):
            RtlTcpSource(host, 1234, connect_timeout=0.5)


def test_rtltcp_negative_gain_is_sent_as_the_protocol_wants(server):
    with open_source(f"rtltcp:127.0.0.1:{server.port}?gain=-1"):
        time.sleep(0.15)
    with server._lock:
        sent = dict(server.commands)
    assert (sent["gain_mode"], sent["gain"]) == (1, (-10) & 0xFFFFFFFF)


def test_rtlsdr_unknown_option_or_index_is_a_spec_error_before_the_dongle_is_touched():
    with pytest.raises(SpecError, match="gian"):
        open_source("rtlsdr:0?gian=20")
    with pytest.raises(SpecError):
        open_source("rtlsdr:\u00b2")


def _serve_once(send, *, hold: float = 0.5) -> int:
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(3)

    def run() -> None:
        with srv:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # the client may hang up first
                send(conn)
                time.sleep(hold)

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def test_rtltcp_header_trickled_past_the_timeout_is_refused_in_time():
    def trickle(conn: socket.socket) -> None:
        for i in range(12):
            conn.sendall(HEADER[i:i + 1])
            time.sleep(0.05)

    port = _serve_once(trickle)
    t0 = time.monotonic()
    with pytest.raises(SourceUnavailable, match="header"):
        RtlTcpSource("127.0.0.1", port, connect_timeout=0.25)
    assert time.monotonic() - t0 < 0.5   # it took 0.6 s and then opened: each byte had its own timeout


def test_rtltcp_short_header_closes_the_socket():
    port = _serve_once(lambda conn: conn.sendall(HEADER[:5]), hold=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            RtlTcpSource("127.0.0.1", port, connect_timeout=1.0)
        except SourceUnavailable as exc:
            assert "5 bytes" in str(exc)
        else:
            pytest.fail("a 5-byte header opened the source")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


class _ResetAfterHeader:
    """A connection whose server sent its header, then reset: the commands cannot be sent."""

    def __init__(self) -> None:
        self.closed = False
        self._header = HEADER

    def settimeout(self, _t: float) -> None:
        pass

    def recv(self, n: int) -> bytes:
        out, self._header = self._header[:n], self._header[n:]
        return out

    def sendall(self, _data: bytes) -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    def close(self) -> None:
        self.closed = True


def test_rtltcp_server_gone_as_the_commands_go_out_is_unavailable(monkeypatch):
    conn = _ResetAfterHeader()
    monkeypatch.setattr("collector.sources.rtltcp.socket.create_connection", lambda *a, **k: conn)
    with pytest.raises(SourceUnavailable, match="reset"):
        RtlTcpSource("127.0.0.1", 1234, connect_timeout=1.0)
    assert conn.closed


# --- pyrtlsdr's TCP protocol (protocol=pyrtlsdr) ----------------------------------------------------------

def _pyrtlsdr_server(broken: str, at: str) -> int:
    """pyrtlsdr's server, one JSON request per connection; the first request named `at` gets a broken
    answer: "short" (a payload shorter than its header announced, then the server is gone), "garbage",
    "not-dict" or "bad-fmt"."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.1)
    state = {"broken": False, "until": time.monotonic() + 5}

    def header(req: dict, **kw: object) -> bytes:
        return json.dumps({"success": True, "request": req, "data": None, **kw}).encode()

    def run() -> None:
        with srv:
            while time.monotonic() < state["until"]:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    continue
                with conn, contextlib.suppress(OSError, ValueError):
                    conn.settimeout(1)
                    req = json.loads(conn.recv(4096))
                    if req.get("name") != at or state["broken"]:
                        conn.sendall(header(req))
                        continue
                    state["broken"] = True
                    if broken == "short":
                        conn.sendall(header(req, data={"struct_fmt": "4096B"}, struct_fmt="4096B"))
                        conn.recv(4096)
                        conn.sendall(bytes(100))
                    elif broken == "garbage":
                        conn.sendall(b"\x87\x00HTTP/1.1 400\r\n")
                    elif broken == "not-dict":
                        conn.sendall(b"null")
                    elif broken == "bad-fmt":
                        conn.sendall(header(req, data={"struct_fmt": "zz"}, struct_fmt="zz"))
                        conn.recv(4096)
                        conn.sendall(bytes(8))
                    time.sleep(0.05)

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def _within(fn, seconds: float):
    """fn() in a thread: ("ok", value) / ("exc", exception) / ("hung", None)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - what the tests look at
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        return "hung", None
    return ("exc", box["exc"]) if "exc" in box else ("ok", box.get("value"))


def _stop_spinning(src_box: dict) -> None:
    # the old client spun for ever on the closed connection: take its socket away so the thread ends
    client = getattr(src_box.get("src"), "_client", None)
    with contextlib.suppress(Exception):
        client._socket.close()


def test_pyrtlsdr_server_gone_mid_answer_while_opening_is_unavailable():
    port = _pyrtlsdr_server("short", at="rs")  # the sample rate, set first
    status, value = _within(lambda: RtlTcpSource("127.0.0.1", port, protocol="pyrtlsdr"), 3.0)
    assert status == "exc", f"{status}: a short answer then a closed connection must not hang the open"
    assert isinstance(value, SourceUnavailable), repr(value)


@pytest.mark.parametrize("broken", ["short", "garbage", "not-dict", "bad-fmt"])
def test_pyrtlsdr_broken_read_answer_is_unavailable(broken):
    port = _pyrtlsdr_server(broken, at="read_bytes")
    box: dict = {}

    def read():
        box["src"] = src = RtlTcpSource("127.0.0.1", port, protocol="pyrtlsdr")
        try:
            return src.recv(timeout=1.0)
        finally:
            src.close()

    status, value = _within(read, 3.0)
    if status == "hung":
        _stop_spinning(box)
    assert status == "exc", f"{status}: {value!r}"
    assert isinstance(value, SourceUnavailable), repr(value)   # was a hang, UnicodeDecodeError,
    # AttributeError or struct.error out of recv


def test_pyrtlsdr_calls_leave_stdout_alone(capsys):
    # The client printed on each call, so the driver swapped sys.stdout process-wide around every call:
    # another thread printing meanwhile (frames of another source) lost its output.
    with RtlTcpServer(bytes([127, 128]) * 4096) as srv:
        src = RtlTcpSource("127.0.0.1", srv.port, protocol="pyrtlsdr")
        seen = []
        read = src._client.read_bytes
        src._client.read_bytes = lambda n: (seen.append(sys.stdout), read(n))[1]
        try:
            src.recv(timeout=0.5)
        finally:
            src.close()
    assert seen and all(out is sys.stdout for out in seen)
    assert capsys.readouterr().out == ""
