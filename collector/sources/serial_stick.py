"""What every USB receiver stick has in common: a serial port that may vanish, a byte framer, a
command/response handshake at (re)connect, and data indications that become Frames.

A driver supplies `decode` (pure framer), `configure()` (the handshake, using `command()`) and
`to_frame(message)`. The port is opened lazily on the first `recv`, so constructing a source never
blocks; when it disappears (unplugged stick, closed pty) the source keeps polling the path with
exponential backoff and configures the stick again once it is back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any

import serial

from collector.sources.base import (
    Rejected,
    Source,
    SourceError,
    SourceUnavailable,
    SpecError,
    parse_link_modes,
    refuse_unknown_options,
)
from collector.sources.framing import Skipped
from decoders.frame import Frame

MAX_KEPT_GARBAGE = 4096


class StickError(SourceError):
    """The stick answered wrongly or not at all during the handshake."""


MAX_SECONDS = 86400.0


def seconds(value: Any, what: str) -> float:
    """A positive, finite duration option (a NaN deadline never comes, an infinite one overflows select)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{what} must be a number of seconds, not {value!r}") from None
    if not 0 < x <= MAX_SECONDS:
        raise SpecError(f"{what} must be in (0, {MAX_SECONDS:g}] s, not {value!r}")
    return x


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


class SerialStickSource(Source):
    baudrate: int = 9600
    default_modes: tuple[str, ...] = ("T1", "C1")
    read_chunk = 4096

    def __init__(self, port: str, link_modes: tuple[str, ...] | str | None = None, *,
                 baudrate: int | None = None, reconnect: bool | str = True,
                 backoff_min: float | str = 0.05, backoff_max: float | str = 2.0,
                 command_timeout: float | str = 1.0, stale_after: float | str = 2.0,
                 serial_factory: Callable[..., Any] | None = None, name: str | None = None, **options: Any):
        refuse_unknown_options(self.kind, options)
        if not port:
            raise SourceUnavailable(f"{self.kind}: no serial port given")
        super().__init__(name or f"{self.kind}:{port}")
        self.port = port
        if isinstance(link_modes, str) or link_modes is None:
            link_modes = parse_link_modes(link_modes, self.default_modes)
        self.link_modes = tuple(m.upper() for m in link_modes)
        try:
            self.baudrate = int(baudrate or self.baudrate)
        except (TypeError, ValueError):
            raise SpecError(f"{self.kind}: baudrate must be a whole number, not {baudrate!r}") from None
        if self.baudrate <= 0:
            raise SpecError(f"{self.kind}: baudrate must be positive, not {baudrate!r}")
        self.reconnect = _as_bool(reconnect)
        self.backoff_min = seconds(backoff_min, f"{self.kind}: backoff_min")
        self.backoff_max = seconds(backoff_max, f"{self.kind}: backoff_max")
        self.command_timeout = seconds(command_timeout, f"{self.kind}: command_timeout")
        # A partial frame that gets no more bytes for this long is dropped: the rest is not coming
        # (a false header in a transparent stream, a frame cut by a radio or USB hiccup).
        self.stale_after = seconds(stale_after, f"{self.kind}: stale_after")
        self._last_rx = 0.0
        self._serial_factory = serial_factory or serial.Serial
        self._serial: Any = None
        self._buf = bytearray()
        self._pending: deque[Frame] = deque()
        self._io_lock = threading.RLock()
        self._backoff = self.backoff_min
        self._next_attempt = 0.0
        self._connected_once = False
        self.device_info: dict[str, Any] = {}

    @classmethod
    def from_spec(cls, args: str, options: dict[str, Any]) -> Source:
        # "PORT[:MODES]"; a port may itself hold colons (e.g. rfc2217://host:port), so modes are the
        # last field only when it looks like a list of link modes.
        port, modes = args, None
        head, sep, tail = args.rpartition(":")
        if sep and tail and all(m.strip().upper()[:1] in "CSTNR" and len(m.strip()) <= 4
                                for m in tail.replace("+", ",").split(",")):
            port, modes = head, tail
        return cls(port, modes, **options)

    # --- driver hooks ---------------------------------------------------------------------------

    @abstractmethod
    def decode(self, buf: bytearray) -> tuple[int, Any]:
        """Pure framer: (consumed, message | Skipped | None)."""

    @abstractmethod
    def configure(self) -> None:
        """Handshake after (re)connect: probe, set link mode. Use `command()`."""

    @abstractmethod
    def to_frame(self, message: Any) -> Frame | None:
        """A decoded message that is a received telegram -> Frame; anything else -> None."""

    def on_unsolicited(self, message: Any) -> None:  # noqa: B027 - optional hook
        """A message that is neither a telegram nor an awaited response (late answer, event)."""

    # --- port handling ----------------------------------------------------------------------------

    def _open(self) -> bool:
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        try:
            ser = self._serial_factory(self.port, baudrate=self.baudrate, timeout=0,
                                       write_timeout=self.command_timeout, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            return self._failed(f"cannot open {self.port}: {exc}")
        with self._io_lock:
            self._serial = ser
            self._buf.clear()
        try:
            ser.reset_input_buffer()
            self.configure()
        except (serial.SerialException, OSError, StickError) as exc:
            self._drop_port()
            if self.closed:  # close() from another thread ended the handshake: no fault of the stick's
                return False
            if not isinstance(exc, StickError):
                return self._failed(f"{self.port} failed during handshake: {exc}")
            self.reject("HANDSHAKE", str(exc))
            return self._failed(f"{self.port}: {exc}")
        if self.closed:  # closed just as the handshake ended: release the port it opened
            self._drop_port()
            return False
        if self._connected_once:
            self.counters.reconnects += 1
        self._connected_once = True
        self._backoff = self.backoff_min
        return True

    def _failed(self, why: str) -> bool:
        if not self.reconnect:
            raise SourceUnavailable(why)
        self._next_attempt = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.backoff_max)
        self.last_error = why
        return False

    def _drop_port(self) -> None:
        with self._io_lock:
            ser, self._serial = self._serial, None
        if ser is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                ser.close()

    def _lost(self, exc: BaseException) -> None:
        self._drop_port()
        if self.closed:
            return
        self.counters.disconnects += 1
        self._failed(f"{self.port} lost: {exc}")

    def _read(self, timeout: float) -> bytes:
        with self._io_lock:
            ser = self._serial
            if ser is None:
                return b""
            ser.timeout = max(timeout, 0.0)
            waiting = ser.in_waiting
            data = ser.read(max(waiting, 1) if waiting < self.read_chunk else self.read_chunk)
        return data

    def write(self, data: bytes) -> None:
        with self._io_lock:
            if self._serial is None:
                raise serial.SerialException("port not open")
            self._serial.write(data)
            self._serial.flush()

    # --- framing ---------------------------------------------------------------------------------

    def _next_message(self) -> Any:
        """The next complete message in the buffer, or None. Garbage is skipped and counted."""
        while self._buf:
            consumed, item = self.decode(self._buf)
            if consumed == 0:
                return None
            raw = bytes(self._buf[:consumed])
            del self._buf[:consumed]
            if isinstance(item, Skipped):
                self.discard(consumed)
                # One garbage run counts as one rejection, however many bytes it took to resync.
                if item.reason == "GARBAGE" and self._last_skip_was_garbage and self.rejections:
                    last = self.rejections.pop()
                    joined = (last.raw + raw)[-MAX_KEPT_GARBAGE:]
                    self.rejections.append(Rejected(last.reason, f"{len(last.raw) + consumed} byte(s) "
                                                    "skipped to resynchronise", joined, last.at))
                else:
                    self.reject(item.reason, f"{consumed} byte(s) skipped to resynchronise", raw)
                self._last_skip_was_garbage = item.reason == "GARBAGE"
                continue
            self._last_skip_was_garbage = False
            if item is not None:
                return item
        return None

    _last_skip_was_garbage = False

    def _dispatch(self, message: Any) -> None:
        frame = self.to_frame(message)
        if frame is not None:
            self._pending.append(frame)
        else:
            self.on_unsolicited(message)

    def command(self, request: bytes, is_answer: Callable[[Any], bool],
                timeout: float | None = None) -> Any:
        """Send `request` and return the first message for which `is_answer` holds.

        Telegrams that arrive meanwhile are kept for `recv`. Raises StickError on timeout.
        """
        timeout = self.command_timeout if timeout is None else timeout
        self.write(request)
        deadline = time.monotonic() + timeout
        while True:
            while (message := self._next_message()) is not None:
                if is_answer(message):
                    return message
                self._dispatch(message)
            if self.closed:  # the port is gone under us: do not spin on it until the deadline
                raise serial.SerialException(f"{self.port} closed during the handshake")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StickError(f"{self.kind} on {self.port}: no answer to {request.hex()}")
            try:
                data = self._read(min(remaining, 0.1))
            except (TypeError, AttributeError) as exc:  # pyserial's fd closed under us by `close()`
                if not self.closed:
                    raise
                raise serial.SerialException(f"{self.port} closed during the handshake") from exc
            self._buf += data

    # --- Source ------------------------------------------------------------------------------------

    def _recv_internal(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            if self.closed:
                return None
            if self._serial is None and not self._open():
                wait = min(self._next_attempt, deadline) - time.monotonic()
                if wait > 0:
                    self._closed.wait(wait)
                if time.monotonic() >= deadline:
                    return None
                continue
            # Bytes that came in behind the last handshake answer are already buffered.
            while (message := self._next_message()) is not None:
                self._dispatch(message)
            if self._pending:
                return self._pending.popleft()
            try:
                data = self._read(max(deadline - time.monotonic(), 0.0))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial's fd was closed under us by `close()`.
                if self.closed:
                    return None
                self._lost(exc)
                continue
            now = time.monotonic()
            if data:
                self._buf += data
                self._last_rx = now
                while (message := self._next_message()) is not None:
                    self._dispatch(message)
                continue
            if self._buf and now - self._last_rx >= self.stale_after:
                self.discard(len(self._buf))
                self.reject("STALE", f"{len(self._buf)} byte(s) of an unfinished frame, then silence",
                            bytes(self._buf))
                self._buf.clear()
                self._last_skip_was_garbage = False
            if now >= deadline:
                return None

    def _close_internal(self) -> None:
        ser = self._serial
        if ser is not None:
            with contextlib.suppress(AttributeError, serial.SerialException, OSError):
                ser.cancel_read()
        self._drop_port()
