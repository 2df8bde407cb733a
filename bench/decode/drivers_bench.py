"""Per-driver decoding throughput on the corpus: telegrams/s through `decode()` with the driver named.

    .venv/bin/python bench/decode/drivers_bench.py [--seconds 0.3] [--repeat 3]

For each driver, its corpus telegrams (prior telegrams included, keys configured, one DecoderState per
run, so compact frames use learned or shipped formats) are decoded in a loop for about --seconds; the
best of --repeat runs is reported. Every decode is checked to be a `Decoded` with the driver's fields, so
a driver that rejects its own telegrams cannot look fast. Prints a table, the slowest driver, and the
corpus mix (all drivers' telegrams interleaved) as one figure. Target: slowest driver >= 20,000/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from decoders import DecoderState, KeyStore, decode  # noqa: E402
from decoders.model import Decoded  # noqa: E402

CORPUS = ROOT / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"

Item = tuple[bytes, str]


def load() -> tuple[dict[str, list[Item]], KeyStore]:
    keys = KeyStore()
    per: dict[str, list[Item]] = defaultdict(list)
    for line in CORPUS.read_text().splitlines():
        if not line.strip():
            continue
        c = json.loads(line)
        if c.get("key"):
            keys.add(c["meter_id"], c["key"])
        for p in c.get("prior_telegrams") or []:
            per[c["driver"]].append((bytes.fromhex(p), c["driver"]))
        per[c["driver"]].append((bytes.fromhex(c["telegram"]), c["driver"]))
    return per, keys


def rate(items: list[Item], keys: KeyStore, seconds: float) -> tuple[float, int]:
    """Telegrams/s over about `seconds`, and how many results were not decodes with fields."""
    state = DecoderState()
    bad = 0
    for raw, drv in items:  # warm-up and correctness check
        r = decode(raw, keys=keys, state=state, driver=drv)
        if not isinstance(r, Decoded) or not r.fields:
            bad += 1
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for raw, drv in items:
            decode(raw, keys=keys, state=state, driver=drv)
        n += len(items)
        t = time.perf_counter()
        if t >= deadline:
            return n / (t - t0), bad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    per, keys = load()
    print(f"load average: {os.getloadavg()[0]:.2f}  drivers: {len(per)}")
    results = []
    for drv in sorted(per):
        best = 0.0
        bad = 0
        for _ in range(args.repeat):
            r, bad = rate(per[drv], keys, args.seconds)
            best = max(best, r)
        results.append((best, drv, len(per[drv]), bad))
    results.sort()
    print(f"{'driver':14s} {'telegrams':>9s} {'per second':>11s}  not decoded")
    for best, drv, n, bad in results:
        print(f"{drv:14s} {n:9d} {best:11,.0f}  {bad}")
    slow = results[0]
    print(f"slowest driver: {slow[1]} {slow[0]:,.0f} telegrams/s")
    mix = [it for items in per.values() for it in items]
    best_mix = max(rate(mix, keys, args.seconds * 3)[0] for _ in range(args.repeat))
    print(f"corpus mix ({len(mix)} telegrams, named drivers): {best_mix:,.0f} telegrams/s")


if __name__ == "__main__":
    main()
