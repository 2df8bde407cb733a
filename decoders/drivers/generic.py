"""The fallback for meters no driver claims: every standard record under a standard field name.

Names follow the wmbusmeters conventions (`total_m3` for the current volume, `target_m3` + `target_date`
for the value at the due date, `<quantity>_<unit>`). Records with storage > 1, tariffs or subunits get
`_storage_<n>`, `_tariff_<n>`, `_subunit_<n>` infixes so that nothing is silently dropped.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers.base import Driver, format_value, sts_text
from decoders.model import Reading
from decoders.telegram import Telegram

# quantity -> (base field name, unit suffix); storage 0 instantaneous records
_NAMES: dict[str, tuple[str, str]] = {
    "volume": ("total", "m3"),
    "energy": ("total_energy_consumption", "kwh"),
    "volume_flow": ("volume_flow", "m3h"),
    "power": ("power", "kw"),
    "flow_temperature": ("flow_temperature", "c"),
    "return_temperature": ("return_temperature", "c"),
    "temperature_difference": ("flow_return_temperature_difference", "c"),
    "external_temperature": ("external_temperature", "c"),
    "operating_time": ("operating_time", "h"),
    "on_time": ("on_time", "h"),
    "mass": ("mass", "kg"),
    "mass_flow": ("mass_flow", "kgh"),
    "pressure": ("pressure", "bar"),
    "hca": ("current_consumption", "hca"),
    "voltage": ("voltage", "v"),
    "current": ("current", "a"),
    "relative_humidity": ("current_relative_humidity", "rh"),
    "remaining_battery": ("remaining_battery_life", "d"),
    "actuality_duration": ("actuality_duration", "s"),
    "averaging_duration": ("averaging_duration", "s"),
    "reactive_energy": ("total_reactive_energy_consumption", "kvarh"),
    "frequency": ("frequency", "hz"),
}
_TARGET_NAMES: dict[str, tuple[str, str]] = {
    "volume": ("target", "m3"),
    "energy": ("target_energy", "kwh"),
    "hca": ("consumption_at_set_date", "hca"),
}
_PLAIN: dict[str, str] = {
    "fabrication_no": "fabrication_no",
    "error_flags": "error_flags",
    "model_version": "model_version",
    "firmware_version": "firmware_version",
    "software_version": "software_version",
    "hardware_version": "hardware_version",
    "enhanced_id": "enhanced_id",
    "customer": "customer",
    "customer_location": "customer_location",
    "parameter_set": "parameter_set",
}
# identifiers print as text the way they are written on the meter (BCD digits keep leading zeros)
_TEXT = frozenset({"fabrication_no", "enhanced_id", "customer", "customer_location"})
_SECONDS = {"actuality_duration": 3600.0, "averaging_duration": 3600.0}  # parser gives hours
_DAYS = {"remaining_battery": 1 / 24}


def _infix(r: Reading) -> str:
    parts = []
    if r.function != "instantaneous":
        parts.append(r.function)
    if r.tariff:
        parts.append(f"tariff_{r.tariff}")
    if r.subunit:
        parts.append(f"subunit_{r.subunit}")
    return "_".join(parts)


def standard_name(r: Reading) -> str | None:
    """The generic field name of a record, or None when it has none (manufacturer records)."""
    q = r.quantity
    if q in _PLAIN and r.storage == 0:
        return _PLAIN[q]
    if q in ("date", "datetime") and r.function != "instantaneous":
        name = f"{r.function}_{q}"
        return name if r.storage == 0 else f"{name}_storage_{r.storage}"
    if q == "date":
        if r.storage == 0:
            return "meter_date"
        return "target_date" if r.storage == 1 else f"date_storage_{r.storage}"
    if q == "datetime":
        if r.storage == 0:
            return "meter_datetime"
        return "target_datetime" if r.storage == 1 else f"datetime_storage_{r.storage}"
    if r.storage == 1 and q in _TARGET_NAMES:
        base, unit = _TARGET_NAMES[q]
    elif q in _NAMES:
        base, unit = _NAMES[q]
        if r.storage:
            base = f"{base}_storage_{r.storage}"
    else:
        return None
    if "backward" in r.vifes:
        base = base.replace("total", "total_backward") if "total" in base else f"{base}_backward"
    elif "forward" in r.vifes:
        base = base.replace("total", "total_forward") if "total" in base else f"{base}_forward"
    infix = _infix(r)
    return f"{base}_{infix}_{unit}" if infix else f"{base}_{unit}"


# record header hex -> (field name or None, unit multiplier): the header fixes quantity, storage,
# tariff, subunit, function and VIFEs, so each distinct header is named once per process
_NAME_CACHE: dict[str, tuple[str | None, float]] = {}
_NUMBER = (int, float)


def _text(r: Reading) -> Any:
    if r.dif_vif and (int(r.dif_vif[:2], 16) & 0x0F) in (0x09, 0x0A, 0x0B, 0x0C, 0x0E):
        return r.raw[::-1].hex().upper()
    v = r.value
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else format_value(v)


class GenericDriver(Driver):
    name = "unknown"

    def fields(self, tg: Telegram) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cache = _NAME_CACHE
        fmt = format_value
        for r in tg.readings:
            hit = cache.get(r.dif_vif)
            if hit is None or r.quantity == "plain_text_unit":
                q = r.quantity
                hit = (standard_name(r), _SECONDS.get(q) or _DAYS.get(q) or 1.0)
                if len(cache) < 50_000 and q != "plain_text_unit":
                    cache[r.dif_vif] = hit
            name, mult = hit
            if name is None or name in out:
                continue
            if r.quantity in _TEXT:
                out[name] = _text(r)
                continue
            v = r.value
            t = type(v)
            if mult != 1.0 and t in _NUMBER:
                v = v * mult
                t = type(v)
            # format_value's two common cases inline (it is called once per record of every telegram)
            if t is float:
                out[name] = round(v, 9)
            elif t is int or v is None:
                out[name] = v
            else:
                out[name] = fmt(v)
        if tg.sts is not None:
            out["status"] = sts_text(tg.sts)
        return out


GENERIC = GenericDriver()
