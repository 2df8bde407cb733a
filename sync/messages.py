"""The wire schema between vans and the back office, shared by the publisher and the importer.

Every payload is a JSON envelope `{"schema": <kind>, "v": <version>, ...}`. The version lives in the
payload (not only in an MQTT property) because a message can outlive the connection that carried it:
a dead letter replayed a month later must still say what it is.

Kinds:
- `amr.batch` (van -> server, `amr/v1/<van>/batches`): a contiguous run of outbox rows. Each item is the
  raw telegram with all of its `Frame` metadata, plus the van's own decode as a convenience; the server
  treats the raw frame as the truth and may decode it again.
- `amr.ack` (server -> van, `amr/v1/<van>/acks`): sent only after the server's database commit. It names
  the batch id AND the sequence range, so a stale or misrouted ack can never delete the wrong rows.
- `amr.route` / `amr.keys` (server -> van, retained, `amr/v1/<van>/downlink/route|keys`).

Validation is strict and cheap: anything a van could not have produced raises `MessageError` with a
short machine-readable `reason`, which the importer uses as the dead-letter reason. The importer parses
with `isolate_bad_items=True`: the envelope (schema, version, van, batch id, sequence range, count, every
item an object with its own in-range, increasing `seq`) must still be right as a whole, but an item whose
frame, decode or metadata is bad is set aside in `BatchMessage.bad_items` (raw, with its reason) instead
of failing the batch, so one odd frame cannot hold back its neighbours.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import orjson

from decoders.frame import EARLIEST_TIME, LATEST_TIME, Frame, Position

SCHEMA_VERSION = 1
TOPIC_ROOT = "amr/v1"
CONTENT_TYPE_JSON = "application/vnd.amr+json;v=1"
CONTENT_TYPE_ZJSON = "application/vnd.amr+json+zlib;v=1"

# A van id becomes an MQTT username and a topic level: no wildcards, separators or '$'.
VAN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX_RE = re.compile(r"^[0-9A-Fa-f]+$")
MAX_ITEMS = 50_000


class MessageError(ValueError):
    """A payload that cannot be accepted. `reason` is a stable token (dead-letter reason column)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class AckStatus(StrEnum):
    STORED = "stored"            # committed now
    DUPLICATE = "duplicate"      # this batch id was committed before; nothing changed
    DEAD_LETTER = "dead_letter"  # the server kept the raw payload in its dead-letter table; van may drop it
    REJECTED = "rejected"        # the server did NOT keep it (unknown van, unsupported version): van keeps it

    @property
    def releases_rows(self) -> bool:
        """True when the van may delete the rows: the server holds the data (as rows or as a dead letter)."""
        return self is not AckStatus.REJECTED


# ---------------------------------------------------------------- topics


def batch_topic(van_id: str) -> str:
    return f"{TOPIC_ROOT}/{van_id}/batches"


def ack_topic(van_id: str) -> str:
    return f"{TOPIC_ROOT}/{van_id}/acks"


def status_topic(van_id: str) -> str:
    return f"{TOPIC_ROOT}/{van_id}/status"


def downlink_topic(van_id: str, kind: str) -> str:
    return f"{TOPIC_ROOT}/{van_id}/downlink/{kind}"


BATCH_FILTER = f"{TOPIC_ROOT}/+/batches"
SHARED_BATCH_FILTER = f"$share/importers/{BATCH_FILTER}"


def van_from_topic(topic: str) -> str:
    """`amr/v1/<van>/<anything>` -> van id; MessageError for anything else."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT or not VAN_ID_RE.match(parts[2]):
        raise MessageError("bad_topic", topic)
    return parts[2]


def check_van_id(van_id: Any) -> str:
    if not isinstance(van_id, str) or not VAN_ID_RE.match(van_id):
        raise MessageError("bad_van_id", repr(van_id)[:80])
    return van_id


# ---------------------------------------------------------------- encoding


def encode(obj: dict[str, Any], *, compress: bool = False) -> bytes:
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return zlib.compress(raw, 1) if compress else raw


def decode(payload: bytes) -> dict[str, Any]:
    """Bytes -> envelope dict. zlib streams are recognised by their header byte, so the importer needs
    no MQTT property to read a dead letter later."""
    if not payload:
        raise MessageError("empty_payload")
    data = payload
    if payload[:1] == b"\x78":  # zlib header; a JSON object starts with '{'
        try:
            data = zlib.decompress(payload)
        except zlib.error as e:
            raise MessageError("bad_compression", str(e)) from None
    try:
        # orjson: the same objects as json.loads at a third of the cost (a 2000-frame batch is ~1 MB). It refuses
        # what Python's json accepts beyond the JSON grammar -- NaN/Infinity, which json.dumps writes for an
        # SDR's -inf SNR, and integers over 64 bits -- so those payloads take the old parser instead.
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # RecursionError: nesting deeper than orjson's limit is handed to json.loads, which overflows the stack.
        raise MessageError("not_json", str(e)[:120]) from None
    if not isinstance(obj, dict):
        raise MessageError("not_an_object", type(obj).__name__)
    return obj


def _envelope(obj: dict[str, Any], kind: str) -> None:
    if obj.get("schema") != kind:
        raise MessageError("wrong_schema", f"expected {kind}, got {obj.get('schema')!r}")
    v = obj.get("v")
    if not isinstance(v, int) or isinstance(v, bool):
        raise MessageError("bad_version", repr(v))
    if v > SCHEMA_VERSION or v < 1:
        raise MessageError("unsupported_version", str(v))


def _uuid(value: Any) -> str:
    if not isinstance(value, str):
        raise MessageError("bad_batch_id", repr(value)[:80])
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise MessageError("bad_batch_id", value[:80]) from None


def _int(obj: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise MessageError(f"bad_{key}", repr(v)[:80])
    return v


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise MessageError(f"bad_{what}", repr(value)[:80])
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise MessageError(f"bad_{what}", value[:80]) from None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    if not EARLIEST_TIME <= t < LATEST_TIME:  # see decoders.frame
        raise MessageError(f"bad_{what}", f"{value[:40]} is outside {EARLIEST_TIME.year}..{LATEST_TIME.year - 1}")
    return t


def new_batch_id() -> str:
    """Time-ordered UUID (v7 layout) so batch ids sort by creation in logs and indexes."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    rand = int.from_bytes(uuid.uuid4().bytes[6:], "big") & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat()


# ---------------------------------------------------------------- decode outcome (the van's convenience)


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex().upper()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [_jsonable(x) for x in (sorted(v) if isinstance(v, set | frozenset) else v)]
    if isinstance(v, float) and v != v:  # NaN is not JSON
        return None
    return v


def decode_to_dict(result: Any) -> dict[str, Any] | None:
    """A `Decoded` or `Rejection` as plain JSON types (None stays None). Duck-typed so sync/ does not
    import the decoder registry."""
    if result is None:
        return None
    if isinstance(result, dict):
        return _jsonable(result)

    def ident(i: Any) -> dict[str, Any] | None:
        if i is None:
            return None
        return {"manufacturer": i.manufacturer, "id": i.id, "version": i.version, "device_type": i.device_type}

    if getattr(result, "ok", False):
        return {
            "ok": True,
            "identity": ident(result.identity),
            "meter": ident(result.meter),
            "driver": result.driver,
            "security": result.security,
            "access_number": result.access_number,
            "status": result.status,
            "media": result.media,
            "alarms": sorted(str(a) for a in result.alarms),
            "readings": [
                {
                    "quantity": r.quantity, "value": _jsonable(r.value), "unit": r.unit, "storage": r.storage,
                    "tariff": r.tariff, "subunit": r.subunit, "function": r.function,
                }
                for r in result.readings
            ],
        }
    return {
        "ok": False,
        "reason": str(result.reason),
        "detail": result.detail,
        "identity": ident(result.identity),
    }


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _value_back(v: Any) -> Any:
    if isinstance(v, str):
        try:
            if _DATE_RE.match(v):
                return date.fromisoformat(v)
            if _DATETIME_RE.match(v):
                return datetime.fromisoformat(v)
        except ValueError:
            return v
    return v


def decoded_from_dict(d: dict[str, Any], raw: bytes) -> Any:
    """The inverse of `decode_to_dict` for a successful decode (`ok` true): a `decoders.model.Decoded`
    the store can ingest without decoding the telegram again. Raises MessageError when the dict is not
    a usable decode (the caller then lets the server decode the raw telegram itself)."""
    from decoders.model import Alarm, Decoded, Identity, Reading

    def ident(x: Any) -> Identity | None:
        if x is None:
            return None
        i = Identity(str(x["manufacturer"]), str(x["id"]), int(x["version"]), int(x["device_type"]))
        # The store's columns: one-byte version and medium (smallint), text without NUL.
        if not (0 <= i.version <= 255 and 0 <= i.device_type <= 255) or "\x00" in i.manufacturer + i.id:
            raise ValueError("identity out of range")
        return i

    try:
        if d.get("ok") is not True:
            raise MessageError("not_decoded")
        identity = ident(d["identity"])
        if identity is None:
            raise MessageError("bad_decode", "no identity")
        meter_d = d.get("meter")
        meter = None if meter_d is None or meter_d == d["identity"] else ident(meter_d)
        alarms = []
        for a in d.get("alarms") or ():
            try:
                alarms.append(Alarm(a))
            except ValueError:
                continue  # an alarm this server does not know yet: kept in the raw telegram
        readings = []
        for r in d.get("readings") or ():
            try:
                rd = Reading(**r)  # the outbox writes exactly Reading's field names: one C-level call
            except TypeError:  # an older/newer van with other keys: take the ones we know
                rd = Reading(r["quantity"], r.get("value"), r.get("unit", ""), r.get("storage", 0), r.get("tariff", 0),
                             r.get("subunit", 0), r.get("function", "instantaneous"), r.get("dif_vif", ""))
            if rd.value.__class__ is str:
                rd.value = _value_back(rd.value)
            if rd.quantity.__class__ is not str or rd.storage.__class__ is not int or rd.tariff.__class__ is not int:
                raise ValueError("reading fields")
            if not (0 <= rd.storage < 2**31 and 0 <= rd.tariff < 2**15
                    and rd.subunit.__class__ is int and 0 <= rd.subunit < 2**15):
                raise ValueError("reading storage/tariff/subunit out of range")  # integer / smallint columns
            readings.append(rd)
        access = d.get("access_number")
        if access is not None and (access.__class__ is not int or not 0 <= access <= 255):
            raise ValueError("access_number")
        return Decoded(
            raw=raw, identity=identity, c_field=int(d.get("c_field") or 0), ci_chain=tuple(d.get("ci_chain") or ()),
            security=str(d.get("security") or "none"), access_number=access, status=d.get("status"),
            readings=readings, alarms=frozenset(alarms), alarm_bits=d.get("alarm_bits") or {},
            driver=d.get("driver"), fields=d.get("fields") or {}, media=d.get("media") or "",
            tpl_identity=meter, notes=tuple(d.get("notes") or ()),
        )
    except MessageError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:  # OverflowError: int(Infinity)
        raise MessageError("bad_decode", str(e)[:120]) from None


# ---------------------------------------------------------------- batch


@dataclass(frozen=True, slots=True)
class BatchItem:
    seq: int
    frame: dict[str, Any]          # Frame.to_dict() shape: telegram hex, received_at ISO, ...
    decode: dict[str, Any] | None  # decode_to_dict() shape, or None when the van did not decode
    times_heard: int = 1           # the van's dedup: how often this transmission was heard
    best_rssi: float | None = None
    last_heard_at: str | None = None
    parsed: Frame | None = None    # built while validating (BatchMessage.parse)

    def to_frame(self) -> Frame:
        return self.parsed if self.parsed is not None else Frame.from_dict(self.frame)

    @property
    def telegram(self) -> bytes:
        return bytes.fromhex(self.frame["telegram"])


@dataclass(frozen=True, slots=True)
class BadItem:
    """An item of a readable batch that failed its own checks (`BatchMessage.parse(isolate_bad_items=True)`):
    kept as the van sent it, with the typed reason, for the importer's per-frame dead letter."""

    index: int                     # position in the batch's items
    seq: int                       # the van's outbox sequence number (checked: inside the batch's range)
    raw: dict[str, Any]            # the item object exactly as parsed from the payload
    reason: str                    # MessageError.reason, e.g. bad_telegram, bad_received_at, bad_decode
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BatchMessage:
    van_id: str
    batch_id: str
    seq_from: int
    seq_to: int
    items: tuple[BatchItem, ...]
    created_at: str = field(default_factory=utcnow_iso)
    v: int = SCHEMA_VERSION
    bad_items: tuple[BadItem, ...] = ()  # only with parse(isolate_bad_items=True); never encoded

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "amr.batch",
            "v": self.v,
            "batch_id": self.batch_id,
            "van_id": self.van_id,
            "seq_from": self.seq_from,
            "seq_to": self.seq_to,
            "count": len(self.items),
            "created_at": self.created_at,
            "items": [
                {"seq": i.seq, "times_heard": i.times_heard, "best_rssi": i.best_rssi,
                 "last_heard_at": i.last_heard_at, "frame": i.frame, "decode": i.decode}
                for i in self.items
            ],
        }

    def encode(self, *, compress: bool = False) -> bytes:
        return encode(self.to_dict(), compress=compress)

    @property
    def seqs(self) -> list[int]:
        return [i.seq for i in self.items]

    @classmethod
    def build(
        cls, van_id: str, rows: Iterable[tuple[int, dict[str, Any] | Frame, Any]], *, batch_id: str | None = None
    ) -> BatchMessage:
        """From outbox rows `(seq, frame, decode)`; frames may be `Frame`s or their dicts."""
        items = []
        for seq, frame, dec in rows:
            fd = frame.to_dict() if isinstance(frame, Frame) else frame
            items.append(BatchItem(seq, fd, decode_to_dict(dec)))
        if not items:
            raise MessageError("empty_batch")
        items.sort(key=lambda i: i.seq)
        return cls(
            van_id=check_van_id(van_id),
            batch_id=batch_id or new_batch_id(),
            seq_from=items[0].seq,
            seq_to=items[-1].seq,
            items=tuple(items),
        )

    @classmethod
    def parse(cls, payload: bytes | dict[str, Any], *, topic_van: str | None = None,
              isolate_bad_items: bool = False) -> BatchMessage:
        """Validate a batch. Strict by default: the first bad item raises. With `isolate_bad_items`, an item
        that is an object with a good `seq` but a bad frame, decode or metadata goes to `bad_items` and the
        rest of the batch is returned; envelope errors (and an item without a usable seq) still raise."""
        obj = payload if isinstance(payload, dict) else decode(payload)
        _envelope(obj, "amr.batch")
        van_id = check_van_id(obj.get("van_id"))
        if topic_van is not None and van_id != topic_van:
            # ACLs stop a van writing another van's topic; a mismatch here is a forged or buggy payload.
            raise MessageError("van_mismatch", f"topic {topic_van} payload {van_id}")
        batch_id = _uuid(obj.get("batch_id"))
        seq_from = _int(obj, "seq_from", minimum=1)
        seq_to = _int(obj, "seq_to", minimum=1)
        if seq_to < seq_from:
            raise MessageError("bad_seq_range", f"{seq_from}..{seq_to}")
        raw_items = obj.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise MessageError("bad_items", "missing or empty")
        if len(raw_items) > MAX_ITEMS:
            raise MessageError("too_many_items", str(len(raw_items)))
        count = obj.get("count", len(raw_items))
        if count != len(raw_items):
            raise MessageError("count_mismatch", f"count {count} items {len(raw_items)}")
        if len(raw_items) > seq_to - seq_from + 1:
            raise MessageError("bad_seq_range", "more items than sequence numbers")
        items = []
        bad: list[BadItem] = []
        last = 0
        for n, it in enumerate(raw_items):
            # The item's place in the sequence belongs to the envelope: the ack names the range and the van
            # deletes rows by it, so an item without a trustworthy seq fails the whole batch.
            if it.__class__ is not dict:
                raise MessageError("bad_item", f"item {n}: not an object")
            seq = it.get("seq")
            if seq.__class__ is not int or not seq_from <= seq <= seq_to:
                raise MessageError("bad_item_seq", f"item {n}: {seq!r} outside {seq_from}..{seq_to}")
            if seq <= last:
                raise MessageError("bad_item_seq", f"item {n}: sequence not strictly increasing")
            last = seq
            try:
                items.append(_parse_item(it, n, seq))
            except MessageError as e:
                if not isolate_bad_items:
                    raise
                bad.append(BadItem(n, seq, it, e.reason, e.detail))
        created = obj.get("created_at", "")
        if created:
            _time(created, "created_at")
        return cls(van_id, batch_id, seq_from, seq_to, tuple(items), created_at=created, v=obj["v"],
                   bad_items=tuple(bad))


_FRAME_OPTIONAL_NUM = ("rssi_dbm", "snr_db", "freq_offset_hz", "stream_time")
_FLOAT_MAX = sys.float_info.max


def _is_number(v: Any) -> bool:
    """A JSON number the store's float columns can hold: exactly int or float (bool is an int subclass), and
    an integer no bigger than a double (JSON integers have no limit; 1e400 written out overflows the column)."""
    c = v.__class__
    return c is float or (c is int and -_FLOAT_MAX <= v <= _FLOAT_MAX)


def _opt_num(fr: dict[str, Any], k: str, n: int) -> float | None:
    v = fr.get(k)
    if v is None:
        return None
    if not _is_number(v):
        raise MessageError("bad_frame", f"item {n}: {k}")
    return v


def _opt_str(fr: dict[str, Any], k: str, n: int) -> str | None:
    v = fr.get(k)
    if v is not None and (v.__class__ is not str or "\x00" in v):  # PostgreSQL text cannot hold NUL
        raise MessageError("bad_frame", f"item {n}: {k}")
    return v


def frame_from_wire(fr: dict[str, Any], n: int = 0) -> Frame:
    """A frame object as a batch item (or a capture line, which is the same object) carries it -> Frame;
    a MessageError names the field the store could not hold."""
    tel = fr.get("telegram")
    # No L-field check: a frame the decoder cannot use is still evidence; the server stores it raw with
    # its Rejection instead of dead-lettering a whole batch for one odd frame.
    try:
        if tel.__class__ is not str or len(tel) < 2 or not tel.isascii():
            raise ValueError
        telegram = bytes.fromhex(tel)
    except ValueError:
        raise MessageError("bad_telegram", f"item {n}: telegram is not hex") from None
    received = _time(fr.get("received_at"), "received_at")
    source = fr.get("source")
    if source.__class__ is not str or "\x00" in source:
        raise MessageError("bad_frame", f"item {n}: source missing or not text")
    crc_ok = fr.get("crc_ok", True)
    if crc_ok is not None and crc_ok.__class__ is not bool:
        raise MessageError("bad_frame", f"item {n}: crc_ok")
    pos = fr.get("position")
    position = None
    if pos is not None:
        try:
            lat, lon, speed = pos["lat"], pos["lon"], pos.get("speed_kmh")
            if not _is_number(lat) or not _is_number(lon) or (speed is not None and not _is_number(speed)):
                raise TypeError
            fix = pos.get("fix_time")
            position = Position(lat, lon, speed, _time(fix, "fix_time") if fix is not None else None)
        except (TypeError, KeyError, AttributeError):
            raise MessageError("bad_frame", f"item {n}: position") from None
    return Frame(telegram, received, source, _opt_str(fr, "link_mode", n), _opt_str(fr, "frame_format", n),
                 _opt_num(fr, "rssi_dbm", n), _opt_num(fr, "snr_db", n), _opt_num(fr, "freq_offset_hz", n), crc_ok,
                 _opt_num(fr, "stream_time", n), position)


def _parse_item(it: dict[str, Any], n: int, seq: int) -> BatchItem:
    """Validate one item (an object whose seq the caller checked) and build its `Frame` in the same pass
    (the importer needs both; doing them together halves the per-frame cost)."""
    fr = it.get("frame")
    if fr.__class__ is not dict:
        raise MessageError("bad_frame", f"item {n}: frame missing")
    frame = frame_from_wire(fr, n)
    dec = it.get("decode")
    if dec is not None and (dec.__class__ is not dict or dec.get("ok").__class__ is not bool):
        raise MessageError("bad_decode", f"item {n}")
    heard = it.get("times_heard", 1)
    if heard.__class__ is not int or heard < 1:
        raise MessageError("bad_item", f"item {n}: times_heard")
    best = _opt_num(it, "best_rssi", n)
    last = it.get("last_heard_at")
    if last is not None:
        _time(last, "last_heard_at")
    return BatchItem(seq, fr, dec, heard, best, last, frame)


def _num(v: float | None) -> str:
    return "null" if v is None or not math.isfinite(v) else repr(float(v))


def encode_raw_batch(van_id: str, batch_id: str, rows: list[tuple], *, with_decode: bool = True
                     ) -> tuple[bytes, int, int]:
    """The van's fast path: outbox rows `(seq, times_heard, best_rssi, last_heard_at, frame_json,
    decode_json)`, already JSON in the outbox, spliced into a batch envelope without parsing them.
    Produces exactly what `BatchMessage.encode` would; returns (payload, seq_from, seq_to)."""
    if not rows:
        raise MessageError("empty_batch")
    check_van_id(van_id)
    bid = _uuid(batch_id)
    head = encode({"schema": "amr.batch", "v": SCHEMA_VERSION, "batch_id": bid, "van_id": van_id,
                   "seq_from": rows[0][0], "seq_to": rows[-1][0], "count": len(rows),
                   "created_at": utcnow_iso()})
    parts = [
        f'{{"seq":{r[0]},"times_heard":{r[1]},"best_rssi":{_num(r[2])},'
        f'"last_heard_at":{"null" if r[3] is None else json.dumps(r[3])},"frame":{r[4]},'
        f'"decode":{(r[5] or "null") if with_decode else "null"}}}'
        for r in rows
    ]
    body = head[:-1] + b',"items":[' + ",".join(parts).encode() + b"]}"
    return body, rows[0][0], rows[-1][0]


# ---------------------------------------------------------------- ack


@dataclass(frozen=True, slots=True)
class AckMessage:
    van_id: str
    batch_id: str
    seq_from: int
    seq_to: int
    status: AckStatus
    frames: int = 0          # frames newly stored (0 for duplicates)
    reason: str = ""         # dead-letter / rejection reason; for `stored`, the reasons of dead-lettered frames
    acked_at: str = field(default_factory=utcnow_iso)
    importer: str = ""
    v: int = SCHEMA_VERSION
    # Frames of this batch the server kept in its dead-letter table one by one (bad frame, good neighbours
    # stored). Added in v1 without a version bump: a van that does not know the key ignores it, and the
    # status (`stored`) already tells it the truth that matters, that it may drop the rows.
    dead_letters: int = 0

    @classmethod
    def for_batch(cls, batch: BatchMessage, status: AckStatus, **kw: Any) -> AckMessage:
        return cls(batch.van_id, batch.batch_id, batch.seq_from, batch.seq_to, status, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "amr.ack", "v": self.v, "van_id": self.van_id, "batch_id": self.batch_id,
            "seq_from": self.seq_from, "seq_to": self.seq_to, "status": str(self.status),
            "frames": self.frames, "reason": self.reason, "acked_at": self.acked_at, "importer": self.importer,
            "dead_letters": self.dead_letters,
        }

    def encode(self) -> bytes:
        return encode(self.to_dict())

    @classmethod
    def parse(cls, payload: bytes | dict[str, Any]) -> AckMessage:
        obj = payload if isinstance(payload, dict) else decode(payload)
        _envelope(obj, "amr.ack")
        try:
            status = AckStatus(obj.get("status"))
        except ValueError:
            raise MessageError("bad_status", repr(obj.get("status"))[:40]) from None
        seq_from = _int(obj, "seq_from", minimum=1)
        seq_to = _int(obj, "seq_to", minimum=1)
        if seq_to < seq_from:
            raise MessageError("bad_seq_range", f"{seq_from}..{seq_to}")
        frames = _int(obj, "frames") if "frames" in obj else 0
        dead = _int(obj, "dead_letters") if "dead_letters" in obj else 0  # absent from older importers' acks
        return cls(
            check_van_id(obj.get("van_id")), _uuid(obj.get("batch_id")), seq_from, seq_to, status,
            frames=frames, reason=str(obj.get("reason", "")), acked_at=str(obj.get("acked_at", "")),
            importer=str(obj.get("importer", "")), v=obj["v"], dead_letters=dead,
        )


# ---------------------------------------------------------------- downlink


@dataclass(frozen=True, slots=True)
class RouteMessage:
    """A route sheet for one van. `sheet` is the route sheet's own JSON document (sync/routesheet.py), so
    the van writes it to disk and loads it with `RouteSheet.load` unchanged."""

    van_id: str
    route_id: str
    sheet: Any
    issued_at: str = field(default_factory=utcnow_iso)

    def encode(self) -> bytes:
        return encode({"schema": "amr.route", "v": SCHEMA_VERSION, "van_id": self.van_id,
                       "route_id": self.route_id, "issued_at": self.issued_at, "sheet": self.sheet})

    @classmethod
    def parse(cls, payload: bytes | dict[str, Any]) -> RouteMessage:
        obj = payload if isinstance(payload, dict) else decode(payload)
        _envelope(obj, "amr.route")
        route_id = obj.get("route_id")
        if not isinstance(route_id, str) or not route_id:
            raise MessageError("bad_route_id", repr(route_id)[:80])
        if not isinstance(obj.get("sheet"), dict | list):
            raise MessageError("bad_sheet", "sheet must be a JSON object or list")
        return cls(check_van_id(obj.get("van_id")), route_id, obj["sheet"], str(obj.get("issued_at", "")))


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: str            # meter id (8 BCD digits)
    key: str           # 32 hex digits (AES-128)
    manufacturer: str = ""


@dataclass(frozen=True, slots=True)
class KeysMessage:
    """AES keys a van needs for its route. Travels only over TLS, retained on the van's own downlink topic
    that the ACL lets no other van read."""

    van_id: str
    keys: tuple[KeyEntry, ...]
    issued_at: str = field(default_factory=utcnow_iso)

    def encode(self) -> bytes:
        return encode({"schema": "amr.keys", "v": SCHEMA_VERSION, "van_id": self.van_id, "issued_at": self.issued_at,
                       "keys": [{"id": k.id, "key": k.key, "manufacturer": k.manufacturer} for k in self.keys]})

    def to_csv(self) -> str:
        """The KeyStore CSV format (`id,key,manufacturer`), quoted where the back office's text needs it."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(("id", "key", "manufacturer"))
        w.writerows((k.id, k.key, k.manufacturer) for k in self.keys)
        return buf.getvalue()

    @classmethod
    def parse(cls, payload: bytes | dict[str, Any]) -> KeysMessage:
        obj = payload if isinstance(payload, dict) else decode(payload)
        _envelope(obj, "amr.keys")
        raw = obj.get("keys")
        if not isinstance(raw, list):
            raise MessageError("bad_keys", "keys must be a list")
        keys = []
        for n, k in enumerate(raw):
            if not isinstance(k, dict):
                raise MessageError("bad_keys", f"entry {n}")
            mid, key, mfct = k.get("id"), k.get("key"), k.get("manufacturer") or ""
            if not isinstance(mid, str) or not mid or not isinstance(mfct, str):
                raise MessageError("bad_keys", f"entry {n}: id")
            if not isinstance(key, str) or len(key) != 32 or not _HEX_RE.match(key):
                raise MessageError("bad_keys", f"entry {n}: key must be 32 hex digits")
            keys.append(KeyEntry(mid, key.upper(), mfct))
        return cls(check_van_id(obj.get("van_id")), tuple(keys), str(obj.get("issued_at", "")))


def parse_downlink(topic: str, payload: bytes) -> RouteMessage | KeysMessage:
    kind = topic.rsplit("/", 1)[-1]
    if kind == "route":
        return RouteMessage.parse(payload)
    if kind == "keys":
        return KeysMessage.parse(payload)
    raise MessageError("unknown_downlink", kind)

