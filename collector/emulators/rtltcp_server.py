"""An rtl_tcp server that streams an IQ file instead of a dongle.

It speaks two protocols on one port, told apart by who talks first:
* rtl_tcp (rtl-sdr's; rtl_433 ``-d rtl_tcp:HOST:PORT``, SDR++, our RtlTcpSource): on connect the
  server sends the 12-byte "RTL0" header, then raw cu8 samples; the client may send 5-byte commands
  (1 = centre frequency, 2 = sample rate, 3 = gain mode, 4 = gain, 5 = ppm, ...) which are recorded.
* pyrtlsdr's own TCP protocol (``rtlsdr.RtlSdrTcpClient``): the client sends a JSON request first
  (property get/set, ``read_bytes``), one short connection per call; ``read_bytes`` is served from
  the file and an exhausted file answers "unsuccessful", which the client raises as an error.

Run by hand:  python -m collector.emulators.rtltcp_server drive_868.95M_1600k.cu8 --port 1234 --realtime
"""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np

TUNER_R820T = 5
R820T_GAINS = (0, 9, 14, 27, 37, 77, 87, 125, 144, 157, 166, 197, 207, 229, 254, 280, 297, 328, 338, 364,
               372, 386, 402, 421, 434, 439, 445, 480, 496)
COMMANDS = {1: "center_freq", 2: "sample_rate", 3: "gain_mode", 4: "gain", 5: "freq_correction",
            6: "if_gain", 7: "test_mode", 8: "agc_mode", 9: "direct_sampling", 10: "offset_tuning",
            13: "tuner_gain_index", 14: "bias_tee"}


def load_cu8(path: str | Path, fmt: str | None = None) -> tuple[bytes, float | None, float | None]:
    """File -> (cu8 bytes, sample rate, centre) converting cs8/cs16/cf32 the way a dongle would deliver."""
    from collector.radio.iqformat import FULL_SCALE, parse_filename, read_sigmf

    p = Path(path)
    info = read_sigmf(p) or parse_filename(p)
    fmt = fmt or info.fmt or "cu8"
    raw = p.read_bytes()
    if fmt == "cu8":
        return raw, info.fs, info.centre_hz
    if fmt == "cs8":
        v = np.frombuffer(raw, np.int8).astype(np.int16) + 128
    elif fmt == "cs16":
        v = np.rint(np.frombuffer(raw, "<i2").astype(np.float32) / 256 + 127.5)
    elif fmt == "cf32":
        v = np.rint(np.frombuffer(raw, "<f4") * FULL_SCALE["cu8"] + 127.5)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return np.clip(v, 0, 255).astype(np.uint8).tobytes(), info.fs, info.centre_hz


class RtlTcpServer:
    """Serve `data` (cu8 bytes). `realtime` paces at `sample_rate`; `loop` repeats the file forever."""

    def __init__(self, data: bytes, *, host: str = "127.0.0.1", port: int = 0, sample_rate: float = 1.6e6,
                 center_freq: float = 868.95e6, realtime: bool = False, loop: bool = False,
                 chunk: int = 1 << 15):
        self.data = memoryview(data)
        self.realtime = realtime
        self.loop = loop
        self.chunk = chunk
        self.settings: dict[str, int] = {"center_freq": int(center_freq), "sample_rate": int(sample_rate),
                                         "gain": 0, "freq_correction": 0, "gain_mode": 0}
        self.commands: list[tuple[str, int]] = []     # every rtl_tcp command received, in order
        self._cursor = 0                                # pyrtlsdr protocol: shared across connections
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server((host, port))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._clients: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> RtlTcpServer:
        self._thread = threading.Thread(target=self._accept_loop, name="rtltcp-accept", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for t in self._clients:
            t.join(2)
        self._sock.close()

    def __enter__(self) -> RtlTcpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._clients = [c for c in self._clients if c.is_alive()] + [t]

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            # pyrtlsdr clients speak first; rtl_tcp clients wait for our header
            ready, _, _ = select.select([conn], [], [], 0.15)
            if ready:
                first = conn.recv(4096, socket.MSG_PEEK)
                if first[:1] == b"{":
                    self._serve_pyrtlsdr(conn)
                    return
            self._serve_rtltcp(conn)

    # --- rtl_tcp -----------------------------------------------------------------------------------

    def _serve_rtltcp(self, conn: socket.socket) -> None:
        conn.sendall(b"RTL0" + struct.pack(">II", TUNER_R820T, len(R820T_GAINS)))
        pos = 0
        t0 = time.monotonic()
        sent = 0
        cmd_buf = b""
        # clients configure right after the header: apply that before the first samples go out
        first_wait = 0.1
        while not self._stop.is_set():
            readable, _, _ = select.select([conn], [], [], first_wait)
            first_wait = 0.0
            if readable:
                try:
                    got = conn.recv(4096)
                except OSError:
                    return
                if not got:
                    return
                cmd_buf = self._commands(cmd_buf + got)
            if pos >= len(self.data):
                if not self.loop:
                    self._finish(conn, cmd_buf)
                    return
                pos = 0
            if self.realtime:
                due = t0 + sent / 2 / (self.settings["sample_rate"] or 1)
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, 0.05))
                    continue
            piece = self.data[pos:pos + self.chunk]
            try:
                conn.sendall(piece)
            except OSError:
                return
            pos += len(piece)
            sent += len(piece)

    def _commands(self, buf: bytes) -> bytes:
        """Apply every complete 5-byte command in buf; return the incomplete rest."""
        while len(buf) >= 5:
            cmd, value = struct.unpack(">BI", buf[:5])
            buf = buf[5:]
            name = COMMANDS.get(cmd, f"cmd{cmd}")
            with self._lock:
                self.commands.append((name, value))
                self.settings[name] = value
        return buf

    def _finish(self, conn: socket.socket, cmd_buf: bytes) -> None:
        """End of file: half-close, then drain (still applying commands) until the client hangs up.
        Closing with unread client bytes in our buffer would send a reset and destroy samples the
        client has not read yet."""
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(5)
            while got := conn.recv(4096):
                cmd_buf = self._commands(cmd_buf + got)

    # --- pyrtlsdr's protocol -------------------------------------------------------------------------

    def _serve_pyrtlsdr(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            request = json.loads(conn.recv(4096).decode())
        except (OSError, ValueError):
            return
        kind, name, arg = request.get("type"), request.get("name"), request.get("data")
        prop = {"fc": "center_freq", "center_freq": "center_freq", "rs": "sample_rate",
                "sample_rate": "sample_rate", "gain": "gain", "freq_correction": "freq_correction",
                "bandwidth": "bandwidth"}
        header = {"timestamp": time.time(), "success": True, "request": request}
        payload: bytes | None = None
        if kind == "prop_set" and name in prop:
            with self._lock:
                self.settings[prop[name]] = arg
                self.commands.append((prop[name], arg))
            header["data"] = None
        elif kind == "prop_get" and name in prop:
            header["data"] = self.settings.get(prop[name], 0)
        elif kind == "method" and name == "get_gains":
            header["data"] = list(R820T_GAINS)
        elif kind == "method" and name == "get_tuner_type":
            header["data"] = TUNER_R820T
        elif kind == "method" and name in ("read_bytes", "read_samples"):
            n = int(arg or 1024) * (2 if name == "read_samples" else 1)
            with self._lock:
                if self._cursor >= len(self.data) and self.loop:
                    self._cursor = 0
                payload = bytes(self.data[self._cursor:self._cursor + n])
                self._cursor += len(payload)
            if self.realtime:
                time.sleep(len(payload) / 2 / max(float(self.settings["sample_rate"] or 1), 1.0))
            if not payload:
                header["success"] = False  # end of the file: the client raises CommunicationError
                header["data"] = None
            else:
                header["data"] = {"struct_fmt": f"{len(payload)}B"}
                header["struct_fmt"] = f"{len(payload)}B"
        else:
            header["success"] = False
            header["data"] = None
        try:
            conn.sendall(json.dumps(header).encode())
            if payload:
                ack = conn.recv(4096)  # the client ACKs the header before the bytes follow
                if b'"ok": true' not in ack and b'"ok":true' not in ack:
                    return
                conn.sendall(payload)
                # wait for the client to close so the last bytes are not lost in a reset
                conn.recv(1)
        except OSError:
            return


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve an IQ file over rtl_tcp (and pyrtlsdr's TCP protocol).")
    ap.add_argument("file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1234)
    ap.add_argument("--format", default=None, help="cu8, cs8, cs16, cf32 (default: from the name)")
    ap.add_argument("--rate", type=float, default=None, help="sample rate for --realtime pacing")
    ap.add_argument("--realtime", action="store_true", help="pace like a dongle instead of as fast as possible")
    ap.add_argument("--loop", action="store_true", help="repeat the file forever")
    a = ap.parse_args()
    data, fs, centre = load_cu8(a.file, a.format)
    srv = RtlTcpServer(data, host=a.host, port=a.port, sample_rate=a.rate or fs or 1.6e6,
                       center_freq=centre or 868.95e6, realtime=a.realtime, loop=a.loop)
    print(f"rtl_tcp emulator on {srv.host}:{srv.port} serving {a.file} ({len(data) // 2} samples)", flush=True)
    srv.start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
