"""What each constraint and index costs the server-side merge (PostgreSQL), with no Python in the loop.

    PYTHONPATH=. .venv/bin/python -m bench.store.probe_merge_costs [--rows 200000]

Rows are generated inside PostgreSQL (generate_series into a temp table), then merged with the store's
statement shape `INSERT … SELECT … ORDER BY key ON CONFLICT (key) DO NOTHING` into the shipped tables, and
again after adding back, one at a time, what migrations 0002–0006 removed (variants are cumulative): the FKs
readings → meters and readings → raw_telegrams, raw_telegrams' FKs to meters, vans and ingest_batches
(every telegram of a batch references the same van and batch rows), B-tree time indexes instead of BRIN,
and the (meter_id, received_at) B-tree on raw_telegrams. Tables are emptied between variants.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.store.common import pg_store

READING_COLS = ("meter_id,quantity,function,storage,tariff,subunit,value_at,meter_clock,value,value_text,unit,"
                "source,telegram_sha256,decoder_version,created_at")
READING_KEY = "meter_id,value_at,quantity,function,storage,tariff,subunit,source"
TELEGRAM_COLS = ("sha256,telegram,meter_id,access_no,van_id,batch_id,received_at,source,link_mode,rssi_dbm,lat,"
                 "lon,decode_ok,driver,decoder_version")

READING_VARIANTS = [
    ("shipped", None),
    ("+ FK readings.meter_id", "ALTER TABLE readings ADD CONSTRAINT x_fk_meter FOREIGN KEY (meter_id) "
                               "REFERENCES meters (id)"),
    ("+ FK readings.telegram_sha256", "ALTER TABLE readings ADD CONSTRAINT x_fk_tel FOREIGN KEY "
                                      "(telegram_sha256) REFERENCES raw_telegrams (sha256)"),
    ("+ B-tree value_at, (meter_id, value_at)", "DROP INDEX ix_readings_value_at; "
     "CREATE INDEX x_ix_va ON readings (value_at); CREATE INDEX x_ix_mva ON readings (meter_id, value_at)"),
]
TELEGRAM_VARIANTS = [
    ("shipped (no FKs)", None),
    ("+ FK meter_id -> meters", "ALTER TABLE raw_telegrams ADD CONSTRAINT x_fk_m FOREIGN KEY (meter_id) "
                                "REFERENCES meters (id)"),
    ("+ FKs van_id -> vans, batch_id -> ingest_batches",
     "ALTER TABLE raw_telegrams ADD CONSTRAINT x_fk_v FOREIGN KEY (van_id) REFERENCES vans (id); "
     "ALTER TABLE raw_telegrams ADD CONSTRAINT x_fk_b FOREIGN KEY (batch_id) REFERENCES ingest_batches (id)"),
    ("+ B-tree received_at instead of BRIN", "DROP INDEX ix_raw_telegrams_received_at; "
                                             "CREATE INDEX x_ix_ra ON raw_telegrams (received_at)"),
    ("+ B-tree (meter_id, received_at)", "CREATE INDEX x_ix_mra ON raw_telegrams (meter_id, received_at)"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    n = ap.parse_args().rows
    out: dict[str, object] = {"rows": n, "loadavg_start": os.getloadavg()}
    with pg_store(decode=False) as store:
        store.resolve_meters([("BEN", f"{i:08d}", 1, 7) for i in range(25_000)])
        store.add_van("van-bench")
        store.ingest_batch("van-bench", "probe", [])
        with store.engine.begin() as c:
            c.exec_driver_sql(
                "CREATE TEMP TABLE st_tel AS SELECT decode(md5(g::text) || md5(g::text), 'hex') sha256, "
                "decode(repeat(md5(g::text), 4), 'hex') telegram, (1 + g %% 25000)::bigint meter_id, "
                "(g %% 256)::smallint access_no, (SELECT min(id) FROM vans) van_id, "
                "(SELECT min(id) FROM ingest_batches) batch_id, timestamptz '2026-01-01' + g * interval '1 s' received_at, "
                "'bench'::varchar source, 'T1'::varchar link_mode, -70.0::float8 rssi_dbm, 50.3::float8 lat, "
                "18.2::float8 lon, true decode_ok, 'bench'::varchar driver, 'bench'::varchar decoder_version "
                f"FROM generate_series(1, {n}) g")
            c.exec_driver_sql(
                "CREATE TEMP TABLE st_rd AS SELECT meter_id, 'volume'::varchar quantity, "
                "'instantaneous'::varchar function, 0 storage, 0::smallint tariff, 0::smallint subunit, "
                "received_at value_at, false meter_clock, 1000::bigint value, null::varchar value_text, "
                "'m3'::varchar unit, 'radio'::varchar source, sha256 telegram_sha256, "
                "'bench'::varchar decoder_version, now() created_at FROM st_tel")

        def merge(table: str, cols: str, key: str, src: str) -> int:
            with store.engine.begin() as c:
                t = time.perf_counter()
                c.exec_driver_sql(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {src} ORDER BY {key} "
                                  f"ON CONFLICT ({key}) DO NOTHING")
                return round(n / (time.perf_counter() - t))

        tel: dict[str, int] = {}
        for label, ddl in TELEGRAM_VARIANTS:
            with store.engine.begin() as c:
                c.exec_driver_sql("TRUNCATE readings, alarms, raw_telegrams")
                if ddl:
                    c.exec_driver_sql(ddl)
            tel[label] = merge("raw_telegrams", TELEGRAM_COLS, "sha256", "st_tel")
        out["raw_telegrams_merge_rows_per_s"] = tel

        rd: dict[str, int] = {}
        for label, ddl in READING_VARIANTS:
            with store.engine.begin() as c:
                c.exec_driver_sql("TRUNCATE readings")
                if ddl:
                    c.exec_driver_sql(ddl)
            rd[label] = merge("readings", READING_COLS, READING_KEY, "st_rd")
        out["readings_merge_rows_per_s (cumulative additions)"] = rd
    out["loadavg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
