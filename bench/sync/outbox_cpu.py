"""CPU per frame of the van's side of sync without MQTT: outbox lease -> envelope splice -> ack (delete).

    taskset -c 0 .venv/bin/python bench/sync/outbox_cpu.py --readings-per-frame 4 --frames 40000

Prints process CPU per step (process_time) and user/system time per frame (the outbox's SQLite writes are
mostly kernel time: WAL pages).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e_bench as eb  # noqa: E402

from decoders import decode  # noqa: E402
from sync import messages as m  # noqa: E402
from sync.outbox import Outbox, OutboxItem  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40_000)
    ap.add_argument("--readings-per-frame", default="4")
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--with-decode", action="store_true", help="splice the van's decode in too")
    args = ap.parse_args()
    path = Path(tempfile.mkdtemp(prefix="amr-outboxcpu-")) / "o.db"
    frames = eb.workload(args.frames, 25_000, [int(x) for x in args.readings_per_frame.split(",")])
    with Outbox(path, van_id="van01") as ob:
        for i in range(0, len(frames), 5000):
            ob.append([OutboxItem.from_result(f, decode(f.telegram)) for f in frames[i:i + 5000]])
    spent = {"lease": 0.0, "encode": 0.0, "ack": 0.0}
    n = 0
    with Outbox(path, van_id="van01") as ob:
        t0 = os.times()
        while True:
            a = time.process_time()
            leased = ob.lease_raw(args.batch_size)
            if leased is None:
                break
            b = time.process_time()
            m.encode_raw_batch("van01", str(uuid.UUID(leased[0])), leased[1], with_decode=args.with_decode)
            c = time.process_time()
            n += ob.ack(leased[0])
            d = time.process_time()
            spent["lease"] += b - a
            spent["encode"] += c - b
            spent["ack"] += d - c
        t1 = os.times()
    print(", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in spent.items()),
          f"us/frame; user {(t1.user - t0.user) / n * 1e6:.1f} + system {(t1.system - t0.system) / n * 1e6:.1f} "
          f"us/frame; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
