"""Registry imports from CSV: meters, service points (with accounts, installations and routes), keys.

Each import is all-or-nothing: the whole file is validated first (`ImportFileError` lists every bad line,
file:line: field), then written in one transaction with upserts on natural keys, so importing the same
file twice changes nothing and a corrected file updates in place. CSV is UTF-8 (a spreadsheet BOM is
accepted), comma or semicolon separated, one header line; decimals may use a comma (Polish spreadsheets).
Integers (version, device_type) are decimal unless written 0x.., as in route sheets.

meters.csv
    required: manufacturer, id, version, device_type — the metering device's identity as decoders report it
              (`Decoded.meter`: the long-header identity behind a radio converter, else the link layer's)
    optional: role (main|garden|sewage|own_intake), model, serial, driver, legalised_on, legalised_until
              (YYYY-MM-DD), register_digits, transmit_interval_s, transmit_window, plausible_min_m3,
              plausible_max_m3

service_points.csv (one row per installation; service point columns may repeat or stay blank)
    required: code
    optional: account, account_name, login, email, address, connection (metered|unmetered|temporary),
              tariff_group, norm_category, norm_units, sewered (yes/no), max_daily_m3, lat, lon,
              active_from, active_to, route, van
    installation: meter_id [, meter_manufacturer, meter_version, meter_device_type], role, installed_at
              (ISO date or datetime; a date means 00:00 UTC), initial_reading, removed_at, final_reading
    A row with `route` puts its meter on that route (route stops follow file order); `van` assigns the
    route to that van (registered if new).

keys.csv — the decoders.keys.KeyStore format: header id,key[,manufacturer]; key in hex (16 or 8 bytes);
    `#` comment lines allowed; rows with an empty key are skipped. Keys are sealed with the master key
    before they reach the database (server/keyvault.py) and never appear in errors or logs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server import repository
from server.models import MeterRole
from server.store import (
    METER_KEY,
    T_ACCOUNTS,
    T_INST,
    T_METERS,
    T_SP,
    InvalidInput,
    Store,
)

MAX_ERRORS = 20
_ID_RE = re.compile(r"^[0-9A-Fa-f]{1,16}$")
_MFCT_RE = re.compile(r"^[A-Za-z@]{3}$")


class ImportFileError(ValueError):
    def __init__(self, path: str, errors: list[str]):
        self.path = path
        self.errors = errors
        more = "" if len(errors) <= MAX_ERRORS else f"\n… and {len(errors) - MAX_ERRORS} more"
        super().__init__(f"{path}: {len(errors)} error(s)\n" + "\n".join(errors[:MAX_ERRORS]) + more)


@dataclass
class ImportReport:
    rows: int = 0
    meters: int = 0
    accounts: int = 0
    service_points: int = 0
    installations: int = 0
    routes: int = 0
    keys: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------- parsing


def _read_csv(path: str | Path) -> list[tuple[int, dict[str, str]]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ImportFileError(str(p), [f"cannot read: {e}"]) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ImportFileError(str(p), ["empty file (no header line)"])
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO("\n".join(lines)), dialect=dialect)
    out = []
    for row in reader:
        if None in row:
            raise ImportFileError(str(p), [f"line {reader.line_num}: more fields than the header has"])
        out.append((reader.line_num, {str(k).strip().lower(): (v or "").strip() for k, v in row.items()}))
    return out


class _Row:
    """Typed access to one CSV row; problems are collected, not raised, so a file reports all its errors."""

    def __init__(self, where: str, data: dict[str, str], errors: list[str]):
        self.where, self.data, self.errors = where, data, errors

    def _bad(self, name: str, msg: str) -> None:
        self.errors.append(f"{self.where}: {name}: {msg}")

    def text(self, name: str, required: bool = False, max_len: int = 300) -> str | None:
        v = self.data.get(name, "")
        if not v:
            if required:
                self._bad(name, "missing")
            return None
        if len(v) > max_len:
            self._bad(name, f"longer than {max_len} characters")
            return None
        return v

    def _conv(self, name: str, fn: Callable[[str], Any], what: str, required: bool = False) -> Any:
        v = self.data.get(name, "")
        if not v:
            if required:
                self._bad(name, "missing")
            return None
        try:
            return fn(v)
        except (ValueError, InvalidOperation, ArithmeticError):
            self._bad(name, f"{v!r} is not {what}")
            return None

    def int(self, name: str, required: bool = False) -> int | None:
        return self._conv(name, lambda v: int(v, 16) if v.lower().startswith("0x") else int(v), "an integer",
                          required)

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        def conv(v: str) -> Decimal:
            d = Decimal(v.replace(",", ".").replace(" ", ""))
            if not d.is_finite():
                raise ValueError
            return d
        return self._conv(name, conv, "a number", required)

    def float(self, name: str) -> float | None:
        return self._conv(name, lambda v: float(v.replace(",", ".")), "a number")

    def date(self, name: str) -> dt.date | None:
        return self._conv(name, lambda v: dt.date.fromisoformat(v[:10]), "a date (YYYY-MM-DD)")

    def instant(self, name: str, required: bool = False) -> dt.datetime | None:
        def conv(v: str) -> dt.datetime:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00")) if len(v) > 10 else \
                dt.datetime.combine(dt.date.fromisoformat(v), dt.time())
            return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
        return self._conv(name, conv, "an ISO date or datetime", required)

    def bool(self, name: str) -> bool | None:
        v = self.data.get(name, "").lower()
        if not v:
            return None
        if v in ("1", "yes", "y", "true", "t", "tak"):
            return True
        if v in ("0", "no", "n", "false", "f", "nie"):
            return False
        self._bad(name, f"{v!r} is not yes/no")
        return None

    def choice(self, name: str, options: set[str], required: bool = False) -> str | None:
        v = self.data.get(name, "").lower()
        if not v:
            if required:
                self._bad(name, "missing")
            return None
        if v not in options:
            self._bad(name, f"{v!r} is not one of {sorted(options)}")
            return None
        return v

    def meter_identity(self, prefix: str = "") -> tuple[str | None, str | None, int | None, int | None]:
        mid = self.text(prefix + "id", required=not prefix, max_len=16)
        if mid is not None and not _ID_RE.match(mid):
            self._bad(prefix + "id", f"{mid!r} is not a meter id (digits)")
            mid = None
        if mid is not None and mid.isdigit():
            mid = mid.zfill(8)
        mfct = self.text(prefix + "manufacturer", required=not prefix, max_len=3)
        if mfct is not None and not _MFCT_RE.match(mfct):
            self._bad(prefix + "manufacturer", f"{mfct!r} is not a three-letter code")
            mfct = None
        ver = self.int(prefix + "version", required=not prefix)
        typ = self.int(prefix + "device_type", required=not prefix)
        for n, v in ((prefix + "version", ver), (prefix + "device_type", typ)):
            if v is not None and not 0 <= v <= 255:
                self._bad(n, f"{v} is not a byte")
        return (mfct.upper() if mfct else None, mid.upper() if mid else None, ver, typ)


_ROLES = {str(r) for r in MeterRole}


# --------------------------------------------------------------------------------------- meters


def import_meters(store: Store, path: str | Path) -> ImportReport:
    rows = _read_csv(path)
    errors: list[str] = []
    out: dict[tuple, dict[str, Any]] = {}
    now = dt.datetime.now(dt.UTC)
    for line, data in rows:
        r = _Row(f"line {line}", data, errors)
        m, a, v, t = r.meter_identity()
        rec: dict[str, Any] = {
            "role": r.choice("role", _ROLES) or "main",
            "model": r.text("model", max_len=100),
            "serial": r.text("serial", max_len=64),
            "driver": r.text("driver", max_len=64),
            "legalised_on": r.date("legalised_on"),
            "legalised_until": r.date("legalised_until"),
            "register_digits": r.int("register_digits"),
            "transmit_interval_s": r.int("transmit_interval_s"),
            "transmit_window": r.text("transmit_window", max_len=64),
            "plausible_min_m3": r.decimal("plausible_min_m3"),
            "plausible_max_m3": r.decimal("plausible_max_m3"),
            "registered_at": now,
        }
        if rec["transmit_window"]:
            _check_window(r, rec["transmit_window"])
        if None in (m, a, v, t):
            continue
        key = (m, a, v, t)
        if key in out:
            errors.append(f"line {line}: meter {m} {a} v{v} t{t} is listed twice")
            continue
        out[key] = dict(zip(METER_KEY, key, strict=True)) | rec
    if errors:
        raise ImportFileError(str(path), errors)
    with store.engine.begin() as conn:
        recs = list(out.values())
        for i in range(0, len(recs), 2000):
            repository.upsert(conn, T_METERS, recs[i:i + 2000], METER_KEY)
    return ImportReport(rows=len(rows), meters=len(out))


def _check_window(r: _Row, text: str) -> None:
    try:
        from sync.routesheet import TransmitWindow

        TransmitWindow.parse(text)
    except ImportError:
        return
    except ValueError as e:
        r._bad("transmit_window", str(e))


# --------------------------------------------------------------------------------------- service points


_SP_FIELDS = ("address", "connection", "tariff_group", "norm_category", "norm_units", "sewered", "max_daily_m3",
              "lat", "lon", "active_from", "active_to")


def import_service_points(store: Store, path: str | Path) -> ImportReport:
    rows = _read_csv(path)
    errors: list[str] = []
    accounts: dict[str, dict[str, Any]] = {}
    sps: dict[str, dict[str, Any]] = {}
    sp_account: dict[str, str] = {}
    installs: list[tuple[str, str, tuple, dict[str, Any]]] = []   # (where, sp code, identity, row)
    routes: dict[str, list[tuple]] = {}
    route_van: dict[str, str] = {}
    for line, data in rows:
        where = f"line {line}"
        r = _Row(where, data, errors)
        code = r.text("code", required=True, max_len=32)
        acc = r.text("account", max_len=32)
        if acc:
            rec = {"number": acc, "name": r.text("account_name", max_len=200) or "",
                   "login": r.text("login", max_len=100), "email": r.text("email", max_len=200)}
            prev = accounts.setdefault(acc, rec)
            for k, v in rec.items():
                if v and not prev.get(k):
                    prev[k] = v
        sp = {
            "address": r.text("address"), "connection": r.choice("connection", {"metered", "unmetered", "temporary"}),
            "tariff_group": r.text("tariff_group", max_len=32), "norm_category": r.text("norm_category", max_len=64),
            "norm_units": r.decimal("norm_units"), "sewered": r.bool("sewered"),
            "max_daily_m3": r.decimal("max_daily_m3"), "lat": r.float("lat"), "lon": r.float("lon"),
            "active_from": r.date("active_from"), "active_to": r.date("active_to"),
        }
        if sp["lat"] is not None and not -90 <= sp["lat"] <= 90:
            r._bad("lat", "out of range")
        if sp["lon"] is not None and not -180 <= sp["lon"] <= 180:
            r._bad("lon", "out of range")
        if code is None:
            continue
        if acc and sp_account.setdefault(code, acc) != acc:
            r._bad("account", f"service point {code} already belongs to account {sp_account[code]}")
        merged = sps.setdefault(code, {})
        for k, v in sp.items():
            if v is not None:
                if merged.get(k) is not None and merged[k] != v:
                    r._bad(k, f"differs from an earlier row of service point {code}")
                merged[k] = v
        ident = r.meter_identity("meter_")
        if ident[1] is not None:
            inst = {
                "role": r.choice("role", _ROLES, required=True),
                "installed_at": r.instant("installed_at", required=True),
                "initial_reading": r.decimal("initial_reading") or Decimal(0),
                "removed_at": r.instant("removed_at"),
                "final_reading": r.decimal("final_reading"),
            }
            if inst["removed_at"] and inst["installed_at"] and inst["removed_at"] < inst["installed_at"]:
                r._bad("removed_at", "before installed_at")
            installs.append((where, code, ident, inst))
            route = r.text("route", max_len=100)
            if route:
                routes.setdefault(route, []).append(ident)
                van = r.text("van", max_len=64)
                if van and route_van.setdefault(route, van) != van:
                    r._bad("van", f"route {route} is already assigned to van {route_van[route]}")
        elif any(data.get(k) for k in ("role", "installed_at", "route")):
            r._bad("meter_id", "missing (role/installed_at/route need a meter)")
    if errors:
        raise ImportFileError(str(path), errors)

    report = ImportReport(rows=len(rows), accounts=len(accounts), service_points=len(sps))
    with store.engine.begin() as conn:
        now = dt.datetime.now(dt.UTC)
        if accounts:
            repository.upsert(conn, T_ACCOUNTS, [a | {"created_at": now} for a in accounts.values()], ("number",),
                              overwrite=("name", "login", "email"))
        acc_ids = _ids(conn, T_ACCOUNTS, "number", list(accounts))
        sp_rows = []
        for code, attrs in sps.items():
            rec = {"code": code, "account_id": acc_ids.get(sp_account.get(code, ""))}
            for k in _SP_FIELDS:
                rec[k] = attrs.get(k)
            rec["connection"] = rec["connection"] or "metered"
            rec["tariff_group"] = rec["tariff_group"] or "household"
            rec["sewered"] = True if rec["sewered"] is None else rec["sewered"]
            rec["address"] = rec["address"] or ""
            sp_rows.append(rec)
        for i in range(0, len(sp_rows), 2000):
            repository.upsert(conn, T_SP, sp_rows[i:i + 2000], ("code",))
        sp_ids = _ids(conn, T_SP, "code", list(sps))
        meter_ids = _meter_ids(conn, [ident for _, _, ident, _ in installs], errors,
                               [w for w, _, _, _ in installs], {i[2]: i[3]["role"] for i in installs})
        if errors:
            raise ImportFileError(str(path), errors)  # rolls the transaction back
        inst_rows = []
        for _where, code, ident, inst in installs:
            inst_rows.append({"meter_id": meter_ids[ident], "service_point_id": sp_ids[code], **inst})
        for i in range(0, len(inst_rows), 2000):
            repository.upsert(conn, T_INST, inst_rows[i:i + 2000], ("meter_id", "installed_at"))
        report.installations = len(inst_rows)
    for route, idents in routes.items():
        van = route_van.get(route)
        if van and store.van_id(van) is None:
            store.add_van(van)
            report.notes.append(f"registered van {van}")
        seen: list[int] = []
        for ident in idents:
            mid = meter_ids[ident]
            if mid not in seen:
                seen.append(mid)
        store.create_route(route, van=van, meter_ids=seen)
        report.routes += 1
    return report


def _ids(conn, table, col: str, values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(0, len(values), 500):
        for v, pk in conn.execute(select(table.c[col], table.c.id).where(table.c[col].in_(values[i:i + 500]))):
            out[v] = pk
    return out


def _meter_ids(conn, idents: list[tuple], errors: list[str], wheres: list[str], roles: dict) -> dict[tuple, int]:
    """Full identities resolve (and register) directly; partial ones (id, maybe manufacturer) must match
    exactly one meter already in the store."""
    out: dict[tuple, int] = {}
    full = sorted({i for i in idents if None not in i})
    if full:
        out.update(repository.resolve_meters(conn, full, None))
        for ident in full:  # an installation registers the meter in its role if the registry lacked it
            conn.execute(T_METERS.update().where(T_METERS.c.id == out[ident], T_METERS.c.role.is_(None))
                         .values(role=roles.get(ident), registered_at=dt.datetime.now(dt.UTC)))
    for where, ident in zip(wheres, idents, strict=True):
        if ident in out:
            continue
        m, a, v, t = ident
        stmt = select(T_METERS.c.id).where(T_METERS.c.address == a)
        for col, val in (("manufacturer", m), ("version", v), ("device_type", t)):
            if val is not None:
                stmt = stmt.where(T_METERS.c[col] == val)
        found = conn.execute(stmt.limit(2)).scalars().all()
        if len(found) == 1:
            out[ident] = found[0]
        elif not found:
            errors.append(f"{where}: meter_id: meter {m or '*'} {a} is not in the registry "
                          "(import meters first, or give manufacturer, version and device type)")
        else:
            errors.append(f"{where}: meter_id: {a} matches several meters; add meter_manufacturer/"
                          "meter_version/meter_device_type")
    return out


# --------------------------------------------------------------------------------------- keys


def read_keys_csv(path: str | Path) -> list[tuple[str, bytes, str]]:
    rows = _read_csv(path)
    errors: list[str] = []
    out: dict[tuple[str, str], bytes] = {}
    for line, data in rows:
        where = f"line {line}"
        if "id" not in data or "key" not in data:
            raise ImportFileError(str(path), ["header must have id and key columns"])
        mid = data["id"]
        if not _ID_RE.match(mid or "") or len(mid) > 8:
            errors.append(f"{where}: id: {mid!r} is not up to 8 (BCD) digits")
            continue
        mid = mid.zfill(8).upper()
        text = data["key"].replace(" ", "").replace(":", "")
        if not text:
            continue  # listed without a key: a plain meter
        try:
            key = bytes.fromhex(text)
        except ValueError:
            errors.append(f"{where}: key: not hex")  # never echo the value
            continue
        if len(key) not in (8, 16):
            errors.append(f"{where}: key: must be 16 (or 8) bytes, got {len(key)}")
            continue
        mfct = (data.get("manufacturer") or "").upper()
        if mfct and not _MFCT_RE.match(mfct):
            errors.append(f"{where}: manufacturer: {mfct!r} is not a three-letter code")
            continue
        out[(mid, mfct)] = key
    if errors:
        raise ImportFileError(str(path), errors)
    return [(a, k, m) for (a, m), k in out.items()]


def import_keys(store: Store, path: str | Path) -> ImportReport:
    entries = read_keys_csv(path)
    try:
        n = store.set_keys(entries)
    except InvalidInput as e:
        raise ImportFileError(str(path), [str(e)]) from None
    return ImportReport(rows=len(entries), keys=n)


# --------------------------------------------------------------------------------------- routes


def export_routes(store: Store, out_dir: str | Path, *, van: str | None = None, route: str | None = None,
                  fmt: str = "csv", at: dt.datetime | None = None) -> list[Path]:
    """Write one route sheet per route (of `van`, or just `route`, or all) into out_dir as <route>.<fmt>."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [route] if route else [r.name for r in store.routes(van=van)]
    paths = []
    for name in names:
        sheet = store.route_sheet(name, at=at)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        p = out / f"{safe}.{fmt}"
        sheet.dump(p, fmt)
        paths.append(p)
    return paths
