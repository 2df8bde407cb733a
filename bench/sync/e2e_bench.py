"""End-to-end sync throughput: van outbox -> Mosquitto (shipped config) -> importer(s) -> PostgreSQL.

    .venv/bin/python bench/sync/e2e_bench.py --frames 100000 --batch-size 2000 --importers 2

The outbox is filled first (not timed). Then one publisher process (the van) and N importer processes
(`amr serve`) run against a private Mosquitto on a free port and a fresh schema in the local PostgreSQL
`test` database; the clock runs from the publisher's start until the outbox is empty, i.e. until the last
end-to-end ack (sent after the importer's commit) has deleted the last row. Every frame is a distinct
unencrypted water-meter telegram that the server decodes itself into two readings (current and due-date
volume), so "readings" are rows in the `readings` table, "frames" rows in `raw_telegrams`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from sync.localbroker import LocalBroker  # noqa: E402
from tests.sync.conftest import fill_outbox, make_frames  # noqa: E402

PG = os.environ.get("AMR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--max-inflight", type=int, default=4)
    ap.add_argument("--importers", type=int, default=2)
    ap.add_argument("--compress", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the schema and work dir")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="amr-syncbench-"))
    broker = LocalBroker(work / "broker", users=["importer", "van01"]).start()
    schema = f"syncbench_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(PG)
    with eng.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG}?options=-csearch_path%3D{schema}"
    from server.store import Store

    store = Store(url)
    store.upgrade()
    store.add_van("van01")

    t = time.perf_counter()
    ob_path = work / "van01.outbox"
    fill_outbox(ob_path, "van01", make_frames(args.frames), chunk=5000)
    print(f"outbox filled with {args.frames} frames in {time.perf_counter() - t:.1f}s", flush=True)

    def murl(user: str) -> str:
        return f"mqtt://{user}:{quote(broker.passwords[user], safe='')}@127.0.0.1:{broker.plain_port}"

    procs = []
    logs = work / "logs"
    logs.mkdir()
    for i in range(args.importers):
        f = (logs / f"importer{i}.log").open("w")
        procs.append(subprocess.Popen([sys.executable, "-m", "amr", "serve", "--db", url, "--broker", murl("importer"),
                                       "--client-id", f"bench-imp-{i}", "--metrics-interval", "5"],
                                      cwd=ROOT, stdout=f, stderr=subprocess.STDOUT))
    deadline = time.time() + 30
    while not all("connected (session_present" in (logs / f"importer{i}.log").read_text()
                  for i in range(args.importers)):
        if time.time() > deadline:
            sys.exit("importers did not come up")
        time.sleep(0.1)

    t0 = time.perf_counter()
    pub_args = [sys.executable, "-m", "amr", "sync", "run", "--outbox", str(ob_path), "--van", "van01",
                "--broker", murl("van01"), "--batch-size", str(args.batch_size), "--max-inflight",
                str(args.max_inflight), "--ack-timeout", "120", "--exit-when-empty"]
    if args.compress:
        pub_args.append("--compress")
    pub = subprocess.run(pub_args, cwd=ROOT, stdout=subprocess.PIPE, stderr=(logs / "publisher.log").open("w"))
    elapsed = time.perf_counter() - t0
    status = json.loads(pub.stdout.decode().strip().splitlines()[-1])
    with sqlite3.connect(ob_path) as c:
        left = c.execute("SELECT count(*) FROM outbox").fetchone()[0]

    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(30)
    counts = store.counts()
    frames, readings = counts.get("raw_telegrams", 0), counts.get("readings", 0)
    result = {
        "frames": args.frames, "batch_size": args.batch_size, "importers": args.importers,
        "compress": args.compress, "seconds": round(elapsed, 2), "outbox_left": left,
        "stored_frames": frames, "stored_readings": readings,
        "frames_per_s": round(frames / elapsed), "readings_per_s": round(readings / elapsed),
        "batches_resent": status["publisher"]["batches_resent"],
    }
    print(json.dumps(result))
    store.close()
    broker.stop()
    if not args.keep:
        with eng.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()
    if left or frames != args.frames or readings != 2 * args.frames:
        sys.exit(f"INCOMPLETE: {result}")


if __name__ == "__main__":
    main()
