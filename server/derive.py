"""What a heard telegram becomes in the store: pure functions, no database.

`telegram_row(frame, result)` is the raw_telegrams row (minus ids the store fills in);
`reading_rows(result, received_at, meter_id, sha)` and `alarm_rows(...)` are the rows a decode yields.
`redecode` runs the same functions in worker processes, so a reading derived at ingest and the same reading
derived again later have identical natural keys and the second insert is a no-op.

value_at: a register's own timestamp when the telegram carries one for that storage number (the due-date
register's date, the meter clock), otherwise the receive time rounded down to `BUCKET`. Rounding makes the
several receptions of one drive-by pass land on one reading per register instead of one per telegram.
Meter clocks before 2000 or more than a day ahead of reception (unset clocks, test fixtures) are ignored.
Dates without a time are taken as midnight UTC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from decoders.frame import Frame
from decoders.model import Decoded, Rejection

BUCKET = dt.timedelta(minutes=15)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MIN_CLOCK = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MAX_MICRO_VALUE = Decimal(9_000_000_000_000)  # BIGINT millionths
_MAX_MICRO_FLOAT = 9e12
_TIME_QUANTITIES = frozenset({"date", "datetime", "date_time", "time_point", "timestamp"})

IdentityKey = tuple[str, str, int, int]


def sha256(telegram: bytes) -> bytes:
    return hashlib.sha256(telegram).digest()


def dll_identity(telegram: bytes) -> IdentityKey | None:
    """The link-layer sender of a normalised telegram (L C M M A A A A V T …), or None if too short."""
    if len(telegram) < 10:
        return None
    m = int.from_bytes(telegram[2:4], "little")
    letters = [((m >> 10) & 31) + 64, ((m >> 5) & 31) + 64, (m & 31) + 64]
    manufacturer = "".join(chr(c) if 65 <= c <= 90 else "@" for c in letters)
    return (manufacturer, telegram[4:8][::-1].hex().upper(), telegram[8], telegram[9])


def dll_access_number(telegram: bytes) -> int | None:
    if len(telegram) < 12:
        return None
    ci = telegram[10]
    if ci in (0x7A, 0x8C, 0x8D, 0x5A, 0x61, 0x6E):
        return telegram[11]
    if ci in (0x72, 0x53, 0x60, 0x6D, 0x8B) and len(telegram) > 19:
        return telegram[19]
    return None


def meter_key(result: Decoded | Rejection | None, telegram: bytes) -> IdentityKey | None:
    if isinstance(result, Decoded):
        ident = result.meter
        return (ident.manufacturer, ident.id.upper(), int(ident.version), int(ident.device_type))
    if isinstance(result, Rejection) and result.identity is not None:
        ident = result.identity
        return (ident.manufacturer, ident.id.upper(), int(ident.version), int(ident.device_type))
    return dll_identity(telegram)


def bucket(t: dt.datetime) -> dt.datetime:
    t = t.astimezone(dt.UTC)
    if _BUCKET_MINUTES:  # the same floor as below, without three timedelta operations (once per telegram)
        return t.replace(minute=t.minute - t.minute % _BUCKET_MINUTES, second=0, microsecond=0)
    return _EPOCH + ((t - _EPOCH) // BUCKET) * BUCKET


# A bucket of whole minutes that divides an hour floors within the hour (UTC has no leap seconds in datetime).
_BUCKET_MINUTES = (BUCKET // dt.timedelta(minutes=1)
                   if BUCKET % dt.timedelta(minutes=1) == dt.timedelta(0) and 3600 % BUCKET.total_seconds() == 0
                   else 0)


def telegram_row(frame: Frame, result: Decoded | Rejection | None, decoder_version: str | None) -> dict[str, Any]:
    """raw_telegrams columns except meter_id, van_id, batch_id (the store resolves those)."""
    t = frame.telegram
    pos = frame.position
    row: dict[str, Any] = {
        "sha256": sha256(t),
        "telegram": t,
        "access_no": None,
        "received_at": _utc(frame.received_at),
        "source": (frame.source or "")[:100] or None,
        "link_mode": (frame.link_mode or "")[:8] or None,
        "rssi_dbm": frame.rssi_dbm,
        "lat": pos.lat if pos else None,
        "lon": pos.lon if pos else None,
    }
    row.update(outcome_columns(result, t, decoder_version))
    return row


def outcome_columns(result: Decoded | Rejection | None, telegram: bytes, decoder_version: str | None) -> dict[str, Any]:
    if isinstance(result, Decoded):
        return {
            "access_no": result.access_number if result.access_number is not None else dll_access_number(telegram),
            "decode_ok": True,
            "reject_reason": None,
            "reject_detail": None,
            "driver": clean_text(result.driver, 64) if result.driver else None,
            "decoder_version": decoder_version,
        }
    if isinstance(result, Rejection):
        return {
            "access_no": dll_access_number(telegram),
            "decode_ok": False,
            "reject_reason": str(result.reason)[:32],
            "reject_detail": clean_text(result.detail or "", 300) or None,
            "driver": None,
            "decoder_version": decoder_version,
        }
    return {
        "access_no": dll_access_number(telegram),
        "decode_ok": False,
        "reject_reason": None,
        "reject_detail": "not decoded yet",
        "driver": None,
        "decoder_version": None,
    }


# The columns of `reading_tuples`, in order (`reading_rows` zips them into dicts).
READING_COLUMNS = ("meter_id", "quantity", "function", "storage", "tariff", "subunit", "value_at", "meter_clock",
                   "value", "value_text", "unit", "source", "telegram_sha256", "decoder_version")


def reading_rows(
    result: Decoded,
    received_at: dt.datetime,
    meter_id: int,
    telegram_sha: bytes | None,
    decoder_version: str | None,
) -> list[dict[str, Any]]:
    cols = READING_COLUMNS
    return [dict(zip(cols, t, strict=True))
            for t in reading_tuples(result, received_at, meter_id, telegram_sha, decoder_version)]


def reading_tuples(
    result: Decoded,
    received_at: dt.datetime,
    meter_id: int,
    telegram_sha: bytes | None,
    decoder_version: str | None,
) -> list[tuple]:
    """The readings rows of a decode as tuples in READING_COLUMNS order (the importer's bulk path: no dict
    per reading)."""
    received_at = _utc(received_at)
    readings = result.readings
    clocks: dict[int, dt.datetime] = {}
    for r in readings:
        if r.quantity in _TIME_QUANTITIES or isinstance(r.value, dt.date):
            when = _as_datetime(r.value)
            if when is not None and _MIN_CLOCK <= when <= received_at + dt.timedelta(days=1):
                clocks.setdefault(r.storage, when)
    default_at = bucket(received_at)
    rows: list[tuple] = []
    seen: set[tuple] = set()
    for r in readings:
        v = r.value
        if v is None:
            continue
        # The common case, a float register, without the general dispatch (this loop is the ingest hot path).
        if type(v) is float and -_MAX_MICRO_FLOAT < v < _MAX_MICRO_FLOAT:
            value, text = Decimal(repr(v)), None
        else:
            value, text = _split_value(v)
        storage = r.storage
        value_at = clocks.get(storage, default_at)
        names = (r.quantity, r.function, r.unit)
        try:
            quantity, function, unit = _NAMES[names]
        except (KeyError, TypeError):
            quantity, function, unit = _names(names)
        k = (quantity, function, storage, r.tariff, r.subunit, value_at)
        if k in seen:  # two records for one register in one telegram: keep the first, as the key demands
            continue
        seen.add(k)
        rows.append((meter_id, quantity, function, int(storage), int(r.tariff), int(r.subunit), value_at,
                     storage in clocks, value, text, unit, "radio", telegram_sha, decoder_version))
    return rows


_SHORT: dict[tuple[str, int], str] = {}
_NAMES: dict[tuple[Any, Any, Any], tuple[str, str, str]] = {}


def _names(names: tuple[Any, Any, Any]) -> tuple[str, str, str]:
    """(quantity, function, unit) of a reading as stored, memoised per combination (one lookup per reading)."""
    q, f, u = names
    out = (_short(q or "unknown", 48), _short(f or "instantaneous", 16), _short(u or "", 16))
    if len(_NAMES) < 10_000:
        with contextlib.suppress(TypeError):
            _NAMES[names] = out
    return out


def _short(v: str, limit: int) -> str:
    """clean_text for the small vocabulary of quantities, functions and units, memoised."""
    try:
        return _SHORT[(v, limit)]
    except (KeyError, TypeError):
        out = clean_text(v, limit)
        if len(_SHORT) < 10_000:
            with contextlib.suppress(TypeError):
                _SHORT[(v, limit)] = out
        return out


def alarm_rows(result: Decoded, received_at: dt.datetime, meter_id: int, telegram_sha: bytes) -> list[dict[str, Any]]:
    at = _utc(received_at)
    return [
        {"meter_id": meter_id, "alarm": str(a)[:24], "observed_at": at, "telegram_sha256": telegram_sha}
        for a in sorted(result.alarms, key=str)
    ]


def clean_text(v: Any, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; decoders hand over manufacturer strings with padding NULs.
    return str(v).replace("\x00", "\\0")[:limit]


def _split_value(v: Any) -> tuple[Decimal | None, str | None]:
    if isinstance(v, bool):
        return Decimal(int(v)), None
    if isinstance(v, int | float | Decimal):
        try:
            d = v if isinstance(v, Decimal) else Decimal(v) if isinstance(v, int) else Decimal(repr(v))
        except (InvalidOperation, ValueError):
            return None, clean_text(v, 200)
        if not d.is_finite() or abs(d) >= _MAX_MICRO_VALUE:
            return None, clean_text(v, 200)
        return d, None
    if isinstance(v, bytes):
        return None, v.hex()[:200]
    if isinstance(v, dt.datetime | dt.date):
        return None, v.isoformat()
    return None, clean_text(v, 200)


def _as_datetime(v: Any) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return _utc(v)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC)
    return None


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
