"""Where the van is: position and speed from an NMEA receiver on a serial port, or from gpsd.

Every frame is tagged with the position at its receive time: fixes are kept for a few minutes with the
host time they arrived, and a frame gets the fix nearest its `received_at` (within `max_age_s`). No GPS,
no fix, or a stale fix: the frame simply carries no position; collection never waits for a fix.

Specs: `none`, `nmea:/dev/ttyACM0[:baud]` (anything pyserial's serial_for_url opens, e.g.
`nmea:socket://host:port`), `gpsd` or `gpsd:host[:port]` (gpsd's JSON protocol, default 127.0.0.1:2947).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from decoders.frame import Position

log = logging.getLogger(__name__)

KNOTS_TO_KMH = 1.852
DEFAULT_MAX_AGE_S = 5.0


class GpsError(Exception):
    """A GPS spec that cannot be parsed or a receiver that cannot be opened."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Gps:
    """No receiver: every lookup yields None. Base of the real ones."""

    name = "none"

    def __init__(self, *, max_age_s: float = DEFAULT_MAX_AGE_S, history: int = 3600,
                 clock: Callable[[], dt.datetime] = _now):
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=history)     # host time (epoch s) the fix arrived
        self._fixes: deque[Position] = deque(maxlen=history)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.counters = {"sentences": 0, "fixes": 0, "bad": 0, "reconnects": 0}

    # -- fixes in --

    def add_fix(self, pos: Position, at: dt.datetime | None = None) -> None:
        t = (at or self._clock()).timestamp()
        with self._lock:
            if self._times and t < self._times[-1]:
                t = self._times[-1]  # keep the deque sorted even if the host clock steps back
            self._times.append(t)
            self._fixes.append(pos)
        self.counters["fixes"] += 1

    # -- lookups --

    def current(self) -> Position | None:
        return self.position_at(self._clock())

    def position_at(self, when: dt.datetime) -> Position | None:
        t = when.timestamp()
        with self._lock:
            if not self._times:
                return None
            times = self._times
            i = bisect.bisect_left(times, t)
            best = None
            for j in (i - 1, i):
                if 0 <= j < len(times) and (best is None or abs(times[j] - t) < abs(times[best] - t)):
                    best = j
            assert best is not None
            if abs(times[best] - t) > self.max_age_s:
                return None
            return self._fixes[best]

    # -- life cycle --

    def start(self) -> Gps:
        if type(self)._run is not Gps._run and self._thread is None:
            self._thread = threading.Thread(target=self._run_guarded, name=f"gps-{self.name}", daemon=True)
            self._thread.start()
        return self

    def _run_guarded(self) -> None:
        while not self._stop.is_set():
            try:
                self._run()
            except Exception as e:  # a GPS problem must never take collection down
                log.warning("GPS %s: %s; retrying", self.name, e)
                self.counters["reconnects"] += 1
            self._stop.wait(1.0)

    def _run(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def status(self) -> dict:
        pos = self.current()
        return {"source": self.name, "fix": pos is not None,
                "lat": pos.lat if pos else None, "lon": pos.lon if pos else None,
                "speed_kmh": pos.speed_kmh if pos else None, **self.counters}


class NmeaGps(Gps):
    """NMEA 0183 over a serial port: RMC gives position, speed and date; GGA position and fix quality."""

    def __init__(self, port: str, baudrate: int = 4800, **kw):
        super().__init__(**kw)
        self.port = port
        self.baudrate = baudrate
        self.name = f"nmea:{port}"
        self._date: dt.date | None = None

    def feed_line(self, line: str, at: dt.datetime | None = None) -> Position | None:
        """Parse one sentence; a valid fix is recorded and returned. Bad sentences are counted."""
        import pynmea2

        line = line.strip()
        if not line.startswith("$"):
            return None
        self.counters["sentences"] += 1
        if not _checksum_ok(line):
            self.counters["bad"] += 1
            return None
        try:
            msg = pynmea2.parse(line, check=True)
        except (pynmea2.ParseError, ValueError, AttributeError):
            self.counters["bad"] += 1
            return None
        kind = getattr(msg, "sentence_type", "")
        try:
            if kind == "RMC":
                if getattr(msg, "status", "V") != "A":
                    return None
                if msg.datestamp:
                    self._date = msg.datestamp
                spd = msg.spd_over_grnd
                fix_time = (dt.datetime.combine(msg.datestamp, msg.timestamp).replace(tzinfo=dt.UTC)
                            if msg.datestamp and msg.timestamp else None)
                pos = Position(float(msg.latitude), float(msg.longitude),
                               float(spd) * KNOTS_TO_KMH if spd not in (None, "") else None, fix_time)
            elif kind == "GGA":
                if not msg.gps_qual or int(msg.gps_qual) == 0:
                    return None
                fix_time = (dt.datetime.combine(self._date, msg.timestamp).replace(tzinfo=dt.UTC)
                            if self._date and msg.timestamp else None)
                prev = self.current()
                pos = Position(float(msg.latitude), float(msg.longitude),
                               prev.speed_kmh if prev else None, fix_time)
            else:
                return None
        except (TypeError, ValueError, AttributeError):
            self.counters["bad"] += 1
            return None
        if not _plausible(pos):
            self.counters["bad"] += 1
            return None
        self.add_fix(pos, at)
        return pos

    def _run(self) -> None:
        import serial

        with serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.5) as ser:
            buf = b""
            while not self._stop.is_set():
                chunk = ser.read(256)
                if not chunk:
                    continue
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    self.feed_line(raw.decode("ascii", "replace"))
                if len(buf) > 4096:  # no newline in 4 KB: not NMEA, resynchronise
                    self.counters["bad"] += 1
                    buf = b""


def _plausible(pos: Position) -> bool:
    """A fix on the globe with a forward speed. Without a checksum a digit inserted by line noise turns
    5021.12345 into 50021.12345 (latitude 500) and pynmea2 takes it; gpsd may send NaN for unknown fields."""
    if not (math.isfinite(pos.lat) and math.isfinite(pos.lon) and -90.0 <= pos.lat <= 90.0
            and -180.0 <= pos.lon <= 180.0):
        return False
    return pos.speed_kmh is None or (math.isfinite(pos.speed_kmh) and pos.speed_kmh >= 0.0)


def _checksum_ok(line: str) -> bool:
    """XOR of the characters between '$' and '*'. pynmea2 lets some mismatches through, a line noise
    hit on a serial GPS would otherwise move the van by kilometres."""
    body, star, given = line[1:].partition("*")
    if not star:
        return True  # some receivers omit it; the fields are still range-checked below
    calc = 0
    for ch in body:
        calc ^= ord(ch)
    try:
        return int(given[:2], 16) == calc
    except ValueError:
        return False


class GpsdGps(Gps):
    """gpsd's JSON protocol: ?WATCH, then TPV reports (mode >= 2 is a fix; speed in m/s)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2947, **kw):
        super().__init__(**kw)
        self.host, self.port = host, port
        self.name = f"gpsd:{host}:{port}"

    def feed_report(self, report: dict, at: dt.datetime | None = None) -> Position | None:
        self.counters["sentences"] += 1
        if report.get("class") != "TPV":
            return None
        try:
            if int(report.get("mode", 0)) < 2 or "lat" not in report or "lon" not in report:
                return None
            speed = report.get("speed")
            t = report.get("time")
            if t is not None and not isinstance(t, str):
                raise TypeError(f"TPV time {t!r}")
            fix_time = dt.datetime.fromisoformat(t.replace("Z", "+00:00")) if t else None
            pos = Position(float(report["lat"]), float(report["lon"]),
                           float(speed) * 3.6 if speed is not None else None, fix_time)
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf) for a "mode" of 1e999
            self.counters["bad"] += 1
            return None
        if not _plausible(pos):
            self.counters["bad"] += 1
            return None
        self.add_fix(pos, at)
        return pos

    def _run(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=5) as s:
            s.settimeout(0.5)
            s.sendall(b'?WATCH={"enable":true,"json":true};\n')
            buf = b""
            while not self._stop.is_set():
                try:
                    chunk = s.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    raise ConnectionError("gpsd closed the connection")
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    try:
                        rep = json.loads(raw)
                    except ValueError:
                        self.counters["bad"] += 1
                        continue
                    if isinstance(rep, dict):
                        self.feed_report(rep)


def open_gps(spec: str | None, **kw) -> Gps:
    spec = (spec or "none").strip()
    name, _, rest = spec.partition(":")
    name = name.lower()
    if name in ("", "none", "off"):
        return Gps(**kw)
    if name == "nmea":
        if not rest:
            raise GpsError("nmea needs a port: nmea:/dev/ttyACM0[:baud]")
        port, baud = rest, 4800
        head, _, tail = rest.rpartition(":")
        if head and tail.isdigit() and "://" not in rest:  # a URL's :port is not a baud rate
            port, baud = head, int(tail)
        return NmeaGps(port, baud, **kw)
    if name == "gpsd":
        host, _, port = rest.partition(":")
        try:
            return GpsdGps(host or "127.0.0.1", int(port) if port else 2947, **kw)
        except ValueError:
            raise GpsError(f"bad gpsd port in {spec!r}") from None
    raise GpsError(f"unknown GPS spec {spec!r}: use none, nmea:PORT[:BAUD] or gpsd[:HOST[:PORT]]")


def wait_for_fix(gps: Gps, timeout_s: float) -> Position | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pos = gps.current()
        if pos is not None:
            return pos
        time.sleep(0.05)
    return None
