"""Child process for the crash test: appends frames forever and reports each committed seq.

Usage: crash_writer.py DB TRIAL SEED ACK(0|1)
Lines on stdout: "READY", "C <batch> <n> <seq,seq,...>" after COMMIT returned, "L <seq,...>" before acking those rows, "A <seq,...>" after the ack committed.
"""

from __future__ import annotations

import datetime as dt
import random
import sys

from decoders.frame import Frame
from sync.outbox import Outbox, OutboxItem


def main() -> None:
    db, trial, seed, ack = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    rnd = random.Random(seed)
    ob = Outbox(db)
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    batch = 0
    while True:
        n = rnd.randint(1, 150)
        items = []
        for i in range(n):
            tg = bytes([14, 0x44, 0x01, 0x06]) + rnd.randbytes(4) + bytes([1, 7, 0x7A]) + rnd.randbytes(4)
            f = Frame(tg, dt.datetime.now(dt.UTC), f"crash:{trial}:{batch}:{n}", rssi_dbm=-float(i % 90))
            items.append(OutboxItem.from_result(f, None))
        seqs = ob.append(items)
        out.write(f"C {batch} {n} {','.join(map(str, seqs))}\n")
        out.flush()
        batch += 1
        if ack and batch % 4 == 0:
            b = ob.lease(rnd.randint(1, 100))
            if b is not None:
                # announced before the ack commits: a kill between the two must not look like a loss
                out.write(f"L {','.join(map(str, b.seqs))}\n")
                out.flush()
                ob.ack(b.batch_id)
                out.write(f"A {','.join(map(str, b.seqs))}\n")
                out.flush()


if __name__ == "__main__":
    main()
