"""Billing run benchmark: N service points with a year of readings, one `amr bill`-equivalent run.

    .venv/bin/python bench/billing/bench_billing.py --n 25000                   # SQLite in a temp dir
    .venv/bin/python bench/billing/bench_billing.py --n 25000 --db postgresql+psycopg://postgres@127.0.0.1/test

Phases: generate the town through the store API (timed, not the figure of interest), then bill October
2026 and November 2026 (the second run opens from the first run's closing positions) each in a fresh
child process, so the reported peak RSS is the billing run's own, not the generator's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def run_phase(db: str, period: str, out: str) -> dict:
    from server.billing.period import Period
    from server.billing.run import run_billing
    from server.store import Store

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with Store(db) as store:
        res = run_billing(store, Period.parse(period), out_dir=out, fmt="csv")
    wall = time.perf_counter() - t0
    return {"period": period, "wall_s": round(wall, 2), "phases_s": {k: round(v, 2) for k, v in res.seconds.items()},
            "service_points": res.service_points, "billed": res.billed, "exceptions": res.exceptions,
            "gross": str(res.gross), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_mb": round(rss0 / 1024, 1), "files": res.files}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=25_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--db", default=None, help="store URL; default a fresh SQLite file in a temp dir")
    ap.add_argument("--phase", choices=["all", "run"], default="all")
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    if args.phase == "run":
        print(json.dumps(run_phase(args.db, args.period, args.out)))
        return

    from sqlalchemy import create_engine, text

    from server.billing.sample import seed_town
    from server.store import Store

    work = Path(tempfile.mkdtemp(prefix="amr-bench-billing-"))
    db = args.db or f"sqlite:///{work}/town.sqlite"
    schema = None
    if db.startswith("postgresql"):
        schema = f"bench_billing_{os.getpid()}"
        admin = create_engine(db)
        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        db = db + ("&" if "?" in db else "?") + f"options=-csearch_path%3D{schema}"
    try:
        with Store(db) as store:
            store.upgrade()
            t0 = time.perf_counter()
            counts = seed_town(store, args.n, months=args.months)
            gen = time.perf_counter() - t0
        print(json.dumps({"generated": counts, "generate_s": round(gen, 1), "db": db.split("?")[0]}), flush=True)
        for period in ("2026-10", "2026-11"):
            cp = subprocess.run([sys.executable, __file__, "--phase", "run", "--db", db, "--period", period,
                                 "--out", str(work / "out")], capture_output=True, text=True, check=True)
            print(cp.stdout.strip(), flush=True)
    finally:
        if schema:
            admin = create_engine(args.db)
            with admin.begin() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                c.execute(text(f"DROP SCHEMA IF EXISTS {schema}_billing CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
