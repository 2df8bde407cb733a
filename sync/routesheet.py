"""Route sheets: the work list billing exports for a van, and the van imports (CSV or JSON).

One row per meter to read: who it is (meter id, manufacturer, version, device type), where it is (address,
service point, optional lat/lon), whose it is (account), what we expect (previous reading and its date,
plausibility limits on the consumption since then), and when it can be heard (transmit interval and
window). Crews also get a route order and free-text notes ("meter in the cellar, dog").

CSV: one header line, comma-separated, UTF-8 (a BOM from spreadsheet exports is accepted). Route-level
fields (route_id, name, timezone, due_date) may repeat on every row as columns; otherwise the file name
gives the route id. JSON: `{"format": "amr-route/1", "route_id": ..., "meters": [{...}, ...]}`.

Bad input raises `RouteSheetError` naming the file, line and field: a sheet that half-loads would have
the crew drive past meters that were silently dropped.

Transmit windows are written the way module manuals state them, in the route's local time zone:
`always`, `Mon-Fri 08:00-18:00`, `Mon,Wed,Fri`, `days 1-5 06:00-20:00` (days of the month), clauses
joined with `;` meaning "any of".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMAT = "amr-route/1"
DEFAULT_TZ = "Europe/Warsaw"


class RouteSheetError(ValueError):
    def __init__(self, where: str, detail: str):
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


# --- transmit windows -----------------------------------------------------------------------------

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_MDAY_RANGE = re.compile(r"^days?\s+(\d{1,2})(?:-(\d{1,2}))?$", re.I)


@dataclass(frozen=True, slots=True)
class WindowClause:
    weekdays: frozenset[int] = frozenset(range(7))      # 0 = Monday
    monthdays: frozenset[int] = frozenset(range(1, 32))
    start_min: int = 0                                   # minutes after local midnight
    end_min: int = 24 * 60

    def contains(self, local: dt.datetime) -> bool:
        m = local.hour * 60 + local.minute
        return (local.weekday() in self.weekdays and local.day in self.monthdays
                and self.start_min <= m < self.end_min)


@dataclass(frozen=True, slots=True)
class TransmitWindow:
    """When a module transmits. An empty clause list means always."""

    text: str = "always"
    clauses: tuple[WindowClause, ...] = ()

    @property
    def always(self) -> bool:
        return not self.clauses

    @classmethod
    def parse(cls, text: str | None) -> TransmitWindow:
        text = (text or "").strip()
        if not text or text.lower() in ("always", "-", "24/7"):
            return cls("always", ())
        clauses = []
        for part in text.split(";"):
            part = part.strip()
            if part:
                clauses.append(_parse_clause(part))
        return cls(text, tuple(clauses))

    def contains(self, when: dt.datetime, tz: dt.tzinfo) -> bool:
        if self.always:
            return True
        local = when.astimezone(tz)
        return any(c.contains(local) for c in self.clauses)

    def next_change(self, when: dt.datetime, tz: dt.tzinfo, horizon: dt.timedelta = dt.timedelta(days=40),
                    step: dt.timedelta = dt.timedelta(minutes=5)) -> dt.datetime | None:
        """When the window next opens or closes (to `step` resolution); None within the horizon or always."""
        if self.always:
            return None
        state = self.contains(when, tz)
        t = when
        end = when + horizon
        while t < end:
            t += step
            if self.contains(t, tz) != state:
                return t
        return None

    def __str__(self) -> str:
        return self.text


def _parse_days(tok: str) -> frozenset[int]:
    out: set[int] = set()
    for piece in tok.lower().split(","):
        if "-" in piece:
            a, b = piece.split("-", 1)
            ia, ib = _DAYS.index(a[:3]), _DAYS.index(b[:3])
            out.update(range(ia, ib + 1) if ia <= ib else [*range(ia, 7), *range(0, ib + 1)])
        else:
            out.add(_DAYS.index(piece[:3]))
    return frozenset(out)


def _parse_clause(text: str) -> WindowClause:
    kw: dict[str, Any] = {}
    rest = text
    m = re.search(r"days?\s+\d{1,2}(?:-\d{1,2})?", rest, re.I)
    if m:
        md = _MDAY_RANGE.match(m.group(0))
        assert md is not None
        a = int(md.group(1))
        b = int(md.group(2) or a)
        if not 1 <= a <= b <= 31:
            raise ValueError(f"bad day-of-month range in {text!r}")
        kw["monthdays"] = frozenset(range(a, b + 1))
        rest = (rest[:m.start()] + rest[m.end():]).strip()
    for tok in rest.split():
        tr = _TIME_RANGE.match(tok)
        if tr:
            h1, m1, h2, m2 = map(int, tr.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if not (0 <= start < end <= 24 * 60):
                raise ValueError(f"bad time range {tok!r}")
            kw["start_min"], kw["end_min"] = start, end
            continue
        try:
            kw["weekdays"] = _parse_days(tok)
        except ValueError:
            raise ValueError(f"cannot read {tok!r} in transmit window {text!r}") from None
    return WindowClause(**kw)


# --- the sheet --------------------------------------------------------------------------------------

@dataclass(slots=True)
class RouteMeter:
    meter_id: str                              # eight digits as printed on the meter / in the telegram
    manufacturer: str | None = None            # three letters; None matches any
    version: int | None = None
    device_type: int | None = None
    address: str = ""
    account: str = ""
    service_point: str = ""
    previous_reading_m3: float | None = None
    previous_reading_date: dt.date | None = None
    min_consumption_m3: float | None = None    # plausibility limits on (new - previous)
    max_consumption_m3: float | None = None
    transmit_interval_s: float | None = None
    transmit_window: str = "always"
    lat: float | None = None
    lon: float | None = None
    order: int | None = None                   # position on the route, for the crew's list
    model: str = ""                            # e.g. "Apator AT-WMBUS-16-2"
    notes: str = ""

    @property
    def window(self) -> TransmitWindow:
        return TransmitWindow.parse(self.transmit_window)

    def matches(self, manufacturer: str | None, meter_id: str, version: int | None,
                device_type: int | None) -> bool:
        if meter_id != self.meter_id:
            return False
        if self.manufacturer and manufacturer and self.manufacturer.upper() != manufacturer.upper():
            return False
        if self.version is not None and version is not None and self.version != version:
            return False
        return not (self.device_type is not None and device_type is not None
                    and self.device_type != device_type)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.previous_reading_date is not None:
            d["previous_reading_date"] = self.previous_reading_date.isoformat()
        return d


COLUMNS = [f.name for f in fields(RouteMeter)]
ROUTE_COLUMNS = ["route_id", "name", "timezone", "due_date"]

_ALIASES = {  # headers billing systems actually use, mapped onto ours
    "id": "meter_id", "meter": "meter_id", "meter_no": "meter_id", "serial": "meter_id",
    "mfct": "manufacturer", "manufacturer_code": "manufacturer", "ver": "version", "type": "device_type",
    "prev_reading": "previous_reading_m3", "previous_reading": "previous_reading_m3",
    "prev_date": "previous_reading_date", "min_m3": "min_consumption_m3", "max_m3": "max_consumption_m3",
    "interval_s": "transmit_interval_s", "window": "transmit_window", "latitude": "lat",
    "longitude": "lon", "lng": "lon", "seq": "order",
}


def _num(kind: type, v: Any, where: str, name: str) -> Any:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        if kind is int:
            if isinstance(v, str):
                s = v.strip()
                return int(s, 16) if s.lower().startswith("0x") else int(s)
            if isinstance(v, float) and not v.is_integer():
                raise ValueError
            return int(v)
        if isinstance(v, str):
            v = v.strip().replace(",", ".")  # Polish spreadsheets write 123,45
        f = float(v)
        if f != f:
            raise ValueError
        return f
    except (TypeError, ValueError):
        raise RouteSheetError(where, f"{name}={v!r} is not a number") from None


def _meter_from(d: dict[str, Any], where: str) -> RouteMeter:
    d = {(_ALIASES.get(k.strip().lower(), k.strip().lower()) if isinstance(k, str) else k): v
         for k, v in d.items()}
    mid = d.get("meter_id")
    if mid is None or not str(mid).strip():
        raise RouteSheetError(where, "meter_id is missing")
    mid = str(mid).strip()
    if isinstance(d.get("meter_id"), int) or mid.isdigit():
        mid = mid.zfill(8)
    if not re.fullmatch(r"[0-9A-Fa-f]{8}", mid):
        raise RouteSheetError(where, f"meter_id {mid!r} is not eight digits")
    kw: dict[str, Any] = {"meter_id": mid.upper()}
    mf = d.get("manufacturer")
    if mf is not None and str(mf).strip():
        mf = str(mf).strip().upper()
        if not re.fullmatch(r"[A-Z@]{3}", mf):
            raise RouteSheetError(where, f"manufacturer {mf!r} is not a three-letter code")
        kw["manufacturer"] = mf
    for name in ("version", "device_type", "order"):
        kw[name] = _num(int, d.get(name), where, name)
    for name in ("previous_reading_m3", "min_consumption_m3", "max_consumption_m3", "transmit_interval_s",
                 "lat", "lon"):
        kw[name] = _num(float, d.get(name), where, name)
    if kw["lat"] is not None and not -90 <= kw["lat"] <= 90:
        raise RouteSheetError(where, f"lat {kw['lat']} out of range")
    if kw["lon"] is not None and not -180 <= kw["lon"] <= 180:
        raise RouteSheetError(where, f"lon {kw['lon']} out of range")
    if kw["transmit_interval_s"] is not None and kw["transmit_interval_s"] <= 0:
        raise RouteSheetError(where, "transmit_interval_s must be positive")
    mn, mx = kw["min_consumption_m3"], kw["max_consumption_m3"]
    if mn is not None and mx is not None and mn > mx:
        raise RouteSheetError(where, f"min_consumption_m3 {mn} > max_consumption_m3 {mx}")
    pd = d.get("previous_reading_date")
    if pd is not None and str(pd).strip():
        try:
            kw["previous_reading_date"] = dt.date.fromisoformat(str(pd).strip()[:10])
        except ValueError:
            raise RouteSheetError(where, f"previous_reading_date {pd!r} is not YYYY-MM-DD") from None
    win = d.get("transmit_window")
    kw["transmit_window"] = str(win).strip() if win is not None and str(win).strip() else "always"
    try:
        TransmitWindow.parse(kw["transmit_window"])
    except ValueError as e:
        raise RouteSheetError(where, str(e)) from None
    for name in ("address", "account", "service_point", "model", "notes"):
        v = d.get(name)
        kw[name] = "" if v is None else str(v).strip()
    return RouteMeter(**kw)


@dataclass(slots=True)
class RouteSheet:
    route_id: str
    meters: list[RouteMeter] = field(default_factory=list)
    name: str = ""
    timezone: str = DEFAULT_TZ
    due_date: dt.date | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise RouteSheetError(self.route_id, f"unknown timezone {self.timezone!r}") from None
        seen: dict[tuple[str | None, str], int] = {}
        for i, m in enumerate(self.meters):
            k = (m.manufacturer, m.meter_id)
            if k in seen:
                raise RouteSheetError(self.route_id, f"meter {m.manufacturer or '*'} {m.meter_id} is listed "
                                                     f"twice (entries {seen[k] + 1} and {i + 1})")
            seen[k] = i

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __len__(self) -> int:
        return len(self.meters)

    def __iter__(self) -> Iterator[RouteMeter]:
        return iter(self.meters)

    # -- load --

    @classmethod
    def load(cls, path: str | os.PathLike[str], fmt: str | None = None) -> RouteSheet:
        p = Path(path)
        try:
            # newline="": a quoted CR inside an address must reach the csv module untranslated
            with open(p, encoding="utf-8-sig", newline="") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise RouteSheetError(str(p), f"cannot read: {e}") from None
        fmt = fmt or ("json" if p.suffix.lower() == ".json" or text.lstrip().startswith("{") else "csv")
        if fmt == "json":
            return cls.from_json(text, default_id=p.stem, where=str(p))
        if fmt == "csv":
            return cls.from_csv(text, default_id=p.stem, where=str(p))
        raise RouteSheetError(str(p), f"unknown route sheet format {fmt!r}")

    @classmethod
    def from_json(cls, text: str, *, default_id: str = "route", where: str = "<json>") -> RouteSheet:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise RouteSheetError(where, f"not JSON: {e}") from None
        if isinstance(doc, list):
            doc = {"meters": doc}
        if not isinstance(doc, dict) or not isinstance(doc.get("meters"), list):
            raise RouteSheetError(where, "expected an object with a 'meters' list")
        fmt = doc.get("format", FORMAT)
        if not str(fmt).startswith("amr-route/"):
            raise RouteSheetError(where, f"unknown format {fmt!r}")
        meters = []
        for i, m in enumerate(doc["meters"]):
            if not isinstance(m, dict):
                raise RouteSheetError(f"{where}: meters[{i}]", "not an object")
            meters.append(_meter_from(m, f"{where}: meters[{i}]"))
        return cls._make(doc, meters, default_id, where)

    @classmethod
    def from_csv(cls, text: str, *, default_id: str = "route", where: str = "<csv>") -> RouteSheet:
        # the delimiter is decided by the header line alone: addresses may hold any character
        header = text.splitlines()[0] if text else ""
        delim = max(",;\t", key=header.count) if any(c in header for c in ",;\t") else ","
        dialect = csv.excel
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect, delimiter=delim)
        if not reader.fieldnames:
            raise RouteSheetError(where, "empty file (no header line)")
        meters = []
        route: dict[str, Any] = {}
        for row in reader:
            line = f"{where}:{reader.line_num}"
            if None in row:
                raise RouteSheetError(line, "more fields than the header has")
            if not any((v or "").strip() for v in row.values()):
                continue
            for k in ROUTE_COLUMNS:
                v = (row.get(k) or "").strip()
                if v and route.setdefault(k, v) != v:
                    raise RouteSheetError(line, f"{k} changes within one sheet ({route[k]!r} -> {v!r})")
            meters.append(_meter_from({k: v for k, v in row.items() if k not in ROUTE_COLUMNS}, line))
        return cls._make(route, meters, default_id, where)

    @classmethod
    def _make(cls, doc: dict[str, Any], meters: list[RouteMeter], default_id: str, where: str) -> RouteSheet:
        due = doc.get("due_date")
        try:
            due_date = dt.date.fromisoformat(str(due)[:10]) if due else None
        except ValueError:
            raise RouteSheetError(where, f"due_date {due!r} is not YYYY-MM-DD") from None
        return cls(route_id=str(doc.get("route_id") or default_id), meters=meters,
                   name=str(doc.get("name") or ""), timezone=str(doc.get("timezone") or DEFAULT_TZ),
                   due_date=due_date)

    # -- dump --

    def to_json_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "route_id": self.route_id, "name": self.name, "timezone": self.timezone,
                "due_date": self.due_date.isoformat() if self.due_date else None,
                "meters": [m.to_dict() for m in self.meters]}

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)  # CRLF terminator: it also makes the writer quote fields holding a CR
        w.writerow(ROUTE_COLUMNS + COLUMNS)
        route = [self.route_id, self.name, self.timezone, self.due_date.isoformat() if self.due_date else ""]
        for m in self.meters:
            d = m.to_dict()
            w.writerow(route + ["" if d[c] is None else d[c] for c in COLUMNS])
        return buf.getvalue()

    def dump(self, path: str | os.PathLike[str], fmt: str | None = None) -> None:
        p = Path(path)
        fmt = fmt or ("json" if p.suffix.lower() == ".json" else "csv")
        if fmt == "json":
            text = json.dumps(self.to_json_dict(), indent=1, ensure_ascii=False) + "\n"
        elif fmt == "csv":
            text = self.to_csv()
        else:
            raise RouteSheetError(str(p), f"unknown route sheet format {fmt!r}")
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, p)  # a half-written sheet must never replace a good one

    def find(self, manufacturer: str | None, meter_id: str, version: int | None = None,
             device_type: int | None = None) -> RouteMeter | None:
        for m in self.meters:
            if m.matches(manufacturer, meter_id, version, device_type):
                return m
        return None


def meters_from_rows(rows: Iterable[dict[str, Any]], where: str = "<rows>") -> list[RouteMeter]:
    return [_meter_from(r, f"{where}[{i}]") for i, r in enumerate(rows)]
