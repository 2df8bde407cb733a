"""Hostile peers for the live receivers' opening phase, for an engineer to run by hand (the regression cases
it found are in tests/sources/test_handshake_robustness.py).

    .venv/bin/python tests/campaigns/handshake_mutations.py --seed 1 --seconds 150 [--target im871a,cul]

Sticks: each real driver (through real pyserial) opens a pty emulator whose answers to the handshake
(PING/DEVICEINFO/SET_CONFIG/GET_CONFIG, GET/SET/RESET/SERIALNO/SET_MODE, V/brt) are mutated: truncated,
bytes flipped, wrong length or checksum, wrong message id, a payload that is well framed but wrong, garbage
before or after, silence, a late or split or repeated answer, a flood, an over-long answer, a port that
closes mid-answer. Without reconnect the first `recv` must either open the stick or raise a typed
SourceError; with reconnect the source must keep going and deliver the telegram the stick repeats once the
(clean) retry configured it. rtl_tcp: the driver connects to a server that sends a short, wrong-magic,
damaged or trickled header, resets or closes the connection, or nothing; and it opens a good server with
hostile option values (gain, ppm, freq, rate, port, host), checking that the commands it sends say what was
asked. pyrtlsdr (rtltcp with protocol=pyrtlsdr): pyrtlsdr's JSON server answers one request, while the
client opens or at its first read, with garbage, nothing, JSON that is no header, a bad struct format, a
payload shorter or far longer than announced and then the end of the connection, a split header, "unsuccessful"
or a payload that does not wait for the client's ACK.

Outcomes: typed (a SourceError within the deadline), open / frame (worked), no-frame (opened, but the
telegram never came), wrong-frame, silently-wrong (rtl_tcp sent another value than asked), internal
(any other exception, printed with the place it came from and one reproducing trial) and hang (no
answer within the hard deadline).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import random
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collector.emulators.amb8465 import Amb8465Emulator  # noqa: E402
from collector.emulators.base import Transmission  # noqa: E402
from collector.emulators.cul import CulEmulator  # noqa: E402
from collector.emulators.im871a import Im871aEmulator  # noqa: E402
from collector.emulators.rtltcp_server import R820T_GAINS, TUNER_R820T, RtlTcpServer  # noqa: E402
from collector.sources import amb8465, im871a  # noqa: E402
from collector.sources.amb8465 import Amb8465Source  # noqa: E402
from collector.sources.base import SourceError, open_source  # noqa: E402
from collector.sources.cul import CulSource  # noqa: E402
from collector.sources.framing import crc16_x25, xor_checksum  # noqa: E402
from collector.sources.im871a import Im871aSource  # noqa: E402

SAMPLE = bytes.fromhex("2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae01"
                       "8201fb1aa9012f")
COMMAND_TIMEOUT = 0.2
HARD_DEADLINE = 8.0
STICK_OPS = ("truncate", "flip", "length", "checksum", "msgid", "payload", "prefix", "suffix", "silence",
             "close", "overlong", "flood", "split", "late", "duplicate")
STICKS: dict[str, tuple[type, type]] = {
    "im871a": (Im871aEmulator, Im871aSource),
    "amb8465": (Amb8465Emulator, Amb8465Source),
    "cul": (CulEmulator, CulSource),
}


# --- stick answers, mutated -----------------------------------------------------------------------------

def _fix_check(kind: str, b: bytearray) -> None:
    """Recompute the frame's check after an edit, so that the edit reaches the driver's parsing."""
    if kind == "im871a" and len(b) >= 6 and b[1] & im871a.FLAG_CRC:
        b[-2:] = crc16_x25(b[1:-2]).to_bytes(2, "little")
    elif kind == "amb8465" and len(b) >= 4:
        b[-1] = xor_checksum(b[:-1])


def _payload_edit(rnd: random.Random, p: bytes) -> bytes:
    b = bytearray(p)
    op = rnd.randrange(5)
    if op == 0:
        del b[rnd.randrange(len(b) + 1):]
    elif op == 1 and b:
        for _ in range(rnd.randrange(1, 4)):
            b[rnd.randrange(len(b))] = rnd.choice([0x00, 0xFF, 0x80, 0x7F, 0x01, rnd.randrange(256)])
    elif op == 2:
        b += rnd.randbytes(rnd.randrange(1, 40))
    elif op == 3:
        b = bytearray()
    else:
        b = bytearray(rnd.randbytes(rnd.randrange(0, 140)))
    return bytes(b)


def mutate(kind: str, op: str, data: bytes, rnd: random.Random) -> list[tuple[str, Any]]:
    """One answer -> a list of actions for the emulator: ("write", bytes), ("sleep", s), ("close", None)."""
    b = bytearray(data)
    text = kind == "cul"
    if op == "truncate":
        return [("write", bytes(b[:rnd.randrange(len(b))]))]
    if op == "flip":
        for _ in range(rnd.randrange(1, 4)):
            b[rnd.randrange(len(b))] ^= rnd.randrange(1, 256)
        return [("write", bytes(b))]
    if op == "length" and not text:
        at = 3 if kind == "im871a" else 2
        b[at] = (b[at] + rnd.choice([-3, -2, -1, 1, 2, 5, 100, 255])) & 0xFF
        if rnd.random() < 0.5:
            _fix_check(kind, b)
        return [("write", bytes(b))]
    if op == "checksum" and not text:
        b[-1] ^= rnd.randrange(1, 256)
        return [("write", bytes(b))]
    if op == "msgid":
        if text:
            other = rnd.choice([b"SMODE", b"CMODE", b"TMODE", b"V 1.67 nanoCUL868", b"? (V is unknown)", b"",
                                b"b" + SAMPLE.hex().encode(), b"\xff\xfeCUL"])
            return [("write", other + b"\r\n")]
        at = 2 if kind == "im871a" else 1
        b[at] = rnd.choice([b[at] ^ 1, b[at] + 1 & 0xFF, b[at] - 1 & 0xFF, rnd.randrange(256)])
        if kind == "im871a" and rnd.random() < 0.3:
            b[1] = (b[1] & 0xF0) | rnd.choice([2, 3, 4, 5, 0])   # another endpoint
        _fix_check(kind, b)
        return [("write", bytes(b))]
    if op == "payload":
        if text:
            line = bytes(b).rstrip(b"\r\n")
            return [("write", _payload_edit(rnd, line).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n")]
        if kind == "im871a":
            msg = im871a.decode(bytes(b))[1]
            new = _payload_edit(rnd, msg.payload)[:255]
            return [("write", im871a.encode(msg.endpoint, msg.msg_id, new))]
        msg = amb8465.decode(bytes(b))[1]
        return [("write", amb8465.encode(msg.cmd, _payload_edit(rnd, msg.payload)[:255]))]
    if op == "prefix":
        junk = rnd.randbytes(rnd.randrange(1, 64))
        if not text and rnd.random() < 0.5:
            junk += bytes(b[:rnd.randrange(1, len(b))])  # a false start: the head of the answer itself
        return [("write", junk + bytes(b))]
    if op == "suffix":
        return [("write", bytes(b) + rnd.randbytes(rnd.randrange(1, 64)))]
    if op == "silence":
        return []
    if op == "close":
        return [("write", bytes(b[:rnd.randrange(len(b))])), ("close", None)]
    if op == "overlong":
        choice = rnd.randrange(3)
        if choice == 0:   # lots of garbage, then the answer
            junk = rnd.randbytes(rnd.randrange(4096, 65536))
            if text:
                junk = junk.replace(b"\r", b"x").replace(b"\n", b"x")
            return [("write", junk + bytes(b))]
        if choice == 1:   # an answer that goes on and on without ending
            if text:
                return [("write", bytes(b).rstrip(b"\r\n") + b"A" * rnd.randrange(1000, 20000) + b"\r\n")]
            return [("write", bytes(b[:-1]) + rnd.randbytes(rnd.randrange(256, 4096)))]
        if text:          # a long line that is one, then the answer
            return [("write", b"V" * rnd.randrange(1000, 5000) + b"\r\n" + bytes(b))]
        if kind == "im871a":  # the longest well-framed answer
            msg = im871a.decode(bytes(b))[1]
            return [("write", im871a.encode(msg.endpoint, msg.msg_id, rnd.randbytes(255)))]
        msg = amb8465.decode(bytes(b))[1]
        return [("write", amb8465.encode(msg.cmd, rnd.randbytes(255)))]
    if op == "flood":
        n = rnd.randrange(20, 400)
        if rnd.random() < 0.5:
            return [("write", bytes(b) * n)]
        if kind == "im871a":
            other = im871a.encode(im871a.EP_DEVMGMT, rnd.choice([im871a.PING_RSP, im871a.GET_FWINFO_RSP, 0x1A]),
                                  rnd.randbytes(rnd.randrange(0, 20)))
        elif kind == "amb8465":
            other = amb8465.encode(rnd.choice([amb8465.FWV, amb8465.RSSI, 0x50]) | amb8465.CONFIRM,
                                   rnd.randbytes(rnd.randrange(0, 20)))
        else:
            other = b"? (x is unknown) Use one of B b C F i A Z E G M R T V W X e f l t u x\r\n"
        return [("write", other * n + bytes(b))]
    if op == "split":
        cuts = sorted(rnd.sample(range(1, len(b)), min(len(b) - 1, rnd.randrange(1, 4)))) if len(b) > 1 else []
        out, last = [], 0
        for c in [*cuts, len(b)]:
            out += [("write", bytes(b[last:c])), ("sleep", rnd.uniform(0.005, 0.08))]
            last = c
        return out
    if op == "late":
        return [("sleep", COMMAND_TIMEOUT * rnd.uniform(0.5, 1.8)), ("write", bytes(b))]
    if op == "duplicate":
        return [("write", bytes(b) * 2)]
    return [("write", bytes(b))]


def hostile(base: type) -> type:
    class Hostile(base):
        """The real emulator, whose answers to the host's commands go through `plan`."""

        def __init__(self, *args: Any, plan: dict[int, str], seed: int, replug_after: float | None, **kw: Any):
            self.plan = plan
            self.answers = 0
            self.mutated: list[str] = []
            self.rnd = random.Random(seed)
            self.replug_after = replug_after
            self._answering = False
            super().__init__(*args, **kw)

        def handle_input(self, buf: bytearray) -> None:
            self._answering = True
            try:
                super().handle_input(buf)
            finally:
                self._answering = False

        def write_raw(self, data: bytes) -> None:
            if not self._answering or self._master is None:
                return super().write_raw(data)
            op = self.plan.get(self.answers)
            self.answers += 1
            if op is None:
                return super().write_raw(data)
            self.mutated.append(op)
            for action, arg in mutate(self.kind, op, data, self.rnd):
                if action == "write":
                    super().write_raw(arg)
                elif action == "sleep":
                    time.sleep(arg)
                elif action == "close" and self._master is not None:
                    time.sleep(0.01)  # let the host read what was written
                    self._unplug()
                    if self.replug_after is not None:
                        threading.Timer(self.replug_after, self.replug).start()
            return None

    Hostile.__name__ = f"Hostile{base.__name__}"
    return Hostile


HOSTILE = {kind: hostile(emu) for kind, (emu, _) in STICKS.items()}


def _site(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/collector/" in f.filename] or frames
    f = ours[-1] if ours else None
    where = f"{Path(f.filename).name}:{f.lineno} {f.name}" if f else "?"
    return f"{type(exc).__name__} at {where}: {str(exc)[:80]}"


def _run_with_deadline(fn: Any, deadline: float) -> tuple[str, Any]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - what the campaign is looking for
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(deadline)
    if t.is_alive():
        return "hang", None
    if "exc" in box:
        return "exc", box["exc"]
    return "ok", box.get("value")


def stick_trial(kind: str, rnd: random.Random, tmp: Path, n: int) -> tuple[str, dict[str, Any]]:
    emu_cls, src_cls = HOSTILE[kind], STICKS[kind][1]
    reconnect = rnd.random() < 0.5
    emu_kw: dict[str, Any] = {}
    src_kw: dict[str, Any] = {}
    if kind == "amb8465":
        emu_kw = {"command_mode": rnd.random() < 0.6, "rssi": rnd.random() < 0.6}
        src_kw = {"configure_memory": rnd.random() < 0.7}
        answers = 7
    else:
        answers = 4 if kind == "im871a" else 2
    plan = {rnd.randrange(answers): rnd.choice(STICK_OPS) for _ in range(rnd.choice([1, 1, 1, 2, 3]))}
    seed = rnd.randrange(1 << 30)
    info = {"kind": kind, "reconnect": reconnect, "plan": plan, "seed": seed, **emu_kw, **src_kw}
    emu = emu_cls([], path=tmp / f"tty{kind}{n}", plan=plan, seed=seed,
                  replug_after=0.1 if reconnect else None, **emu_kw).start()
    close_after = rnd.uniform(0.0, 0.4) if rnd.random() < 0.15 else None
    info["close_after"] = close_after
    # a close must not wait for the handshake's command timeout: make that long enough to tell
    src = src_cls(emu.port, ("T1",), reconnect=reconnect, backoff_min=0.01, backoff_max=0.05, stale_after=0.3,
                  command_timeout=COMMAND_TIMEOUT if close_after is None else 1.0, **src_kw)
    state: dict[str, Any] = {}

    def drive_and_close() -> str:
        # The caller closes the source from another thread while it may be inside the handshake: recv
        # must come back promptly, without an exception (the Source contract).
        closer = threading.Timer(close_after, src.close)
        closer.start()
        try:
            src.recv(timeout=2.0)
        except SourceError as exc:
            if not src.closed:   # the handshake failed on its own before the close
                state["error"] = f"{type(exc).__name__}: {exc}"
                return "typed" if not reconnect else "typed (reconnect on!)"
            return f"closed: recv raised {type(exc).__name__}"
        except Exception as exc:  # noqa: BLE001
            return f"closed: recv raised {type(exc).__name__}"
        finally:
            closer.join()
        late = time.monotonic() - (t_start + close_after)
        state["late_s"] = round(late, 3)
        return "closed: returned" if late < 0.15 else "closed: recv returned late"

    def drive() -> str:
        try:
            frame = src.recv(timeout=0.3)
        except SourceError as exc:
            state["error"] = f"{type(exc).__name__}: {exc}"
            return "typed"
        opened = src._serial is not None
        state["opened_at_once"] = opened
        end = time.monotonic() + 3.0
        while frame is None and time.monotonic() < end:
            if emu.pending() == 0:
                emu.add(Transmission(SAMPLE, "T1", -60.0))   # the meter sends again and again
            frame = src.recv(timeout=0.1)
        if frame is None:
            return "no-frame"
        if frame.telegram != SAMPLE:
            state["frame"] = frame.telegram.hex()
            return "wrong-frame"
        return "open+frame" if not reconnect else "frame"

    t_start = time.monotonic()
    try:
        status, value = _run_with_deadline(drive if close_after is None else drive_and_close, HARD_DEADLINE)
    finally:
        src.close()
        emu.stop()
    info.update(state, mutated=emu.mutated, rejected=dict(src.counters.rejected))
    if status == "hang":
        return "hang", info
    if status == "exc":
        return "internal: " + _site(value), info
    if value == "typed" and reconnect:
        return "typed (reconnect on!)", info
    return value, info


# --- rtl_tcp ------------------------------------------------------------------------------------------

HEADER = b"RTL0" + struct.pack(">II", TUNER_R820T, len(R820T_GAINS))
TCP_OPS = ("silent", "close", "rst", "short-close", "short-silent", "magic", "flip", "garbage-before",
           "trickle", "header-close", "header-rst", "header-odd-close", "header-silence", "header-data",
           "refused", "header-huge")


class HostileRtlTcp:
    """One connection's worth of a broken rtl_tcp server."""

    def __init__(self, op: str, rnd: random.Random):
        self.op, self.rnd = op, rnd
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(3)
        if op == "refused":
            self.sock.close()
            return
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        op, rnd = self.op, self.rnd
        try:
            if op == "silent":
                time.sleep(1.0)
            elif op in ("close", "short-close", "header-close"):
                conn.sendall({"close": b"", "short-close": HEADER[:rnd.randrange(1, 12)],
                              "header-close": HEADER}[op])
            elif op in ("rst", "header-rst"):
                if op == "header-rst":
                    conn.sendall(HEADER)
                    time.sleep(0.02)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif op == "short-silent":
                conn.sendall(HEADER[:rnd.randrange(1, 12)])
                time.sleep(1.0)
            elif op == "magic":
                conn.sendall(rnd.choice([b"RTL1", b"rtl0", b"\x00TL0", b"HTTP", rnd.randbytes(4)]) + HEADER[4:])
                time.sleep(0.2)
            elif op == "flip":
                b = bytearray(HEADER)
                b[rnd.randrange(12)] ^= rnd.randrange(1, 256)
                conn.sendall(bytes(b) + rnd.randbytes(rnd.randrange(0, 64)))
                time.sleep(0.2)
            elif op == "garbage-before":
                conn.sendall(rnd.randbytes(rnd.randrange(1, 32)) + HEADER)
                time.sleep(0.2)
            elif op == "trickle":
                for i in range(12):
                    conn.sendall(HEADER[i:i + 1])
                    time.sleep(0.06)
                time.sleep(0.2)
            elif op == "header-odd-close":
                conn.sendall(HEADER + rnd.randbytes(2 * rnd.randrange(1, 500) + 1))
            elif op == "header-silence":
                conn.sendall(HEADER)
                time.sleep(1.5)
            elif op == "header-data":
                conn.sendall(HEADER + bytes([127, 128]) * 20000)
            elif op == "header-huge":
                conn.sendall(b"RTL0" + rnd.randbytes(8))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with contextlib.suppress(OSError):
                self.sock.close()


BAD_VALUES = ["abc", "", "nan", "inf", "-inf", "1e400", "-1", "0", "1e12", "5G", "4294967296", "-4294967297",
              "1.5", "0x10", "99999999999999999999", "12\x00", " 20 ", "auto", "1_000", "٣", "²"]


def _open_and_drain(open_src: Any, info: dict[str, Any], seconds: float = 1.0) -> str:
    """Open an rtl_tcp source and read it for `seconds`: the outcome of a trial (a typed error's text in
    info["error"])."""
    try:
        src = open_src()
    except SourceError as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return "typed"
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not src.exhausted:
            src.recv(timeout=0.1)
    except SourceError as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return "open, then typed"
    finally:
        src.close()
    return "open, exhausted" if src.exhausted else "open"


def tcp_header_trial(rnd: random.Random, n: int) -> tuple[str, dict[str, Any]]:
    from collector.sources.rtltcp import RtlTcpSource

    op = rnd.choice(TCP_OPS)
    server = HostileRtlTcp(op, rnd)
    info: dict[str, Any] = {"op": op}

    def drive() -> str:
        return _open_and_drain(lambda: RtlTcpSource("127.0.0.1", server.port, connect_timeout=0.3), info)

    status, value = _run_with_deadline(drive, HARD_DEADLINE)
    if status == "hang":
        return f"hang [{op}]", info
    if status == "exc":
        return "internal: " + _site(value), info
    return f"{value} [{op}]", info


def tcp_option_trial(rnd: random.Random, server: RtlTcpServer) -> tuple[str, dict[str, Any]]:
    opts = {"freq": "868.95M", "rate": "1600k", "gain": "auto", "ppm": "0"}
    key = rnd.choice([*opts, "port", "host", "unknown"])
    value = rnd.choice(BAD_VALUES)
    port, host = str(server.port), "127.0.0.1"
    if key == "port":
        port = value
    elif key == "host":
        host = rnd.choice(["a" * 300, "x" * 64 + ".example", "", "[::1]", "127.0.0.1\x00", "localhost."])
    elif key == "unknown":
        opts[rnd.choice(["gian", "frequency", "sample_rate", "connect_timeout"])] = value or "1"
    else:
        opts[key] = value
    query = "&".join(f"{k}={v}" for k, v in opts.items())
    info: dict[str, Any] = {"spec": f"rtltcp:{host}:{port}?{query}"}
    with server._lock:
        server.commands.clear()

    def drive() -> str:
        try:
            src = open_source(f"rtltcp:{host}:{port}", **opts)
        except SourceError as exc:
            info["error"] = f"{type(exc).__name__}: {exc}"
            return "typed"
        try:
            time.sleep(0.15)  # let the server read the commands
            with server._lock:
                sent = dict(server.commands)
            asked = {"sample_rate": src.fs, "center_freq": src.centre_hz}
            gain = opts["gain"].strip().lower()
            if gain not in ("auto", "", "none"):
                asked["gain"] = float(gain) * 10
            info["sent"], info["asked"] = sent, asked
            if key == "unknown":
                return "open, unknown option ignored"
            for name, want in asked.items():
                got = sent.get(name, want)
                if name == "gain" and got >= 1 << 31:  # signed on the wire
                    got -= 1 << 32
                if got != want:
                    return "silently-wrong"
            return "open"
        finally:
            src.close()

    status, result = _run_with_deadline(drive, HARD_DEADLINE)
    if status == "hang":
        return "hang", info
    if status == "exc":
        return "internal: " + _site(result), info
    return result, info


# --- pyrtlsdr's TCP protocol (protocol=pyrtlsdr) ---------------------------------------------------------

PY_OPS = ("garbage", "empty", "not-dict", "bad-fmt", "huge-fmt", "short-payload", "split-header", "unsuccessful",
          "no-ack-wait")


class HostilePyRtlSdr:
    """pyrtlsdr's server (one JSON request per connection), broken at one request: the first property set
    while the client opens (`phase` "open") or the first read_bytes (`phase` "read")."""

    def __init__(self, op: str, phase: str, rnd: random.Random):
        self.op, self.phase, self.rnd = op, phase, rnd
        self.done = False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()

    def serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError, ValueError):
                conn.settimeout(1.0)
                req = json.loads(conn.recv(4096).decode())
                target = not self.done and (req.get("type") == "prop_set" if self.phase == "open"
                                            else req.get("name") == "read_bytes")
                if target:
                    self.done = True
                    self.hostile(conn, req)
                else:
                    self.normal(conn, req)

    @staticmethod
    def _header(req: dict[str, Any], **kw: Any) -> bytes:
        return json.dumps({"timestamp": time.time(), "success": True, "request": req, "data": None, **kw}).encode()

    def normal(self, conn: socket.socket, req: dict[str, Any]) -> None:
        if req.get("name") != "read_bytes":
            conn.sendall(self._header(req))
            return
        n = int(req.get("data") or 1024)
        conn.sendall(self._header(req, data={"struct_fmt": f"{n}B"}, struct_fmt=f"{n}B"))
        conn.recv(4096)
        conn.sendall(bytes([127, 128]) * (n // 2))
        conn.recv(1)

    def hostile(self, conn: socket.socket, req: dict[str, Any]) -> None:
        op, rnd = self.op, self.rnd
        n = int(req.get("data") or 1024) if req.get("name") == "read_bytes" else 16
        if op == "garbage":
            conn.sendall(rnd.randbytes(rnd.randrange(1, 200)))
        elif op == "empty":
            return
        elif op == "not-dict":
            conn.sendall(rnd.choice([b"5", b"[1, 2]", b"null", b'"x"', b"true"]))
        elif op == "bad-fmt":
            fmt = rnd.choice(["zz", "-1B", "B" * 3 + "q!", "", "1e9B"])
            conn.sendall(self._header(req, data={"struct_fmt": fmt}, struct_fmt=fmt))
            conn.recv(4096)
            conn.sendall(b"\x00" * 8)
        elif op in ("huge-fmt", "short-payload"):
            fmt = f"{rnd.randrange(10**6, 10**9)}B" if op == "huge-fmt" else f"{n}B"
            conn.sendall(self._header(req, data={"struct_fmt": fmt}, struct_fmt=fmt))
            conn.recv(4096)
            conn.sendall(bytes(rnd.randrange(1, max(2, n // 2))))   # then the server goes away
        elif op == "split-header":
            h = self._header(req)
            cut = rnd.randrange(1, len(h))
            conn.sendall(h[:cut])
            time.sleep(0.05)
            conn.sendall(h[cut:])
        elif op == "unsuccessful":
            conn.sendall(self._header(req, success=False))
        elif op == "no-ack-wait":
            conn.sendall(self._header(req, data={"struct_fmt": f"{n}B"}, struct_fmt=f"{n}B") + bytes(n))
        time.sleep(0.05)


def pyrtlsdr_trial(rnd: random.Random) -> tuple[str, dict[str, Any]]:
    from collector.sources.rtltcp import RtlTcpSource

    op, phase = rnd.choice(PY_OPS), rnd.choice(["open", "read"])
    server = HostilePyRtlSdr(op, phase, rnd)
    info: dict[str, Any] = {"op": op, "phase": phase}
    box: dict[str, Any] = {}

    def open_src() -> RtlTcpSource:
        box["src"] = src = RtlTcpSource("127.0.0.1", server.port, protocol="pyrtlsdr")
        return src

    def drive() -> str:
        return _open_and_drain(open_src, info)

    try:
        status, value = _run_with_deadline(drive, HARD_DEADLINE)
    finally:
        server.stop()
    if status == "hang":
        # pyrtlsdr may spin on the dead connection for ever: pull its socket away to stop the thread
        client = getattr(box.get("src"), "_client", None)
        sock = getattr(client, "_socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        return f"hang [{phase} {op}]", info
    if status == "exc":
        return f"internal [{phase} {op}]: " + _site(value), info
    return f"{value} [{phase} {op}]", info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=120, help="total, split evenly between the targets")
    ap.add_argument("--target", default="im871a,amb8465,cul,rtltcp,pyrtlsdr")
    a = ap.parse_args()
    # pyrtlsdr's client prints, and the driver used to swallow stdout process-wide around its calls (a hung
    # call kept it swallowed): report on the real stdout
    say = functools.partial(print, file=sys.__stdout__, flush=True)
    import tempfile

    targets = [t.strip() for t in a.target.split(",") if t.strip()]
    share = a.seconds / len(targets)
    grand_t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="amr-handshake-") as tmpdir:
        for target in targets:
            rnd = random.Random(f"{a.seed}:{target}")
            found: collections.Counter[str] = collections.Counter()
            example: dict[str, dict[str, Any]] = {}
            t0 = time.time()
            n = 0
            server = None
            if target == "rtltcp":
                server = RtlTcpServer(bytes([127, 128]) * 4096, loop=True).start()
            try:
                while time.time() - t0 < share:
                    if target == "rtltcp":
                        outcome, info = (tcp_header_trial(rnd, n) if rnd.random() < 0.6
                                         else tcp_option_trial(rnd, server))
                    elif target == "pyrtlsdr":
                        outcome, info = pyrtlsdr_trial(rnd)
                    else:
                        outcome, info = stick_trial(target, rnd, Path(tmpdir), n)
                    found[outcome] += 1
                    example.setdefault(outcome, info)
                    n += 1
            finally:
                if server is not None:
                    server.stop()
            say(f"{target}: {n} trials in {time.time() - t0:.0f} s (seed {a.seed})")
            for outcome, count in sorted(found.items(), key=lambda kv: (-kv[1], kv[0])):
                say(f"  {count:5d} {outcome}")
                if outcome.startswith(("internal", "hang", "no-frame", "wrong", "silently", "typed (",
                                       "closed: recv")) or "ignored" in outcome:
                    say(f"        e.g. {example[outcome]}")
    say(f"total {time.time() - grand_t0:.0f} s")


if __name__ == "__main__":
    main()
