"""Decode stored raw telegrams again, after a key arrives or a driver changes, and add what appears.

    report = redecode(store, only_failed=True)          # `amr redecode --failed`

Raw telegrams are immutable truth; readings are derived. The parent streams telegrams from one query
ordered by (meter, id), so a meter's telegrams mostly land in the same chunk (compact frames need the full
frame that taught their format first), and hands chunks to a ProcessPoolExecutor (all cores by default).
Each worker holds the store's keys (handed over at start, never logged), its own DecoderState and its own
database connection, and does the whole job for its chunk in one transaction: decode, resolve meter ids,
insert readings and alarms with ON CONFLICT DO NOTHING (readings already there stay; a second run adds
nothing), and update a telegram's outcome columns only where the outcome changed (decoded now, another
reason, another driver, another meter). Only counts travel back, so the parent is never the bottleneck.

Telegrams whose compact format was unknown in their worker are decoded once more at the end, in the
parent, through a fresh DecoderState fed that meter's whole history in reception order.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from server import derive, repository
from server.store import READING_KEY, T_ALARMS, T_READINGS, T_TELEGRAMS, Store, build_keystore

CHUNK = 4000

# (id, telegram, received_at, meter_id, decode_ok, reject_reason, driver)
StoredRow = tuple[int, bytes, dt.datetime, int | None, bool, str | None, str | None]


@dataclass
class RedecodeReport:
    telegrams: int = 0
    decoded: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    newly_decoded: int = 0          # were rejected (or never decoded) before, decode now
    outcome_changed: int = 0
    readings_new: int = 0
    alarms_new: int = 0
    seconds: float = 0.0
    workers: int = 0

    @property
    def rate(self) -> float:
        return self.telegrams / self.seconds if self.seconds else 0.0

    def merge(self, other: RedecodeReport) -> None:
        for name in ("telegrams", "decoded", "newly_decoded", "outcome_changed", "readings_new", "alarms_new"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.rejected.items():
            self.rejected[reason] = self.rejected.get(reason, 0) + n


# ----------------------------------------------------------------------------------------- worker side

_keys: Any = None
_state: Any = None
_version: str | None = None
_store: Store | None = None


def _init_worker(key_entries: list[tuple[str, bytes, str]], version: str, url: str | None = None) -> None:
    global _keys, _state, _version, _store
    from decoders.state import DecoderState

    _keys = build_keystore(key_entries)
    _state = DecoderState()
    _version = version
    if url is not None:
        _store = Store(url, decode=False)


def _decode_chunk(rows: list[StoredRow]) -> list[tuple]:
    """-> per telegram: (id, ok, reason, detail, driver, identity, access_no, readings, alarms)."""
    from decoders import decode
    from decoders.model import Decoded

    out = []
    for tid, telegram, received_at, _mid, _ok, _reason, _driver in rows:
        try:
            res = decode(telegram, keys=_keys, state=_state)
        except Exception as e:  # decode() should never raise; one bad telegram must not stop the run
            out.append((tid, False, "MALFORMED", f"decoder raised {type(e).__name__}", None, None, None, [], []))
            continue
        ident = derive.meter_key(res, telegram)
        cols = derive.outcome_columns(res, telegram, _version)
        if isinstance(res, Decoded):
            sha = derive.sha256(telegram)
            readings = derive.reading_rows(res, received_at, 0, sha, _version)
            alarms = derive.alarm_rows(res, received_at, 0, sha)
        else:
            readings, alarms = [], []
        out.append((tid, cols["decode_ok"], cols["reject_reason"], cols["reject_detail"], cols["driver"], ident,
                    cols["access_no"], readings, alarms))
    return out


def _work_chunk(rows: list[StoredRow]) -> tuple[RedecodeReport, list[StoredRow]]:
    """Decode and store one chunk in this worker; returns its counts and the compact frames to retry."""
    assert _store is not None
    report = RedecodeReport()
    retry: list[StoredRow] = []
    _apply(_store, _decode_chunk(rows), {r[0]: r for r in rows}, report, retry)
    return report, retry


def _apply(store: Store, results: list[tuple], before: dict[int, StoredRow], report: RedecodeReport,
           retry: list[StoredRow] | None) -> None:
    idents = [r[5] for r in results if r[5] is not None]
    meter_ids = store.resolve_meters(idents) if idents else {}
    readings: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    version = store.decoder_version
    for tid, ok, reason, detail, driver, ident, access_no, rds, als in results:
        old = before[tid]
        if retry is not None and reason == "COMPACT_FORMAT_UNKNOWN" and old[3] is not None:
            retry.append(old)
            continue
        report.telegrams += 1
        mid = meter_ids.get(ident) if ident is not None else None
        if ok:
            report.decoded += 1
            if not old[4]:
                report.newly_decoded += 1
            for r in rds:
                r["meter_id"] = mid
            for a in als:
                a["meter_id"] = mid
            readings += rds
            alarms += als
        else:
            report.rejected[reason or "?"] = report.rejected.get(reason or "?", 0) + 1
        if (ok, reason, driver, mid) != (old[4], old[5], old[6], old[3]):
            changes.append({"id": tid, "decode_ok": ok, "reject_reason": reason, "reject_detail": detail,
                            "driver": driver, "meter_id": mid, "access_no": access_no, "decoder_version": version})
    with store.engine.begin() as conn:
        report.readings_new += repository.insert_ignore(conn, T_READINGS, readings, READING_KEY)
        report.alarms_new += repository.insert_ignore(conn, T_ALARMS, alarms, ("telegram_sha256", "alarm"))
        repository.update_by_id(conn, T_TELEGRAMS, changes)
    report.outcome_changed += len(changes)


# ----------------------------------------------------------------------------------------- parent side


def _stored(store: Store, *, only_failed: bool, reasons: Iterable[str] | None, since: dt.datetime | None,
            until: dt.datetime | None, meter_ids: Iterable[int] | None, chunk: int) -> Iterator[list[StoredRow]]:
    c = T_TELEGRAMS.c
    stmt = select(c.id, c.telegram, c.received_at, c.meter_id, c.decode_ok, c.reject_reason, c.driver)
    if only_failed:
        stmt = stmt.where(c.decode_ok.is_(False))
    if reasons:
        stmt = stmt.where(c.reject_reason.in_(list(reasons)))
    if since is not None:
        stmt = stmt.where(c.received_at >= since)
    if until is not None:
        stmt = stmt.where(c.received_at < until)
    if meter_ids is not None:
        stmt = stmt.where(c.meter_id.in_(list(meter_ids)))
    stmt = stmt.order_by(c.meter_id, c.id)
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
        for part in result.partitions(chunk):
            yield [tuple(r) for r in part]  # type: ignore[misc]


def redecode(store: Store, *, only_failed: bool = False, reasons: Iterable[str] | None = None,
             since: dt.datetime | None = None, until: dt.datetime | None = None,
             meter_ids: Iterable[int] | None = None, workers: int | None = None, chunk: int = CHUNK,
             progress: Callable[[RedecodeReport], None] | None = None) -> RedecodeReport:
    report = RedecodeReport(workers=workers or os.cpu_count() or 1)
    t0 = time.perf_counter()
    keys = store.key_entries()
    version = store.decoder_version
    retry: list[StoredRow] = []
    with ProcessPoolExecutor(max_workers=report.workers, initializer=_init_worker,
                             initargs=(keys, version, store.url)) as pool:
        pending: set[Future] = set()

        def collect(done: Iterable[Future]) -> None:
            for f in done:
                part, again = f.result()
                report.merge(part)
                retry.extend(again)
                if progress:
                    progress(report)

        for rows in _stored(store, only_failed=only_failed, reasons=reasons, since=since, until=until,
                            meter_ids=meter_ids, chunk=chunk):
            pending.add(pool.submit(_work_chunk, rows))
            if len(pending) >= 2 * report.workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(done)
        done, pending = wait(pending)
        collect(done)
    if retry:
        _retry_compact(store, retry, keys, version, report)
    report.seconds = time.perf_counter() - t0
    return report


def _retry_compact(store: Store, retry: list[StoredRow], keys, version: str, report: RedecodeReport) -> None:
    by_meter: dict[int, list[StoredRow]] = {}
    for r in retry:
        by_meter.setdefault(r[3], []).append(r)  # type: ignore[arg-type]
    # One pass over the telegrams of all affected meters (no per-meter index on raw_telegrams).
    history: dict[int, list[StoredRow]] = {}
    ids = list(by_meter)
    for k in range(0, len(ids), 1000):
        for rows in _stored(store, only_failed=False, reasons=None, since=None, until=None,
                            meter_ids=ids[k:k + 1000], chunk=CHUNK):
            for r in rows:
                history.setdefault(r[3], []).append(r)  # type: ignore[arg-type]
    for meter_id, failed in by_meter.items():
        # The whole history in reception order through a fresh state, so the full frames teach the compact
        # formats; only the retried telegrams' results are applied (the others were already).
        _init_worker(keys, version)
        rows = sorted(history.get(meter_id, []), key=lambda r: (r[2], r[0]))
        wanted = {r[0]: r for r in failed}
        results = [res for res in _decode_chunk(rows) if res[0] in wanted]
        _apply(store, results, wanted, report, None)
