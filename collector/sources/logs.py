"""Telegram logs as sources: what other tools recorded replays like a live receiver.

Formats (sniffed from the first lines, or given with ``format=``):

* ``capture``     the project's own raw capture: JSON lines of `Frame.to_dict()` (see `CaptureWriter`);
                  frames replay exactly as recorded, including the source that heard them
* ``rtlwmbus``    rtl_wmbus lines ``MODE;CRC_OK;3OF6_OK;TIME;RSSI;RSSI;ID;0xHEX``
* ``rtl433-json`` rtl_433 ``-F json`` objects (model ``Wireless-MBus``, telegram in ``data``)
* ``rtl433-csv``  rtl_433 ``-F csv`` (header row names the ``data`` column)
* ``simulation``  wmbusmeters simulation files: ``telegram=|HEX|+SECONDS``
* ``hex``         one telegram per line as hex (with or without DLL CRCs)
* ``rawtty``      a raw byte stream of CRC-free L-prefixed telegrams (hex text or binary), resynchronised
* ``im871a`` / ``amb8465`` / ``cul``  raw byte streams as those sticks send them (hex text or binary)

Replay runs as fast as possible (``speed=0``, the default) or with the recorded timing scaled by
``speed`` (1 = real time, 10 = ten times faster). A path ending in ``.gz`` is decompressed; ``-`` is
standard input.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from collector.sources import amb8465, cul, im871a
from collector.sources.base import (
    Source,
    SourceExhausted,
    SourceUnavailable,
    SpecError,
    refuse_unknown_options,
)
from collector.sources.framing import Skipped, decode_transparent
from decoders.crc import crc16_en13757
from decoders.frame import EARLIEST_TIME, LATEST_TIME, Frame
from sync.messages import MessageError, frame_from_wire

FORMATS = ("capture", "rtlwmbus", "rtl433-json", "rtl433-csv", "simulation", "hex", "rawtty",
           "im871a", "amb8465", "cul")
SNIFF_LINES = 20
_HEXLINE = re.compile(r"^(?:0x)?[0-9A-Fa-f\s]+$")
_RTLWMBUS = re.compile(r"^(?:[a-z0-9]{2,4};)?[A-Z][0-9A-Za-z]{0,3};[01];[01];")
_CUL_LINE = re.compile(r"^bY?[0-9A-Fa-f]+$")
RTL433_MODES = {"T": "T1", "C": "C1", "S": "S1", "T1": "T1", "C1": "C1", "S1": "S1"}


@dataclass
class Entry:
    """One item a log yields: a telegram to frame, a ready Frame, or rejected input."""

    data: bytes = b""
    frame: Frame | None = None
    link_mode: str | None = None
    rssi_dbm: float | None = None
    snr_db: float | None = None
    received_at: datetime | None = None
    crc_ok: bool | None = None
    crcs: bool | None = None
    offset_s: float | None = None      # seconds from the start of the recording, for timed replay
    reject: tuple[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _rejected(reason: str, detail: str, raw: bytes) -> Entry:
    return Entry(data=raw, reject=(reason, detail))


def _utc(text: str) -> datetime | None:
    """A log's time in UTC; None (the frame is dated when read) when it is no time a receiver could print."""
    text = text.strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+14:00 has no UTC datetime
        return None
    # outside the wire format's range (decoders.frame) the importer would dead-letter the batch
    return dt if EARLIEST_TIME <= dt < LATEST_TIME else None


# --- line parsers ------------------------------------------------------------------------------------

class Parser:
    """Stateful: lines in, entries out. `finish()` flushes whatever a stream parser still holds."""

    def feed(self, line: bytes) -> list[Entry]:
        raise NotImplementedError

    def finish(self) -> list[Entry]:
        return []


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").strip()


class CaptureParser(Parser):
    def feed(self, line: bytes) -> list[Entry]:
        text = _text(line)
        if not text or text.startswith("#"):
            return []
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return [_rejected("SYNTAX", f"capture line: {type(exc).__name__}: {str(exc)[:120]}", line)]
        if obj.__class__ is not dict:
            return [_rejected("SYNTAX", "capture line: not a JSON object", line)]
        try:
            # a capture line is the wire's frame object: read with the wire's own checks, so a damaged line
            # is refused here and never becomes a Frame the importer would dead-letter a whole batch for
            frame = frame_from_wire(obj)
        except MessageError as exc:
            return [_rejected("SYNTAX", f"capture line: {exc.reason}: {exc.detail}", line)]
        t = frame.telegram
        if not t or t[0] != len(t) - 1:  # captures hold normalised telegrams; anything else is damage
            return [_rejected("LENGTH", f"capture telegram of {len(t)} bytes with L={t[0] if t else None}", line)]
        return [Entry(frame=frame, received_at=frame.received_at)]


class RtlWmbusParser(Parser):
    def feed(self, line: bytes) -> list[Entry]:
        text = _text(line)
        if not text or text.startswith("#"):
            return []  # '#<time>' lines annotate the previous telegram; the line's own time is kept
        fields = text.split(";")
        if fields and not fields[0][:1].isupper():
            fields = fields[1:]  # "t2a;"/"rla;" algorithm tag printed with -v
        if len(fields) < 8 or not fields[7].lower().startswith("0x"):
            return [_rejected("SYNTAX", "not an rtl_wmbus line", line)]
        mode, crc, three_of_six, when = fields[0], fields[1], fields[2], fields[3]
        try:
            data = bytes.fromhex(fields[7][2:])
        except ValueError:
            return [_rejected("SYNTAX", "bad hex in rtl_wmbus line", line)]
        received = _utc(when)
        ok = crc == "1" and three_of_six == "1"
        return [Entry(data=data, link_mode=mode, received_at=received, crc_ok=ok, crcs=False)]


def normalise_rtl433_data(data: bytes) -> tuple[bytes, bool | None]:
    """rtl_433's ``data`` differs by version (radio.md §4.4); bring each variant to a normalised
    telegram. Returns (bytes for make_frame, crc_ok hint)."""
    if len(data) < 12:
        return data, None
    l_field = data[0]
    if l_field == len(data) - 1:
        return data, None                                      # upstream, format A: normalised
    if l_field == len(data) + 1:
        return bytes([len(data) - 1]) + data[1:], None         # upstream, format B: on-air L kept
    if l_field == len(data) - 5:
        # 22.11, format A: L - 2 and the last block's CRC appended.
        telegram = bytes([len(data) - 3]) + data[1:-2]
        last = (len(telegram) - 10) % 16 or 16
        block = telegram[-last:] if len(telegram) > 10 else telegram
        return telegram, crc16_en13757(block).to_bytes(2, "big") == data[-2:]
    return data, None


class Rtl433JsonParser(Parser):
    def feed(self, line: bytes) -> list[Entry]:
        text = _text(line)
        if not text or not text.startswith("{"):
            return []
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return [_rejected("SYNTAX", f"rtl_433 JSON: {type(exc).__name__}: {str(exc)[:120]}", line)]
        return _rtl433_entry(obj, line)


def _rtl433_entry(obj: dict[str, Any], raw: bytes) -> list[Entry]:
    if not isinstance(obj, dict) or "mbus" not in str(obj.get("model", "")).lower():
        return []  # another device rtl_433 decoded: not ours, not an error
    try:
        data = bytes.fromhex(str(obj.get("data", "")))
    except ValueError:
        return [_rejected("SYNTAX", "bad hex in rtl_433 data", raw)]
    data, crc_hint = normalise_rtl433_data(data)
    when = str(obj.get("time", "") or "")
    offset = received = None
    if when.startswith("@"):
        try:
            offset = float(when[1:].rstrip("s"))
        except ValueError:
            offset = None
        if offset is not None and not math.isfinite(offset):
            # "@inf"/"@nan" would wait forever under timed replay and cannot date a frame.
            return [_rejected("SYNTAX", f"rtl_433 time {when[:40]!r} is not a finite offset", raw)]
    else:
        received = _utc(when)
    snr = obj.get("snr")
    try:
        snr_db = float(snr) if snr not in (None, "") else None
    except (TypeError, ValueError):
        snr_db = None
    if crc_hint is None and str(obj.get("mic", "")).upper() == "CRC":
        crc_hint = True  # rtl_433 only prints frames whose integrity check ("mic") passed
    mode = RTL433_MODES.get(str(obj.get("mode", "")).strip().upper())
    # Every rtl_433 variant is CRC-free once normalised; anything else is left to the CRC check.
    crcs = False if data and data[0] == len(data) - 1 else None
    return [Entry(data=data, link_mode=mode, received_at=received, offset_s=offset, crc_ok=crc_hint,
                  snr_db=snr_db, crcs=crcs)]


class Rtl433CsvParser(Parser):
    def __init__(self) -> None:
        self.header: list[str] | None = None

    def feed(self, line: bytes) -> list[Entry]:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            return []
        try:
            row = next(csv.reader([text]))
        except csv.Error as exc:
            return [_rejected("SYNTAX", f"rtl_433 CSV: {exc}", line)]
        if self.header is None:
            if "data" not in row or "model" not in row:
                return [_rejected("SYNTAX", "rtl_433 CSV without a model/data header", line)]
            self.header = row
            return []
        if row == self.header:
            return []
        return _rtl433_entry({k: v for k, v in zip(self.header, row, strict=False) if v != ""}, line)


class SimulationParser(Parser):
    _line = re.compile(r"^telegram=([^+]*)(?:\+\s*([0-9.]+))?\s*$")

    def feed(self, line: bytes) -> list[Entry]:
        text = _text(line)
        if not text or text[0] in "#{|" or text.startswith("//"):
            return []
        m = self._line.match(text)
        if not m:
            return [_rejected("SYNTAX", "not a telegram= line", line)]
        digits = re.sub(r"[|_#\s]", "", m.group(1))
        try:
            data = bytes.fromhex(digits)
        except ValueError:
            return [_rejected("SYNTAX", "bad hex in telegram= line", line)]
        offset = float(m.group(2)) if m.group(2) else None
        return [Entry(data=data, offset_s=offset)]


class HexLineParser(Parser):
    def feed(self, line: bytes) -> list[Entry]:
        text = _text(line)
        if not text or text.startswith("#"):
            return []
        digits = re.sub(r"\s", "", text)
        digits = digits[2:] if digits.lower().startswith("0x") else digits
        try:
            return [Entry(data=bytes.fromhex(digits))]
        except ValueError:
            return [_rejected("SYNTAX", "not a hex line", line)]


class StreamParser(Parser):
    """A byte stream (hex text or binary) framed by a stick's framer, resynchronising over garbage."""

    def __init__(self, fmt: str, *, binary: bool, rssi: bool | None = None):
        self.fmt = fmt
        self.binary = binary
        self.rssi = rssi
        self.buf = bytearray()
        self.garbage = bytearray()

    def feed(self, line: bytes) -> list[Entry]:
        if self.binary or self.fmt == "cul":
            self.buf += line
        else:
            text = re.sub(r"\s", "", _text(line))
            if text.startswith("#") or not text:
                return []
            try:
                self.buf += bytes.fromhex(text)
            except ValueError:
                return [_rejected("SYNTAX", "not a hex line in a byte-stream dump", line)]
        return self._drain(final=False)

    def finish(self) -> list[Entry]:
        out = self._drain(final=True)
        out += self._flush_garbage()
        return out

    def _decode(self, final: bool) -> tuple[int, Any]:
        if self.fmt == "im871a":
            return im871a.decode(self.buf)
        if self.fmt == "amb8465":
            return amb8465.decode(self.buf, transparent=True, rssi=self.rssi is not False, final=final)
        if self.fmt == "cul":
            return cul.decode(self.buf, final=final)
        return decode_transparent(self.buf, final=final)

    def _flush_garbage(self) -> list[Entry]:
        if not self.garbage:
            return []
        raw, self.garbage = bytes(self.garbage), bytearray()
        return [_rejected("GARBAGE", f"{len(raw)} byte(s) skipped to resynchronise", raw)]

    def _drain(self, final: bool) -> list[Entry]:
        out: list[Entry] = []
        while self.buf:
            consumed, item = self._decode(final)
            if consumed == 0:
                if final and self.buf:  # a framer that waits for more bytes that will never come
                    self.garbage += self.buf
                    self.buf.clear()
                break
            raw = bytes(self.buf[:consumed])
            del self.buf[:consumed]
            if isinstance(item, Skipped):
                if item.reason == "GARBAGE":
                    self.garbage += raw
                else:
                    out += self._flush_garbage()
                    out.append(_rejected(item.reason, f"{consumed} byte(s) dropped", raw))
                continue
            if item is None:
                continue
            entry = self._entry(item, raw)
            if entry is not None:
                out += self._flush_garbage()
                out.append(entry)
        if final:
            out += self._flush_garbage()
        return out

    def _entry(self, item: Any, raw: bytes) -> Entry | None:
        if isinstance(item, bytes):  # rawtty: CRC-free by definition of the stream
            return Entry(data=item, crcs=False)
        if isinstance(item, im871a.HciMessage):
            if item.endpoint != im871a.EP_RADIOLINK or item.msg_id != im871a.WMBUSMSG_IND or not item.payload:
                return None
            rssi = None if item.rssi_raw is None else im871a.rssi_dbm(item.rssi_raw)
            return Entry(data=bytes([len(item.payload)]) + item.payload, rssi_dbm=rssi, crc_ok=True, crcs=False)
        if isinstance(item, amb8465.AmberMessage):
            if item.cmd != amb8465.DATA_IND:
                return None
            tele, r = amb8465.telegram_from_indication(item.payload, rssi=self.rssi is not False)
            return Entry(data=tele, rssi_dbm=None if r is None else amb8465.rssi_dbm(r), crc_ok=True,
                         crcs=False)
        if isinstance(item, amb8465.TransparentTelegram):
            tele, r = amb8465.telegram_from_transparent(item.data, rssi=bool(self.rssi))
            return Entry(data=tele, rssi_dbm=None if r is None else amb8465.rssi_dbm(r), crc_ok=True,
                         crcs=False)
        if isinstance(item, cul.CulLine):
            parsed = cul.parse_telegram_line(item.text)
            if parsed is None:
                return None
            if isinstance(parsed, Skipped):
                return _rejected(parsed.reason, item.text[:80], raw)
            return Entry(data=parsed.data, link_mode="C1" if parsed.frame_b else None,
                         rssi_dbm=cul.rssi_dbm(parsed.rssi_raw), crcs=True)
        return None


# --- sniffing ---------------------------------------------------------------------------------------

def sniff(lines: list[bytes], *, binary: bool) -> str:
    """Guess the format from the first lines of a file."""
    if binary:
        head = b"".join(lines)[:1]
        return {b"\xa5": "im871a", b"\xff": "amb8465"}.get(head, "rawtty")
    texts = [t for t in (_text(x) for x in lines) if t and not t.startswith("#")]
    if not texts:
        return "hex"
    first = texts[0]
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except (ValueError, RecursionError):
            obj = {}
        if isinstance(obj, dict) and "telegram" in obj and "received_at" in obj:
            return "capture"
        return "rtl433-json"
    if _RTLWMBUS.match(first):
        return "rtlwmbus"
    if first.startswith("telegram=") or any(t.startswith("telegram=") for t in texts):
        return "simulation"
    try:
        header = next(csv.reader([first]))
    except csv.Error:
        header = []
    if "model" in header and "data" in header:
        return "rtl433-csv"
    if all(_CUL_LINE.match(t) for t in texts) and first.startswith("b"):
        return "cul"
    if all(_HEXLINE.match(t) for t in texts):
        blobs = [bytes.fromhex(re.sub(r"\s|^0x", "", t)) for t in texts if len(re.sub(r"\s", "", t)) % 2 == 0]
        if blobs and blobs[0][:1] == b"\xa5":
            return "im871a"
        if blobs and blobs[0][:1] == b"\xff":
            return "amb8465"
        if blobs and all(_fits_one_telegram(b) for b in blobs):
            return "hex"
        return "rawtty"
    raise SpecError(f"cannot tell the log format from {first[:60]!r}; give format=")


def _fits_one_telegram(blob: bytes) -> bool:
    from decoders.crc import FrameError, normalise

    try:
        normalise(blob)
    except FrameError:
        return False
    return True


def _parser(fmt: str, *, binary: bool, rssi: bool | None) -> Parser:
    if fmt in ("rawtty", "im871a", "amb8465", "cul"):
        return StreamParser(fmt, binary=binary, rssi=rssi)
    factories: dict[str, Callable[[], Parser]] = {
        "capture": CaptureParser, "rtlwmbus": RtlWmbusParser, "rtl433-json": Rtl433JsonParser,
        "rtl433-csv": Rtl433CsvParser, "simulation": SimulationParser, "hex": HexLineParser,
    }
    return factories[fmt]()


# --- line input ------------------------------------------------------------------------------------

class _Lines:
    """Lines of a file or of stdin; `get(timeout)` -> line, None (nothing yet) or b"" (end)."""

    def __init__(self, fh: IO[bytes], *, threaded: bool):
        self.fh = fh
        self._q: queue.Queue[bytes] | None = None
        if threaded:  # a pipe may block; never block recv() longer than its timeout
            self._q = queue.Queue(maxsize=10000)
            threading.Thread(target=self._pump, name="log-stdin", daemon=True).start()

    def _pump(self) -> None:
        assert self._q is not None
        try:
            for line in iter(self.fh.readline, b""):
                self._q.put(line)
        finally:
            self._q.put(b"")

    chunked = False  # binary streams: fixed-size reads, since newline bytes mean nothing there

    def get(self, timeout: float) -> bytes | None:
        if self._q is None:
            return self.fh.read(1 << 16) if self.chunked else self.fh.readline()
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None


def _is_binary(sample: bytes) -> bool:
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    text = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return text / len(sample) < 0.9


class LogSource(Source):
    kind = "log"

    def __init__(self, path: str | os.PathLike[str], format: str | None = None, *, speed: float | str = 0,
                 link_mode: str | None = None, rssi: bool | str | None = None, start: str | None = None,
                 name: str | None = None, **options: Any):
        refuse_unknown_options("log", options)
        path = str(path)
        if not path:
            raise SpecError("log: needs a file name (log:FILE)")
        super().__init__(name or f"log:{path}")
        self.path = path
        self.speed = float(speed or 0)
        if self.speed < 0:
            raise SpecError("log speed must be >= 0")
        self.default_link_mode = link_mode.upper() if link_mode else None
        self._rssi = None if rssi is None else str(rssi).lower() not in ("0", "false", "no", "off")
        self._start_time = _utc(start) if start else None
        if format is not None and format not in FORMATS:
            raise SpecError(f"unknown log format {format!r}; known: {', '.join(FORMATS)}")
        self._fh = self._open(path)
        try:
            head, binary = self._peek()
            self.format = format or sniff(head, binary=binary)
            self._lines.chunked = binary
        except BaseException:
            self._close_internal()
            raise
        self._parser = _parser(self.format, binary=binary, rssi=self._rssi)
        self._backlog: list[bytes] = head
        self._entries: list[Entry] = []
        self._eof = False
        self._t0_record: float | None = None
        self._t0_mono: float | None = None
        self._waiting: Entry | None = None
        self._base_time: datetime | None = None

    @classmethod
    def from_spec(cls, args: str, options: dict[str, Any]) -> Source:
        return cls(args, **options)

    def _open(self, path: str) -> IO[bytes]:
        if path == "-":
            return sys.stdin.buffer
        try:
            if path.endswith(".gz"):
                return gzip.open(path, "rb")  # type: ignore[return-value]
            return open(path, "rb")  # noqa: SIM115 - closed in _close_internal
        except OSError as exc:
            raise SourceUnavailable(f"cannot open log {path}: {exc}") from exc

    def _peek(self) -> tuple[list[bytes], bool]:
        if self.path == "-":
            self._lines = _Lines(self._fh, threaded=True)
            head: list[bytes] = []
            while len(head) < 1:
                line = self._lines.get(5.0)
                if not line:
                    break
                head.append(line)
            return head, _is_binary(b"".join(head))
        self._lines = _Lines(self._fh, threaded=False)
        head = []
        for _ in range(SNIFF_LINES):
            line = self._fh.readline()
            if not line:
                break
            head.append(line)
        return head, _is_binary(b"".join(head)[:4096])

    def _next_entry(self, timeout: float) -> Entry | None:
        while not self._entries:
            if self._backlog:
                line: bytes | None = self._backlog.pop(0)
            elif self._eof:
                raise SourceExhausted(self.path)
            else:
                line = self._lines.get(timeout)
                if line is None:
                    return None
            if line == b"":
                self._eof = True
                self._entries.extend(self._parser.finish())
                continue
            try:
                self._entries.extend(self._parser.feed(line))
            except (ValueError, KeyError, IndexError, TypeError, csv.Error) as exc:
                self._entries.append(_rejected("SYNTAX", f"{type(exc).__name__}: {exc}", line))
        return self._entries.pop(0)

    def _due(self, entry: Entry) -> float | None:
        """Monotonic time at which `entry` should come out under timed replay."""
        if not self.speed:
            return None
        if entry.offset_s is not None:
            t = entry.offset_s
        elif entry.received_at is not None:
            t = entry.received_at.timestamp()
        else:
            return None
        if self._t0_record is None:
            self._t0_record, self._t0_mono = t, time.monotonic()
            return None
        assert self._t0_mono is not None
        return self._t0_mono + max(t - self._t0_record, 0.0) / self.speed

    def _recv_internal(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while True:
            entry = self._waiting
            if entry is None:
                entry = self._next_entry(max(deadline - time.monotonic(), 0.0))
                if entry is None:
                    return None
                if entry.reject is not None:
                    self.reject(entry.reject[0], entry.reject[1], entry.data)
                    if entry.reject[0] == "GARBAGE":
                        self.discard(len(entry.data))
                    continue
                due = self._due(entry)
                entry.extra["_due"] = due
            due = entry.extra.get("_due")
            if due is not None:
                wait = due - time.monotonic()
                if wait > 0:
                    self._waiting = entry
                    self._closed.wait(min(wait, max(deadline - time.monotonic(), 0.0)))
                    if time.monotonic() < due:
                        return None
            self._waiting = None
            frame = self._frame(entry)
            if frame is not None:
                return frame
            if time.monotonic() >= deadline:
                return None

    def _frame(self, entry: Entry) -> Frame | None:
        if entry.frame is not None:
            return entry.frame
        received = entry.received_at
        if received is None and entry.offset_s is not None:
            if self._base_time is None:
                self._base_time = self._start_time or self.now()
            try:
                received = self._base_time + timedelta(seconds=entry.offset_s)
            except (OverflowError, ValueError):
                self.reject("SYNTAX", f"time offset {entry.offset_s!r} s is out of range", entry.data)
                return None
        return self.make_frame(entry.data, link_mode=entry.link_mode or self.default_link_mode,
                               rssi_dbm=entry.rssi_dbm, received_at=received, crc_ok=entry.crc_ok,
                               crcs=entry.crcs, snr_db=entry.snr_db)

    def _close_internal(self) -> None:
        if self._fh is not sys.stdin.buffer:
            self._fh.close()


# --- the project's own capture format: writer ---------------------------------------------------------

class CaptureWriter:
    """Append Frames as JSON lines (`Frame.to_dict`), the format `log:` reads back losslessly.

    Each line is flushed as written so a crash loses at most the line being written; the outbox, not
    this file, is the durable record.
    """

    def __init__(self, path: str | os.PathLike[str] | IO[str], *, append: bool = True):
        self._own = not hasattr(path, "write")
        if self._own:
            p = Path(path)  # type: ignore[arg-type]
            mode = "at" if append else "wt"
            self._fh: IO[str] = gzip.open(p, mode, encoding="utf-8") if p.suffix == ".gz" else \
                open(p, mode, encoding="utf-8")  # noqa: SIM115
        else:
            self._fh = path  # type: ignore[assignment]
        self.count = 0

    def write(self, frame: Frame) -> None:
        self._fh.write(json.dumps(frame.to_dict(), separators=(",", ":"), sort_keys=True) + "\n")
        self._fh.flush()
        self.count += 1

    __call__ = write

    def close(self) -> None:
        if self._own:
            self._fh.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_capture(path: str | os.PathLike[str]) -> Iterator[Frame]:
    with LogSource(str(path), "capture") as src:
        yield from src


def dumps_capture(frames: list[Frame]) -> str:
    buf = io.StringIO()
    w = CaptureWriter(buf)
    for f in frames:
        w.write(f)
    return buf.getvalue()
