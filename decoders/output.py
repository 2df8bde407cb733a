"""Decode results as JSON-ready dicts: the project's own schema and the wmbusmeters-compatible one.

Keys never appear here: a Decoded holds no key, and a Rejection's detail never names one.
"""

from __future__ import annotations

import datetime as _dt
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


# record header hex -> the JSON keys it fixes (all but the value): built once per distinct header
_RECORD_STATIC: dict[tuple[str, str], dict[str, Any]] = {}
def _record(x: Reading) -> dict[str, Any]:
    key = (x.dif_vif, x.unit)
    static = _RECORD_STATIC.get(key)
    if static is None:
        static = {"quantity": x.quantity, "unit": x.unit, "storage": x.storage, "tariff": x.tariff,
                  "subunit": x.subunit, "function": x.function, "dif_vif": x.dif_vif}
        if x.vifes:
            static["vifes"] = x.vifes  # a tuple: shared safely, serialised as an array
        if len(_RECORD_STATIC) < 50_000:
            _RECORD_STATIC[key] = static
    v = x.value
    return {"value": v if type(v) in _PLAIN else _jsonable(v), **static}


def error_dict(r: Rejection) -> dict[str, Any]:
    d: dict[str, Any] = {"_": "error", "reason": r.reason.value, "detail": r.detail, "telegram": r.raw.hex().upper()}
    if r.identity is not None:
        d["id"] = r.identity.id
        d["manufacturer"] = r.identity.manufacturer
    return d


def to_json(r: Decoded | Rejection) -> dict[str, Any]:
    """The project's own schema (`schema` 1): identity, layers, security outcome, records with units."""
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
        "records": [_record(x) for x in r.readings],
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
