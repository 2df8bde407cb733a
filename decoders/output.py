"""Decode results as JSON-ready dicts: the project's own schema and the wmbusmeters-compatible one.

Keys never appear here: a Decoded holds no key, and a Rejection's detail never names one.
"""

from __future__ import annotations

import binascii
import datetime as _dt
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from decoders.drivers.base import _FORMATTERS, format_value, sts_text
from decoders.model import Decoded, Identity, Reading, Rejection

SCHEMA_VERSION = 1


def _ident(i: Identity | None) -> dict[str, Any] | None:
    if i is None:
        return None
    return {"manufacturer": i.manufacturer, "id": i.id, "version": i.version, "device_type": i.device_type}


_PLAIN = frozenset({int, str, type(None), bool})


# exact types whose JSON form is format_value's (what _jsonable gives them, one call instead of three)
_FORMAT_EXACT = {t: f for t, f in _FORMATTERS.items() if t in (_dt.date, _dt.datetime, _dt.time, bytes)}


def _jsonable(v: Any) -> Any:
    t = type(v)
    if t in _PLAIN:
        return v
    if t is float:
        return None if v != v else v  # NaN is not JSON
    if isinstance(v, (_dt.date, _dt.time, bytes)):
        return format_value(v)
    if isinstance(v, float):
        return None if v != v else float(v)
    return v


# everything of a record but its value -> the JSON keys it fixes: built once per distinct record kind
# (keyed by all of them: a driver-made record may reuse a header with another quantity)
_RECORD_STATIC: dict[tuple, dict[str, Any]] = {}
_RECORD_TEXT: dict[tuple, bytes] = {}


def _static(x: Reading) -> tuple[tuple, dict[str, Any]]:
    key = (x.dif_vif, x.unit, x.quantity, x.storage, x.tariff, x.subunit, x.function, x.vifes)
    static = _RECORD_STATIC.get(key)
    if static is None:
        static = {"quantity": x.quantity, "unit": x.unit, "storage": x.storage, "tariff": x.tariff,
                  "subunit": x.subunit, "function": x.function, "dif_vif": x.dif_vif}
        if x.vifes:
            static["vifes"] = x.vifes  # a tuple: shared safely, serialised as an array
        if len(_RECORD_STATIC) >= 50_000:
            _RECORD_STATIC.clear()
            _RECORD_TEXT.clear()
        _RECORD_STATIC[key] = static
    return key, static


def _record(x: Reading) -> dict[str, Any]:
    v = x.value
    return {"value": v if type(v) in _PLAIN else _jsonable(v), **_static(x)[1]}


_RECORD_KEY = attrgetter("dif_vif", "unit", "quantity", "storage", "tariff", "subunit", "function", "vifes")
_VALUE = attrgetter("value")
_PLAIN_OR_FLOAT = frozenset({int, str, type(None), bool, float})  # orjson prints these as _jsonable would
# the records of one telegram, by the kinds of its records in order -> the array's JSON text with a %b
# placeholder for each value
_SHAPES: dict[tuple, bytes] = {}


def _shape(readings: list[Reading], kinds: tuple, dumps: Callable[[Any], bytes]) -> bytes:
    parts = []
    text = _RECORD_TEXT
    for x, key in zip(readings, kinds, strict=True):
        tail = text.get(key)
        if tail is None:
            key, static = _static(x)
            tail = text[key] = b"," + dumps(static)[1:]
        parts.append(b'{"value":%b' + tail.replace(b"%", b"%%"))
    template = b"[" + b",".join(parts) + b"]"
    if len(_SHAPES) >= 20_000:
        _SHAPES.clear()
    _SHAPES[kinds] = template
    return template


def records_json(readings: list[Reading], dumps: Callable[[Any], bytes]) -> bytes:
    """The "records" array of `to_json` as JSON text, byte for byte what `dumps` makes of the dicts.

    The text around the values is built once per sequence of record kinds (a meter sends the same records
    every time) as a template; the values of a telegram go through one `dumps` call and are split at the
    commas (when no value's own JSON has a comma, n values give exactly n pieces; otherwise they are
    serialised one by one) and put in with one `%`."""
    n = len(readings)
    if not n:
        return b"[]"
    kinds = tuple(map(_RECORD_KEY, readings))
    template = _SHAPES.get(kinds)
    if template is None:
        template = _shape(readings, kinds, dumps)
    values = list(map(_VALUE, readings))
    if not _PLAIN_OR_FLOAT.issuperset(map(type, values)):
        fmt = _FORMAT_EXACT
        values = [v if type(v) in _PLAIN else (fmt.get(type(v)) or _jsonable)(v) for v in values]
    parts = dumps(values)[1:-1].split(b",")
    if len(parts) != n:
        parts = [dumps(v) for v in values]
    return template % tuple(parts)


def error_dict(r: Rejection) -> dict[str, Any]:
    d: dict[str, Any] = {"_": "error", "reason": r.reason.value, "detail": r.detail, "telegram": r.raw.hex().upper()}
    if r.identity is not None:
        d["id"] = r.identity.id
        d["manufacturer"] = r.identity.manufacturer
    return d


def to_json(r: Decoded | Rejection, records: Callable[[list[Reading]], Any] | None = None) -> dict[str, Any]:
    """The project's own schema (`schema` 1): identity, layers, security outcome, records with units.

    `records`, when given, renders the readings in place of the list of dicts (the CLI passes one that
    returns pre-serialised JSON)."""
    if not r.ok:
        return error_dict(r)
    return {
        "_": "decoded",
        "schema": SCHEMA_VERSION,
        "identity": _ident(r.identity),
        "meter": _ident(r.tpl_identity) if r.tpl_identity is not None else None,
        "c_field": r.c_field,
        "frame_format": r.frame_format,
        "layers": list(r.ci_chain),
        "security": {"mode": r.security, "outcome": r.decryption, "message_counter": r.message_counter,
                     "mac_verified": r.mac_verified},
        "access_number": r.access_number,
        "status": r.status,
        "status_text": sts_text(r.status) if r.status is not None else None,
        "driver": r.driver,
        "media": r.media,
        "records": [_record(x) for x in r.readings] if records is None else records(r.readings),
        "fields": {k: v if type(v) in _PLAIN else _jsonable(v) for k, v in r.fields.items()},
        "alarms": sorted(a.value for a in r.alarms),
        "alarm_bits": r.alarm_bits,
        "mfct_data": r.mfct_data.hex().upper() if r.mfct_data else None,
        "notes": list(r.notes),
        "telegram": r.raw.hex().upper(),
    }


# --- the same JSON as bytes, for the CLI -----------------------------------------------------------------
# `decoded_json(r, dumps)` == `dumps(to_json(r, records=<records_json>))` byte for byte (tested over the
# corpus and edge cases in tests/decoders/test_output_fast.py), built from pieces that repeat between
# telegrams: the identity objects (interned per link address by decoders.core), and the layers/security/
# status/driver part. `dumps` must be orjson.dumps with the CLI's default (compact, key order kept).

_DECODED_PREFIX = b'{"_":"decoded","schema":%d,"identity":' % SCHEMA_VERSION
_IDENT_TEXT: dict[int, tuple[Identity, bytes]] = {}  # id(identity) -> (identity, JSON); holds the object
_MIDDLE: dict[tuple, tuple[bytes, bytes, bytes]] = {}


def _ident_json(i: Identity | None, dumps: Callable[[Any], bytes]) -> bytes:
    if i is None:
        return b"null"
    hit = _IDENT_TEXT.get(id(i))
    if hit is not None and hit[0] is i:
        return hit[1]
    text = dumps(_ident(i))
    if len(_IDENT_TEXT) >= 50_000:
        _IDENT_TEXT.clear()
    _IDENT_TEXT[id(i)] = (i, text)
    return text


def _middle(r: Decoded, key: tuple, dumps: Callable[[Any], bytes]) -> tuple[bytes, bytes, bytes]:
    status = r.status
    a = (b',"c_field":' + dumps(r.c_field) + b',"frame_format":' + dumps(r.frame_format) + b',"layers":'
         + dumps(list(r.ci_chain)) + b',"security":{"mode":' + dumps(r.security) + b',"outcome":'
         + dumps(r.decryption) + b',"message_counter":')
    b = b',"mac_verified":' + dumps(r.mac_verified) + b'},"access_number":'
    c = (b',"status":' + dumps(status) + b',"status_text":' + dumps(sts_text(status) if status is not None else None)
         + b',"driver":' + dumps(r.driver) + b',"media":' + dumps(r.media) + b',"records":')
    if len(_MIDDLE) >= 20_000:
        _MIDDLE.clear()
    _MIDDLE[key] = out = (a, b, c)
    return out


def decoded_json(r: Decoded | Rejection, dumps: Callable[[Any], bytes]) -> bytes:
    """`to_json(r)` serialised by `dumps`, as bytes (see above)."""
    if not r.ok:
        return dumps(error_dict(r))
    status = r.status
    mac = r.mac_verified
    key = (r.c_field, type(r.c_field), r.frame_format, r.ci_chain, r.security, r.decryption, mac, type(mac),
           status, type(status), r.driver, r.media)
    mid = _MIDDLE.get(key)
    if mid is None:
        mid = _middle(r, key, dumps)
    mc = r.message_counter
    acc = r.access_number
    fields = r.fields
    if not _PLAIN_OR_FLOAT.issuperset(map(type, fields.values())):
        fields = {k: v if type(v) in _PLAIN else _jsonable(v) for k, v in fields.items()}
    alarms = r.alarms
    mfct = r.mfct_data
    notes = r.notes
    return b"".join((
        _DECODED_PREFIX, _ident_json(r.identity, dumps),
        b',"meter":', _ident_json(r.tpl_identity, dumps),
        mid[0], b"null" if mc is None else dumps(mc),
        mid[1], b"null" if acc is None else dumps(acc),
        mid[2], records_json(r.readings, dumps),
        b',"fields":', dumps(fields),
        b',"alarms":', dumps(sorted(a.value for a in alarms)) if alarms else b"[]",
        b',"alarm_bits":', dumps(r.alarm_bits),
        b',"mfct_data":', b'"' + binascii.hexlify(mfct).upper() + b'"' if mfct else b"null",
        b',"notes":', dumps(list(notes)) if notes else b"[]",
        b',"telegram":"', binascii.hexlify(r.raw).upper(), b'"}',
    ))


def to_wmbusmeters(r: Decoded | Rejection, name: str = "", timestamp: str | None = None) -> dict[str, Any]:
    """wmbusmeters' JSON: `_`, media, meter, name, id, the driver's fields, timestamp."""
    if not r.ok:
        return error_dict(r)
    d: dict[str, Any] = {
        "_": "telegram",
        "media": r.media,
        "meter": r.driver or "unknown",
        "name": name,
        "id": r.meter.id,
    }
    for k, v in r.fields.items():
        d[k] = _jsonable(v)
    d["timestamp"] = timestamp or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return d
