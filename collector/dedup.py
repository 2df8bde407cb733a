"""One transmission, heard many times, is one frame (domain.md §4.3).

A meter sending every 8-20 s is heard 2-10 times per pass, receivers double-decode, and two receivers
in one van hear the same transmission. Two rules say "same transmission":

* identical telegram bytes, or
* the same (manufacturer, id, version, device type, access number) heard via another path (the bytes may
  differ in link-layer details, e.g. a repeater's C field or a hop bit).

A different access number is always new evidence, even when the payload bytes repeat: a meter whose
reading did not change may send identical ciphertext-looking data, and a "last N payload hashes" rule
would hide it for the whole shift.

Memory is bounded by time: an entry lives `window_s` seconds of *frame time* (received_at, so a replay
dedups exactly as the live drive did) and at most `max_entries` entries are kept. The window must stay
well below 256 transmissions of the fastest meter (8 s x 256 = 34 min), or the wrapped access number
of a later, different transmission would be taken for a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from decoders.frame import Frame
from decoders.model import Decoded, Rejection
from sync.outbox import telegram_key

DEFAULT_WINDOW_S = 60.0
DEFAULT_MAX_ENTRIES = 200_000

# Where the TPL access number sits in a normalised telegram, by the CI right after the link layer.
# Decoded results carry it; for rejected frames (no key, unknown driver) we read the header ourselves.
_ACC_OFFSET = {0x7A: 11, 0x5A: 11, 0x7B: 11, 0x8C: 12, 0x8D: 12, 0x8E: 12, 0x8F: 12,
               0x72: 19, 0x53: 19, 0x73: 19, 0x8B: 19}


def manufacturer_code(m: int) -> str:
    m &= 0x7FFF
    return "".join(chr(((m >> s) & 0x1F) + 64) for s in (10, 5, 0))


def link_header(telegram: bytes) -> tuple[str, str, int, int] | None:
    """(manufacturer, id, version, device type) from the link layer, or None if too short."""
    if len(telegram) < 10:
        return None
    m = int.from_bytes(telegram[2:4], "little")
    ident = telegram[4:8][::-1].hex().upper()
    return manufacturer_code(m), ident, telegram[8], telegram[9]


def header_access_number(telegram: bytes) -> int | None:
    if len(telegram) < 11:
        return None
    off = _ACC_OFFSET.get(telegram[10])
    if off is None or off >= len(telegram):
        return None
    return telegram[off]


def transmission_id(frame: Frame, result: Decoded | Rejection | None) -> tuple | None:
    """(M, id, ver, type, ACC) of the transmission, when an access number is known."""
    acc = None
    ident = None
    if result is not None and result.ok:
        acc = result.access_number  # type: ignore[union-attr]
        i = result.identity  # the link-layer sender: a repeater path keeps it
        ident = (i.manufacturer, i.id, i.version, i.device_type)
    if acc is None:
        acc = header_access_number(frame.telegram)
    if ident is None:
        ident = link_header(frame.telegram)
    if acc is None or ident is None:
        return None
    return (*ident, acc)


# the outbox's own key, so a repeat can find the row its first hearing made
bytes_key = telegram_key


@dataclass(slots=True)
class Seen:
    key: bytes                 # the outbox dedup key of the first hearing
    first_ts: float            # first_at as epoch seconds: expiry compares floats, not datetimes
    first_at: datetime
    last_at: datetime
    count: int = 1
    best_rssi: float | None = None
    frame: Frame | None = None  # the first hearing (the one stored)
    alt_keys: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Observation:
    key: bytes            # dedup key of the transmission (== outbox dedup_key)
    first: bool           # True: new evidence, store it; False: a repeat of `key`
    count: int            # hearings so far, this one included
    best_rssi: float | None
    improved_rssi: bool   # this hearing is the loudest so far


class Dedup:
    def __init__(self, window_s: float = DEFAULT_WINDOW_S, max_entries: int = DEFAULT_MAX_ENTRIES):
        if window_s <= 0 or max_entries <= 0:
            raise ValueError("window_s and max_entries must be positive")
        self.window_s = window_s
        self.max_entries = max_entries
        # Two indexes onto the same Seen objects; ordered by first hearing so expiry pops from the front.
        self._by_bytes: OrderedDict[bytes, Seen] = OrderedDict()
        self._by_tx: dict[tuple, Seen] = {}
        self._tx_of: dict[bytes, tuple] = {}
        self.frames_in = 0
        self.unique = 0
        self.duplicates = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_bytes)

    def _expire(self, now_ts: float) -> None:
        by_bytes = self._by_bytes
        horizon = now_ts - self.window_s
        while by_bytes:
            k = next(iter(by_bytes))
            seen = by_bytes[k]
            if seen.first_ts >= horizon and len(by_bytes) <= self.max_entries:
                break
            del by_bytes[k]
            tx = self._tx_of.pop(k, None)
            if tx is not None and self._by_tx.get(tx) is seen:
                del self._by_tx[tx]
            self.evicted += 1

    def observe(self, frame: Frame, result: Decoded | Rejection | None = None) -> Observation:
        self.frames_in += 1
        now = frame.received_at
        now_ts = now.timestamp()
        self._expire(now_ts)
        bk = bytes_key(frame.telegram)
        seen = self._by_bytes.get(bk)
        tx = None
        if seen is None:
            tx = transmission_id(frame, result)
            if tx is not None:
                seen = self._by_tx.get(tx)
        if seen is not None and now_ts - seen.first_ts <= self.window_s:
            seen.count += 1
            if now > seen.last_at:
                seen.last_at = now
            improved = frame.rssi_dbm is not None and (seen.best_rssi is None or frame.rssi_dbm > seen.best_rssi)
            if improved:
                seen.best_rssi = frame.rssi_dbm
            self.duplicates += 1
            return Observation(seen.key, False, seen.count, seen.best_rssi, improved)
        seen = Seen(key=bk, first_ts=now_ts, first_at=now, last_at=now, best_rssi=frame.rssi_dbm, frame=frame)
        self._by_bytes[bk] = seen
        self._by_bytes.move_to_end(bk)
        if tx is None:
            tx = transmission_id(frame, result)
        if tx is not None:
            self._by_tx[tx] = seen
            self._tx_of[bk] = tx
        self.unique += 1
        self._expire(now_ts)  # the size bound
        return Observation(bk, True, 1, frame.rssi_dbm, frame.rssi_dbm is not None)

    def stats(self) -> dict[str, int]:
        return {"frames_in": self.frames_in, "unique": self.unique, "duplicates": self.duplicates,
                "evicted": self.evicted, "tracked": len(self._by_bytes)}
