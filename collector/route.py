"""Route progress: what the crew has read, what is still missing, and what looks wrong.

Fed by the pipeline one heard transmission at a time (in the pipeline thread, so counts are exact and
never lag the outbox); read by the crew view and the console under a lock.

Per route meter: unread -> heard (something arrived, but no usable reading: no key, unknown format) ->
read (a decoded reading). On top: alarmed (normalised alarms, or the TPL status byte saying alarm / power
low / permanent error), implausible (total volume against the previous reading and the sheet's limits),
at risk (unread, and the radio profile makes a miss likely: long interval for the speed, or outside /
near the end of its transmit window). Meters not on the sheet are kept as out-of-route reads: they
answer "why is meter X missing?" (a swapped meter) and survey what else is on air.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from collector.dedup import link_header
from decoders.frame import Frame
from decoders.model import Decoded, Rejection
from sync.routesheet import RouteMeter, RouteSheet, TransmitWindow

UNREAD, HEARD, READ = "unread", "heard", "read"

# TPL status byte (domain.md §2.5): application state 10 (error) / 11 (alarm), power low, permanent error
_STS_ALARMS = ((0x03, 0x03, "status_alarm"), (0x03, 0x02, "status_application_error"),
               (0x04, 0x04, "status_power_low"), (0x08, 0x08, "status_permanent_error"))

DEFAULT_RANGE_M = 100.0
DEFAULT_SPEED_KMH = 30.0


def total_volume_m3(d: Decoded) -> float | None:
    """The meter's current total volume: storage 0, tariff 0, instantaneous, in m3."""
    for r in d.readings:
        if (r.quantity == "volume" and r.unit == "m3" and r.storage == 0 and r.tariff == 0
                and r.subunit == 0 and r.function == "instantaneous" and isinstance(r.value, int | float)):
            return float(r.value)
    v = d.fields.get("total_m3") if d.fields else None
    return float(v) if isinstance(v, int | float) else None


def alarm_names(d: Decoded) -> list[str]:
    names = sorted(str(a) for a in d.alarms)
    # the status byte only speaks when no driver mapped it already (drivers know vendor meanings)
    if not names and d.status is not None:
        names += [name for mask, val, name in _STS_ALARMS if d.status & mask == val]
    return names


@dataclass(slots=True)
class MeterProgress:
    meter: RouteMeter
    status: str = UNREAD
    times_heard: int = 0           # distinct transmissions
    receptions: int = 0            # including duplicates
    first_heard: dt.datetime | None = None
    last_heard: dt.datetime | None = None
    best_rssi: float | None = None
    volume_m3: float | None = None
    volume_at: dt.datetime | None = None
    consumption_m3: float | None = None
    alarms: list[str] = field(default_factory=list)
    implausible: str | None = None
    last_reject: str | None = None
    lat: float | None = None       # where the van was when it heard the meter loudest
    lon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        m = self.meter
        return {
            "meter_id": m.meter_id, "manufacturer": m.manufacturer, "address": m.address, "account": m.account,
            "service_point": m.service_point, "order": m.order, "status": self.status,
            "times_heard": self.times_heard, "receptions": self.receptions,
            "first_heard": self.first_heard.isoformat() if self.first_heard else None,
            "last_heard": self.last_heard.isoformat() if self.last_heard else None,
            "best_rssi": self.best_rssi, "volume_m3": self.volume_m3, "previous_m3": m.previous_reading_m3,
            "consumption_m3": None if self.consumption_m3 is None else round(self.consumption_m3, 3),
            "alarms": self.alarms, "implausible": self.implausible, "last_reject": self.last_reject,
            "lat": self.lat, "lon": self.lon, "sheet_lat": m.lat, "sheet_lon": m.lon,
            "transmit_interval_s": m.transmit_interval_s, "transmit_window": m.transmit_window,
            "notes": m.notes,
        }


@dataclass(slots=True)
class ForeignMeter:
    manufacturer: str
    meter_id: str
    version: int
    device_type: int
    first_heard: dt.datetime
    last_heard: dt.datetime
    times_heard: int = 0
    best_rssi: float | None = None
    decoded: bool = False
    volume_m3: float | None = None
    lat: float | None = None
    lon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"manufacturer": self.manufacturer, "meter_id": self.meter_id, "version": self.version,
                "device_type": self.device_type, "first_heard": self.first_heard.isoformat(),
                "last_heard": self.last_heard.isoformat(), "times_heard": self.times_heard,
                "best_rssi": self.best_rssi, "decoded": self.decoded, "volume_m3": self.volume_m3,
                "lat": self.lat, "lon": self.lon}


class RouteProgress:
    """Live read/unread/alarm/implausible counts for one route sheet (or none: catch-all survey mode)."""

    def __init__(self, sheet: RouteSheet | None = None, *, max_foreign: int = 100_000,
                 range_m: float = DEFAULT_RANGE_M, default_speed_kmh: float = DEFAULT_SPEED_KMH):
        self.sheet = sheet or RouteSheet("survey", [])
        self.max_foreign = max_foreign
        self.range_m = range_m
        self.default_speed_kmh = default_speed_kmh
        self._lock = threading.Lock()
        self._meters = [MeterProgress(m) for m in self.sheet.meters]
        # id -> progress entries with that id (the same id may belong to several manufacturers)
        self._by_id: dict[str, list[MeterProgress]] = {}
        for p in self._meters:
            self._by_id.setdefault(p.meter.meter_id, []).append(p)
        self._foreign: OrderedDict[tuple, ForeignMeter] = OrderedDict()
        self.foreign_evicted = 0
        self.unidentified = 0
        self.last_speed_kmh: float | None = None

    # -- feeding --

    def match(self, manufacturer: str | None, meter_id: str, version: int | None,
              device_type: int | None) -> MeterProgress | None:
        for p in self._by_id.get(meter_id, ()):
            if p.meter.matches(manufacturer, meter_id, version, device_type):
                return p
        return None

    def observe(self, frame: Frame, result: Decoded | Rejection | None, *, first: bool = True,
                rssi: float | None = None) -> MeterProgress | ForeignMeter | None:
        """One reception. `first` False: a duplicate of a transmission already counted."""
        ident = None
        if result is not None and result.ok:
            m = result.meter  # type: ignore[union-attr]
            ident = (m.manufacturer, m.id, m.version, m.device_type)
        elif result is not None and result.identity is not None:
            i = result.identity
            ident = (i.manufacturer, i.id, i.version, i.device_type)
        else:
            ident = link_header(frame.telegram)
        rssi = frame.rssi_dbm if rssi is None else rssi
        pos = frame.position
        at = frame.received_at
        with self._lock:
            if pos is not None and pos.speed_kmh is not None:
                self.last_speed_kmh = pos.speed_kmh
            if ident is None:
                self.unidentified += 1
                return None
            p = self.match(*ident)
            if p is None and result is not None and result.ok and ident != _link_ident(result):
                # a radio converter: the link-layer sender may be the one on the sheet
                p = self.match(*_link_ident(result))
            if p is None:
                return self._observe_foreign(ident, frame, result, first, rssi)
            p.receptions += 1
            if first:
                p.times_heard += 1
            if p.first_heard is None or at < p.first_heard:
                p.first_heard = at
            if p.last_heard is None or at > p.last_heard:
                p.last_heard = at
            if rssi is not None and (p.best_rssi is None or rssi > p.best_rssi):
                p.best_rssi = rssi
                if pos is not None:
                    p.lat, p.lon = pos.lat, pos.lon
            elif p.lat is None and pos is not None:
                p.lat, p.lon = pos.lat, pos.lon
            if result is not None and result.ok:
                self._apply_reading(p, result, at)  # type: ignore[arg-type]
            else:
                if p.status == UNREAD:
                    p.status = HEARD
                if result is not None:
                    p.last_reject = str(result.reason)  # type: ignore[union-attr]
            return p

    def _apply_reading(self, p: MeterProgress, d: Decoded, at: dt.datetime) -> None:
        vol = total_volume_m3(d)
        p.alarms = alarm_names(d)
        if vol is None:
            # decoded, but nothing billable in it (e.g. a status-only telegram): heard, not read
            if p.status == UNREAD:
                p.status = HEARD
            return
        if p.volume_at is not None and at < p.volume_at:
            return  # an older transmission arriving late must not overwrite a newer reading
        p.status = READ
        p.volume_m3, p.volume_at = vol, at
        m = p.meter
        p.implausible = None
        p.consumption_m3 = None
        if m.previous_reading_m3 is not None:
            c = vol - m.previous_reading_m3
            p.consumption_m3 = c
            if c < 0:
                p.implausible = "below_previous"
            elif m.min_consumption_m3 is not None and c < m.min_consumption_m3:
                p.implausible = "below_min"
            elif m.max_consumption_m3 is not None and c > m.max_consumption_m3:
                p.implausible = "above_max"

    def _observe_foreign(self, ident: tuple, frame: Frame, result: Decoded | Rejection | None, first: bool,
                         rssi: float | None) -> ForeignMeter:
        f = self._foreign.get(ident)
        at = frame.received_at
        if f is None:
            f = ForeignMeter(*ident, first_heard=at, last_heard=at)
            self._foreign[ident] = f
            if len(self._foreign) > self.max_foreign:
                self._foreign.popitem(last=False)
                self.foreign_evicted += 1
        else:
            self._foreign.move_to_end(ident)
        if first:
            f.times_heard += 1
        f.last_heard = max(f.last_heard, at)
        if rssi is not None and (f.best_rssi is None or rssi > f.best_rssi):
            f.best_rssi = rssi
            if frame.position is not None:
                f.lat, f.lon = frame.position.lat, frame.position.lon
        if result is not None and result.ok:
            f.decoded = True
            v = total_volume_m3(result)  # type: ignore[arg-type]
            if v is not None:
                f.volume_m3 = v
        return f

    # -- reading --

    def counts(self) -> dict[str, int]:
        with self._lock:
            c = {"total": len(self._meters), READ: 0, HEARD: 0, UNREAD: 0, "alarmed": 0, "implausible": 0}
            for p in self._meters:
                c[p.status] += 1
                c["alarmed"] += bool(p.alarms)
                c["implausible"] += p.implausible is not None
            c["out_of_route"] = len(self._foreign)
            c["out_of_route_decoded"] = sum(f.decoded for f in self._foreign.values())
            c["unidentified"] = self.unidentified
        return c

    def meters(self) -> list[MeterProgress]:
        with self._lock:
            return list(self._meters)

    def meter_dicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.to_dict() for p in self._meters]

    def out_of_route(self) -> list[ForeignMeter]:
        with self._lock:
            return list(self._foreign.values())

    def alarms(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"meter_id": p.meter.meter_id, "address": p.meter.address, "alarms": p.alarms,
                     "implausible": p.implausible, "last_heard": p.last_heard.isoformat() if p.last_heard else None}
                    for p in self._meters if p.alarms or p.implausible]

    def at_risk(self, now: dt.datetime | None = None, speed_kmh: float | None = None) -> list[dict[str, Any]]:
        """Unread meters a pass at this speed is likely to miss, with the reasons."""
        now = now or dt.datetime.now(dt.UTC)
        v = speed_kmh or self.last_speed_kmh or self.default_speed_kmh
        v = max(v, 1.0)
        t_in_range = 2 * self.range_m / (v / 3.6)
        tz = self.sheet.tz
        out = []
        window_reason: dict[str, str] = {}
        with self._lock:
            todo = [p for p in self._meters if p.status != READ]
        for p in todo:
            m = p.meter
            reasons = []
            expected = None
            if m.transmit_interval_s:
                expected = t_in_range / m.transmit_interval_s
                if expected < 1.0:
                    reasons.append(f"interval {m.transmit_interval_s:g}s: {expected:.1f} telegrams expected "
                                   f"per pass at {v:.0f} km/h")
            if m.transmit_window and m.transmit_window != "always":
                # a route has few distinct windows but may have thousands of meters: evaluate each once
                why = window_reason.get(m.transmit_window)
                if why is None:
                    why = window_reason[m.transmit_window] = _window_reason(m.window, now, tz)
                if why:
                    reasons.append(why)
            if reasons:
                out.append({"meter_id": m.meter_id, "address": m.address, "status": p.status,
                            "expected_per_pass": None if expected is None else round(expected, 2),
                            "reasons": reasons})
        return out

    def snapshot(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {"route_id": self.sheet.route_id, "name": self.sheet.name, "counts": self.counts(),
                "at_risk": self.at_risk(now), "speed_kmh": self.last_speed_kmh}


def _window_reason(w: TransmitWindow, now: dt.datetime, tz: dt.tzinfo) -> str:
    if w.always:
        return ""
    if not w.contains(now, tz):
        nxt = w.next_change(now, tz)
        return "outside transmit window" + (f" (opens {nxt.astimezone(tz):%a %H:%M})" if nxt else "")
    nxt = w.next_change(now, tz, horizon=dt.timedelta(hours=2))
    return f"transmit window closes {nxt.astimezone(tz):%H:%M}" if nxt is not None else ""


def _link_ident(d: Decoded) -> tuple:
    i = d.identity
    return (i.manufacturer, i.id, i.version, i.device_type)
