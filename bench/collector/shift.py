"""Memory over a replayed 10-hour shift at drive-by rates, through the real replay path.

    .venv/bin/python bench/collector/shift.py [--route-meters 10000 --foreign 30000]

1. Generates a synthetic shift (collector.simdrive): 10k route meters and 30k foreign devices along
   40 km of street, driven 5 times at 20 km/h (10 h of drive time), 30% radio loss, double decodes:
   ~200k telegrams.
   Written as the collector's raw capture (JSON lines) plus its route sheet.
2. In a fresh child process: log source -> Pipeline (decode, dedup, route progress, outbox writer with
   WAL+FULL group commit) as fast as possible, sampling VmRSS every 2% of the frames.
The child's RSS must stay flat once every device has been heard (after the first pass): dedup is
time-windowed, the route model holds one entry per device (route meters, plus a bounded out-of-route
list), the queues are bounded, and the outbox lives on disk. During the first pass RSS grows with the
number of distinct devices discovered, which is bounded by the sheet and `max_foreign`, not by time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(capture: str, route: str, outbox: str, total: int) -> None:
    from collector.pipeline import Pipeline
    from collector.route import RouteProgress
    from collector.sources.base import open_source
    from sync.outbox import Outbox
    from sync.routesheet import RouteSheet

    ob = Outbox(outbox)
    p = Pipeline([open_source(f"log:{capture}?format=capture")], outbox=ob,
                 route=RouteProgress(RouteSheet.load(route)), block_sources=True, intake_size=4096)
    samples = []
    step = max(total // 50, 1)
    done = threading.Event()

    def sampler():
        nxt = 0
        while not done.is_set():
            n = p.counters["frames"]
            if n >= nxt:
                samples.append((n, rss_kb(), round(time.perf_counter() - t0, 2), p._intake.qsize(),
                                p.writer._q.qsize(), len(p.route._foreign)))
                nxt = n + step
            time.sleep(0.01)

    t0 = time.perf_counter()
    threading.Thread(target=sampler, daemon=True).start()
    p.run()
    el = time.perf_counter() - t0
    done.set()
    samples.append((p.counters["frames"], rss_kb(), round(el, 2), 0, 0, len(p.route._foreign)))
    print(json.dumps({"frames": p.counters["frames"], "unique": p.counters["unique"], "elapsed_s": round(el, 2),
                      "committed": ob.pending(), "counts": p.route.counts(), "dedup": p.dedup.stats(),
                      "samples": samples}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--route-meters", type=int, default=10_000)
    ap.add_argument("--foreign", type=int, default=30_000)
    ap.add_argument("--passes", type=int, default=5, help="the shift drives the route this many times")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], a.child[2], int(a.child[3]))
        return
    from collector.simdrive import SimDrive

    sim = SimDrive(n_route=a.route_meters, n_foreign=a.foreign, speed_kmh=20.0, range_m=300.0,
                   spacing_m=20.0 * 10_000 / a.route_meters / a.passes, passes=a.passes, seed=10)
    with tempfile.TemporaryDirectory(prefix="amr-shift-") as tmp:
        cap, route, ob = f"{tmp}/shift.jsonl", f"{tmp}/route.csv", f"{tmp}/outbox.db"
        t = time.perf_counter()
        n = sim.write_capture(cap)
        sim.route_sheet().dump(route)
        gen = time.perf_counter() - t
        out = subprocess.run([sys.executable, __file__, "--child", cap, route, ob, str(n)], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout
        r = json.loads(out.strip().splitlines()[-1])
        size_mb = Path(ob).stat().st_size / 1e6
    s = r["samples"]
    warm = [x for x in s if x[0] >= r["frames"] / a.passes]  # after the first pass
    mid = [x for x in s if x[0] >= r["frames"] * 0.5]
    print(f"shift: {sim.duration_s / 3600:.1f} h of driving, {n} telegrams ({gen:.0f} s to generate), "
          f"{r['unique']} unique, outbox {r['committed']} rows / {size_mb:.0f} MB")
    print(f"replay: {r['elapsed_s']} s, {r['frames'] / r['elapsed_s']:.0f} frames/s; counts {r['counts']}")
    print(f"RSS: start {s[0][1] / 1024:.1f} MB, after pass 1 {warm[0][1] / 1024:.1f} MB, at 50% "
          f"{mid[0][1] / 1024:.1f} MB, end {s[-1][1] / 1024:.1f} MB, max {max(x[1] for x in s) / 1024:.1f} MB; "
          f"after pass 1 -> end {(s[-1][1] - warm[0][1]) / 1024:+.1f} MB over "
          f"{r['frames'] - warm[0][0]} frames")
    print("samples (frames, RSS kB, s, intake queued, writer queued, out-of-route devices tracked):", json.dumps(s[:: max(len(s) // 12, 1)]))


if __name__ == "__main__":
    main()
