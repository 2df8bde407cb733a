"""Decode results as JSON-ready dicts: the project's own schema and the wmbusmeters-compatible one.

Keys never appear here: a Decoded holds no key, and a Rejection's detail never names one.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from decoders.drivers.base import format_value, sts_text
from decoders.model import Decoded, Identity, Reading, Rejection

SCHEMA_VERSION = 1


def _ident(i: Identity | None) -> dict[str, Any] | None:
    if i is None:
        return None
    return {"manufacturer": i.manufacturer, "id": i.id, "version": i.version, "device_type": i.device_type}


_PLAIN = frozenset({int, str, type(None), bool})


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


def records_json(readings: list[Reading], dumps: Callable[[Any], bytes]) -> bytes:
    """The "records" array of `to_json` as JSON text, byte for byte what `dumps` makes of the dicts: each
    record's constant keys are serialised once per record kind, so a telegram serialises only its values."""
    parts = []
    text = _RECORD_TEXT
    for x in readings:
        key = (x.dif_vif, x.unit, x.quantity, x.storage, x.tariff, x.subunit, x.function, x.vifes)
        tail = text.get(key)
        if tail is None:
            key, static = _static(x)
            tail = text[key] = b"," + dumps(static)[1:]
        v = x.value
        parts.append(b'{"value":' + dumps(v if type(v) in _PLAIN else _jsonable(v)) + tail)
    return b"[" + b",".join(parts) + b"]"


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
