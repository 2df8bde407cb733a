"""CPU per frame of the importer's work without MQTT: payloads exactly as the publisher builds them (outbox ->
`encode_raw_batch`), then `Importer.handle` -> `StoreSink.ingest` -> PostgreSQL, in this process.

    taskset -c 0 .venv/bin/python bench/sync/ingest_cpu.py --readings-per-frame 4 --frames 30000
    .venv/bin/py-spy record -r 1000 -f raw -o imp.raw -- .venv/bin/python bench/sync/ingest_cpu.py   # profile

Prints the importer's CPU (process_time) and the PostgreSQL backend's CPU (/proc) per frame. Like `amr serve`,
it preloads the meter registry and freezes the GC first (`--no-gc-freeze` to see what that buys).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e_bench as eb  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from decoders import decode  # noqa: E402
from server.importer import Importer, ImporterConfig, Incoming, Outcome, StoreSink  # noqa: E402
from server.store import Store  # noqa: E402
from sync import messages as m  # noqa: E402
from sync.mqttconf import BrokerSettings  # noqa: E402
from sync.outbox import Outbox, OutboxItem  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30_000)
    ap.add_argument("--meters", type=int, default=25_000)
    ap.add_argument("--readings-per-frame", default="4", help="as in e2e_bench.py (a comma list is a mix)")
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--trust-van-decode", action="store_true", help="ship the van's decode and store it")
    ap.add_argument("--no-gc-freeze", action="store_true")
    args = ap.parse_args()

    schema = f"ingestcpu_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(eb.PG)
    with eng.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{eb.PG}?options=-csearch_path%3D{schema}&application_name=amr-ingestcpu"
    try:
        setup = Store(url)
        setup.upgrade()
        setup.add_van("van01")
        setup.resolve_meters({("KAM", f"{10_000_000 + k:08d}", 0x1B, 7) for k in range(args.meters)})
        setup.close()
        frames = eb.workload(args.frames, args.meters, [int(x) for x in args.readings_per_frame.split(",")])
        ob = Outbox(Path(tempfile.mkdtemp(prefix="amr-ingestcpu-")) / "o.db", van_id="van01")
        for i in range(0, len(frames), 5000):
            ob.append([OutboxItem.from_result(f, decode(f.telegram)) for f in frames[i:i + 5000]])
        payloads = []
        while (leased := ob.lease_raw(args.batch_size)) is not None:
            payloads.append(m.encode_raw_batch("van01", str(uuid.UUID(leased[0])), leased[1],
                                               with_decode=args.trust_van_decode)[0])
        ob.close()
        store = Store(url)
        sink = StoreSink(store, trust_van_decode=args.trust_van_decode)
        sink.warm_up()
        if not args.no_gc_freeze:
            gc.freeze()
        imp = Importer(sink, BrokerSettings.from_url("mqtt://127.0.0.1:1"), ImporterConfig(client_id="ingestcpu"))
        topic = m.batch_topic("van01")
        imp.handle(Incoming(1, 1, topic, payloads[0]))  # warm: connection, staging tables, type OIDs

        def backends() -> list[int]:
            with eng.connect() as c:
                return [r[0] for r in c.execute(sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'amr-ingestcpu'"))]

        pg0 = {pid: eb._proc_cpu(pid) for pid in backends()}
        n = sum(len(m.decode(p)["items"]) for p in payloads[1:])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for p in payloads[1:]:
            outcome, ack = imp.handle(Incoming(1, 1, topic, p))
            if outcome is not Outcome.STORED:
                sys.exit(f"batch not stored: {outcome}")
            ack.encode()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        pg = sum(eb._proc_cpu(pid) - pg0.get(pid, 0.0) for pid in backends())
        store.close()
        print(f"readings/frame {args.readings_per_frame} frames {n}: importer CPU {cpu / n * 1e6:.1f} us/frame, "
              f"PostgreSQL backend {pg / n * 1e6:.1f} us/frame, wall {wall / n * 1e6:.1f} us/frame; "
              f"payload {sum(map(len, payloads)) / args.frames:.0f} B/frame; load {os.getloadavg()[0]:.2f}")
    finally:
        with eng.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()


if __name__ == "__main__":
    main()
