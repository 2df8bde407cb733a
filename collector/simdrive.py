"""A synthetic drive: meters along a street, a van passing them, the telegrams a receiver would hear.

Used by the collector's tests (a replayed drive with known read / unread / out-of-route counts), its
benchmark (a 10-hour shift at drive-by rates) and `amr replay --simulate`. The truth (which meters were
heard at all) comes from the generated frames, independently of the pipeline that later counts them.

Physics follow domain.md §4.3: a meter at distance d along the street is in range while
|x_van - d| < R; it transmits every T seconds (random phase); each transmission is lost with
probability p; a heard one is double-decoded with probability p_dup (rtl_wmbus does that).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from decoders.frame import Frame, Position
from sync.routesheet import RouteMeter, RouteSheet

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def manufacturer_bytes(code: str) -> bytes:
    c = code.upper()
    m = (ord(c[0]) - 64) * 1024 + (ord(c[1]) - 64) * 32 + (ord(c[2]) - 64)
    return m.to_bytes(2, "little")


def telegram(mfct: str, meter_id: str, version: int, device_type: int, acc: int, volume_l: int,
             *, status: int = 0, error_flags: int | None = None) -> bytes:
    """A plain (unencrypted) SND_NR telegram with a short TPL header and a total-volume record (litres).

    error_flags adds an EN 13757-3 "error flags" record (DIF 02, VIF FD 17)."""
    body = bytearray()
    body += bytes([0x44]) + manufacturer_bytes(mfct) + bytes.fromhex(meter_id)[::-1]
    body += bytes([version & 0xFF, device_type & 0xFF])
    body += bytes([0x7A, acc & 0xFF, status & 0xFF, 0x00, 0x00])
    body += bytes([0x04, 0x13]) + (volume_l & 0xFFFFFFFF).to_bytes(4, "little")
    if error_flags is not None:
        body += bytes([0x02, 0xFD, 0x17]) + (error_flags & 0xFFFF).to_bytes(2, "little")
    return bytes([len(body)]) + bytes(body)


@dataclass(slots=True)
class SimMeter:
    meter_id: str
    mfct: str
    x_m: float                  # position along the street
    interval_s: float
    phase_s: float
    volume_l: int
    in_route: bool
    alarm: bool = False
    lat: float = 0.0
    lon: float = 0.0
    acc: int = 0


@dataclass(slots=True)
class SimDrive:
    """A drive along one long street (a real route is a polyline; counting does not care)."""

    n_route: int = 200
    n_foreign: int = 100
    n_missing: int = 0            # route meters placed beyond the end of the drive (never heard)
    speed_kmh: float = 30.0
    range_m: float = 100.0
    loss: float = 0.3
    dup_prob: float = 0.3
    spacing_m: float = 20.0
    seed: int = 1
    start: dt.datetime = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
    origin: tuple[float, float] = (50.35, 18.22)   # Kędzierzyn-Koźle
    passes: int = 1               # drive the street this many times in a row (a shift repeats streets)
    meters: list[SimMeter] = field(default_factory=list)

    def __post_init__(self) -> None:
        rnd = random.Random(self.seed)
        intervals = [8, 16, 16, 20, 20, 32, 60, 120]
        total = self.n_route + self.n_foreign
        for i in range(total):
            in_route = i < self.n_route
            x = (i if in_route else rnd.uniform(0, self.n_route)) * self.spacing_m + rnd.uniform(-5, 5)
            if in_route and i >= self.n_route - self.n_missing:
                x = 1e9  # beyond the end of the street: on the sheet, never in range
            mid = f"{(10000000 if in_route else 70000000) + i:08d}"
            lat = self.origin[0] + (x if x < 1e8 else 0) / 111_000.0
            lon = self.origin[1] + rnd.uniform(-0.0004, 0.0004)
            self.meters.append(SimMeter(mid, "APA" if in_route else rnd.choice(["TCH", "QDS", "KAM", "DME"]),
                                        x, float(rnd.choice(intervals)), rnd.uniform(0, 120),
                                        rnd.randint(10_000, 900_000), in_route, alarm=in_route and i % 37 == 5,
                                        lat=lat, lon=lon, acc=rnd.randint(0, 255)))

    @property
    def pass_s(self) -> float:
        length = self.n_route * self.spacing_m + 2 * self.range_m
        return length / (self.speed_kmh / 3.6)

    @property
    def duration_s(self) -> float:
        return self.pass_s * self.passes

    def route_sheet(self, route_id: str = "SIM-1") -> RouteSheet:
        ms = []
        for n, m in enumerate(x for x in self.meters if x.in_route):
            prev = m.volume_l / 1000.0 - 12.0
            ms.append(RouteMeter(
                m.meter_id, "APA", 0x14, 0x07, address=f"ul. Symulowana {n + 1}", account=f"K{n:05d}",
                service_point=f"SP{n:05d}", previous_reading_m3=round(prev, 3),
                previous_reading_date=dt.date(2026, 5, 25), min_consumption_m3=0.0,
                max_consumption_m3=100.0 if n % 41 != 7 else 5.0,  # a few implausibly high ones
                transmit_interval_s=m.interval_s, transmit_window="always", lat=m.lat, lon=m.lon,
                order=n + 1))
        return RouteSheet(route_id, ms, name="synthetic drive")

    def frames(self) -> Iterator[Frame]:
        """Every reception, in receive-time order."""
        for k in range(self.passes):
            yield from self._pass(k)

    def _pass(self, k: int) -> Iterator[Frame]:
        rnd = random.Random(self.seed * 7919 + 1 + k)
        v = self.speed_kmh / 3.6
        x0 = -self.range_m
        t_base = k * self.pass_s
        events: list[tuple[float, int, int]] = []
        for idx, m in enumerate(self.meters):
            if m.x_m > 1e8:
                continue
            # the van is within range of x_m during [t_in, t_out] (in this pass's own time)
            t_in = (m.x_m - self.range_m - x0) / v
            t_out = (m.x_m + self.range_m - x0) / v
            k0 = int(max(0.0, (t_base + t_in - m.phase_s)) // m.interval_s)
            t = m.phase_s + k0 * m.interval_s - t_base
            while t <= t_out:
                if t >= t_in and t >= 0 and rnd.random() >= self.loss:
                    n = int((t + t_base - m.phase_s) // m.interval_s)  # transmission number: drives ACC
                    events.append((t, idx, n))
                    if rnd.random() < self.dup_prob:
                        events.append((t + 0.05, idx, n))
                t += m.interval_s
        events.sort()
        for t, idx, n in events:
            m = self.meters[idx]
            d = abs(m.x_m - (x0 + v * t))
            rssi = round(-60.0 - 30.0 * d / self.range_m + rnd.uniform(-3, 3), 1)
            tg = telegram(m.mfct, m.meter_id, 0x14 if m.in_route else 0x01, 0x07 if m.in_route else 0x08,
                          m.acc + n, m.volume_l + n, status=0x03 if m.alarm else 0x00,
                          error_flags=0x0001 if m.alarm else None)
            van = x0 + v * t
            at = self.start + dt.timedelta(seconds=t_base + t)
            pos = Position(self.origin[0] + van / 111_000.0, self.origin[1], self.speed_kmh, at)
            yield Frame(tg, at, "sim", link_mode="T1", frame_format="A", rssi_dbm=rssi, position=pos)

    def truth(self) -> dict[str, set[str]]:
        """Which meter ids the frames contain, by kind (computed from the frames themselves)."""
        heard = {f"{f.telegram[7]:02X}{f.telegram[6]:02X}{f.telegram[5]:02X}{f.telegram[4]:02X}"
                 for f in self.frames()}
        route = {m.meter_id for m in self.meters if m.in_route}
        return {"read": heard & route, "unread": route - heard, "out_of_route": heard - route}

    def write_capture(self, path: str | Path) -> int:
        """The frames as the collector's raw capture (JSON lines of Frame.to_dict())."""
        n = 0
        with open(path, "w", encoding="utf-8") as f:
            for fr in self.frames():
                f.write(json.dumps(fr.to_dict(), separators=(",", ":")) + "\n")
                n += 1
        return n
