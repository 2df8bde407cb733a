"""Sustained frames/s through the collector's stages on this machine.

    .venv/bin/python bench/collector/throughput.py [--frames 100000]

Stages, each on the same synthetic drive-by traffic (plain telegrams, ~30% duplicates):
  dedup            Dedup.observe alone
  outbox           Outbox.append of ready rows, 200 rows per transaction (WAL, synchronous=FULL)
  pipeline         decode -> dedup -> route -> OutboxWriter thread (group commit), until all committed
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from collector.dedup import Dedup
from collector.pipeline import Pipeline
from collector.route import RouteProgress
from collector.simdrive import SimDrive
from decoders import decode
from sync.outbox import Outbox, OutboxItem


def traffic(n: int) -> tuple[SimDrive, list]:
    sim = SimDrive(n_route=4000, n_foreign=8000, range_m=200.0, spacing_m=10.0, seed=3, passes=max(1, n // 25_000))
    frames = list(itertools.islice(sim.frames(), n))
    return sim, frames


def bench(n: int) -> dict:
    sim, frames = traffic(n)
    n = len(frames)
    import os

    out: dict = {"frames": n, "unique": len({f.telegram for f in frames}), "loadavg_1min": os.getloadavg()[0]}

    d = Dedup()
    t = time.perf_counter()
    for f in frames:
        d.observe(f)
    out["dedup_frames_per_s"] = round(n / (time.perf_counter() - t))

    results = [decode(f.telegram) for f in frames[:20000]]
    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp) / "o.db")
        items = [OutboxItem.from_result(f, r) for f, r in zip(frames[:20000], results, strict=True)]
        t = time.perf_counter()
        for i in range(0, len(items), 200):
            ob.append(items[i:i + 200])
        out["outbox_rows_per_s"] = round(len(items) / (time.perf_counter() - t))
        ob.close()

    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp) / "o.db")
        p = Pipeline([], outbox=ob, route=RouteProgress(sim.route_sheet()))
        t = time.perf_counter()
        for f in frames:
            p.process(f)
        p.stop()  # drains the writer: every row committed
        el = time.perf_counter() - t
        out["pipeline_frames_per_s"] = round(n / el)
        out["pipeline_committed_rows"] = ob.pending()
        out["pipeline_commits"] = p.writer.counters["commits"]
        ob.close()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100_000)
    print(json.dumps(bench(ap.parse_args().frames), indent=1))
