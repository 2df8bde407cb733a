"""The `Driver` base class: what a meter family may add on top of the standard decode.

The core parses link, ELL, AFL and TPL layers and the standard security modes itself, then hands the
`Telegram` to the driver chosen by name or by (manufacturer, version, device type). A driver has three
hooks, all optional:

* `payload(tg)` — the application payload. The default parses standard DIF/VIF records (or a compact
  frame). Override it for manufacturer-specific CIs (0xA0–0xB7), manufacturer security modes (CFG mode
  16–31) or proprietary layouts: decrypt/descramble `tg.payload`, set `tg.security`/`tg.decryption`,
  then either call `tg_parse_records(tg)` or fill `tg.readings` yourself. Return a `Rejection` when the
  payload cannot be read (e.g. `reject(tg, Reject.WRONG_KEY, "...")`), else None.
* `fields(tg)` — the wmbusmeters-style output fields (`total_m3`, `target_date`, ...). The default
  applies the declarative `field_specs`, then `status_fields`.
* `alarms(tg)` — (normalised alarms, raw bits). The default maps the TPL status byte.

Keys: `tg.key()` gives the configured key (or None); try `default_keys` yourself when it is None. Never
put a key in a Rejection detail, a note, a log line or a field.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from decoders.model import Alarm, Reading, Reject, Rejection
from decoders.records import parse_payload
from decoders.tables import MEDIA
from decoders.telegram import Telegram

MFCT_CI = range(0xA0, 0xB8)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Which record becomes which output field.

    `name` is the full output name including the unit suffix (e.g. "total_m3"). A record matches when its
    quantity, storage, tariff, subunit and function match (None = any) and, when given, its `dif_vif`
    header hex equals `dif_vif` or its combinable VIFE names include all of `vifes`. `scale` multiplies
    numeric values (unit conversion); `fmt` turns the value into the printed form (dates, text).
    The first matching record wins.
    """

    name: str
    quantity: str | None = None
    storage: int | None = 0
    tariff: int | None = 0
    subunit: int | None = 0
    function: str | None = "instantaneous"
    dif_vif: str | None = None
    vifes: tuple[str, ...] = ()
    exclude_vifes: bool = True   # a record with combinable VIFEs not listed in `vifes` does not match
    scale: float = 1.0
    fmt: Callable[[Any], Any] | None = None

    def matches(self, r: Reading) -> bool:
        if self.dif_vif is not None:
            return r.dif_vif == self.dif_vif
        if self.quantity is not None and r.quantity != self.quantity:
            return False
        if self.storage is not None and r.storage != self.storage:
            return False
        if self.tariff is not None and r.tariff != self.tariff:
            return False
        if self.subunit is not None and r.subunit != self.subunit:
            return False
        if self.function is not None and r.function != self.function:
            return False
        vifes = r.vifes
        if self.vifes and not all(v in vifes for v in self.vifes):
            return False
        return not (self.exclude_vifes and any(v not in self.vifes for v in vifes if v not in NEUTRAL_VIFES))

    def value(self, r: Reading) -> Any:
        v = r.value
        if self.fmt is not None:
            return self.fmt(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and self.scale != 1.0:
            return round_value(v * self.scale)
        return format_value(v)


# VIFE names that only rescale a value (already applied by the record parser): never a reason to skip.
NEUTRAL_VIFES = frozenset({"scaled"})


def round_value(v: float | int) -> float | int:
    """Remove binary noise from scaled decimals (0.1 * 3 -> 0.3) the way a decimal printer would."""
    if isinstance(v, int):
        return v
    return round(v, 9)


def _fmt_datetime(v: _dt.datetime) -> str:
    if v.tzinfo is None and v.year >= 1000:  # isoformat is the same text, without strftime's cost
        return v.isoformat(" ", "minutes")
    return v.strftime("%Y-%m-%d %H:%M")


def _fmt_date(v: _dt.date) -> str:
    if v.year >= 1000:
        return v.isoformat()
    return v.strftime("%Y-%m-%d")


def _fmt_time(v: _dt.time) -> str:
    return v.strftime("%H:%M:%S")


def _fmt_bytes(v: bytes) -> str:
    return v.hex().upper()


def _fmt_float(v: float) -> float:
    return round(v, 9)


# exact-type dispatch: one dict lookup instead of an isinstance chain on the hot path
_FORMATTERS: dict[type, Callable[[Any], Any]] = {
    _dt.datetime: _fmt_datetime, _dt.date: _fmt_date, _dt.time: _fmt_time, bytes: _fmt_bytes, float: _fmt_float,
}


_AS_IS = frozenset({int, str, type(None), bool})


def format_value(v: Any) -> Any:
    """Render a reading value as wmbusmeters prints it: dates YYYY-MM-DD, datetimes YYYY-MM-DD HH:MM."""
    t = type(v)
    if t in _AS_IS:
        return v
    f = _FORMATTERS.get(t)
    if f is not None:
        return f(v)
    if isinstance(v, (_dt.date, _dt.time, bytes, float)) and not isinstance(v, bool):  # subclasses
        for t, g in _FORMATTERS.items():
            if isinstance(v, t):
                return g(v)
    return v


def reject(tg: Telegram, reason: Reject, detail: str) -> Rejection:
    return Rejection(reason, detail, tg.raw, tg.meter, tuple(tg.ci_chain))


def tg_parse_records(tg: Telegram, payload: bytes | None = None) -> Rejection | None:
    """Parse standard DIF/VIF records (or a compact frame) from `payload` (default `tg.payload`)."""
    return parse_payload(tg, tg.payload if payload is None else payload)


def find(tg: Telegram, quantity: str, storage: int = 0, tariff: int = 0, subunit: int = 0,
         function: str = "instantaneous") -> Reading | None:
    for r in tg.readings:
        if (r.quantity == quantity and r.storage == storage and r.tariff == tariff and r.subunit == subunit
                and r.function == function):
            return r
    return None


# STS bits 0-4 are standard (EN 13757-7); 5-7 belong to the manufacturer.
STS_ALARMS: tuple[tuple[int, Alarm | None, str], ...] = (
    (0x04, Alarm.LOW_BATTERY, "POWER_LOW"),
    (0x08, Alarm.HARDWARE_ERROR, "PERMANENT_ERROR"),
    (0x10, None, "TEMPORARY_ERROR"),
)


def sts_text(sts: int | None) -> str:
    """The TPL status byte as wmbusmeters-style text: "OK" or space-separated flags."""
    if not sts:
        return "OK"
    flags = []
    app = sts & 0x03
    if app == 1:
        flags.append("BUSY")
    elif app == 2:
        flags.append("ERROR")
    elif app == 3:
        flags.append("ALARM")
    flags.extend(name for bit, _, name in STS_ALARMS if sts & bit)
    return " ".join(flags) if flags else "OK"


class Driver:
    """Base for meter-family drivers. Subclass, set the class attributes, register with @register."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    media: ClassVar[str] = ""           # wmbusmeters media ("water", "warm water", ...); "" -> device type
    meter_type: ClassVar[str] = ""      # "WaterMeter", "HeatMeter", ...
    detect: ClassVar[frozenset[tuple[str, int, int]]] = frozenset()  # (mfct, version, device type)
    default_keys: ClassVar[tuple[bytes, ...]] = ()
    compact_formats: ClassVar[Mapping[int, bytes]] = {}  # format signature -> DIF/VIF header bytes
    field_specs: ClassVar[tuple[FieldSpec, ...]] = ()
    # TPL security modes (8-15) the core cannot decrypt but hands to this driver instead of rejecting the
    # telegram: `payload` gets `decryption == "pending"` and may print the unencrypted header fields only
    opaque_security_modes: ClassVar[frozenset[int]] = frozenset()

    # --- hooks ---------------------------------------------------------------------------------

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.decryption == "pending":
            if tg.ci in MFCT_CI:
                return reject(tg, Reject.UNKNOWN_CI, f"manufacturer CI {tg.ci:02X} needs a driver for it")
            return reject(tg, Reject.UNSUPPORTED_SECURITY, f"security mode {tg.security_mode} not handled")
        return tg_parse_records(tg)

    def fields(self, tg: Telegram) -> dict[str, Any]:
        out: dict[str, Any] = {}
        readings = tg.readings
        for spec in self.field_specs:
            if spec.name in out:
                continue
            for r in readings:
                if spec.matches(r):
                    out[spec.name] = spec.value(r)
                    break
        out.update(self.status_fields(tg))
        return out

    def status_fields(self, tg: Telegram) -> dict[str, Any]:
        return {}

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        sts = tg.sts
        if not sts:
            return frozenset(), ({} if sts is None else {"sts": sts})
        found = {a for bit, a, _ in STS_ALARMS if sts & bit and a is not None}
        return frozenset(found), {"sts": sts}

    # --- helpers ---------------------------------------------------------------------------------

    def media_for(self, tg: Telegram) -> str:
        if self.media:
            return self.media
        ident = tg.meter
        return MEDIA.get(ident.device_type, "unknown") if ident is not None else "unknown"

    def __repr__(self) -> str:
        return f"<driver {self.name}>"
