"""The reading store's Python API. Importer, billing, back-office API and CLI use `Store`; nothing else
touches the tables.

    store = Store()                        # $AMR_DB_URL or sqlite:///var/amr.sqlite
    store = Store("postgresql+psycopg://postgres@127.0.0.1/test")
    store.upgrade()                        # Alembic to head (same as `amr db upgrade`)

Every method opens and commits its own transaction and returns plain frozen dataclasses (never ORM
objects), so callers need no session handling and nothing lazy-loads behind their back. Datetimes in and
out are timezone-aware UTC (naive datetimes are refused with ValueError); quantities are `Decimal`.

Ingest (the importer):
    store.add_van("van-01")                                 # vans must be known; see UnknownVan
    store.batch_seen("van-01", batch_id) -> bool           # recognise a replay before parsing
    store.ingest_batch("van-01", batch_id, items, dead_letters=()) -> IngestResult
        items: iterable of IngestItem(frame, result) or (frame, result) pairs; result is the van's
        Decoded | Rejection, or None to have the store decode with its own keys (the usual case: the
        server holds keys the van may lack). One transaction: the ingest_batches row, the raw telegrams,
        the readings and alarms commit together, and with them `dead_letters` (NewDeadLetter: the batch's
        bad frames, each kept on its own). A replayed (van, batch_id) returns replayed=True and changes
        nothing; re-sent frames under a new batch id are absorbed by natural keys. An item the store cannot
        hold raises InvalidItem (an InvalidInput naming the item's index) before anything is written.
    store.ingest(items, van=None) -> IngestResult             # same without a batch row (tools, tests)
    store.preload_meters()                                    # warm the identity -> meter id cache
    store.add_dead_letter(payload, reason, detail, van=, topic=) -> bool   # False: seen before

Dead letters (operators, `amr deadletters`, server/deadletters.py):
    dead_letters(limit) / dead_letter(id) / dead_letter_summaries(reason=, van=, open_only=, ids=, limit=)
    resolve_dead_letter(id, resolution, note) -> bool / note_dead_letter_replay(id, note) -> bool

Registry (imports, billing, API):
    upsert_meter(...) / meter(id=|identity=) / meters(role=, registered_only=) / find_meters(address)
    upsert_account(...) / account(number=|login=|id=) / account_password_hash(login) / set_account_password_hash
    upsert_service_point(...) / service_point(code=|id=) / service_points(account_id=)
    install_meter(...) / remove_meter(...) / replace_meter(...) / installations(service_point_id=, meter_id=,
        since=, until=)
    add_fault(meter_id, start, end=None) / faults(meter_ids=)

Readings (billing, API):
    readings(meter_id=|service_point_id=|meter_ids=, since=, until=, quantity=, storage=, sources=)
        -> list[ReadingRow], ordered by meter, value_at; [since, until) half-open
    iter_readings(since, until, quantity="volume", meter_ids=None) -> Iterator[ReadingRow]   # streamed
    register_values(since, until, quantity="volume", sources=REAL) -> Iterator[(meter_id, at, value,
        source, due_date)]                                   # lean, unordered: billing's bulk read
    latest_reading(meter_id, before=None, quantity="volume", sources=None) -> ReadingRow | None
    add_reading(meter_id, value, value_at, source, ...) -> bool        # manual / self_reading / estimate …
    add_readings([NewReading, ...]) -> int                              # bulk, idempotent
    alarms(since=, until=, meter_ids=, service_point_id=) -> list[AlarmInfo]
    telegrams(meter_id=, since=, until=, limit=) -> list[TelegramInfo]

Keys: set_key(address, key, manufacturer="") / set_keys / delete_key / key_count() / keystore() -> KeyStore
Vans and routes: add_van / vans() / create_route(name, van=, meter_ids=) / assign_route / routes() /
    route_sheet(route) -> sync.routesheet.RouteSheet / route_progress(since) -> list[RouteProgress]
Ops: counts() -> {table: rows}; decoder_version
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, exists, func, or_, select, update

from decoders.frame import Frame
from decoders.model import Decoded, Identity, Rejection
from server import db, derive, repository
from server.keyvault import KeyVaultError, MasterKey
from server.models import (
    Account,
    AlarmRecord,
    DeadLetter,
    IngestBatch,
    Meter,
    MeterFault,
    MeterInstallation,
    MeterKey,
    MeterRole,
    RawTelegram,
    Reading,
    Route,
    RouteStop,
    ServicePoint,
    Van,
)
from server.reading_source import ReadingSource

log = logging.getLogger(__name__)

T_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
T_SP: Table = ServicePoint.__table__  # type: ignore[assignment]
T_METERS: Table = Meter.__table__  # type: ignore[assignment]
T_INST: Table = MeterInstallation.__table__  # type: ignore[assignment]
T_FAULTS: Table = MeterFault.__table__  # type: ignore[assignment]
T_KEYS: Table = MeterKey.__table__  # type: ignore[assignment]
T_VANS: Table = Van.__table__  # type: ignore[assignment]
T_ROUTES: Table = Route.__table__  # type: ignore[assignment]
T_STOPS: Table = RouteStop.__table__  # type: ignore[assignment]
T_BATCHES: Table = IngestBatch.__table__  # type: ignore[assignment]
T_TELEGRAMS: Table = RawTelegram.__table__  # type: ignore[assignment]
T_READINGS: Table = Reading.__table__  # type: ignore[assignment]
T_ALARMS: Table = AlarmRecord.__table__  # type: ignore[assignment]
T_DEAD: Table = DeadLetter.__table__  # type: ignore[assignment]

METER_KEY = ("manufacturer", "address", "version", "device_type")
READING_KEY = ("meter_id", "value_at", "quantity", "function", "storage", "tariff", "subunit", "source")

IdentityKey = tuple[str, str, int, int]


# --------------------------------------------------------------------------------------- errors


class StoreError(Exception):
    """Base of the store's typed errors."""


class UnknownVan(StoreError):
    pass


class NotFound(StoreError):
    pass


class InvalidInput(StoreError, ValueError):
    pass


class InvalidItem(InvalidInput):
    """One ingest item the store cannot hold (the others may be fine): `index` is its position."""

    def __init__(self, index: int, message: str):
        super().__init__(f"item {index}: {message}")
        self.index = index


# --------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class IngestItem:
    frame: Frame
    result: Decoded | Rejection | None = None


@dataclass(frozen=True, slots=True)
class NewDeadLetter:
    payload: bytes
    reason: str
    detail: str = ""
    van: str | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    replayed: bool
    frames: int
    telegrams_new: int = 0
    readings_new: int = 0
    alarms_new: int = 0
    decoded: int = 0        # frames the store decoded itself (result None)
    dead_letters_new: int = 0  # ingest_batch's dead letters not seen before (same payload hash)


def _from_row(cls, row) -> Any:
    m = row._mapping
    return cls(**{f.name: m[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class MeterInfo:
    id: int
    manufacturer: str
    address: str
    version: int
    device_type: int
    role: str | None
    model: str | None
    serial: str | None
    driver: str | None
    legalised_on: dt.date | None
    legalised_until: dt.date | None
    register_digits: int | None
    transmit_interval_s: int | None
    transmit_window: str | None
    plausible_min_m3: Decimal | None
    plausible_max_m3: Decimal | None
    first_heard_at: dt.datetime | None
    registered_at: dt.datetime | None

    @property
    def identity(self) -> Identity:
        return Identity(self.manufacturer, self.address, self.version, self.device_type)

    @property
    def register_modulus(self) -> Decimal | None:
        return Decimal(10) ** self.register_digits if self.register_digits else None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    number: str
    name: str
    login: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class ServicePointInfo:
    id: int
    code: str
    account_id: int | None
    address: str
    connection: str
    tariff_group: str
    norm_category: str | None
    norm_units: Decimal | None
    sewered: bool
    max_daily_m3: Decimal | None
    lat: float | None
    lon: float | None
    active_from: dt.date | None
    active_to: dt.date | None


@dataclass(frozen=True, slots=True)
class InstallationInfo:
    id: int
    meter_id: int
    service_point_id: int
    role: str
    installed_at: dt.datetime
    removed_at: dt.datetime | None
    initial_reading: Decimal
    final_reading: Decimal | None


@dataclass(frozen=True, slots=True)
class FaultInfo:
    id: int
    meter_id: int
    start: dt.datetime
    end: dt.datetime | None
    note: str


@dataclass(frozen=True, slots=True)
class ReadingRow:
    id: int
    meter_id: int
    quantity: str
    function: str
    storage: int
    tariff: int
    subunit: int
    value_at: dt.datetime
    meter_clock: bool
    value: Decimal | None
    value_text: str | None
    unit: str
    source: str
    telegram_sha256: bytes | None
    decoder_version: str | None
    entered_by: str | None
    note: str | None
    created_at: dt.datetime

    @property
    def due_date(self) -> bool:
        """A stored historic register (storage ≥ 1) stamped by the meter's own date: the due-date value."""
        return self.meter_clock and self.storage >= 1


@dataclass(frozen=True, slots=True)
class NewReading:
    meter_id: int
    value: Decimal
    value_at: dt.datetime
    source: str
    quantity: str = "volume"
    unit: str = "m3"
    storage: int = 0
    tariff: int = 0
    subunit: int = 0
    function: str = "instantaneous"
    entered_by: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    id: int
    meter_id: int
    alarm: str
    observed_at: dt.datetime
    telegram_sha256: bytes


@dataclass(frozen=True, slots=True)
class TelegramInfo:
    id: int
    sha256: bytes
    telegram: bytes
    meter_id: int | None
    access_no: int | None
    van_id: int | None
    received_at: dt.datetime
    source: str | None
    link_mode: str | None
    rssi_dbm: float | None
    lat: float | None
    lon: float | None
    decode_ok: bool
    reject_reason: str | None
    reject_detail: str | None
    driver: str | None
    decoder_version: str | None


@dataclass(frozen=True, slots=True)
class VanInfo:
    id: int
    code: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class RouteInfo:
    id: int
    name: str
    van_id: int | None
    planned_for: dt.date | None
    meters: int


@dataclass(frozen=True, slots=True)
class RouteProgress:
    route: str
    van: str | None
    total: int
    heard: int      # meters with a telegram received since `since`
    read: int       # meters with a decoded radio reading received since `since`


@dataclass(frozen=True, slots=True)
class _DeadLetterHead:
    """What every view of a dead letter has (built from rows by field name: `_from_row`)."""

    id: int
    reason: str
    detail: str
    van_code: str | None
    topic: str | None
    received_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str | None              # stored | duplicate | repaired (server/deadletters.py); None while open
    last_replay_at: dt.datetime | None
    last_replay: str | None             # what the latest replay found, also for a row still open

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class DeadLetterInfo(_DeadLetterHead):
    payload: bytes


@dataclass(frozen=True, slots=True)
class DeadLetterSummary(_DeadLetterHead):
    """A dead letter without its payload (listing): `size` is the payload's length in bytes."""

    size: int


def decoder_version() -> str:
    import decoders

    v = getattr(decoders, "DECODER_VERSION", None) or getattr(decoders, "__version__", None)
    if v:
        return str(v)[:32]
    try:
        return importlib.metadata.version("amr-pipeline")[:32]
    except importlib.metadata.PackageNotFoundError:
        return "0"


def build_keystore(entries: Iterable[tuple[str, bytes, str]]):
    from decoders.keys import KeyStore

    ks = KeyStore()
    for address, key, manufacturer in entries:
        ks.add(address, key, manufacturer or None)
    return ks


def _utc(t: dt.datetime | None, what: str) -> dt.datetime | None:
    if t is None:
        return None
    if not isinstance(t, dt.datetime) or t.tzinfo is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, got {t!r}")
    return t.astimezone(dt.UTC)


# --------------------------------------------------------------------------------------- the store


class Store:
    def __init__(self, url: str | None = None, *, engine: Engine | None = None, master_key: MasterKey | None = None,
                 decode: bool = True):
        self.url = db.database_url(url) if engine is None else engine.url.render_as_string(hide_password=False)
        self.engine = engine or db.make_engine(url)
        self._master = master_key
        self._meter_ids: dict[IdentityKey, int] = {}
        self._van_ids: dict[str, int] = {}
        self._keys: Any = None
        self._decode_enabled = decode
        self._decoder_state: Any = None
        self._warned_keys = False
        self.decoder_version = decoder_version()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self, revision: str = "head") -> None:
        db.upgrade(self.url, revision, engine=self.engine)

    @property
    def master_key(self) -> MasterKey:
        if self._master is None:
            # Only a store without keys may mint a master key: with sealed keys present, a missing master key
            # is a configuration error, and a fresh one would just fail to open them.
            self._master = MasterKey.load(create=self.key_count() == 0)
        return self._master

    # ------------------------------------------------------------------ vans

    def add_van(self, code: str, name: str = "", active: bool = True) -> int:
        with self.engine.begin() as conn:
            repository.upsert(conn, T_VANS, [{"code": code, "name": name, "active": active,
                                              "created_at": dt.datetime.now(dt.UTC)}], ("code",),
                              overwrite=("name", "active"))
            vid = conn.execute(select(T_VANS.c.id).where(T_VANS.c.code == code)).scalar_one()
        self._van_ids[code] = vid
        return vid

    def van_id(self, code: str) -> int | None:
        if code in self._van_ids:
            return self._van_ids[code]
        with self.engine.connect() as conn:
            vid = conn.execute(select(T_VANS.c.id).where(T_VANS.c.code == code, T_VANS.c.active)).scalar()
        if vid is not None:
            self._van_ids[code] = vid
        return vid

    def vans(self) -> list[VanInfo]:
        with self.engine.connect() as conn:
            return [_from_row(VanInfo, r) for r in conn.execute(select(T_VANS).order_by(T_VANS.c.code))]

    def _require_van(self, code: str) -> int:
        vid = self.van_id(code)
        if vid is None:
            raise UnknownVan(f"van {code!r} is not registered (or not active)")
        return vid

    # ------------------------------------------------------------------ ingest

    def batch_seen(self, van: str, batch_id: str) -> bool:
        vid = self.van_id(van)
        if vid is None:
            return False
        with self.engine.connect() as conn:
            return conn.execute(
                select(T_BATCHES.c.id).where(T_BATCHES.c.van_id == vid, T_BATCHES.c.batch_id == batch_id)
            ).first() is not None

    def ingest_batch(self, van: str, batch_id: str, items: Iterable[IngestItem | tuple], *,
                     dead_letters: Sequence[NewDeadLetter] = ()) -> IngestResult:
        vid = self._require_van(van)
        items = self._prepare(items)
        dead_rows = [_dead_row(d.payload, d.reason, d.detail, d.van, d.topic) for d in dead_letters]
        with self.engine.begin() as conn:
            new = repository.insert_ignore(conn, T_BATCHES, [{
                "van_id": vid, "batch_id": batch_id, "received_at": dt.datetime.now(dt.UTC),
                "frames": len(items) + len(dead_rows), "telegrams_new": 0, "readings_new": 0,
            }], ("van_id", "batch_id"))
            if not new:
                return IngestResult(replayed=True, frames=len(items))
            bpk = conn.execute(select(T_BATCHES.c.id).where(
                T_BATCHES.c.van_id == vid, T_BATCHES.c.batch_id == batch_id)).scalar_one()
            result, resolved = self._ingest(conn, items, vid, bpk)
            conn.execute(update(T_BATCHES).where(T_BATCHES.c.id == bpk).values(
                telegrams_new=result.telegrams_new, readings_new=result.readings_new))
            if dead_rows:
                # In the batch's transaction: the batch row (which makes a redelivery a no-op) never commits
                # without its bad frames, and a failed commit leaves neither.
                dl_new = repository.insert_ignore(conn, T_DEAD, dead_rows, ("payload_sha256",))
                result = replace(result, dead_letters_new=dl_new)
        self._meter_ids.update(resolved)  # only after COMMIT: a rolled-back meter row must not be cached
        return result

    def ingest(self, items: Iterable[IngestItem | tuple], van: str | None = None) -> IngestResult:
        vid = self._require_van(van) if van is not None else None
        items = self._prepare(items)
        with self.engine.begin() as conn:
            result, resolved = self._ingest(conn, items, vid, None)
        self._meter_ids.update(resolved)
        return result

    def _prepare(self, items: Iterable[IngestItem | tuple]) -> list[IngestItem]:
        out = []
        for n, it in enumerate(items):
            if not isinstance(it, IngestItem):
                it = IngestItem(*it)
            f = it.frame
            if not isinstance(f, Frame):
                raise InvalidItem(n, f"ingest item without a Frame: {type(f).__name__}")
            try:
                _utc(f.received_at, "frame.received_at")
            except InvalidInput as e:
                raise InvalidItem(n, str(e)) from None
            pos = f.position
            for what, v in (("rssi_dbm", f.rssi_dbm), ("lat", pos and pos.lat), ("lon", pos and pos.lon)):
                if v is not None and v.__class__ is not float:
                    # The float columns: an integer past a double's range fails the INSERT (OverflowError),
                    # which would take the whole batch down with it.
                    try:
                        float(v)
                    except (TypeError, ValueError, OverflowError):
                        raise InvalidItem(n, f"{what} {str(v)[:40]!r} is not a number a float column holds") from None
            out.append(it)
        return out

    def _decode_missing(self, items: list[IngestItem]) -> tuple[list[IngestItem], int]:
        if not self._decode_enabled or all(it.result is not None for it in items):
            return items, 0
        try:
            from decoders import decode
        except ImportError:
            return items, 0
        try:
            keys = self.keystore()
        except KeyVaultError as e:
            # Raw frames must still be kept: decode without keys now, `amr redecode` once the key is back.
            if not self._warned_keys:
                log.error("meter keys unavailable, decoding without them: %s", e)
                self._warned_keys = True
            keys = None
        state = self._state()
        n = 0
        out = []
        for it in items:
            if it.result is None:
                it = IngestItem(it.frame, _safe_decode(decode, it.frame.telegram, keys, state))
                n += 1
            out.append(it)
        return out, n

    def _state(self) -> Any:
        if self._decoder_state is None:
            try:
                from decoders.state import DecoderState

                self._decoder_state = DecoderState()
            except ImportError:
                return None
        return self._decoder_state

    def _ingest(self, conn, items: list[IngestItem], van_id: int | None, batch_pk: int | None
                ) -> tuple[IngestResult, dict[IdentityKey, int]]:
        items, decoded_here = self._decode_missing(items)
        version = self.decoder_version
        tel_rows: dict[bytes, dict[str, Any]] = {}
        idents: list[IdentityKey | None] = []
        shas: list[bytes] = []
        for it in items:
            row = derive.telegram_row(it.frame, it.result, version if it.result is not None else None)
            ident = derive.meter_key(it.result, it.frame.telegram)
            idents.append(ident)
            shas.append(row["sha256"])
            row["van_id"] = van_id
            row["batch_id"] = batch_pk
            row["_ident"] = ident
            tel_rows.setdefault(row["sha256"], row)
        meter_ids, resolved = self._resolve(conn, [i for i in idents if i is not None],
                                            min((it.frame.received_at for it in items), default=None))
        rows = []
        for row in tel_rows.values():
            ident = row.pop("_ident")
            row["meter_id"] = meter_ids.get(ident) if ident else None
            rows.append(row)
        tel_new = repository.insert_ignore(conn, T_TELEGRAMS, rows, ("sha256",))
        readings: list[tuple] = []
        alarms: list[dict[str, Any]] = []
        done: set[bytes] = set()
        for it, ident, sha in zip(items, idents, shas, strict=True):
            if isinstance(it.result, Decoded) and ident is not None and sha not in done:
                done.add(sha)  # the same frame twice in a batch yields the same rows: derive them once
                mid = meter_ids[ident]
                readings.extend(derive.reading_tuples(it.result, it.frame.received_at, mid, sha, version))
                if it.result.alarms:
                    alarms.extend(derive.alarm_rows(it.result, it.frame.received_at, mid, sha))
        rd_new = repository.insert_ignore(conn, T_READINGS, readings, READING_KEY, columns=derive.READING_COLUMNS)
        al_new = repository.insert_ignore(conn, T_ALARMS, alarms, ("telegram_sha256", "alarm"))
        return IngestResult(False, len(items), tel_new, rd_new, al_new, decoded_here), resolved

    def _resolve(self, conn, idents: Sequence[IdentityKey], first_heard: dt.datetime | None
                 ) -> tuple[dict[IdentityKey, int], dict[IdentityKey, int]]:
        cache = self._meter_ids
        missing = {i for i in idents if i not in cache}
        resolved = repository.resolve_meters(conn, missing, first_heard) if missing else {}
        return {**cache, **resolved} if resolved else cache, resolved

    def resolve_meters(self, idents: Iterable[IdentityKey]) -> dict[IdentityKey, int]:
        """Meter ids for identities, creating rows for devices not seen before (redecode uses this)."""
        idents = list(idents)
        if all(i in self._meter_ids for i in idents):
            return self._meter_ids
        with self.engine.begin() as conn:
            ids, resolved = self._resolve(conn, list(idents), dt.datetime.now(dt.UTC))
        self._meter_ids.update(resolved)
        return ids

    def preload_meters(self) -> int:
        """Fill the meter-id cache from the registry in one query (added by the sync engineer). Several
        importers behind a shared subscription each see only part of the fleet, so without this every
        importer pays a resolve round trip (INSERT … ON CONFLICT + tuple IN) per meter on first sight;
        measured in bench/sync: 20 s of PostgreSQL CPU for 100k frames with four cold importers."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(T_METERS.c.id, T_METERS.c.manufacturer, T_METERS.c.address,
                                       T_METERS.c.version, T_METERS.c.device_type)).all()
        self._meter_ids.update({(m, a, v, t): mid for mid, m, a, v, t in rows})
        return len(rows)

    def add_dead_letter(self, payload: bytes, reason: str, detail: str = "", *, van: str | None = None,
                        topic: str | None = None) -> bool:
        with self.engine.begin() as conn:
            return bool(repository.insert_ignore(conn, T_DEAD, [_dead_row(payload, reason, detail, van, topic)],
                                                 ("payload_sha256",)))

    def dead_letters(self, limit: int = 100) -> list[DeadLetterInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(T_DEAD).order_by(T_DEAD.c.id.desc()).limit(limit))
            return [_from_row(DeadLetterInfo, r) for r in rows]

    def dead_letter(self, id: int) -> DeadLetterInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(T_DEAD).where(T_DEAD.c.id == id)).first()
        return None if row is None else _from_row(DeadLetterInfo, row)

    def dead_letter_summaries(self, *, reason: str | None = None, van: str | None = None, open_only: bool = False,
                              ids: Sequence[int] | None = None, limit: int | None = None) -> list[DeadLetterSummary]:
        """Dead letters without payloads, oldest first, filtered by reason, van, open (not resolved) and id."""
        q = select(*(T_DEAD.c[f.name] for f in fields(DeadLetterSummary) if f.name != "size"),
                   func.length(T_DEAD.c.payload).label("size"))
        if reason is not None:
            q = q.where(T_DEAD.c.reason == reason)
        if van is not None:
            q = q.where(T_DEAD.c.van_code == van)
        if open_only:
            q = q.where(T_DEAD.c.resolved_at.is_(None))
        if ids is not None:
            q = q.where(T_DEAD.c.id.in_(list(ids)))
        q = q.order_by(T_DEAD.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_from_row(DeadLetterSummary, r) for r in conn.execute(q)]

    def resolve_dead_letter(self, id: int, resolution: str, note: str, at: dt.datetime | None = None) -> bool:
        """Mark an open dead letter resolved (`resolution`: how, `note`: what the replay did). False when it
        was resolved already (by a concurrent replay) or does not exist: the first resolution stays."""
        at = _utc(at, "at") or dt.datetime.now(dt.UTC)
        return self._update_open_dead_letter(id, resolved_at=at, resolution=resolution[:32], last_replay_at=at,
                                             last_replay=derive.clean_text(note, 10_000))

    def note_dead_letter_replay(self, id: int, note: str, at: dt.datetime | None = None) -> bool:
        """Record a replay attempt that left an open dead letter open (its original reason stays)."""
        at = _utc(at, "at") or dt.datetime.now(dt.UTC)
        return self._update_open_dead_letter(id, last_replay_at=at, last_replay=derive.clean_text(note, 10_000))

    def _update_open_dead_letter(self, id: int, **values: Any) -> bool:
        with self.engine.begin() as conn:
            n = conn.execute(update(T_DEAD).where(T_DEAD.c.id == id, T_DEAD.c.resolved_at.is_(None))
                             .values(**values)).rowcount
        return n == 1

    # ------------------------------------------------------------------ registry

    def upsert_meter(self, manufacturer: str, address: str, version: int, device_type: int, **attrs: Any) -> int:
        """Create or update a registry meter. `attrs`: role, model, serial, driver, legalised_on,
        legalised_until, register_digits, transmit_interval_s, transmit_window, plausible_min_m3,
        plausible_max_m3. Passing role marks the meter as registered."""
        allowed = {c.name for c in T_METERS.c} - {"id", *METER_KEY, "first_heard_at", "registered_at"}
        bad = set(attrs) - allowed
        if bad:
            raise InvalidInput(f"unknown meter attributes: {sorted(bad)}")
        if attrs.get("role") is not None and attrs["role"] not in set(MeterRole):
            raise InvalidInput(f"role {attrs['role']!r} is not one of {[str(r) for r in MeterRole]}")
        key = _meter_ident(manufacturer, address, version, device_type)
        row = dict(zip(METER_KEY, key, strict=True)) | attrs
        if attrs.get("role"):
            row["registered_at"] = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            repository.upsert(conn, T_METERS, [row], METER_KEY)
            mid = conn.execute(select(T_METERS.c.id).where(*[T_METERS.c[c] == v for c, v in zip(METER_KEY, key, strict=True)])).scalar_one()
        self._meter_ids[key] = mid
        return mid

    def meter(self, id: int | None = None, *, identity: Identity | IdentityKey | None = None) -> MeterInfo | None:
        stmt = select(*[T_METERS.c[f.name] for f in fields(MeterInfo)])
        if id is not None:
            stmt = stmt.where(T_METERS.c.id == id)
        elif identity is not None:
            key = identity.key if isinstance(identity, Identity) else identity
            key = _meter_ident(*key)
            stmt = stmt.where(*[T_METERS.c[c] == v for c, v in zip(METER_KEY, key, strict=True)])
        else:
            raise InvalidInput("meter() needs id or identity")
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        return _from_row(MeterInfo, r) if r else None

    def meters(self, *, role: str | None = None, registered_only: bool = False,
               ids: Iterable[int] | None = None) -> list[MeterInfo]:
        stmt = select(*[T_METERS.c[f.name] for f in fields(MeterInfo)]).order_by(T_METERS.c.id)
        if role is not None:
            stmt = stmt.where(T_METERS.c.role == role)
        if registered_only:
            stmt = stmt.where(T_METERS.c.role.is_not(None))
        with self.engine.connect() as conn:
            if ids is None:
                return [_from_row(MeterInfo, r) for r in conn.execute(stmt)]
            out = []
            ids = list(ids)
            for i in range(0, len(ids), 1000):
                out += [_from_row(MeterInfo, r) for r in conn.execute(stmt.where(T_METERS.c.id.in_(ids[i:i + 1000])))]
            return out

    def find_meters(self, address: str, manufacturer: str | None = None) -> list[MeterInfo]:
        stmt = select(*[T_METERS.c[f.name] for f in fields(MeterInfo)]).where(T_METERS.c.address == address.upper())
        if manufacturer:
            stmt = stmt.where(T_METERS.c.manufacturer == manufacturer.upper())
        with self.engine.connect() as conn:
            return [_from_row(MeterInfo, r) for r in conn.execute(stmt.order_by(T_METERS.c.id))]

    def upsert_account(self, number: str, name: str = "", *, login: str | None = None,
                       email: str | None = None) -> int:
        with self.engine.begin() as conn:
            repository.upsert(conn, T_ACCOUNTS, [{"number": number, "name": name, "login": login or None,
                                                  "email": email or None, "created_at": dt.datetime.now(dt.UTC)}],
                              ("number",), overwrite=("name", "login", "email"))
            return conn.execute(select(T_ACCOUNTS.c.id).where(T_ACCOUNTS.c.number == number)).scalar_one()

    def account(self, *, id: int | None = None, number: str | None = None, login: str | None = None
                ) -> AccountInfo | None:
        stmt = select(*[T_ACCOUNTS.c[f.name] for f in fields(AccountInfo)])
        if id is not None:
            stmt = stmt.where(T_ACCOUNTS.c.id == id)
        elif number is not None:
            stmt = stmt.where(T_ACCOUNTS.c.number == number)
        elif login is not None:
            stmt = stmt.where(T_ACCOUNTS.c.login == login)
        else:
            raise InvalidInput("account() needs id, number or login")
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        return _from_row(AccountInfo, r) if r else None

    def accounts(self) -> list[AccountInfo]:
        with self.engine.connect() as conn:
            stmt = select(*[T_ACCOUNTS.c[f.name] for f in fields(AccountInfo)]).order_by(T_ACCOUNTS.c.number)
            return [_from_row(AccountInfo, r) for r in conn.execute(stmt)]

    def set_account_password_hash(self, login: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            n = conn.execute(update(T_ACCOUNTS).where(T_ACCOUNTS.c.login == login)
                             .values(password_hash=password_hash)).rowcount
        if not n:
            raise NotFound(f"no account with login {login!r}")

    def account_password_hash(self, login: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(T_ACCOUNTS.c.password_hash).where(T_ACCOUNTS.c.login == login)).scalar()

    def upsert_service_point(self, code: str, **attrs: Any) -> int:
        """attrs: account_id, address, connection, tariff_group, norm_category, norm_units, sewered,
        max_daily_m3, lat, lon, active_from, active_to."""
        allowed = {c.name for c in T_SP.c} - {"id", "code"}
        bad = set(attrs) - allowed
        if bad:
            raise InvalidInput(f"unknown service point attributes: {sorted(bad)}")
        if attrs.get("connection", "metered") not in ("metered", "unmetered", "temporary"):
            raise InvalidInput(f"connection {attrs['connection']!r} is not metered|unmetered|temporary")
        with self.engine.begin() as conn:
            repository.upsert(conn, T_SP, [{"code": code, **attrs}], ("code",))
            return conn.execute(select(T_SP.c.id).where(T_SP.c.code == code)).scalar_one()

    def service_point(self, *, id: int | None = None, code: str | None = None) -> ServicePointInfo | None:
        stmt = select(*[T_SP.c[f.name] for f in fields(ServicePointInfo)])
        stmt = stmt.where(T_SP.c.id == id) if id is not None else stmt.where(T_SP.c.code == code)
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        return _from_row(ServicePointInfo, r) if r else None

    def service_points(self, *, account_id: int | None = None) -> list[ServicePointInfo]:
        stmt = select(*[T_SP.c[f.name] for f in fields(ServicePointInfo)]).order_by(T_SP.c.code)
        if account_id is not None:
            stmt = stmt.where(T_SP.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [_from_row(ServicePointInfo, r) for r in conn.execute(stmt)]

    # ------------------------------------------------------------------ installations and faults

    def install_meter(self, meter_id: int, service_point_id: int, role: str, installed_at: dt.datetime,
                      initial_reading: Decimal | int | str = 0, *, removed_at: dt.datetime | None = None,
                      final_reading: Decimal | int | str | None = None) -> int:
        if role not in set(MeterRole):
            raise InvalidInput(f"role {role!r} is not one of {[str(r) for r in MeterRole]}")
        installed_at = _utc(installed_at, "installed_at")
        removed_at = _utc(removed_at, "removed_at")
        if removed_at is not None and removed_at < installed_at:
            raise InvalidInput("removed_at is before installed_at")
        row = {"meter_id": meter_id, "service_point_id": service_point_id, "role": role,
               "installed_at": installed_at, "removed_at": removed_at,
               "initial_reading": Decimal(str(initial_reading)),
               "final_reading": None if final_reading is None else Decimal(str(final_reading))}
        with self.engine.begin() as conn:
            repository.upsert(conn, T_INST, [row], ("meter_id", "installed_at"))
            return conn.execute(select(T_INST.c.id).where(T_INST.c.meter_id == meter_id,
                                                          T_INST.c.installed_at == installed_at)).scalar_one()

    def remove_meter(self, meter_id: int, removed_at: dt.datetime, final_reading: Decimal | int | str) -> None:
        removed_at = _utc(removed_at, "removed_at")
        with self.engine.begin() as conn:
            n = conn.execute(update(T_INST).where(
                T_INST.c.meter_id == meter_id, T_INST.c.removed_at.is_(None),
                T_INST.c.installed_at <= removed_at,
            ).values(removed_at=removed_at, final_reading=Decimal(str(final_reading)))).rowcount
        if not n:
            raise NotFound(f"meter {meter_id} has no open installation before {removed_at}")

    def replace_meter(self, old_meter_id: int, new_meter_id: int, at: dt.datetime,
                      final_reading: Decimal | int | str, initial_reading: Decimal | int | str = 0) -> int:
        """Close the old meter's installation and open the new one at the same point and role, in one
        transaction."""
        at = _utc(at, "at")
        with self.engine.begin() as conn:
            old = conn.execute(select(T_INST).where(T_INST.c.meter_id == old_meter_id,
                                                    T_INST.c.removed_at.is_(None))).first()
            if old is None:
                raise NotFound(f"meter {old_meter_id} is not installed anywhere")
            if at < old.installed_at:
                raise InvalidInput("replacement before the old meter's installation")
            conn.execute(update(T_INST).where(T_INST.c.id == old.id).values(
                removed_at=at, final_reading=Decimal(str(final_reading))))
            conn.execute(T_INST.insert().values(
                meter_id=new_meter_id, service_point_id=old.service_point_id, role=old.role, installed_at=at,
                initial_reading=Decimal(str(initial_reading))))
            return conn.execute(select(T_INST.c.id).where(T_INST.c.meter_id == new_meter_id,
                                                          T_INST.c.installed_at == at)).scalar_one()

    def installations(self, *, service_point_id: int | None = None, meter_id: int | None = None,
                      since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[InstallationInfo]:
        """Installations overlapping [since, until), ordered by service point, installed_at."""
        stmt = select(*[T_INST.c[f.name] for f in fields(InstallationInfo)])
        if service_point_id is not None:
            stmt = stmt.where(T_INST.c.service_point_id == service_point_id)
        if meter_id is not None:
            stmt = stmt.where(T_INST.c.meter_id == meter_id)
        if until is not None:
            stmt = stmt.where(T_INST.c.installed_at < _utc(until, "until"))
        if since is not None:
            stmt = stmt.where(or_(T_INST.c.removed_at.is_(None), T_INST.c.removed_at >= _utc(since, "since")))
        stmt = stmt.order_by(T_INST.c.service_point_id, T_INST.c.installed_at, T_INST.c.id)
        with self.engine.connect() as conn:
            return [_from_row(InstallationInfo, r) for r in conn.execute(stmt)]

    def add_fault(self, meter_id: int, start: dt.datetime, end: dt.datetime | None = None, note: str = "") -> int:
        row = {"meter_id": meter_id, "start": _utc(start, "start"), "end": _utc(end, "end"), "note": note}
        with self.engine.begin() as conn:
            repository.upsert(conn, T_FAULTS, [row], ("meter_id", "start"))
            return conn.execute(select(T_FAULTS.c.id).where(T_FAULTS.c.meter_id == meter_id,
                                                            T_FAULTS.c.start == row["start"])).scalar_one()

    def faults(self, *, meter_ids: Iterable[int] | None = None) -> list[FaultInfo]:
        stmt = select(*[T_FAULTS.c[f.name] for f in fields(FaultInfo)]).order_by(T_FAULTS.c.meter_id, T_FAULTS.c.start)
        if meter_ids is not None:
            stmt = stmt.where(T_FAULTS.c.meter_id.in_(list(meter_ids)))
        with self.engine.connect() as conn:
            return [_from_row(FaultInfo, r) for r in conn.execute(stmt)]

    # ------------------------------------------------------------------ readings

    def _reading_select(self):
        return select(*[T_READINGS.c[f.name] for f in fields(ReadingRow)])

    def readings(self, *, meter_id: int | None = None, meter_ids: Iterable[int] | None = None,
                 service_point_id: int | None = None, since: dt.datetime | None = None,
                 until: dt.datetime | None = None, quantity: str | None = None, storage: int | None = None,
                 sources: Iterable[str] | None = None, limit: int | None = None) -> list[ReadingRow]:
        """Readings in [since, until). With service_point_id: readings of the meters installed there, each
        only while it was installed."""
        c = T_READINGS.c
        stmt = self._reading_select()
        if meter_id is not None:
            stmt = stmt.where(c.meter_id == meter_id)
        if meter_ids is not None:
            stmt = stmt.where(c.meter_id.in_(list(meter_ids)))
        if service_point_id is not None:
            i = T_INST.c
            # EXISTS, not a join: a meter fitted twice at one point must not return a reading twice.
            stmt = stmt.where(exists().where(
                i.meter_id == c.meter_id, i.service_point_id == service_point_id, c.value_at >= i.installed_at,
                or_(i.removed_at.is_(None), c.value_at <= i.removed_at)))
        if since is not None:
            stmt = stmt.where(c.value_at >= _utc(since, "since"))
        if until is not None:
            stmt = stmt.where(c.value_at < _utc(until, "until"))
        if quantity is not None:
            stmt = stmt.where(c.quantity == quantity)
        if storage is not None:
            stmt = stmt.where(c.storage == storage)
        if sources is not None:
            stmt = stmt.where(c.source.in_(list(sources)))
        stmt = stmt.order_by(c.meter_id, c.value_at, c.storage, c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [_from_row(ReadingRow, r) for r in conn.execute(stmt)]

    def iter_readings(self, since: dt.datetime, until: dt.datetime, *, quantity: str | None = "volume",
                      meter_ids: Iterable[int] | None = None, batch: int = 20_000) -> Iterator[ReadingRow]:
        """All readings in [since, until) ordered by (meter_id, value_at), streamed from one statement (a
        server-side cursor on PostgreSQL): billing a whole town does not hold one giant list."""
        c = T_READINGS.c
        stmt = self._reading_select().where(c.value_at >= _utc(since, "since"), c.value_at < _utc(until, "until"))
        if quantity is not None:
            stmt = stmt.where(c.quantity == quantity)
        if meter_ids is not None:
            stmt = stmt.where(c.meter_id.in_(list(meter_ids)))
        stmt = stmt.order_by(c.meter_id, c.value_at, c.storage, c.id)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
            for r in result:
                yield _from_row(ReadingRow, r)

    def register_values(self, since: dt.datetime, until: dt.datetime, *, quantity: str = "volume",
                        sources: Iterable[str] = ("radio", "manual", "self_reading"), batch: int = 20_000,
                        ) -> Iterator[tuple[int, dt.datetime, Decimal, str, bool]]:
        """(meter_id, value_at, value, source, due_date) of the main register (instantaneous, tariff 0,
        subunit 0; storage 0, or a stored value stamped by the meter's clock) in [since, until], in no
        particular order: the lean set-wise read a billing run needs."""
        c = T_READINGS.c
        stmt = (select(c.meter_id, c.value_at, c.value, c.source, c.storage)
                .where(c.quantity == quantity, c.function == "instantaneous", c.tariff == 0, c.subunit == 0,
                       c.value.is_not(None), c.source.in_(list(sources)),
                       c.value_at >= _utc(since, "since"), c.value_at <= _utc(until, "until"),
                       or_(c.storage == 0, and_(c.storage > 0, c.meter_clock.is_(True)))))
        with self.engine.connect() as conn:
            for meter_id, at, value, source, storage in conn.execution_options(
                    stream_results=True, yield_per=batch).execute(stmt):
                yield meter_id, at, value, source, storage > 0

    def latest_reading(self, meter_id: int, *, before: dt.datetime | None = None, quantity: str = "volume",
                       storage: int | None = 0, sources: Iterable[str] | None = None) -> ReadingRow | None:
        c = T_READINGS.c
        stmt = self._reading_select().where(c.meter_id == meter_id, c.quantity == quantity, c.value.is_not(None))
        if storage is not None:
            stmt = stmt.where(c.storage == storage)
        if before is not None:
            stmt = stmt.where(c.value_at < _utc(before, "before"))
        if sources is not None:
            stmt = stmt.where(c.source.in_(list(sources)))
        stmt = stmt.order_by(c.value_at.desc(), c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        return _from_row(ReadingRow, r) if r else None

    def add_reading(self, meter_id: int, value: Decimal | int | str, value_at: dt.datetime, source: str, *,
                    quantity: str = "volume", unit: str = "m3", storage: int = 0, entered_by: str | None = None,
                    note: str | None = None) -> bool:
        """A reading not from radio (manual, self_reading, estimate, norm, faulty_meter_rule). Returns False
        when the same (meter, register, value_at, source) already exists: the call is idempotent."""
        return self.add_readings([NewReading(meter_id, Decimal(str(value)), value_at, source, quantity, unit,
                                             storage, entered_by=entered_by, note=note)]) == 1

    def add_readings(self, readings: Iterable[NewReading]) -> int:
        rows = []
        now = dt.datetime.now(dt.UTC)
        valid = set(ReadingSource)
        for r in readings:
            if r.source not in valid:
                raise InvalidInput(f"source {r.source!r} is not one of {sorted(valid)}")
            value = r.value if isinstance(r.value, Decimal) else Decimal(str(r.value))
            if not value.is_finite():
                raise InvalidInput(f"reading value {r.value!r} is not a finite number")
            rows.append({
                "meter_id": r.meter_id, "quantity": r.quantity, "function": r.function, "storage": r.storage,
                "tariff": r.tariff, "subunit": r.subunit, "value_at": _utc(r.value_at, "value_at"),
                "meter_clock": False, "value": value, "value_text": None, "unit": r.unit, "source": r.source,
                "telegram_sha256": None, "decoder_version": None, "entered_by": r.entered_by, "note": r.note,
                "created_at": now,
            })
        with self.engine.begin() as conn:
            wanted = sorted({r["meter_id"] for r in rows})
            known: set[int] = set()
            for k in range(0, len(wanted), 1000):
                known.update(conn.execute(select(T_METERS.c.id).where(T_METERS.c.id.in_(wanted[k:k + 1000]))).scalars())
            if len(known) != len(wanted):
                raise NotFound(f"no meter with id {sorted(set(wanted) - known)[:10]}")
            return repository.insert_ignore(conn, T_READINGS, rows, READING_KEY)

    def alarms(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
               meter_ids: Iterable[int] | None = None, service_point_id: int | None = None) -> list[AlarmInfo]:
        c = T_ALARMS.c
        stmt = select(*[c[f.name] for f in fields(AlarmInfo)])
        if since is not None:
            stmt = stmt.where(c.observed_at >= _utc(since, "since"))
        if until is not None:
            stmt = stmt.where(c.observed_at < _utc(until, "until"))
        if meter_ids is not None:
            stmt = stmt.where(c.meter_id.in_(list(meter_ids)))
        if service_point_id is not None:
            i = T_INST.c
            stmt = stmt.where(exists().where(
                i.meter_id == c.meter_id, i.service_point_id == service_point_id, c.observed_at >= i.installed_at,
                or_(i.removed_at.is_(None), c.observed_at <= i.removed_at)))
        with self.engine.connect() as conn:
            return [_from_row(AlarmInfo, r) for r in conn.execute(stmt.order_by(c.observed_at, c.id))]

    def telegrams(self, *, meter_id: int | None = None, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, reject_reason: str | None = None,
                  limit: int | None = 1000) -> list[TelegramInfo]:
        c = T_TELEGRAMS.c
        stmt = select(*[c[f.name] for f in fields(TelegramInfo)])
        if meter_id is not None:
            stmt = stmt.where(c.meter_id == meter_id)
        if since is not None:
            stmt = stmt.where(c.received_at >= _utc(since, "since"))
        if until is not None:
            stmt = stmt.where(c.received_at < _utc(until, "until"))
        if reject_reason is not None:
            stmt = stmt.where(c.reject_reason == reject_reason)
        stmt = stmt.order_by(c.received_at, c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [_from_row(TelegramInfo, r) for r in conn.execute(stmt)]

    # ------------------------------------------------------------------ keys

    def set_key(self, address: str, key: bytes, manufacturer: str = "") -> None:
        self.set_keys([(address, key, manufacturer)])

    def set_keys(self, entries: Iterable[tuple[str, bytes, str]]) -> int:
        master = self.master_key
        rows = []
        now = dt.datetime.now(dt.UTC)
        for address, key, manufacturer in entries:
            address, manufacturer = address.strip().upper(), (manufacturer or "").strip().upper()
            if len(key) not in (8, 16):
                raise InvalidInput(f"key for {manufacturer or '*'}/{address} must be 8 or 16 bytes, got {len(key)}")
            rows.append({"address": address, "manufacturer": manufacturer,
                         "ciphertext": master.seal(key, address, manufacturer), "updated_at": now})
        with self.engine.begin() as conn:
            repository.upsert(conn, T_KEYS, rows, ("address", "manufacturer"))
        self._keys = None
        return len(rows)

    def delete_key(self, address: str, manufacturer: str = "") -> bool:
        with self.engine.begin() as conn:
            n = conn.execute(delete(T_KEYS).where(T_KEYS.c.address == address.upper(),
                                                  T_KEYS.c.manufacturer == (manufacturer or "").upper())).rowcount
        self._keys = None
        return bool(n)

    def key_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(T_KEYS)).scalar_one()

    def key_entries(self) -> list[tuple[str, bytes, str]]:
        """(address, key, manufacturer) for every stored key, opened. Only for handing to decoders (e.g.
        redecode workers); never log the result."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(T_KEYS.c.address, T_KEYS.c.manufacturer, T_KEYS.c.ciphertext)).all()
        if not rows:
            return []
        master = self.master_key
        return [(a, master.open(ct, a, m), m) for a, m, ct in rows]

    def keystore(self):
        """All meter keys as a decoders.keys.KeyStore for decoders.decode(keys=...). Cached until keys
        change through this Store."""
        if self._keys is None:
            self._keys = build_keystore(self.key_entries())
        return self._keys

    # ------------------------------------------------------------------ routes

    def create_route(self, name: str, *, van: str | None = None, meter_ids: Sequence[int] = (),
                     planned_for: dt.date | None = None) -> int:
        """Create or replace a route: its stops become exactly `meter_ids` in that order."""
        vid = self._require_van(van) if van else None
        with self.engine.begin() as conn:
            repository.upsert(conn, T_ROUTES, [{"name": name, "van_id": vid, "planned_for": planned_for,
                                                "created_at": dt.datetime.now(dt.UTC)}], ("name",),
                              overwrite=("van_id", "planned_for"))
            rid = conn.execute(select(T_ROUTES.c.id).where(T_ROUTES.c.name == name)).scalar_one()
            conn.execute(delete(T_STOPS).where(T_STOPS.c.route_id == rid))
            seen: set[int] = set()
            stops = []
            for mid in meter_ids:
                if mid not in seen:
                    seen.add(mid)
                    stops.append({"route_id": rid, "meter_id": mid, "seq": len(stops)})
            repository.insert_ignore(conn, T_STOPS, stops, ("route_id", "meter_id"))
        return rid

    def add_route_stops(self, name: str, meter_ids: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            rid = conn.execute(select(T_ROUTES.c.id).where(T_ROUTES.c.name == name)).scalar()
            if rid is None:
                raise NotFound(f"no route {name!r}")
            top = conn.execute(select(func.coalesce(func.max(T_STOPS.c.seq), -1)).where(T_STOPS.c.route_id == rid)).scalar_one()
            stops = [{"route_id": rid, "meter_id": m, "seq": top + 1 + i} for i, m in enumerate(meter_ids)]
            repository.insert_ignore(conn, T_STOPS, stops, ("route_id", "meter_id"))

    def assign_route(self, name: str, van: str | None) -> None:
        vid = self._require_van(van) if van else None
        with self.engine.begin() as conn:
            if not conn.execute(update(T_ROUTES).where(T_ROUTES.c.name == name).values(van_id=vid)).rowcount:
                raise NotFound(f"no route {name!r}")

    def routes(self, *, van: str | None = None) -> list[RouteInfo]:
        n = select(func.count()).where(T_STOPS.c.route_id == T_ROUTES.c.id).scalar_subquery()
        stmt = select(T_ROUTES.c.id, T_ROUTES.c.name, T_ROUTES.c.van_id, T_ROUTES.c.planned_for, n.label("meters"))
        if van is not None:
            stmt = stmt.where(T_ROUTES.c.van_id == self._require_van(van))
        with self.engine.connect() as conn:
            return [_from_row(RouteInfo, r) for r in conn.execute(stmt.order_by(T_ROUTES.c.name))]

    def route_sheet(self, name: str, *, at: dt.datetime | None = None):
        """The route in the collector's format (sync.routesheet.RouteSheet), with each meter's latest volume
        reading before `at` (default now) as the previous reading."""
        from sync.routesheet import RouteMeter, RouteSheet

        at = _utc(at, "at") or dt.datetime.now(dt.UTC)
        with self.engine.connect() as conn:
            route = conn.execute(select(T_ROUTES).where(T_ROUTES.c.name == name)).first()
            if route is None:
                raise NotFound(f"no route {name!r}")
            m, s, i, a = T_METERS.c, T_SP.c, T_INST.c, T_ACCOUNTS.c
            stmt = (
                select(T_STOPS.c.seq, m.id, m.manufacturer, m.address, m.version, m.device_type, m.model,
                       m.plausible_min_m3, m.plausible_max_m3, m.transmit_interval_s, m.transmit_window,
                       s.code, s.address.label("sp_address"), s.lat, s.lon, a.number)
                .select_from(T_STOPS)
                .join(T_METERS, m.id == T_STOPS.c.meter_id)
                .outerjoin(T_INST, and_(i.meter_id == m.id, i.installed_at <= at,
                                        or_(i.removed_at.is_(None), i.removed_at > at)))
                .outerjoin(T_SP, s.id == i.service_point_id)
                .outerjoin(T_ACCOUNTS, a.id == s.account_id)
                .where(T_STOPS.c.route_id == route.id)
                .order_by(T_STOPS.c.seq, m.id)
            )
            rows = conn.execute(stmt).all()
            latest = self._latest_volumes(conn, [r.id for r in rows], at)
        meters = []
        seen: set[int] = set()
        for r in rows:
            if r.id in seen:  # two open installations would list a meter twice; the sheet forbids that
                continue
            seen.add(r.id)
            prev = latest.get(r.id)
            meters.append(RouteMeter(
                meter_id=r.address, manufacturer=r.manufacturer, version=r.version, device_type=r.device_type,
                address=r.sp_address or "", account=r.number or "", service_point=r.code or "",
                previous_reading_m3=float(prev[1]) if prev else None,
                previous_reading_date=prev[0].date() if prev else None,
                min_consumption_m3=float(r.plausible_min_m3) if r.plausible_min_m3 is not None else None,
                max_consumption_m3=float(r.plausible_max_m3) if r.plausible_max_m3 is not None else None,
                transmit_interval_s=float(r.transmit_interval_s) if r.transmit_interval_s else None,
                transmit_window=r.transmit_window or "always", lat=r.lat, lon=r.lon, order=r.seq,
                model=r.model or ""))
        return RouteSheet(route_id=route.name, meters=meters, name=route.name, due_date=route.planned_for)

    def _latest_volumes(self, conn, meter_ids: list[int], at: dt.datetime) -> dict[int, tuple[dt.datetime, Decimal]]:
        c = T_READINGS.c
        out: dict[int, tuple[dt.datetime, Decimal]] = {}
        for k in range(0, len(meter_ids), 500):
            chunk = meter_ids[k:k + 500]
            last = (select(c.meter_id, func.max(c.value_at).label("at"))
                    .where(c.meter_id.in_(chunk), c.quantity == "volume", c.storage == 0, c.value.is_not(None),
                           c.value_at < at)
                    .group_by(c.meter_id).subquery())
            stmt = select(c.meter_id, c.value_at, c.value).join(
                last, and_(c.meter_id == last.c.meter_id, c.value_at == last.c.at)).where(
                c.quantity == "volume", c.storage == 0, c.value.is_not(None)).order_by(c.id)
            for mid, when, value in conn.execute(stmt):
                out[mid] = (when, value)
        return out

    def route_progress(self, since: dt.datetime) -> list[RouteProgress]:
        since = _utc(since, "since")
        t, r, st, v = T_TELEGRAMS.c, T_ROUTES.c, T_STOPS.c, T_VANS.c
        heard = select(t.meter_id).where(t.received_at >= since).distinct().subquery()
        read = select(t.meter_id).where(t.received_at >= since, t.decode_ok).distinct().subquery()
        stmt = (
            select(r.name, v.code, func.count(st.meter_id), func.count(heard.c.meter_id), func.count(read.c.meter_id))
            .select_from(T_ROUTES)
            .join(T_STOPS, st.route_id == r.id)
            .outerjoin(T_VANS, v.id == r.van_id)
            .outerjoin(heard, heard.c.meter_id == st.meter_id)
            .outerjoin(read, read.c.meter_id == st.meter_id)
            .group_by(r.name, v.code).order_by(r.name)
        )
        with self.engine.connect() as conn:
            return [RouteProgress(*row) for row in conn.execute(stmt)]

    # ------------------------------------------------------------------ ops

    def counts(self) -> dict[str, int]:
        out = {}
        with self.engine.connect() as conn:
            for t in (T_METERS, T_ACCOUNTS, T_SP, T_INST, T_KEYS, T_VANS, T_ROUTES, T_STOPS, T_BATCHES,
                      T_TELEGRAMS, T_READINGS, T_ALARMS, T_DEAD, T_FAULTS):
                out[t.name] = conn.execute(select(func.count()).select_from(t)).scalar_one()
        return out


def _dead_row(payload: bytes, reason: str, detail: str, van: str | None, topic: str | None) -> dict[str, Any]:
    return {
        "payload_sha256": derive.sha256(payload), "payload": payload, "reason": derive.clean_text(reason, 64),
        "detail": derive.clean_text(detail, 10_000), "van_code": (van or None) and van[:64],
        "topic": (topic or None) and topic[:300], "received_at": dt.datetime.now(dt.UTC),
    }


def _meter_ident(manufacturer: str, address: str, version: int, device_type: int) -> IdentityKey:
    manufacturer = str(manufacturer).strip().upper()
    address = str(address).strip().upper()
    if len(manufacturer) != 3:
        raise InvalidInput(f"manufacturer {manufacturer!r} is not a three-letter code")
    if not address:
        raise InvalidInput("meter address (id) is empty")
    try:
        return manufacturer, address, int(version), int(device_type)
    except (TypeError, ValueError):
        raise InvalidInput(f"version {version!r} / device_type {device_type!r} must be integers") from None


def _safe_decode(decode, telegram: bytes, keys, state) -> Decoded | Rejection | None:
    # decode() promises never to raise on bad bytes; a bug there must not cost the batch its raw frames.
    try:
        return decode(telegram, keys=keys, state=state)
    except Exception:
        log.exception("decoders.decode raised on a %d-byte telegram; stored undecoded", len(telegram))
        return None
