"""The van's outbox: every frame heard, kept in SQLite until the server has committed it.

Durability model (engineering.md §4.1):
- WAL + synchronous=FULL: a transaction is on disk once COMMIT returns (if the storage honours fsync),
  so `append` returns sequence numbers only after COMMIT. Application crash / kill -9 never loses a
  committed row in WAL mode; power loss does not either with FULL.
- Callers batch: one `append` call is one transaction (group commit). The collector's writer thread
  gathers ~100 rows or ~250 ms per call; per-row commits would cap us at a few thousand rows/s.
- AUTOINCREMENT so a sequence number is never reused after acked rows are deleted: the server can
  reason about gaps.
- Every frame is kept with its decode outcome, including undecryptable and unknown ones: the raw
  telegram is the truth, and a key that arrives next week turns it into a reading.
- Disk policy: a byte cap with a warning level well below it. For billing data we reject new rows
  (raise `OutboxFull`, count it, alarm) instead of dropping the oldest, which would silently lose
  readings that nobody has received yet.

Rows move: pending --lease--> in flight --ack--> deleted, or --release--> pending again (Telegraf's
buffer API: Add = append, Batch = lease, Accept = ack, Reject = release; the same contract suite runs over
every configuration, tests/collector/test_outbox.py). A lease is a row in `leases` per run of consecutive
seqs, not a mark on each row. Leases left by a crashed process are released on open (by default) so the
publisher simply leases them again under a new batch id; the server is idempotent on natural keys.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decoders.frame import Frame
from decoders.model import Decoded, Rejection

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

DEFAULT_MAX_BYTES = 2 * 1024**3          # ~4-100 van-days at 15-500 MB/day (domain.md §4.4)
DEFAULT_WARN_FRACTION = 0.75
DEFAULT_MIN_FREE_BYTES = 200 * 1024**2   # leave the OS and the raw capture room to breathe

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key     BLOB    NOT NULL UNIQUE,
    received_at   TEXT    NOT NULL,
    last_heard_at TEXT    NOT NULL,
    times_heard   INTEGER NOT NULL DEFAULT 1,
    best_rssi     REAL,
    kind          TEXT    NOT NULL,
    reason        TEXT,
    manufacturer  TEXT,
    meter_id      TEXT,
    version       INTEGER,
    device_type   INTEGER,
    access_number INTEGER,
    source        TEXT,
    frame         TEXT    NOT NULL,
    outcome       TEXT    NOT NULL,
    batch_id      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_batch ON outbox(batch_id) WHERE batch_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS leases (
    batch_id TEXT    NOT NULL,
    seq_from INTEGER NOT NULL,
    seq_to   INTEGER NOT NULL,
    PRIMARY KEY (batch_id, seq_from)
);
"""


class OutboxError(Exception):
    """Base of the outbox's typed errors."""


class OutboxFull(OutboxError):
    """The outbox reached its cap (or the disk its floor); new rows are refused, nothing old is dropped."""

    def __init__(self, used_bytes: int, cap_bytes: int, free_bytes: int):
        super().__init__(
            f"outbox full: {used_bytes / 1e6:.1f} MB used of {cap_bytes / 1e6:.1f} MB cap, "
            f"{free_bytes / 1e6:.1f} MB free on disk"
        )
        self.used_bytes = used_bytes
        self.cap_bytes = cap_bytes
        self.free_bytes = free_bytes


class UnknownBatch(OutboxError):
    """ack/release of a batch id that holds no rows (already acked, released, or never leased here)."""


# --- what goes in ----------------------------------------------------------------------------------

def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex().upper()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        items = [_jsonable(x) for x in v]
        return sorted(items, key=str) if isinstance(v, set | frozenset) else items
    if isinstance(v, float) and v != v:  # NaN is not JSON
        return None
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def _identity_dict(ident: Any) -> dict[str, Any] | None:
    if ident is None:
        return None
    return {"manufacturer": ident.manufacturer, "id": ident.id, "version": ident.version,
            "device_type": ident.device_type}


def frame_dict(f: Frame) -> dict[str, Any]:
    """`Frame.to_dict()` without dataclasses.asdict's deep copies (100 us a frame, most of an append).
    Same keys and values, so `Frame.from_dict` reads it back."""
    pos = f.position
    return {
        "telegram": f.telegram.hex().upper(), "received_at": f.received_at.isoformat(), "source": f.source,
        "link_mode": f.link_mode, "frame_format": f.frame_format, "rssi_dbm": f.rssi_dbm, "snr_db": f.snr_db,
        "freq_offset_hz": f.freq_offset_hz, "crc_ok": f.crc_ok, "stream_time": f.stream_time,
        "position": None if pos is None else {
            "lat": pos.lat, "lon": pos.lon, "speed_kmh": pos.speed_kmh,
            "fix_time": pos.fix_time.isoformat() if pos.fix_time is not None else None},
        **{k: getattr(f, k) for k in _EXTRA_FRAME_FIELDS},
    }


# fields other engineers may add to Frame later (with defaults): carried along generically
_EXTRA_FRAME_FIELDS = tuple(k for k in Frame.__dataclass_fields__ if k not in {
    "telegram", "received_at", "source", "link_mode", "frame_format", "rssi_dbm", "snr_db", "freq_offset_hz",
    "crc_ok", "stream_time", "position"})


def outcome_to_dict(result: Decoded | Rejection | None) -> dict[str, Any]:
    """A JSON-safe summary of a decode result. The raw bytes live in the frame, not here."""
    if result is None:
        return {"ok": False, "reason": "NOT_DECODED", "detail": "no decoder ran", "identity": None}
    if not result.ok:
        rej: Rejection = result  # type: ignore[assignment]
        return {"ok": False, "reason": str(rej.reason), "detail": rej.detail,
                "identity": _identity_dict(rej.identity), "ci_chain": list(rej.ci_chain)}
    d: Decoded = result  # type: ignore[assignment]
    return {
        "ok": True,
        "identity": _identity_dict(d.identity),
        "meter": _identity_dict(d.meter),
        "c_field": d.c_field,
        "ci_chain": list(d.ci_chain),
        "security": d.security,
        "access_number": d.access_number,
        "status": d.status,
        "driver": d.driver,
        "media": d.media,
        "alarms": sorted(str(a) for a in d.alarms),
        "alarm_bits": _jsonable(d.alarm_bits),
        "readings": [
            {"quantity": r.quantity, "value": _jsonable(r.value), "unit": r.unit, "storage": r.storage,
             "tariff": r.tariff, "subunit": r.subunit, "function": r.function, "dif_vif": r.dif_vif}
            for r in d.readings
        ],
        "fields": _jsonable(d.fields),
        "notes": list(d.notes),
    }


def transmission_key(frame: Frame) -> bytes:
    """Outbox identity of one heard transmission: a hash of the normalised telegram.

    The telegram already holds manufacturer, id, version, type and access number; hashing all of it
    (not just the ACC, which wraps every 256 transmissions) keeps two different transmissions apart.
    """
    return telegram_key(frame.telegram)


def telegram_key(telegram: bytes) -> bytes:
    return hashlib.sha256(b"amr-tx-1\0" + telegram).digest()[:16]


@dataclass(slots=True)
class OutboxItem:
    """One transmission to store. `dedup_key` identifies it; a second append with the same key merges
    (times_heard adds up, best RSSI kept) instead of adding a row."""

    frame: Frame
    outcome: dict[str, Any]
    dedup_key: bytes
    times_heard: int = 1
    best_rssi: float | None = None
    last_heard_at: dt.datetime | None = None

    @classmethod
    def from_result(cls, frame: Frame, result: Decoded | Rejection | None, *, times_heard: int = 1,
                    dedup_key: bytes | None = None) -> OutboxItem:
        return cls(frame=frame, outcome=outcome_to_dict(result),
                   dedup_key=dedup_key if dedup_key is not None else transmission_key(frame),
                   times_heard=times_heard, best_rssi=frame.rssi_dbm)


@dataclass(slots=True)
class Touch:
    """A later hearing of a transmission already stored: bump its count and best RSSI. Never inserts."""

    dedup_key: bytes
    count: int = 1
    rssi_dbm: float | None = None
    heard_at: dt.datetime | None = None


# --- what comes out --------------------------------------------------------------------------------

@dataclass(slots=True)
class OutboxRow:
    seq: int
    dedup_key: bytes
    received_at: str
    last_heard_at: str
    times_heard: int
    best_rssi: float | None
    kind: str                       # "decoded" | "rejected"
    frame: Frame
    outcome: dict[str, Any]
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for the wire."""
        return {"seq": self.seq, "dedup_key": self.dedup_key.hex(), "received_at": self.received_at,
                "last_heard_at": self.last_heard_at, "times_heard": self.times_heard,
                "best_rssi": self.best_rssi, "kind": self.kind, "frame": self.frame.to_dict(),
                "outcome": self.outcome, "attempts": self.attempts}


@dataclass(slots=True)
class Batch:
    batch_id: str
    rows: list[OutboxRow] = field(default_factory=list)

    @property
    def seqs(self) -> list[int]:
        return [r.seq for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class OutboxStats:
    pending: int            # rows not yet acked (in flight included)
    in_flight: int          # rows leased, waiting for an ack
    oldest_received_at: str | None
    first_seq: int | None
    last_seq: int           # highest seq ever assigned
    used_bytes: int
    cap_bytes: int
    free_disk_bytes: int
    level: str              # "ok" | "warn" | "full"
    last_ack_at: str | None
    last_acked_seq: int | None
    acked_total: int
    # counters of this process
    added: int
    merged: int
    acked: int
    released: int
    rejected_full: int
    commits: int

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


# --- the outbox ------------------------------------------------------------------------------------

def _iso(t: dt.datetime | None) -> str:
    if t is None:
        t = dt.datetime.now(dt.UTC)
    elif t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


class Outbox:
    """SQLite outbox. Thread-safe (one connection, one lock); several processes may open the same file
    (WAL readers never block; writers wait up to `busy_timeout_s`)."""

    def __init__(self, path: str | os.PathLike[str], *, van_id: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, warn_fraction: float = DEFAULT_WARN_FRACTION,
                 min_free_bytes: int = DEFAULT_MIN_FREE_BYTES, release_stale: bool = True,
                 busy_timeout_s: float = 30.0, synchronous: str = "FULL"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.warn_fraction = warn_fraction
        self.min_free_bytes = min_free_bytes
        self._lock = threading.RLock()
        self._warned_level = "ok"
        self._counters = {"added": 0, "merged": 0, "acked": 0, "released": 0, "rejected_full": 0,
                          "commits": 0}
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly one call.
        self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, EXTRA or NORMAL, not {synchronous!r}")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA journal_size_limit=67108864")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        self._create_schema(van_id)
        if release_stale:
            n = self.release_all()
            if n:
                log.info("outbox %s: released %d rows leased by a previous process", self.path, n)

    # -- plumbing --

    @contextlib.contextmanager
    def _tx(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._counters["commits"] += 1

    def _create_schema(self, van_id: str | None) -> None:
        with self._tx() as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                db.execute("INSERT INTO meta VALUES ('created_at', ?)", (_iso(None),))
                db.execute("INSERT INTO meta VALUES ('acked_total', '0')")
            elif int(row[0]) > SCHEMA_VERSION:
                raise OutboxError(f"{self.path}: schema version {row[0]} is newer than this code "
                                  f"({SCHEMA_VERSION})")
            if van_id is not None:
                db.execute("INSERT INTO meta VALUES ('van_id', ?) ON CONFLICT(key) DO UPDATE SET "
                           "value=excluded.value", (van_id,))

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def van_id(self) -> str | None:
        with self._lock:
            return self._meta("van_id")

    def meta(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                       (key, value))

    # -- disk policy --

    def used_bytes(self) -> int:
        """Bytes of live pages. Pages freed by acks count as room again (SQLite reuses them), so an outbox
        that hit its cap recovers as soon as the server acks, without a VACUUM. The WAL is left out: it
        is recycled after each checkpoint and bounded by journal_size_limit; the free-disk floor covers it."""
        with self._lock:
            try:
                pages = self._db.execute("PRAGMA page_count").fetchone()[0]
                free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
                size = self._db.execute("PRAGMA page_size").fetchone()[0]
            except sqlite3.Error:
                return self.file_bytes()
        return (pages - free) * size

    def file_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def _free_disk(self) -> int:
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return 0

    def level(self) -> str:
        used, free = self.used_bytes(), self._free_disk()
        if used >= self.max_bytes or free < self.min_free_bytes:
            return "full"
        if used >= self.max_bytes * self.warn_fraction or free < 2 * self.min_free_bytes:
            return "warn"
        return "ok"

    def _check_room(self) -> None:
        level = self.level()
        if level != self._warned_level:
            if level == "warn":
                log.warning("outbox %s above %.0f%% of its %.0f MB cap (or disk nearly full): sync soon",
                            self.path, self.warn_fraction * 100, self.max_bytes / 1e6)
            elif level == "full":
                log.error("OUTBOX FULL %s: refusing new frames until the server acks some", self.path)
            self._warned_level = level
        if level == "full":
            self._counters["rejected_full"] += 1
            raise OutboxFull(self.used_bytes(), self.max_bytes, self._free_disk())

    # -- writing --

    def append(self, items: Iterable[OutboxItem]) -> list[int]:
        """Store items in ONE transaction; return their seqs once COMMIT has returned.

        An item whose dedup_key is already stored merges into that row (its seq is returned)."""
        return self.write(items, ())[0]

    def touch(self, touches: Iterable[Touch]) -> int:
        """Record later hearings of stored transmissions; returns how many rows still existed."""
        return self.write((), touches)[1]

    def write(self, items: Iterable[OutboxItem], touches: Iterable[Touch]) -> tuple[list[int], int]:
        """Items and touches in one transaction (the collector's writer commits both kinds together)."""
        items = list(items)
        touches = list(touches)
        if not items and not touches:
            return [], 0
        if items:
            self._check_room()
        rows = [self._row(it) for it in items]
        touched = 0
        with self._tx() as db:
            # Look keys up first (an upsert would burn an AUTOINCREMENT value on every merge and leave gaps
            # the server would mistake for lost rows), then insert the new ones in one executemany.
            existing = self._existing(db, [r[0] for r in rows])
            new_rows: list[tuple] = []
            new_at: dict[bytes, int] = {}
            merges: list[tuple] = []
            for r in rows:
                if r[0] in existing or r[0] in new_at:
                    merges.append(r)
                else:
                    new_at[r[0]] = len(new_rows)
                    new_rows.append(r)
            if new_rows:
                before = self._last_seq(db)
                db.executemany(_INSERT, new_rows)
                after = self._last_seq(db)
                if after - before == len(new_rows):
                    # one writer inside BEGIN IMMEDIATE: AUTOINCREMENT hands out before+1 .. after in order
                    for k, i in new_at.items():
                        existing[k] = before + 1 + i
                else:  # never expected; stay correct anyway
                    existing.update(self._existing(db, list(new_at)))
            for r in merges:
                db.execute(_TOUCH, (r[3], r[4], r[4], r[4], r[2], r[0]))
            seqs = [existing[r[0]] for r in rows]
            added = len(new_rows)
            for t in touches:
                cur = db.execute(_TOUCH, (t.count, t.rssi_dbm, t.rssi_dbm, t.rssi_dbm,
                                          _iso(t.heard_at), t.dedup_key))
                touched += cur.rowcount
        self._counters["added"] += added
        self._counters["merged"] += len(rows) - added
        return seqs, touched

    @staticmethod
    def _existing(db: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, int]:
        found: dict[bytes, int] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            found.update(db.execute(f"SELECT dedup_key, seq FROM outbox WHERE dedup_key IN "
                                    f"({','.join('?' * len(chunk))})", chunk).fetchall())
        return found

    @staticmethod
    def _last_seq(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
        return row[0] if row else 0

    @staticmethod
    def _row(it: OutboxItem) -> tuple:
        f, o = it.frame, it.outcome
        ident = o.get("meter") or o.get("identity") or {}
        reason = None if o.get("ok") else o.get("reason")
        return (
            it.dedup_key, _iso(f.received_at), _iso(it.last_heard_at or f.received_at), it.times_heard,
            it.best_rssi if it.best_rssi is not None else f.rssi_dbm,
            "decoded" if o.get("ok") else "rejected", reason,
            ident.get("manufacturer"), ident.get("id"), ident.get("version"), ident.get("device_type"),
            o.get("access_number"), f.source,
            json.dumps(frame_dict(f), separators=(",", ":"), default=str),
            json.dumps(o, separators=(",", ":")),
        )

    # -- the sync side (Telegraf's Batch/Accept/Reject) --

    # A lease is a row in `leases` per run of consecutive pending rows it took (batch id, first seq, last
    # seq), not a mark on every row: an UPDATE rewrites each ~1.3 kB row (and its overflow pages) into the
    # WAL, which was half of the publisher's CPU per frame. `attempts` counts leases that ended without an
    # ack: it is bumped on release (rare), and a row in a live lease reads as one more. The outbox.batch_id
    # column and its index stay for files written by older versions (cleared by release_all).

    @staticmethod
    def _claim(db: sqlite3.Connection, max_items: int) -> tuple[str, list[tuple[int, int]]] | None:
        """Lease up to max_items pending rows, oldest first, under a new batch id (inside the caller's tx);
        returns the batch id and its runs (first seq, last seq)."""
        taken: list[tuple[int, int]] = []
        want = max_items
        after = 0
        held = db.execute("SELECT seq_from, seq_to FROM leases ORDER BY seq_from").fetchall()
        for lo, hi in [*held, (None, None)]:
            if lo is None:
                seqs = db.execute("SELECT seq FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, want))
            elif lo > after + 1:
                seqs = db.execute("SELECT seq FROM outbox WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?",
                                  (after, lo, want))
            else:
                seqs = ()
            got = [r[0] for r in seqs]
            if got:
                taken.append((got[0], got[-1]))  # every row between them is pending: this gap holds no lease
                want -= len(got)
                if want <= 0:
                    break
            if hi is not None:
                after = max(after, hi)
        if not taken:
            return None
        batch_id = uuid.uuid4().hex
        db.executemany("INSERT INTO leases VALUES (?, ?, ?)", [(batch_id, lo, hi) for lo, hi in taken])
        return batch_id, taken

    @staticmethod
    def _runs(db: sqlite3.Connection, batch_id: str) -> list[tuple[int, int]]:
        return db.execute("SELECT seq_from, seq_to FROM leases WHERE batch_id=? ORDER BY seq_from",
                          (batch_id,)).fetchall()

    @staticmethod
    def _in_runs(runs: list[tuple[int, int]]) -> tuple[str, list[int]]:
        """SQL condition and parameters: seq inside one of the runs."""
        return " OR ".join(["seq BETWEEN ? AND ?"] * len(runs)), [x for run in runs for x in run]

    def lease(self, max_items: int) -> Batch | None:
        """Take up to max_items pending rows, oldest first, as one batch; None when nothing is pending."""
        if max_items <= 0:
            raise ValueError("max_items must be positive")
        with self._tx() as db:
            claimed = self._claim(db, max_items)
            if claimed is None:
                return None
            batch_id, runs = claimed
            where, args = self._in_runs(runs)
            rows = db.execute(_SELECT_ROWS + f" WHERE {where} ORDER BY seq", args).fetchall()
        return Batch(batch_id, [_to_row(r) for r in rows])

    def lease_raw(self, max_items: int) -> tuple[str, list[tuple]] | None:
        """`lease` without parsing: (batch_id, [(seq, times_heard, best_rssi, last_heard_at, frame_json,
        outcome_json), ...]). The publisher splices the stored JSON into its wire message as is; parsing
        and re-serialising every Frame would cap sync at ~13k rows/s. (Added by the sync engineer.)"""
        if max_items <= 0:
            raise ValueError("max_items must be positive")
        with self._tx() as db:
            claimed = self._claim(db, max_items)
            if claimed is None:
                return None
            batch_id, runs = claimed
            where, args = self._in_runs(runs)
            rows = db.execute("SELECT seq, times_heard, best_rssi, last_heard_at, frame, outcome FROM outbox "
                              f"WHERE {where} ORDER BY seq", args).fetchall()
        return batch_id, rows

    def in_flight(self) -> list[Batch]:
        """Batches leased and not yet acked or released (e.g. after opening with release_stale=False)."""
        with self._lock:
            db = self._db
            runs: dict[str, list[tuple[int, int]]] = {}
            for bid, lo, hi in db.execute("SELECT batch_id, seq_from, seq_to FROM leases ORDER BY seq_from"):
                runs.setdefault(bid, []).append((lo, hi))
            batches = []
            for bid, rs in runs.items():
                where, args = self._in_runs(rs)
                rows = db.execute(_SELECT_ROWS + f" WHERE {where} ORDER BY seq", args).fetchall()
                if rows:
                    batches.append(Batch(bid, [_to_row(r) for r in rows]))
        return batches

    def ack(self, batch_id: str) -> int:
        """The server committed the batch: delete its rows. Raises UnknownBatch if it holds none."""
        with self._tx() as db:
            runs = self._runs(db, batch_id)
            n = top = 0
            if runs:
                where, args = self._in_runs(runs)
                top, n = db.execute(f"SELECT max(seq), count(*) FROM outbox WHERE {where}", args).fetchone()
                db.execute("DELETE FROM leases WHERE batch_id=?", (batch_id,))
                if n:
                    db.execute(f"DELETE FROM outbox WHERE {where}", args)
                    self._note_ack(db, top, n)
        if not n:
            raise UnknownBatch(batch_id)
        self._counters["acked"] += n
        return n

    def ack_seqs(self, seqs: Sequence[int]) -> int:
        """Delete specific rows the server confirmed (for acks that name seqs instead of a batch)."""
        if not seqs:
            return 0
        n = 0
        with self._tx() as db:
            for i in range(0, len(seqs), 500):
                chunk = list(seqs[i:i + 500])
                n += db.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})",
                                chunk).rowcount
            if n:
                self._note_ack(db, max(seqs), n)
        self._counters["acked"] += n
        return n

    def _note_ack(self, db: sqlite3.Connection, max_seq: int, n: int) -> None:
        db.execute("INSERT INTO meta VALUES ('last_ack_at', ?) ON CONFLICT(key) DO UPDATE SET "
                   "value=excluded.value", (_iso(None),))
        db.execute("INSERT INTO meta VALUES ('last_acked_seq', ?) ON CONFLICT(key) DO UPDATE SET "
                   "value=max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (str(max_seq),))
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key='acked_total'", (n,))

    def release(self, batch_id: str) -> int:
        """Sending failed: the batch's rows become pending again (to be leased anew)."""
        with self._tx() as db:
            runs = self._runs(db, batch_id)
            n = 0
            if runs:
                where, args = self._in_runs(runs)
                n = db.execute(f"UPDATE outbox SET attempts=attempts+1 WHERE {where}", args).rowcount
                db.execute("DELETE FROM leases WHERE batch_id=?", (batch_id,))
        if not n:
            raise UnknownBatch(batch_id)
        self._counters["released"] += n
        return n

    def release_all(self) -> int:
        with self._tx() as db:
            # run by run (rowid ranges): a scan of a large backlog would cost the open seconds
            n = sum(db.execute("UPDATE outbox SET attempts=attempts+1 WHERE seq BETWEEN ? AND ?", run).rowcount
                    for run in db.execute("SELECT seq_from, seq_to FROM leases").fetchall())
            db.execute("DELETE FROM leases")
            # rows leased by a version that marked them (attempts already counted then)
            n += db.execute("UPDATE outbox SET batch_id=NULL WHERE batch_id IS NOT NULL").rowcount
        self._counters["released"] += n
        return n

    # -- reading --

    def pending(self) -> int:
        """Rows not yet acked by the server (leased ones included)."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def seqs(self) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT seq FROM outbox ORDER BY seq")]

    def rows(self, limit: int | None = None) -> list[OutboxRow]:
        with self._lock:
            q = _SELECT_ROWS + " ORDER BY seq" + (f" LIMIT {int(limit)}" if limit else "")
            return [_to_row(r) for r in self._db.execute(q)]

    def get(self, seq: int) -> OutboxRow | None:
        with self._lock:
            r = self._db.execute(_SELECT_ROWS + " WHERE seq=?", (seq,)).fetchone()
        return _to_row(r) if r else None

    def stats(self) -> OutboxStats:
        with self._lock:
            db = self._db
            pending, oldest, first = db.execute(
                "SELECT count(*), min(received_at), min(seq) FROM outbox").fetchone()
            in_flight = sum(db.execute("SELECT count(*) FROM outbox WHERE seq BETWEEN ? AND ?", run).fetchone()[0]
                            for run in db.execute("SELECT seq_from, seq_to FROM leases").fetchall())
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            m = dict(db.execute("SELECT key, value FROM meta").fetchall())
        las = m.get("last_acked_seq")
        return OutboxStats(
            pending=pending, in_flight=in_flight, oldest_received_at=oldest, first_seq=first,
            last_seq=last[0] if last else 0, used_bytes=self.used_bytes(), cap_bytes=self.max_bytes,
            free_disk_bytes=self._free_disk(), level=self.level(), last_ack_at=m.get("last_ack_at"),
            last_acked_seq=int(las) if las is not None else None, acked_total=int(m.get("acked_total", 0)),
            **self._counters,
        )

    def integrity_check(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file (call when idle; keeps the -wal file small)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_INSERT = """
INSERT INTO outbox (dedup_key, received_at, last_heard_at, times_heard, best_rssi, kind, reason,
                    manufacturer, meter_id, version, device_type, access_number, source, frame, outcome)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_TOUCH = """
UPDATE outbox SET times_heard = times_heard + ?,
    best_rssi = CASE WHEN ? IS NULL THEN best_rssi WHEN best_rssi IS NULL THEN ? ELSE max(best_rssi, ?) END,
    last_heard_at = max(last_heard_at, ?)
WHERE dedup_key = ?
"""

_SELECT_ROWS = ("SELECT seq, dedup_key, received_at, last_heard_at, times_heard, best_rssi, kind, frame, "
                "outcome, attempts + EXISTS (SELECT 1 FROM leases WHERE outbox.seq BETWEEN leases.seq_from "
                "AND leases.seq_to) FROM outbox")


def _to_row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(seq=r[0], dedup_key=bytes(r[1]), received_at=r[2], last_heard_at=r[3],
                     times_heard=r[4], best_rssi=r[5], kind=r[6], frame=Frame.from_dict(json.loads(r[7])),
                     outcome=json.loads(r[8]), attempts=r[9])


def wait_for_file(path: str | os.PathLike[str], timeout_s: float = 5.0) -> bool:
    """Small helper for tools that open an outbox another process is creating."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if Path(path).exists():
            return True
        time.sleep(0.05)
    return False
