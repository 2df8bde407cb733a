"""Child process for the crash test: writes frames forever and reports each committed seq.

Usage: crash_writer.py DB TRIAL SEED MODE      MODE: plain | ack | pipeline
Lines on stdout: "READY", "C <batch> <n> <seq,seq,...>" after COMMIT returned, "L <seq,...>" before acking
those rows, "A <seq,...>" after the ack committed.
plain/ack append batches straight to the Outbox; pipeline runs the collector's Pipeline (decode, dedup,
route, OutboxWriter thread with group commit) and reports from the writer's on_commit callback.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import threading

from decoders.frame import Frame
from sync.outbox import Outbox, OutboxItem


def main() -> None:
    db, trial, seed, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rnd = random.Random(seed)
    out = sys.stdout
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()

    if mode == "pipeline":
        from collector.pipeline import Pipeline
        from collector.simdrive import SimDrive

        commits = iter(range(1 << 30))
        ob = Outbox(db)
        p = Pipeline([], outbox=ob, on_commit=lambda seqs: say(
            f"C {next(commits)} {len(seqs)} {','.join(map(str, seqs))}"),
            writer_opts={"commit_rows": rnd.randint(5, 200), "commit_interval_s": 0.02})
        sim = SimDrive(n_route=300, n_foreign=100, seed=seed, passes=1000)
        say("READY")
        for f in sim.frames():
            p.process(f)
        return

    ob = Outbox(db)
    say("READY")
    batch = 0
    while True:
        n = rnd.randint(1, 150)
        items = []
        for i in range(n):
            tg = bytes([14, 0x44, 0x01, 0x06]) + rnd.randbytes(4) + bytes([1, 7, 0x7A]) + rnd.randbytes(4)
            f = Frame(tg, dt.datetime.now(dt.UTC), f"crash:{trial}:{batch}:{n}", rssi_dbm=-float(i % 90))
            items.append(OutboxItem.from_result(f, None))
        seqs = ob.append(items)
        say(f"C {batch} {n} {','.join(map(str, seqs))}")
        batch += 1
        if mode == "ack" and batch % 4 == 0:
            b = ob.lease(rnd.randint(1, 100))
            if b is not None:
                # announced before the ack commits: a kill between the two must not look like a loss
                say(f"L {','.join(map(str, b.seqs))}")
                ob.ack(b.batch_id)
                say(f"A {','.join(map(str, b.seqs))}")


if __name__ == "__main__":
    main()
