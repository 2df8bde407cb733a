"""End-to-end sync throughput: van outbox -> Mosquitto (shipped config) -> importer(s) -> PostgreSQL.

    .venv/bin/python bench/sync/e2e_bench.py --frames 100000 --batch-size 2000 --importers 2

The outbox is filled first (not timed). Then one publisher process (the van) and N importer processes
(`amr serve`) run against a private Mosquitto on a free port and a fresh schema in the local PostgreSQL
`test` database; the clock runs from the publisher's start until the outbox is empty, i.e. until the last
end-to-end ack (sent after the importer's commit) has deleted the last row. Every frame is a distinct
unencrypted water-meter telegram that the server decodes itself into `--readings-per-frame` readings (the
current volume plus month-end volumes; a comma list deals several counts out to the meters, e.g.
2,3,4,4,5,2,3,4,4,6 for the corpus's mean of 3.7), so "readings" are rows in the `readings` table, "frames"
rows in `raw_telegrams`. The output has CPU µs per frame for each process group (`cpu_us_per_frame`).
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

import datetime as dt  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from decoders.frame import Frame, Position  # noqa: E402
from sync.localbroker import LocalBroker  # noqa: E402
from sync.outbox import Outbox, OutboxItem  # noqa: E402

T0 = dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)


def _bcd(n: int, nbytes: int) -> bytes:
    digits = f"{n:0{nbytes * 2}d}"[-nbytes * 2:]
    return bytes(int(digits[i:i + 2], 16) for i in range(len(digits) - 2, -1, -2))


def telegram(meter: int, volume_l: int, acc: int, readings: int) -> bytes:
    """Unencrypted OMS water meter: current volume plus `readings - 1` month-end volumes (storage 1..n),
    the shape of meters that transmit their billing history."""
    recs = b"\x0c\x13" + _bcd(volume_l, 4)
    for s in range(1, readings):
        lsb, rest = s & 1, s >> 1
        dif = 0x0C | (lsb << 6)
        recs += (bytes([dif | 0x80, rest & 0x0F, 0x13]) if rest else bytes([dif, 0x13])) + _bcd(volume_l - 900 * s, 4)
    body = bytes([0x44, 0x2D, 0x2C]) + _bcd(meter, 4) + bytes([0x1B, 0x07, 0x7A, acc & 0xFF, 0, 0, 0]) + recs
    return bytes([len(body)]) + body


def workload(frames: int, meters: int, readings: int | list[int]) -> list[Frame]:
    """`meters` meters heard on successive days until `frames` frames exist (each pass is a new day, so
    every frame carries new readings). `readings` per telegram, or a list of counts dealt out to the meters
    in turn (meter k sends `readings[k % len(readings)]`: a fleet of meter models)."""
    mix = readings if isinstance(readings, list) else [readings]
    out = []
    for k in range(frames):
        meter, day = k % meters, k // meters
        out.append(Frame(telegram(10_000_000 + meter, 200_000 + 37 * meter + 150 * day, day, mix[meter % len(mix)]),
                         T0 + dt.timedelta(days=day, milliseconds=meter), "rtlsdr:0", "T1", "A", -70.0 - meter % 30,
                         position=Position(52.0 + meter * 1e-6, 21.0, 30.0)))
    return out

PG = os.environ.get("AMR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process in seconds (/proc/<pid>/stat fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pg_backends(eng) -> list[int]:
    with eng.connect() as c:
        return [r[0] for r in c.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'amr-syncbench' AND pid <> pg_backend_pid()"))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--max-inflight", type=int, default=4)
    ap.add_argument("--importers", type=int, default=2)
    ap.add_argument("--compress", action="store_true")
    ap.add_argument("--meters", type=int, default=25_000, help="meter population (registered up front)")
    ap.add_argument("--readings-per-frame", default="2",
                    help="readings per telegram, or a comma list dealt out to the meters in turn, e.g. "
                         "2,3,4,4,5,2,3,4,4,6 (mean 3.7, the corpus's water meters)")
    ap.add_argument("--decode", choices=["van", "server"], default="server",
                    help="van: the van's decode travels and importers run --trust-van-decode; server: the "
                         "publisher runs --no-send-decode and importers decode every raw telegram")
    ap.add_argument("--sink", choices=["postgres", "null"], default="postgres",
                    help="null: importers parse, validate and ack but write nothing (the sync path alone)")
    ap.add_argument("--warmup", action="store_true",
                    help="send one untimed pass over every meter first (steady state of a long-running importer)")
    ap.add_argument("--keep", action="store_true", help="keep the schema and work dir")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="amr-syncbench-"))
    broker = LocalBroker(work / "broker", users=["importer", "van01"]).start()
    schema = f"syncbench_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(PG)
    with eng.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG}?options=-csearch_path%3D{schema}&application_name=amr-syncbench"
    from server.store import Store

    store = Store(url)
    store.upgrade()
    store.add_van("van01")

    ob_path = work / "van01.outbox"
    # The meter registry is imported before any van drives (amr import meters).
    store.resolve_meters({("KAM", f"{10_000_000 + k:08d}", 0x1B, 7) for k in range(min(args.meters, args.frames))})
    from decoders import decode

    def fill(frames: list[Frame]) -> int:
        t = time.perf_counter()
        expected = 0
        with Outbox(ob_path, van_id="van01") as ob:
            for i in range(0, len(frames), 5000):
                # the van decodes while it drives (not timed here; the collector bench measures it)
                results = [decode(f.telegram) for f in frames[i:i + 5000]]
                expected += sum(len(r.readings) for r in results if r.ok)
                ob.append([OutboxItem.from_result(f, r) for f, r in zip(frames[i:i + 5000], results, strict=True)])
        print(f"outbox filled with {len(frames)} frames in {time.perf_counter() - t:.1f}s", flush=True)
        return expected

    mix = [int(x) for x in str(args.readings_per_frame).split(",")]
    if not mix or min(mix) < 1:
        sys.exit("--readings-per-frame: positive integers")
    everything = workload(args.frames + (args.meters if args.warmup else 0), args.meters, mix)
    warm, frames = everything[:len(everything) - args.frames], everything[len(everything) - args.frames:]

    def murl(user: str) -> str:
        return f"mqtt://{user}:{quote(broker.passwords[user], safe='')}@127.0.0.1:{broker.plain_port}"

    procs = []
    logs = work / "logs"
    logs.mkdir()
    for i in range(args.importers):
        f = (logs / f"importer{i}.log").open("w")
        if args.sink == "null":
            cmd = [str(Path(__file__).with_name("null_importer.py")), murl("importer"), f"bench-null-{i}"]
        else:
            cmd = ["-m", "amr", "serve", "--db", url, "--broker", murl("importer"), "--client-id", f"bench-imp-{i}",
                   "--metrics-interval", "5", "--trust-van-decode" if args.decode == "van" else "--decode-on-server"]
        procs.append(subprocess.Popen([sys.executable, *cmd], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT))
    deadline = time.time() + 30
    while not all("connected (session_present" in (logs / f"importer{i}.log").read_text()
                  for i in range(args.importers)):
        if time.time() > deadline:
            sys.exit("importers did not come up")
        time.sleep(0.1)

    pub_args = [sys.executable, "-m", "amr", "sync", "run", "--outbox", str(ob_path), "--van", "van01",
                "--broker", murl("van01"), "--batch-size", str(args.batch_size), "--max-inflight",
                str(args.max_inflight), "--ack-timeout", "120", "--exit-when-empty"]
    if args.compress:
        pub_args.append("--compress")
    if args.decode == "server":
        pub_args.append("--no-send-decode")
    if warm:
        # One untimed pass over every meter, so the importers' meter caches are as warm as a long-running
        # importer's are: the timed run then measures steady state.
        fill(warm)
        subprocess.run(pub_args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(logs / "warmup.log").open("w"), check=True)
        print("warm-up pass done", flush=True)
    expected_readings = fill(frames)
    base = store.counts()

    children0 = _children_cpu()
    broker0 = _proc_cpu(broker.proc.pid)
    pg0 = {pid: _proc_cpu(pid) for pid in _pg_backends(eng)}  # the bench's own store connection
    imp0 = [_proc_cpu(p.pid) for p in procs]
    t0 = time.perf_counter()
    pub = subprocess.run(pub_args, cwd=ROOT, stdout=subprocess.PIPE, stderr=(logs / "publisher.log").open("w"))
    elapsed = time.perf_counter() - t0
    publisher_cpu = _children_cpu() - children0
    importers_cpu = sum(_proc_cpu(p.pid) - c0 for p, c0 in zip(procs, imp0, strict=True))
    status = json.loads(pub.stdout.decode().strip().splitlines()[-1])
    with sqlite3.connect(ob_path) as c:
        left = c.execute("SELECT count(*) FROM outbox").fetchone()[0]

    pg_cpu = sum(_proc_cpu(pid) - pg0.get(pid, 0.0) for pid in _pg_backends(eng))  # before importers disconnect
    broker_cpu = _proc_cpu(broker.proc.pid) - broker0
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(30)
    if args.sink == "null":
        stored, readings = args.frames - left, expected_readings if not left else 0
    else:
        counts = store.counts()
        stored = counts.get("raw_telegrams", 0) - base.get("raw_telegrams", 0)
        readings = counts.get("readings", 0) - base.get("readings", 0)
    cpu_total = publisher_cpu + importers_cpu + broker_cpu + pg_cpu
    result = {
        "sink": args.sink, "warmup": args.warmup, "frames": args.frames, "meters": args.meters,
        "readings_per_frame": args.readings_per_frame, "readings_per_stored_frame": round(readings / stored, 2) if stored else None,
        "decode": args.decode, "batch_size": args.batch_size, "importers": args.importers,
        "compress": args.compress, "seconds": round(elapsed, 2), "outbox_left": left,
        "stored_frames": stored, "stored_readings": readings, "expected_readings": expected_readings,
        "frames_per_s": round(stored / elapsed), "readings_per_s": round(readings / elapsed),
        "loadavg_1m_after": os.getloadavg()[0],
        "cpu_s": {"publisher": round(publisher_cpu, 2), "importers": round(importers_cpu, 2),
                  "mosquitto": round(broker_cpu, 2),
                  "postgres_backends": round(pg_cpu, 2)},
        "cpu_us_per_frame": {k: round(v / stored * 1e6, 1) if stored else None for k, v in (
            ("publisher", publisher_cpu), ("importers", importers_cpu), ("mosquitto", broker_cpu),
            ("postgres_backends", pg_cpu), ("total", cpu_total))},
        "batches_resent": status["publisher"]["batches_resent"],
        # what two otherwise idle cores could do if the work parallelised perfectly (a ceiling, not a measurement)
        "cpu_bound_readings_per_s_2_cores": round(readings / (cpu_total / 2)) if cpu_total else None,
    }
    print(json.dumps(result))
    store.close()
    broker.stop()
    if not args.keep:
        with eng.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()
    if left or stored != args.frames or readings != expected_readings:
        sys.exit(f"INCOMPLETE: {result}")


if __name__ == "__main__":
    main()
