"""Idempotent bulk insert into the real tables (indexes, FKs, natural keys) on PostgreSQL.

    PYTHONPATH=. .venv/bin/python -m bench.store.bench_insert [--rows 500000] [--batch 50000] [--loaders 1]

Phases, each timed with time.perf_counter around repository.insert_ignore inside one transaction per
batch, on a fresh schema:
  telegrams  raw_telegrams rows (64-byte telegrams, unique SHA-256), COPY -> staging -> merge
  readings   readings rows (FK to meters and to raw_telegrams.sha256), COPY -> staging -> merge
  replay     the same readings again: every row conflicts, nothing changes
  overlap    half old, half new readings
  batches    readings in transactions of 1,000 rows (COPY path; an importer's batch) and of 50 rows
             (one multi-row VALUES … ON CONFLICT DO NOTHING RETURNING statement)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from bench.store.common import pg_store
from server import repository
from server.store import READING_KEY, T_READINGS, T_TELEGRAMS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def telegram_rows(n: int, meter_ids: list[int], start: int = 0) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        t = bytes([63]) + i.to_bytes(8, "little") + os.urandom(55)
        rows.append({"sha256": hashlib.sha256(t).digest(), "telegram": t, "meter_id": meter_ids[i % len(meter_ids)],
                     "access_no": i & 0xFF, "van_id": None, "batch_id": None,
                     "received_at": T0 + dt.timedelta(seconds=i), "source": "bench", "link_mode": "T1",
                     "rssi_dbm": -70.0, "lat": 50.3, "lon": 18.2, "decode_ok": True, "reject_reason": None,
                     "reject_detail": None, "driver": "bench", "decoder_version": "bench"})
    return rows


def reading_rows(n: int, tel: list[dict], start: int = 0) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        t = tel[(i // 4) % len(tel)]
        rows.append({"meter_id": t["meter_id"], "quantity": ("volume", "volume_flow", "flow_temperature", "date")[i % 4],
                     "function": "instantaneous", "storage": 0, "tariff": 0, "subunit": 0,
                     "value_at": T0 + dt.timedelta(minutes=15 * (i // 4)), "meter_clock": False,
                     "value": Decimal(i) / 1000, "value_text": None, "unit": "m3", "source": "radio",
                     "telegram_sha256": t["sha256"], "decoder_version": "bench"})
    return rows


LOADERS = 1


def timed(store, table, rows, key, batch) -> tuple[float, int]:
    """Insert `rows` in transactions of `batch` rows, on LOADERS connections at once (each batch is its own
    transaction either way, as with several importers)."""

    def one(i: int) -> int:
        with store.engine.begin() as conn:
            return repository.insert_ignore(conn, table, rows[i:i + batch], key)

    t0 = time.perf_counter()
    if LOADERS == 1:
        new = sum(one(i) for i in range(0, len(rows), batch))
    else:
        with ThreadPoolExecutor(LOADERS) as pool:
            new = sum(pool.map(one, range(0, len(rows), batch)))
    return time.perf_counter() - t0, new


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--loaders", type=int, default=1, help="concurrent connections (threads), one batch each")
    args = ap.parse_args()
    global LOADERS
    LOADERS = args.loaders
    out: dict[str, object] = {"rows": args.rows, "batch": args.batch, "loaders": args.loaders,
                              "loadavg_start": os.getloadavg()}
    with pg_store(decode=False) as store:
        meters = store.resolve_meters([("BEN", f"{i:08d}", 1, 7) for i in range(25_000)])
        mids = sorted(meters.values())
        tel = telegram_rows(args.rows // 4, mids)
        s, n = timed(store, T_TELEGRAMS, tel, ("sha256",), args.batch)
        out["telegrams_rows_per_s"] = round(n / s)
        s, n = timed(store, T_TELEGRAMS, tel, ("sha256",), args.batch)
        out["telegrams_replay_rows_per_s"] = round(len(tel) / s)
        assert n == 0

        rd = reading_rows(args.rows, tel)
        s, n = timed(store, T_READINGS, rd, READING_KEY, args.batch)
        assert n == len(rd), (n, len(rd))
        out["readings_rows_per_s"] = round(n / s)
        s, n = timed(store, T_READINGS, rd, READING_KEY, args.batch)
        assert n == 0
        out["readings_replay_rows_per_s"] = round(len(rd) / s)

        more_tel = telegram_rows(args.rows // 8, mids, start=len(tel))
        timed(store, T_TELEGRAMS, more_tel, ("sha256",), args.batch)
        tel_all = tel + more_tel
        half = reading_rows(args.rows // 2, tel_all, start=args.rows // 2) + reading_rows(args.rows // 2, tel_all,
                                                                                        start=args.rows)
        s, n = timed(store, T_READINGS, half, READING_KEY, args.batch)
        assert n == args.rows // 2, n
        out["readings_half_overlap_rows_offered_per_s"] = round(len(half) / s)

        small = reading_rows(50_000, tel_all, start=2 * args.rows)
        s, n = timed(store, T_READINGS, small, READING_KEY, 1000)
        assert n == len(small)
        out["readings_batches_of_1000_rows_per_s"] = round(n / s)
        tiny = reading_rows(10_000, tel_all, start=3 * args.rows)
        s, n = timed(store, T_READINGS, tiny, READING_KEY, 50)
        assert n == len(tiny)
        out["readings_batches_of_50_rows_per_s"] = round(n / s)
        out["readings_total"] = store.counts()["readings"]
    out["loadavg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
