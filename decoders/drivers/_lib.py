"""Declarative field tables for meter-family drivers, shared by the family modules.

A family module declares, per driver, a tuple of `Field`s: which records (by quantity, storage, tariff,
subunit, function, combinable VIFEs or exact DIF/VIF header) become which output field, in which display
unit, and how status bits become text (`Lookup`) and normalised alarms (`Alarm`). `SpecDriver` evaluates
them. Names may carry `{storage}`, `{tariff}` or `{subunit}` (and `{storage-1}` etc.) to expand one field
over a range of records, the way monthly histories are printed.

Output follows wmbusmeters conventions: the unit is the name's suffix, numbers are rounded to 6 decimals,
dates print as YYYY-MM-DD and datetimes as YYYY-MM-DD HH:MM (invalid but present values print their raw
digits; all-0xFF values print null), and a `status` field joins every status lookup and, for most meters,
the TPL status byte, sorted, or "OK".
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from decoders.drivers.base import Driver
from decoders.model import Alarm, Identity, Reading, Rejection
from decoders.tables import MANUFACTURERS
from decoders.telegram import Telegram

HOURS_PER_YEAR = 365.2425 * 24
MEMORY_LIMIT = 20_000  # meters whose last fields are remembered per driver (a long drive stays bounded)

# Conversions from the record parser's unit to a display unit, as multipliers.
_CONVERT: dict[tuple[str, str], float] = {
    ("m3", "m3"): 1.0, ("m3", "l"): 1000.0,
    ("m3/h", "m3h"): 1.0, ("m3/h", "lh"): 1000.0,
    ("kWh", "kwh"): 1.0, ("kWh", "mwh"): 1e-3, ("kWh", "gj"): 0.0036, ("kWh", "wh"): 1000.0,
    ("kW", "kw"): 1.0, ("kW", "w"): 1000.0,
    ("kvarh", "kvarh"): 1.0, ("kVA", "kva"): 1.0,
    ("C", "c"): 1.0, ("K", "c"): 1.0, ("K", "k"): 1.0,
    ("h", "h"): 1.0, ("h", "s"): 3600.0, ("h", "min"): 60.0, ("h", "d"): 1 / 24, ("h", "y"): 1 / HOURS_PER_YEAR,
    ("h", "month"): 12 / HOURS_PER_YEAR,
    ("V", "v"): 1.0, ("A", "a"): 1.0, ("Hz", "hz"): 1.0, ("bar", "bar"): 1.0, ("kg", "kg"): 1.0,
    ("%RH", "rh"): 1.0, ("", "hca"): 1.0, ("", "counter"): 1.0, ("", ""): 1.0, ("d", "d"): 1.0,
}

TPL_STATUS_NAMES: tuple[tuple[int, str], ...] = (
    (0x04, "POWER_LOW"), (0x08, "PERMANENT_ERROR"), (0x10, "TEMPORARY_ERROR"),
)


def num(v: float | int) -> float | int:
    """wmbusmeters prints at most 6 decimals; integral values print without a fraction."""
    if isinstance(v, bool):
        return int(v)
    r = round(float(v), 6)
    if r.is_integer() and abs(r) < 1e15:
        return int(r)
    return r


def numbers(*values: Any) -> bool:
    """True when every value is a plain number. A computed field (a sum, a hypot) checks its inputs with
    this: a meter may send text (LVAR) under a numeric header, and the table passes it through."""
    return all(type(v) is int or type(v) is float for v in values)


def _normalised(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> _dt.datetime:
    """Calendar fields as a C library's mktime() normalises them: day 0 is the last day of the
    previous month, month 0 is December of the previous year (the reference decoder prints these)."""
    y = year + (month - 1) // 12
    m = (month - 1) % 12 + 1
    return _dt.datetime(y, m, 1) + _dt.timedelta(days=day - 1, hours=hour, minutes=minute)


def months_back(d: _dt.date, n: int) -> _dt.date:
    """`d` moved n calendar months back, as the reference dates monthly histories: a month end stays a
    month end, other days are clamped to the shorter month."""
    m = d.month - 1 - n
    y, m = d.year + m // 12, m % 12 + 1
    last = calendar.monthrange(y, m)[1]
    if d.day == calendar.monthrange(d.year, d.month)[1]:
        return _dt.date(y, m, last)
    return _dt.date(y, m, min(d.day, last))


@lru_cache(maxsize=8192)  # a meter's history reference changes once a month: the dates repeat per telegram
def months_back_iso(text: str, n: int) -> str:
    """`months_back` on an ISO date text, as ISO text."""
    return months_back(_dt.date.fromisoformat(text), n).isoformat()


def month_history_dates(tg: Telegram, out: dict[str, Any], quantity: str, first: int, last: int,
                        name: str) -> None:
    """Monthly histories that send one date only, at storage `first`: the value at storage first+n
    belongs to that date n months back. Adds `name.format(n=n + 1)` for each instantaneous `quantity`
    record in storages first..last."""
    ref = next((r for r in tg.readings if r.quantity == "date" and r.storage == first), None)
    text = date_text(ref.raw) if ref is not None else None
    if text is None:
        return
    for r in tg.readings:
        if r.quantity == quantity and first <= r.storage <= last and r.function == "instantaneous":
            n = r.storage - first
            out[name.format(n=n + 1)] = months_back_iso(text, n)


def _g_fields(b0: int, b1: int) -> tuple[int, int, int]:
    return 2000 + (((b0 & 0xE0) >> 5) | ((b1 & 0xF0) >> 1)), b1 & 0x0F, b0 & 0x1F


@lru_cache(maxsize=8192)
def date_text(raw: bytes) -> str | None:
    """A type G date as printed; all-0xFF (not set) prints null."""
    if len(raw) < 2 or raw[:2] == b"\xff\xff":
        return None
    y, m, d = _g_fields(raw[0], raw[1])
    return _normalised(y, m, d).strftime("%Y-%m-%d")


@lru_cache(maxsize=8192)
def date_text_raw(raw: bytes) -> str | None:
    """A type G date digit by digit, without calendar normalisation (e.g. 2000-00-00)."""
    if len(raw) < 2 or raw[:2] == b"\xff\xff":
        return None
    y, m, d = _g_fields(raw[0], raw[1])
    return f"{y:04d}-{m:02d}-{d:02d}"


@lru_cache(maxsize=8192)
def datetime_text_raw(raw: bytes) -> str | None:
    """A type F/I date-time digit by digit (seconds when sent), without calendar normalisation."""
    if len(raw) not in (4, 6) or raw[:4] == b"\xff\xff\xff\xff":
        return None
    off = 1 if len(raw) == 6 else 0
    mi, h, b2, b3 = raw[off], raw[off + 1], raw[off + 2], raw[off + 3]
    y, m, d = _g_fields(b2, b3)
    text = f"{y:04d}-{m:02d}-{d:02d} {h & 0x1F:02d}:{mi & 0x3F:02d}"
    return text + f":{raw[0] & 0x3F:02d}" if off else text


@lru_cache(maxsize=8192)
def datetime_text(raw: bytes, seconds: bool = False) -> str | None:
    if len(raw) == 4:
        if raw == b"\xff\xff\xff\xff":
            return None
        b0, b1, b2, b3 = raw
        y, m, d = _g_fields(b2, b3)
        return _normalised(y, m, d, b1 & 0x1F, b0 & 0x3F).strftime("%Y-%m-%d %H:%M")
    if len(raw) == 6:
        if raw[:5] == b"\xff" * 5:
            return None
        s, b1, b2, b3, b4 = raw[0], raw[1], raw[2], raw[3], raw[4]
        y, m, d = _g_fields(b3, b4)
        t = _normalised(y, m, d, b2 & 0x1F, b1 & 0x3F)
        if seconds:
            return (t + _dt.timedelta(seconds=s & 0x3F)).strftime("%Y-%m-%d %H:%M:%S")
        return t.strftime("%Y-%m-%d %H:%M")
    if len(raw) == 2:
        d = date_text(raw)
        return None if d is None else d + " 00:00"
    return None


def _is_bcd(r: Reading) -> bool:
    return bool(r.dif_vif) and (int(r.dif_vif[:2], 16) & 0x0F) in (0x09, 0x0A, 0x0B, 0x0C, 0x0E)


def raw_uint(r: Reading) -> int | None:
    """The record's data as an unsigned number (BCD read as decimal digits)."""
    code = int(r.dif_vif[:2], 16) & 0x0F if r.dif_vif else 0
    if code in (0x09, 0x0A, 0x0B, 0x0C, 0x0E):
        h = r.raw[::-1].hex()
        return int(h) if h.isdigit() else None
    if code == 0x05:
        return None
    return int.from_bytes(r.raw, "little") if r.raw else None


@dataclass(frozen=True, slots=True)
class Lookup:
    """Bits (or an index) of a status value -> text, and optionally -> normalised alarms.

    `bits`: (mask or value, name[, Alarm]) tested as "all bits set". `mask` limits which bits are looked
    at; set bits inside the mask that no entry names print as `<unknown>_<HEX>`. `index` entries are
    compared for equality after masking instead (`kind="index"`).
    """

    bits: tuple[tuple[Any, ...], ...] = ()
    mask: int = 0xFFFFFFFF
    default: str = "OK"
    unknown: str = "UNKNOWN"
    kind: str = "bits"     # bits | index
    hex_width: int = 0     # digits of the unknown suffix (0: as short as possible)

    def text(self, value: int) -> str:
        v = value & self.mask
        words: list[str] = []
        if self.kind == "index":
            for ent in self.bits:
                if ent[0] == v:
                    return ent[1]
            if v == 0:
                return self.default
            return f"{self.unknown}_{v:0{self.hex_width}X}"
        rest = v
        for ent in self.bits:
            bit, name = ent[0], ent[1]
            # a bit named twice is printed once: the first name consumes it
            if bit and (rest & bit) == bit:
                words.append(name)
                rest &= ~bit
        if rest:
            words.append(f"{self.unknown}_{rest:0{self.hex_width}X}")
        return " ".join(sorted(words)) if words else self.default

    def alarms(self, value: int) -> set[Alarm]:
        v = value & self.mask
        out: set[Alarm] = set()
        for ent in self.bits:
            if len(ent) > 2 and ent[2] is not None:
                hit = (ent[0] == v) if self.kind == "index" else (ent[0] and (v & ent[0]) == ent[0])
                if hit:
                    out.add(ent[2])
        return out


@dataclass(frozen=True, slots=True)
class Field:
    """One output field taken from the first matching record (or from each, with a name template).

    unit: display unit suffix ("m3", "kwh", "c", "h", "s", "y", "date", "datetime", ...) or "" for text.
    kind: "num" | "date" | "datetime" | "text" | "lookup" | "hex" | "int" | "version".
    For "lookup" fields `status=True` also feeds the joint `status` field.
    """

    name: str
    quantity: str | tuple[str, ...] | None = None
    unit: str = ""
    kind: str = "num"
    storage: int | range | None = 0
    tariff: int | range | None = 0
    subunit: int | range | None = 0
    function: str | None = "instantaneous"
    vifes: tuple[str, ...] | None = ()   # None: any combinable VIFEs; () none; else exactly these
    dif_vif: str | None = None
    vif: int | range | None = None
    scale: float = 1.0
    lookup: Lookup | None = None
    status: bool = False
    fmt: Callable[[Reading], Any] | None = None
    null: Any = None     # printed instead of null for unset dates (some drivers print "")
    nth: int = 1         # take the n-th matching record (meters repeat identical headers)

    def matches(self, r: Reading) -> bool:
        if self.dif_vif is not None:
            return r.dif_vif == self.dif_vif
        q = self.quantity
        if q is not None:
            if isinstance(q, str):
                if r.quantity != q:
                    return False
            elif r.quantity not in q:
                return False
        if self.vif is not None and not _in(r.vif, self.vif):
            return False
        if self.storage is not None and not _in(r.storage, self.storage):
            return False
        if self.tariff is not None and not _in(r.tariff, self.tariff):
            return False
        if self.subunit is not None and not _in(r.subunit, self.subunit):
            return False
        if self.function is not None and r.function != self.function:
            return False
        if self.vifes is None:
            return True
        got = tuple(v for v in r.vifes if v != "scaled")
        return got == self.vifes

    def render(self, r: Reading) -> Any:
        if self.kind == "num" and self.fmt is None:  # the common case, kept short
            v = r.value
            cls = v.__class__
            if cls is float or cls is int:
                f = _CONVERT.get((r.unit, self.unit), 1.0) * self.scale
                x = round(v * f, 6)
                if x.__class__ is int:
                    return x
                return int(x) if x.is_integer() and -1e15 < x < 1e15 else x
        v = self._render(r)
        return self.null if v is None else v

    def _render(self, r: Reading) -> Any:
        if self.fmt is not None:
            try:
                return self.fmt(r)
            except (IndexError, ValueError, TypeError, OverflowError):
                # a formatter reads its record's bytes in the family's own layout; a record of another
                # length or coding under the same header (a corrupt or unusual telegram) has no value
                return OMIT
        k = self.kind
        if k == "num":
            v = r.value
            if v is None:
                return OMIT
            if isinstance(v, (bytes, str, _dt.date, _dt.time)):
                return v if isinstance(v, str) else None
            f = _CONVERT.get((r.unit, self.unit))
            if f is None:
                f = 1.0
            return num(v * f * self.scale)
        if k == "date":
            if r.quantity == "datetime":
                t = datetime_text(r.raw)
                return None if t is None else t[:10]
            return date_text(r.raw)
        if k == "datetime":
            return datetime_text(r.raw)
        if k == "datetime_s":
            return datetime_text(r.raw, seconds=True)
        if k == "datetime_raw":
            return datetime_text_raw(r.raw)
        if k == "date_raw":
            return date_text_raw(r.raw)
        if k == "lookup":
            v = raw_uint(r)
            return None if v is None or self.lookup is None else self.lookup.text(v)
        if k == "text":
            if _is_bcd(r):
                return r.raw[::-1].hex().upper()
            v = r.value
            if isinstance(v, bytes):
                return v.hex().upper()
            if isinstance(v, int):
                return str(v)
            return v
        if k == "hex":
            return r.raw[::-1].hex().upper()
        if k == "int":
            v = raw_uint(r)
            return v
        return r.value

    def out_name(self, r: Reading) -> str:
        n = self.name
        if "{" in n:
            n = _TEMPLATE.sub(lambda m: _template_value(getattr(r, m.group(1)), m.group(2)), n)
        if self.unit and self.kind in ("num", "date", "datetime", "int", "datetime_s", "date_raw", "datetime_raw"):
            return f"{n}_{self.unit}"
        return n


_TEMPLATE = re.compile(r"\{(storage|tariff|subunit)([+-]\d+|/\d+)?\}")
def _template_value(v: int, op: str | None) -> str:
    if not op:
        return str(v)
    if op[0] == "/":
        return str(v // int(op[1:]))
    return str(v + int(op))


OMIT = object()  # a numeric record without a value (invalid BCD): the field is left out


def _in(v: int, want: int | range) -> bool:
    return v == want if isinstance(want, int) else v in want


def tpl_status_words(sts: int | None, names: Mapping[int, str] | None = None) -> list[str]:
    """The TPL status byte as the reference decoder names its bits. Bits 0-1 (application busy/error/
    alarm) are not printed; bits 2-4 are standard; a driver may rename any bit (bits 5-7 belong to the
    manufacturer); unnamed manufacturer bits print as UNKNOWN_<hex>."""
    if not sts:
        return []
    words: list[str] = []
    app = sts & 0x03
    if app:
        words.append(("BUSY", "ERROR", "ALARM")[app - 1])
    rest = sts & 0xFC
    for bit in (0x04, 0x08, 0x10, 0x20, 0x40, 0x80):
        if not rest & bit:
            continue
        name = names.get(bit) if names else None
        if name is None:
            name = _TPL_STD.get(bit)
        if name is not None:
            words.append(name)
            rest &= ~bit
    if rest:
        words.append(f"UNKNOWN_{rest:02X}")
    return words


_TPL_STD = dict(TPL_STATUS_NAMES)


def join_status(words: Iterable[str]) -> str:
    ws = sorted({w for w in words if w and w != "OK"})
    return " ".join(ws) if ws else "OK"


def secondary_address(tg: Telegram) -> None:
    """An 8-byte enhanced-identification record (DIF 07, VIF 79) is a full secondary address: id,
    manufacturer, version and device type of the metering device behind a radio module. The reference
    decoder reports that device, so it becomes the meter identity here too."""
    for r in tg.readings:
        if r.dif_vif == "0779" and len(r.raw) == 8:
            raw = r.raw
            letters = MANUFACTURERS[(raw[4] | raw[5] << 8) & 0x7FFF]
            ident = raw[3::-1].hex().upper()
            # the same id as the link layer: the link-layer address stays the one reported
            same = tg.identity is not None and tg.identity.id == ident
            if ident.isdigit() and int(ident) > 0 and not same:
                tg.tpl_identity = Identity(letters, ident, raw[6], raw[7])
            return


class SpecDriver(Driver):
    """A driver whose output is its `spec` table (plus optional `extra(tg, out)` code).

    `status` (class attribute): None -> no status field; "tpl" -> TPL status plus every Field with
    status=True; "fields" -> only the Fields with status=True.
    """

    spec: ClassVar[tuple[Field, ...]] = ()
    status: ClassVar[str | None] = None
    status_name: ClassVar[str] = "status"
    tpl_mfct_bits: ClassVar[Mapping[int, str] | None] = None
    alarm_lookups: ClassVar[tuple[tuple[str, Lookup], ...]] = ()  # (field name, lookup) -> alarms
    persistent: ClassVar[bool] = True

    def fields(self, tg: Telegram) -> dict[str, Any]:
        # Which record feeds which field depends only on the record headers, and a meter repeats its
        # layout: per layout the mapping is compiled once into a straight-line function (see
        # `_compile`), so a telegram costs one render per output field and no matching.
        readings = tg.readings
        _plan, mapping, secondary = self._plan_for(readings)
        if secondary and tg.tpl_identity is None:  # only layouts with a DIF 07 VIF 79 record
            secondary_address(tg)
        out, status_words, status_seen = mapping(readings)
        return self._finish(tg, out, status_words, status_seen)

    def fields_unplanned(self, tg: Telegram) -> dict[str, Any]:
        """`fields` evaluated field by field over the records, without any cached plan: the reference
        the compiled mapping is checked against (tests/drivers/test_field_plans.py)."""
        if tg.tpl_identity is None:
            secondary_address(tg)
        out: dict[str, Any] = {}
        status_words: list[str] = []
        status_seen = False
        for f in self.spec:
            templated = "{" in f.name
            matched = [r for r in tg.readings if f.matches(r)][f.nth - 1:]
            for r in matched:
                name = f.out_name(r)
                # a field whose name is already taken, or whose record has no value, is skipped; a
                # plain field looks at its first matching record only
                if name not in out:
                    val = f.render(r)
                    if val is not OMIT:
                        out[name] = val
                        if f.status:
                            status_seen = True
                            if isinstance(val, str):
                                status_words.extend(val.split())
                if not templated:
                    break
        return self._finish(tg, out, status_words, status_seen)

    def _finish(self, tg: Telegram, out: dict[str, Any], status_words: list[str],
                status_seen: bool) -> dict[str, Any]:
        self.extra(tg, out)
        state = tg.state
        meter = tg.meter if self.persistent and state is not None else None  # after extra(): it may set it
        if meter is not None:
            # Like the reference decoder, a meter's fields keep their last value until a telegram
            # carries them again (compact or short frames update only part of them).
            # Keyed by the meter id, as configured meters are: some modules vary the other header fields.
            memory = state.driver_state(self.name)
            mid = meter.id
            prev = memory.get(mid)
            if prev:
                out = {**prev, **out}
            if len(memory) >= MEMORY_LIMIT and mid not in memory:
                del memory[next(iter(memory))]  # forget the meter heard longest ago
            if "_status_words" in out:
                memory[mid] = {k: v for k, v in out.items() if k != "_status_words"}
            else:
                memory[mid] = out.copy()
        if self.status is not None:
            words = status_words
            extra_words = out.pop("_status_words", None)
            if extra_words:
                words.extend(extra_words)
            if self.status == "tpl" and tg.sts:
                words.extend(tpl_status_words(tg.sts, self.tpl_mfct_bits))
            if self.status == "tpl" or status_seen or extra_words is not None:
                out[self.status_name] = join_status(words) if words else "OK"
        else:
            out.pop("_status_words", None)
        return out

    def _plan_for(self, readings: list[Reading]) -> tuple[list[tuple[Field, bool, list[tuple[int, str, float | None]]]],
                                                          Callable[[list[Reading]], tuple[dict[str, Any], list[str], bool]],
                                                          bool]:
        layout = tuple([r.dif_vif for r in readings])
        plans = self.__dict__.get("_plans")
        if plans is None:
            plans = self.__dict__["_plans"] = {}
        entry = plans.get(layout)
        if entry is None:
            plan = self._plan(readings)
            entry = (plan, _compile(plan, readings), "0779" in layout)
            if len(plans) < 1024:
                plans[layout] = entry
        return entry

    def _plan(self, readings: list[Reading]) -> list[tuple[Field, bool, list[tuple[int, str, float | None]]]]:
        plan = []
        for f in self.spec:
            templated = "{" in f.name
            plain_num = f.kind == "num" and f.fmt is None
            cands = [(i, f.out_name(r), _CONVERT.get((r.unit, f.unit), 1.0) * f.scale if plain_num else None)
                     for i, r in enumerate(readings) if f.matches(r)]
            if f.nth > 1:
                cands = cands[f.nth - 1:]
            if cands:
                plan.append((f, templated, cands))
        return plan

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        """Hook for values no table can express (computed fields, proprietary blocks)."""

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        if not self.alarm_lookups:
            return found, bits
        readings = tg.readings
        plan = self._plan_for(readings)[0]
        more: set[Alarm] = set()
        for dv_name, lk in self.alarm_lookups:
            for f, _templated, cands in plan:
                if f.name == dv_name:
                    v = raw_uint(readings[cands[0][0]])
                    if v is not None:
                        more |= lk.alarms(v)
                        bits[dv_name] = v
                    break
        return (found | more) if more else found, bits


_MISS = object()
_MEMO_SIZE = 64
# kinds whose printed value depends on the record header and data bytes only
_RAW_KINDS = frozenset({"date", "datetime", "datetime_s", "datetime_raw", "date_raw", "lookup", "hex", "int"})


def _compile(plan: list[tuple[Field, bool, list[tuple[int, str, float | None]]]], readings: list[Reading]
             ) -> Callable[[list[Reading]], tuple[dict[str, Any], list[str], bool]]:
    """A layout's field plan as one generated function of the readings -> (fields, status words,
    whether a status field was set).

    It does what `SpecDriver.fields_unplanned` does for this layout, with the matching already done:
    a plain field takes its first candidate record, a templated one every candidate; a name already set
    or a record without a value (OMIT) is skipped. The name check is only emitted where an earlier
    candidate could have set the same name, the OMIT check only on the generic render path. Plain
    numeric fields inline their precomputed unit factor. Names, factors and fields are passed in as
    constants, never spliced into the source.

    Fields printed from the record's bytes alone (dates, status lookups, hex, BCD text; no `fmt`) keep a
    small memo per candidate keyed by those bytes: a meter's status and dates rarely change, and the
    header (which fixes everything else they depend on) is the layout's.
    """
    ns: dict[str, Any] = {"OMIT": OMIT, "_round": round, "_MISS": _MISS}
    lines = ["def _fields(readings):", "    out = {}", "    sw = []", "    seen = False"]
    may_be_set: set[str] = set()
    for fi, (f, templated, cands) in enumerate(plan):
        ns[f"_f{fi}"] = f.render
        for ci, (i, name, factor) in enumerate(cands if templated else cands[:1]):
            key = f"_n{fi}_{ci}"
            ns[key] = name
            ind = "    "
            if name in may_be_set:
                lines.append(f"{ind}if {key} not in out:")
                ind += "    "
            may_be_set.add(name)
            lines.append(f"{ind}r = readings[{i}]")
            memo = f.fmt is None and (f.kind in _RAW_KINDS or (f.kind == "text" and _is_bcd(readings[i])))
            if factor is not None:
                ns[f"_k{fi}_{ci}"] = factor
                lines += [f"{ind}v = r.value", f"{ind}c = v.__class__"]
                if factor == 1.0:
                    # an integer below 1e15 times 1.0, rounded and printed back as an integer, is itself
                    lines.append(f"{ind}if c is int and -1000000000000000 < v < 1000000000000000:")
                    lines.append(f"{ind}    out[{key}] = v")
                    if f.status:
                        lines.append(f"{ind}    seen = True")
                lines += [
                    f"{ind}{'elif' if factor == 1.0 else 'if'} c is float or c is int:",
                    f"{ind}    x = _round(v * _k{fi}_{ci}, 6)",
                    f"{ind}    out[{key}] = x if x.__class__ is int else "
                    "(int(x) if x.is_integer() and -1e15 < x < 1e15 else x)",
                ]
                if f.status:
                    lines.append(f"{ind}    seen = True")
                lines.append(f"{ind}else:")
                ind += "    "
            if memo:
                ns[f"_m{fi}_{ci}"] = {}
                lines += [f"{ind}m = _m{fi}_{ci}", f"{ind}val = m.get(r.raw, _MISS)", f"{ind}if val is _MISS:",
                          f"{ind}    val = _f{fi}(r)", f"{ind}    if len(m) < {_MEMO_SIZE}:",
                          f"{ind}        m[r.raw] = val"]
            else:
                lines.append(f"{ind}val = _f{fi}(r)")
            lines += [f"{ind}if val is not OMIT:", f"{ind}    out[{key}] = val"]
            if f.status:
                lines += [f"{ind}    seen = True", f"{ind}    if val.__class__ is str or isinstance(val, str):",
                          f"{ind}        sw.extend(val.split())"]
    lines.append("    return out, sw, seen")
    exec(compile("\n".join(lines), "<field plan>", "exec"), ns)  # noqa: S102  (no data in the source)
    return ns["_fields"]


# --- the standard library of fields (names wmbusmeters gives them) ----------------------------------

def F(name: str, quantity: str | tuple[str, ...] | None, unit: str = "", **kw: Any) -> Field:
    return Field(name, quantity, unit, **kw)


LIB: dict[str, Field] = {
    "total_m3": F("total", "volume", "m3"),
    "target_m3": F("target", "volume", "m3", storage=1),
    "target_date": F("target", ("date", "datetime"), "date", kind="date", storage=1),
    "target_datetime": F("target", ("datetime", "date"), "datetime", kind="datetime", storage=1),
    "meter_datetime": F("meter", ("datetime",), "datetime", kind="datetime_raw"),
    "meter_date": F("meter", ("date",), "date", kind="date"),
    "device_datetime": F("device", ("datetime",), "datetime", kind="datetime"),
    "total_backward_m3": F("total_backward", "volume", "m3", vifes=("backward",)),
    "total_forward_m3": F("total_forward", "volume", "m3", vifes=("forward",)),
    "flow_m3h": F("flow", "volume_flow", "m3h"),
    "volume_flow_m3h": F("volume_flow", "volume_flow", "m3h"),
    "max_flow_m3h": F("max_flow", "volume_flow", "m3h", function="maximum"),
    "flow_temperature_c": F("flow_temperature", "flow_temperature", "c"),
    "return_temperature_c": F("return_temperature", "return_temperature", "c"),
    "external_temperature_c": F("external_temperature", "external_temperature", "c"),
    "operating_time_h": F("operating_time", "operating_time", "h"),
    "on_time_h": F("on_time", "on_time", "h"),
    "actuality_duration_s": F("actuality_duration", "actuality_duration", "s"),
    "fabrication_no": F("fabrication_no", "fabrication_no", kind="text"),
    "customer": F("customer", "customer", kind="text"),
    "total_energy_consumption_kwh": F("total_energy_consumption", "energy", "kwh"),
    "target_energy_consumption_kwh": F("target_energy_consumption", "energy", "kwh", storage=1),
    "power_kw": F("power", "power", "kw"),
    "remaining_battery_life_y": F("remaining_battery_life", "remaining_battery", "y"),
    "battery_y": F("battery", "remaining_battery", "y"),
    "current_consumption_hca": F("current_consumption", "hca", "hca"),
    "software_version": F("software_version", "software_version", kind="text"),
    "firmware_version": F("firmware_version", "firmware_version", kind="text"),
}


def lib(*names: str) -> tuple[Field, ...]:
    return tuple(LIB[n] for n in names)


def error_flags(name: str = "status", bits: tuple[tuple[Any, ...], ...] = (), mask: int = 0xFFFF,
                unknown: str = "ERROR_FLAGS", default: str = "OK", status: bool = True,
                function: str | None = "instantaneous", **kw: Any) -> Field:
    """A status text from the standard error-flags record (VIF FD17)."""
    return Field(name, "error_flags", kind="lookup", function=function, status=status,
                 lookup=Lookup(bits, mask, default, unknown), **kw)


__all__ = ["F", "Field", "LIB", "Lookup", "SpecDriver", "date_text", "datetime_text", "error_flags",
           "field", "join_status", "lib", "months_back", "num", "raw_uint", "tpl_status_words"]


class OpaqueModeDriver(SpecDriver):
    """A SpecDriver for meters whose payload uses a security mode (8-15) this decoder does not implement:
    the telegram is still reported, with what the clear header says (the TPL status), as the reference
    decoder does, instead of being rejected."""

    status = "tpl"
    opaque_security_modes = frozenset(range(8, 16))

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.decryption == "pending" and tg.security_mode in self.opaque_security_modes:
            tg.readings = []
            tg.decryption = "not_decrypted"
            return None
        return super().payload(tg)

