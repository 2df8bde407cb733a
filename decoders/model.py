"""The project's own result types. No construct containers ever leave decoders/.

`decode()` returns a `Decoded` or a `Rejection`, never None and never an exception for bad bytes. The raw
telegram always travels with the result, so nothing is lost when decoding fails.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Reject(enum.StrEnum):
    """Why a telegram could not be decoded (counted in statistics, shown to crews)."""

    LENGTH = "LENGTH"                      # shorter than its L field or a header needs
    CRC = "CRC"                            # DLL CRC present but wrong
    CHECKSUM = "CHECKSUM"                  # wired M-Bus checksum wrong
    UNKNOWN_CI = "UNKNOWN_CI"              # CI field with no layer decoder
    NO_KEY = "NO_KEY"                      # encrypted and no key configured
    WRONG_KEY = "WRONG_KEY"                # decrypted with the configured key, check failed
    DECRYPT_FAILED = "DECRYPT_FAILED"      # ciphertext malformed (length, padding)
    MAC_MISMATCH = "MAC_MISMATCH"          # AFL MAC does not verify
    PAYLOAD_CRC = "PAYLOAD_CRC"            # ELL payload CRC after decryption fails
    UNSUPPORTED_SECURITY = "UNSUPPORTED_SECURITY"
    TRUNCATED_RECORD = "TRUNCATED_RECORD"  # a data record runs past the end
    BAD_RECORD = "BAD_RECORD"              # DIF/VIF chain malformed
    COMPACT_FORMAT_UNKNOWN = "COMPACT_FORMAT_UNKNOWN"  # compact frame before its format was learned
    MALFORMED = "MALFORMED"                # anything else structurally wrong


class Alarm(enum.StrEnum):
    """Alarms normalised across manufacturers; drivers map their bits onto these."""

    LEAK = "leak"
    BURST = "burst"
    BACKFLOW = "backflow"
    DRY = "dry"
    TAMPER_MAGNET = "tamper_magnet"
    TAMPER_REMOVAL = "tamper_removal"
    TAMPER_OPENING = "tamper_opening"
    TAMPER = "tamper"
    LOW_BATTERY = "low_battery"
    BLOCKED = "blocked"
    NO_CONSUMPTION = "no_consumption"
    OVERFLOW = "overflow"
    UNDERFLOW = "underflow"
    FROST = "frost"
    HARDWARE_ERROR = "hardware_error"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a telegram. The same id may be used by several manufacturers: key by all four."""

    manufacturer: str   # three letters, e.g. "APA"
    id: str             # eight BCD digits as printed on the meter, e.g. "12345678"
    version: int
    device_type: int

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.manufacturer, self.id, self.version, self.device_type)


Value = int | float | str | date | datetime | bytes | None


@dataclass(slots=True)
class Reading:
    """One data record, in SI-ish units (m3, kWh, C, h, ...)."""

    quantity: str                  # "volume", "volume_flow", "energy", "flow_temperature", "date", ...
    value: Value
    unit: str                      # "m3", "m3/h", "kWh", "C", "h", "" ...
    storage: int = 0
    tariff: int = 0
    subunit: int = 0
    function: str = "instantaneous"  # instantaneous | maximum | minimum | error
    dif_vif: str = ""              # the record header as hex, for drivers and debugging
    vif: int = -1                  # primary VIF code without the extension bit; 0xFDxx / 0xFBxx for tables
    vifes: tuple[str, ...] = ()    # combinable VIFE meanings, e.g. ("backward",), ("error",), ("start_date",)
    raw: bytes = b""               # the record's data bytes as sent (drivers reinterpret, nothing is lost)


@dataclass(slots=True)
class Decoded:
    raw: bytes
    identity: Identity
    c_field: int
    ci_chain: tuple[str, ...] = ()          # e.g. ("ELL:8D", "TPL:7A")
    security: str = "none"                  # none | mode5 | mode7 | ell_ctr | mfct_* ...
    access_number: int | None = None
    status: int | None = None               # TPL STS byte
    readings: list[Reading] = field(default_factory=list)
    alarms: frozenset[Alarm] = frozenset()
    alarm_bits: dict[str, int] = field(default_factory=dict)  # raw bits beside the normalised alarms
    driver: str | None = None               # None: no driver claimed it (generic decode)
    fields: dict[str, Any] = field(default_factory=dict)      # driver output, wmbusmeters-style names
    media: str = ""
    tpl_identity: Identity | None = None    # the meter behind a radio converter (long TPL header)
    notes: tuple[str, ...] = ()
    decryption: str = "plain"               # plain | decrypted | already_decrypted | descrambled | not_decrypted
    frame_format: str = "none"              # A | B | none (CRC-free) | mbus (wired long frame)
    message_counter: int | None = None      # AFL (mode 7) message counter
    mac_verified: bool | None = None        # AFL MAC checked with the key (None: no MAC or no key)
    cfg: int | None = None                  # TPL configuration word
    compact: bool = False                   # compact frame decoded with a known format
    mfct_data: bytes = b""                  # manufacturer data after a 0x0F/0x1F DIF, raw
    meter_type: str = ""                    # driver's meter type ("WaterMeter", ...)
    meter_identity: Identity | None = None  # set by drivers whose meters code their id their own way

    ok = True

    @property
    def meter(self) -> Identity:
        """The metering device: a driver's override, else the long-header identity, else the link one."""
        return self.meter_identity or self.tpl_identity or self.identity


@dataclass(slots=True)
class Rejection:
    reason: Reject
    detail: str
    raw: bytes
    identity: Identity | None = None
    ci_chain: tuple[str, ...] = ()

    ok = False


DecodeResult = Decoded | Rejection
