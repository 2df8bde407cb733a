"""The one source interface every receiver and log hides behind.

Modelled on python-can's split: the base class owns the policy (deadlines, iteration, counters, close,
context manager); a driver implements only ``_recv_internal``. Drivers are found by name in ``SOURCES``
and imported lazily, so a missing optional dependency (pyrtlsdr, a vendor library) breaks only the
source that needs it; third parties add sources through the ``amr.sources`` entry-point group.

Spec strings a user types::

    im871a:/dev/ttyUSB0:t1,c1    amb8465:/dev/ttyUSB1:c1    cul:/dev/ttyACM0:t1
    rtlsdr:0    rtltcp:host:1234    iq:FILE    log:FILE    virtual:CHANNEL    auto

Options that are not positional may follow a ``?``: ``log:drive.jsonl?speed=2&format=capture``.
"""

from __future__ import annotations

import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from decoders.crc import FrameError, frame_a_length, normalise
from decoders.frame import Frame

ENTRY_POINT_GROUP = "amr.sources"

# name -> (module, class). The class must be a Source subclass; `from_spec` builds it from a spec.
SOURCES: dict[str, tuple[str, str]] = {
    "virtual": ("collector.sources.virtual", "VirtualSource"),
    "im871a": ("collector.sources.im871a", "Im871aSource"),
    "amb8465": ("collector.sources.amb8465", "Amb8465Source"),
    "cul": ("collector.sources.cul", "CulSource"),
    "log": ("collector.sources.logs", "LogSource"),
    "auto": ("collector.sources.probe", "AutoSource"),
    "rtlsdr": ("collector.sources.rtlsdr", "RtlSdrSource"),
    "rtltcp": ("collector.sources.rtltcp", "RtlTcpSource"),
    "iq": ("collector.sources.iq", "IqFileSource"),
}

# How long one `_recv_internal` call may block at most, so that `close()` from another thread and
# an overall deadline are both noticed promptly even when the caller asked to wait forever.
POLL_SLICE_S = 0.25


class SourceError(Exception):
    """Base of every error a source raises on purpose."""


class SpecError(SourceError, ValueError):
    """A source spec string that cannot be parsed or names no known source."""


class SourceUnavailable(SourceError):
    """The device or file is not there (and, for devices, reconnecting is not allowed)."""


class SourceExhausted(SourceError):
    """Raised by `_recv_internal` when a finite source (a file, a closed channel) has nothing left."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input a source could not turn into a Frame. Kept (bounded) so nothing is silently lost."""

    reason: str            # short, stable, countable: "GARBAGE", "LENGTH", "CHECKSUM", "SYNTAX", ...
    detail: str
    raw: bytes = b""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class SourceCounters:
    frames: int = 0            # frames handed to the caller (including those with crc_ok False)
    crc_failures: int = 0      # frames whose CRC failed (still handed over, crc_ok=False)
    rejected: Counter[str] = field(default_factory=Counter)  # input that never became a frame
    bytes_discarded: int = 0   # garbage skipped while resynchronising
    disconnects: int = 0       # times a device vanished (unplugged, port gone)
    reconnects: int = 0        # times it came back and was configured again

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "crc_failures": self.crc_failures,
            "rejected": dict(self.rejected),
            "bytes_discarded": self.bytes_discarded,
            "disconnects": self.disconnects,
            "reconnects": self.reconnects,
        }


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    args: str              # everything after "name:" and before "?", may be ""
    options: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> SourceSpec:
        spec = spec.strip()
        if not spec:
            raise SpecError("empty source spec")
        body, _, query = spec.partition("?")
        name, _, args = body.partition(":")
        name = name.strip().lower()
        if not name:
            raise SpecError(f"source spec {spec!r} has no source name")
        try:
            options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
        except ValueError as exc:
            raise SpecError(f"bad options in {spec!r}: {exc}") from exc
        return cls(name, args, options)


def refuse_unknown_options(kind: str, options: Any) -> None:
    """A misspelt option is the caller's error, found before any device or file is opened, never ignored."""
    if options:
        raise SpecError(f"{kind}: unknown option(s) {', '.join(sorted(options))}")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Source(ABC):
    """A stream of `Frame`s.

    Contract (checked for every implementation by tests/sources/test_contract.py):
    * `recv(timeout)` returns the next Frame, or None when nothing arrived within `timeout` seconds
      (None = wait as long as it takes) or when the source is exhausted (`exhausted` is then True).
    * Frames come out in the order the receiver heard them; each carries a normalised telegram,
      `received_at` in UTC, `source`, `link_mode`, `rssi_dbm` when known and `crc_ok`.
    * Iteration yields frames until the source is exhausted or closed.
    * `close()` is idempotent, may be called from another thread, and releases the device/file.
    * `counters` counts frames, CRC failures and rejected input by reason.
    """

    #: registry name, set by subclasses ("im871a", "log", ...)
    kind: str = "source"

    def __init__(self, name: str | None = None, *, max_rejections: int = 1000,
                 clock: Callable[[], datetime] = utc_now):
        self.name = name or self.kind
        self.counters = SourceCounters()
        self.rejections: deque[Rejected] = deque(maxlen=max_rejections)
        self.exhausted = False
        self._closed = threading.Event()
        self._clock = clock

    # --- driver side ----------------------------------------------------------------------------

    @abstractmethod
    def _recv_internal(self, timeout: float) -> Frame | None:
        """Block at most `timeout` seconds for the next frame; None if none came.

        Raise SourceExhausted when a finite source has no more input. Call `self.reject(...)` for
        input that cannot become a Frame and build frames with `self.make_frame(...)` so that the
        metadata and counting are the same for every driver.
        """

    def _close_internal(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release the device or file. Called once."""

    @classmethod
    def from_spec(cls, args: str, options: dict[str, str]) -> Source:
        """Build from the part of the spec after "name:" plus its options. Override to parse."""
        return cls(args, **options)  # type: ignore[call-arg]

    # --- helpers for drivers ---------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def reject(self, reason: str, detail: str, raw: bytes = b"") -> None:
        self.counters.rejected[reason] += 1
        self.rejections.append(Rejected(reason, detail, bytes(raw), self.now()))

    def discard(self, n: int) -> None:
        """Account for garbage bytes skipped while resynchronising."""
        if n > 0:
            self.counters.bytes_discarded += n

    def make_frame(self, data: bytes, *, link_mode: str | None = None, rssi_dbm: float | None = None,
                   received_at: datetime | None = None, crc_ok: bool | None = None,
                   frame_format: str | None = None, crcs: bool | None = None,
                   **extra: Any) -> Frame | None:
        """Turn bytes that start at L into a Frame, stripping DLL CRCs if they are there.

        `crc_ok` states what the receiver already knows (a stick that checked and stripped the CRCs
        says True; a log line flagged "CRC failed" says False). When the bytes still carry CRCs the
        check here decides. Bytes with a CRC failure are still framed (positionally stripped, crc_ok
        False) so nothing is lost; bytes whose length fits no format are rejected ("LENGTH").
        `crcs=True`: the receiver passes the DLL CRCs on (CUL), so CRC-free-looking bytes are a format-B
        frame whose CRC failed, not a stripped telegram. `crcs=False`: the receiver removed them.
        """
        link_mode = link_mode.upper() if link_mode else None
        if crcs is False:
            # Known CRC-free (a stick stripped them): never guess, a 1-in-65536 coincidence of the
            # last two bytes with a format-B CRC would otherwise cut two bytes off a good telegram.
            if not data or data[0] != len(data) - 1:
                self.reject("LENGTH", f"L={data[0] if data else None} does not fit {len(data)} bytes", data)
                return None
            return Frame(telegram=bytes(data), received_at=received_at or self.now(), source=self.name,
                         link_mode=link_mode, frame_format=frame_format, rssi_dbm=rssi_dbm, crc_ok=crc_ok,
                         **extra)
        try:
            telegram, fmt = normalise(bytes(data))
        except FrameError as exc:
            stripped = _strip_format_a_unchecked(bytes(data))
            if stripped is None:
                self.reject(exc.reason, exc.detail, data)
                return None
            telegram, fmt, crc_ok = stripped, "A", False
        else:
            if fmt != "none":
                crc_ok = True  # the CRCs were there and checked out here
            elif crcs and len(data) >= 12:
                body = bytes(data[:-2]) if len(data) <= 128 else bytes(data[:126]) + bytes(data[128:-2])
                telegram = bytes([len(body) - 1]) + body[1:]
                fmt, crc_ok = "B", False
        return Frame(telegram=telegram, received_at=received_at or self.now(), source=self.name,
                     link_mode=link_mode, frame_format=frame_format or (fmt if fmt != "none" else None),
                     rssi_dbm=rssi_dbm, crc_ok=crc_ok, **extra)

    # --- caller side ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def recv(self, timeout: float | None = None) -> Frame | None:
        if self._closed.is_set() or self.exhausted:
            return None
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            if deadline is None:
                remaining = POLL_SLICE_S
            else:
                remaining = min(max(deadline - time.monotonic(), 0.0), POLL_SLICE_S)
            try:
                frame = self._recv_internal(remaining)
            except SourceExhausted:
                self.exhausted = True
                return None
            except (OSError, ValueError):
                if self._closed.is_set():  # the device was closed under a blocked read
                    return None
                raise
            if frame is not None:
                self.counters.frames += 1
                if frame.crc_ok is False:
                    self.counters.crc_failures += 1
                return frame
            if self._closed.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.recv()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._close_internal()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}{' closed' if self.closed else ''}>"


def _strip_format_a_unchecked(data: bytes) -> bytes | None:
    """Remove the CRC bytes of a format-A-sized frame by position, without checking them."""
    if len(data) < 12 or len(data) != frame_a_length(data[0]) or len(data) == data[0] + 1:
        return None
    out = bytearray(data[:10])
    pos = 12
    while pos < len(data):
        block = data[pos:min(pos + 16, len(data) - 2)]
        out += block
        pos += len(block) + 2
    out[0] = len(out) - 1
    return bytes(out)


# --- registry ----------------------------------------------------------------------------------------

def _entry_point_sources() -> dict[str, tuple[str, str]]:
    from importlib.metadata import entry_points

    found: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, attr = ep.value.partition(":")
        found[ep.name.lower()] = (module.strip(), attr.strip())
    return found


def registered_sources() -> dict[str, tuple[str, str]]:
    """Built-in sources plus those installed through the entry-point group (built-ins win)."""
    merged = _entry_point_sources()
    merged.update(SOURCES)
    return merged


def source_class(name: str) -> type[Source]:
    registry = registered_sources()
    try:
        module_name, attr = registry[name.lower()]
    except KeyError:
        raise SpecError(f"unknown source {name!r}; known: {', '.join(sorted(registry))}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceUnavailable(f"source {name!r} cannot be loaded: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SourceUnavailable(f"source {name!r}: {module_name} has no {attr}") from None


def open_source(spec: str, **options: Any) -> Source:
    """Open a source from a spec string (see module doc). Keyword options override `?k=v` ones."""
    parsed = SourceSpec.parse(spec)
    cls = source_class(parsed.name)
    merged: dict[str, Any] = dict(parsed.options)
    merged.update(options)
    return cls.from_spec(parsed.args, merged)


def parse_link_modes(text: str | None, default: tuple[str, ...] = ("T1", "C1")) -> tuple[str, ...]:
    """"t1,c1" -> ("T1", "C1"). Link modes are compared upper-case everywhere."""
    if not text:
        return default
    modes = tuple(m.strip().upper() for m in text.replace("+", ",").split(",") if m.strip())
    return modes or default
