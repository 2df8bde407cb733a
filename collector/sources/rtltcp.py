"""rtl_tcp source: IQ over TCP from a remote dongle (``rtl_tcp -a 0.0.0.0`` on a Pi in the van).

Spec ``rtltcp:HOST:PORT`` with options ``freq`` (default 868.95M), ``rate`` (1600k), ``gain`` (dB or
``auto``), ``ppm``, ``modes``, ``connect_timeout`` (seconds for connecting and the whole 12-byte header,
default 5) and ``protocol``: ``rtl_tcp`` (default; the rtl-sdr wire protocol, read with a plain socket) or
``pyrtlsdr`` (pyrtlsdr's own TCP server, read with ``rtlsdr.RtlSdrTcpClient``). Other options, and values
the protocol's 32-bit commands cannot carry, are a SpecError.
"""

from __future__ import annotations

import contextlib
import functools
import math
import socket
import struct
import time
from typing import Any

import numpy as np

from collector.sources.base import (
    SourceExhausted,
    SourceUnavailable,
    SpecError,
    parse_link_modes,
    refuse_unknown_options,
)
from collector.sources.iq import ALL_MODES, SdrSource, parse_rate

DEFAULT_FREQ = 868.95e6
DEFAULT_RATE = 1.6e6


SIGNED_COMMANDS = {4, 5}   # gain (tenths of dB) and ppm: the server reads them back as a signed int
MAX_CONNECT_TIMEOUT = 3600.0


def rtltcp_command(cmd: int, value: int) -> bytes:
    # The value is 32 bits on the wire: anything wider, or a negative frequency, would tune the dongle
    # to another frequency or gain than asked, silently.
    low, high = (-(1 << 31), 1 << 31) if cmd in SIGNED_COMMANDS else (0, 1 << 32)
    if not low <= value < high:
        raise SpecError(f"rtl_tcp command {cmd}: {value} does not fit the protocol's 32 bits")
    return struct.pack(">BI", cmd, value & 0xFFFFFFFF)


def _finite(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"rtltcp: {what} must be a number, not {value!r}") from None
    if not math.isfinite(x):
        raise SpecError(f"rtltcp: {what} must be finite, not {value!r}")
    return x


def _whole(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise SpecError(f"rtltcp: {what} must be a whole number, not {value!r}") from None


class RtlTcpSource(SdrSource):
    kind = "rtltcp"

    def __init__(self, host: str, port: int = 1234, *, freq: Any = None, rate: Any = None, gain: Any = "auto",
                 ppm: int | str = 0, modes: Any = ALL_MODES, protocol: str = "rtl_tcp",
                 connect_timeout: float = 5.0, **kw: Any):
        fs = parse_rate(rate, "rate") or DEFAULT_RATE
        centre = parse_rate(freq, "freq") or DEFAULT_FREQ
        if isinstance(modes, str):
            modes = parse_link_modes(modes, ALL_MODES)
        port = _whole(port, "port")
        if not 0 < port < 65536:
            raise SpecError(f"rtltcp: port {port} is not a TCP port")
        super().__init__(f"rtltcp:{host}:{port}", fs, centre, "cu8", tuple(modes), **kw)
        self.host, self.port, self.protocol = host, port, protocol
        self.server_info: dict[str, int] = {}
        self._sock: socket.socket | None = None
        self._client: Any = None
        self._n_bytes = 2 * self.chunk_samples
        gain_db = None if str(gain).strip().lower() in ("auto", "", "none") else _finite(gain, "gain")
        ppm = _whole(ppm, "ppm")
        connect_timeout = _finite(connect_timeout, "connect_timeout")
        if not 0 < connect_timeout <= MAX_CONNECT_TIMEOUT:
            raise SpecError(f"rtltcp: connect_timeout must be in (0, {MAX_CONNECT_TIMEOUT:g}] s, "
                            f"not {connect_timeout:g}")
        if protocol == "rtl_tcp":
            self._open_rtltcp(connect_timeout, gain_db, ppm)
        elif protocol == "pyrtlsdr":
            self._open_pyrtlsdr(gain_db, ppm, connect_timeout)
        else:
            raise SpecError(f"rtltcp protocol must be rtl_tcp or pyrtlsdr, not {protocol!r}")

    @classmethod
    def from_spec(cls, args: str, options: dict[str, str]) -> RtlTcpSource:
        host, _, port = args.rpartition(":")
        if not host:
            host, port = args or "127.0.0.1", "1234"
        if not (port.isascii() and port.isdigit()):
            raise SpecError(f"rtltcp spec wants HOST:PORT, got {args!r}")
        opts = dict(options)
        known = {k: opts.pop(k) for k in ("freq", "rate", "gain", "ppm", "modes", "protocol", "connect_timeout")
                 if k in opts}
        refuse_unknown_options("rtltcp", opts)
        known.setdefault("modes", "t1,c1,s1")
        return cls(host, int(port), **known)

    # --- rtl_tcp wire protocol ---------------------------------------------------------------------

    def _open_rtltcp(self, timeout: float, gain_db: float | None, ppm: int) -> None:
        # The commands first: a value the protocol cannot carry is the caller's error, no connection needed.
        cmds = [rtltcp_command(2, int(self.fs)), rtltcp_command(1, int(self.centre_hz)),
                rtltcp_command(5, ppm)]
        if gain_db is None:
            cmds += [rtltcp_command(3, 0), rtltcp_command(8, 1)]
        else:
            cmds += [rtltcp_command(3, 1), rtltcp_command(4, int(round(gain_db * 10)))]
        # `timeout` bounds connecting and the whole header: a server that trickles it, a byte per
        # almost-timeout, must not hold the caller twelve times as long.
        deadline = time.monotonic() + timeout
        sock = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
            header = b""
            while len(header) < 12:
                try:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    sock.settimeout(remaining)
                    got = sock.recv(12 - len(header))
                except TimeoutError:
                    raise TimeoutError(f"no complete rtl_tcp header within {timeout:g} s "
                                       f"({len(header)} of 12 bytes)") from None
                if not got:
                    raise OSError(f"connection closed after {len(header)} bytes of the rtl_tcp header")
                header += got
            if header[:4] != b"RTL0":
                raise SourceUnavailable(f"{self.host}:{self.port} is not an rtl_tcp server "
                                        f"(header {header[:4]!r})")
            sock.settimeout(timeout)
            sock.sendall(b"".join(cmds))   # a server that resets the connection here is gone too
        except SourceUnavailable:   # not an rtl_tcp server: raised after the socket opened
            sock.close()
            raise
        except (OSError, UnicodeError) as exc:
            if sock is not None:
                sock.close()
            raise SourceUnavailable(f"rtl_tcp {self.host}:{self.port}: {exc}") from exc
        tuner, ngains = struct.unpack(">II", header[4:12])
        self.server_info = {"tuner_type": tuner, "gain_count": ngains}
        self._sock = sock
        self._carry = b""

    def _read_rtltcp(self, timeout: float) -> bytes | None:
        assert self._sock is not None
        self._sock.settimeout(max(timeout, 0.001))
        try:
            data = self._sock.recv(self._n_bytes)
        except TimeoutError:
            return None
        except OSError as exc:
            if self.closed:
                raise SourceExhausted(self.name) from exc
            raise SourceUnavailable(f"rtl_tcp {self.host}:{self.port}: {exc}") from exc
        if not data:
            raise SourceExhausted(self.name)
        data = self._carry + data
        cut = len(data) & ~1       # keep I/Q pairs together across reads
        self._carry = data[cut:]
        return data[:cut]

    # --- pyrtlsdr's TCP protocol ---------------------------------------------------------------------

    def _open_pyrtlsdr(self, gain_db: float | None, ppm: int, timeout: float) -> None:
        try:
            client_class = _pyrtlsdr_client_class()
        except ImportError as exc:  # pyrtlsdr loads librtlsdr even for the TCP client
            raise SourceUnavailable(f"pyrtlsdr unavailable: {exc}") from exc
        try:
            client = client_class(hostname=self.host, port=self.port)
            client.timeout, client.max_message = timeout, self._n_bytes + (1 << 16)
            client.sample_rate = int(self.fs)
            client.center_freq = int(self.centre_hz)
            client.freq_correction = ppm
            client.gain = "auto" if gain_db is None else gain_db
        except Exception as exc:  # noqa: BLE001 - pyrtlsdr raises bare Exceptions and socket errors
            raise SourceUnavailable(f"pyrtlsdr TCP {self.host}:{self.port}: {exc}") from exc
        self._client = client

    def _read_pyrtlsdr(self, timeout: float) -> bytes | None:
        from rtlsdr.rtlsdrtcp.base import CommunicationError

        try:
            data = self._client.read_bytes(self._n_bytes)
            return np.asarray(data, dtype=np.uint8).tobytes()
        except CommunicationError as exc:
            if "unsuccessful" in str(exc):
                raise SourceExhausted(self.name) from exc
            raise SourceUnavailable(f"pyrtlsdr TCP {self.host}:{self.port}: {exc}") from exc
        except OSError as exc:
            raise SourceUnavailable(f"pyrtlsdr TCP {self.host}:{self.port}: {exc}") from exc
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError, struct.error) as exc:
            # the client parses whatever came: text that is no JSON, JSON that is no header, a bad format
            raise SourceUnavailable(f"pyrtlsdr TCP {self.host}:{self.port}: broken answer: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def _read_chunk(self, timeout: float) -> bytes | None:
        if self.protocol == "rtl_tcp":
            return self._read_rtltcp(timeout)
        return self._read_pyrtlsdr(timeout)

    def _close_internal(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._client is not None:
            self._client.close()
            self._client._close_socket()  # left open by a call that failed


@functools.cache
def _pyrtlsdr_client_class() -> type:
    """pyrtlsdr's TCP client, made safe against a broken server (built on first use: the import loads
    librtlsdr). The library reads a message to the length its header announced in a loop that does not
    notice the end of the connection (a server gone mid-message spun a core for ever), connects and reads
    without a timeout, keeps any amount a header announces, and prints on every call."""
    from rtlsdr import RtlSdrTcpClient

    class _MessageSocket(socket.socket):
        max_message = 1 << 20
        received = 0

        def recv(self, n: int, *args: Any) -> bytes:
            data = super().recv(n, *args)
            if n and not data:
                raise ConnectionResetError("pyrtlsdr server closed the connection mid-message")
            self.received += len(data)
            if self.received > self.max_message:
                raise ConnectionAbortedError(f"pyrtlsdr server sent more than {self.max_message} bytes for one call")
            return data

    class SafeRtlSdrTcpClient(RtlSdrTcpClient):
        timeout = 5.0
        max_message = 1 << 20

        def _build_socket(self) -> socket.socket:
            if getattr(self, "_socket", None) is None:
                sock = _MessageSocket(socket.AF_INET, socket.SOCK_STREAM)
                sock.max_message = self.max_message
                sock.settimeout(self.timeout)
                try:
                    sock.connect((self.hostname, self.port))
                except OSError:
                    sock.close()
                    raise
                self._socket = sock
            return self._socket

        def _close_socket(self) -> None:  # the library's version prints
            sock, self._socket = getattr(self, "_socket", None), None
            if sock is not None:
                sock.close()

    return SafeRtlSdrTcpClient
