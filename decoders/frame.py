"""`Frame`: a normalised telegram plus where and how it was heard. Every source produces exactly this."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

# The times a Frame may carry on the wire (received_at, a fix time): a van's clock can be wrong (a board
# without an RTC boots in 1970), but not at the ends of the calendar, where the store's conversion to UTC
# and its day arithmetic overflow datetime. sync.messages refuses others; log readers date such frames
# when read instead.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)  # exclusive


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float
    speed_kmh: float | None = None
    fix_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    telegram: bytes                   # starts at L, no CRCs, L == len - 1
    received_at: datetime             # UTC, when the receiver heard it
    source: str                       # e.g. "im871a:/dev/ttyUSB0", "iq:drive.cu8"
    link_mode: str | None = None      # "T1", "C1", "S1", "MBUS", ...
    frame_format: str | None = None   # "A", "B" or None when unknown
    rssi_dbm: float | None = None
    snr_db: float | None = None
    freq_offset_hz: float | None = None
    crc_ok: bool | None = True        # None: the source could not tell (CRC-free input)
    stream_time: float | None = None  # seconds from the start of the stream (IQ sources)
    position: Position | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["telegram"] = self.telegram.hex().upper()
        d["received_at"] = self.received_at.isoformat()
        if self.position is not None:
            p = d["position"]
            if p.get("fix_time") is not None:
                p["fix_time"] = self.position.fix_time.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Frame:
        d = dict(d)
        d["telegram"] = bytes.fromhex(d["telegram"])
        received = datetime.fromisoformat(d["received_at"])
        d["received_at"] = received if received.tzinfo else received.replace(tzinfo=UTC)
        pos = d.get("position")
        if pos is not None:
            if pos.get("fix_time"):
                pos = dict(pos, fix_time=datetime.fromisoformat(pos["fix_time"]))
            d["position"] = Position(**pos)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
