"""Per-driver decoding throughput: telegrams/s through `decode()` with the driver named.

    .venv/bin/python bench/decode/drivers_bench.py [--seconds 0.3] [--repeat 3] [--corpus-only]

Telegrams: the corpus plus the further reference cases in fixtures/wmbusmeters_tests/ (which bring the
drivers that have no corpus case); --corpus-only keeps the corpus alone. For each driver, its telegrams (prior telegrams included, keys configured, one DecoderState per
run, so compact frames use learned or shipped formats) are decoded in a loop for about --seconds; the
best of --repeat runs is reported. Every decode is checked to be a `Decoded` with the driver's fields, so
a driver that rejects its own telegrams cannot look fast. Prints a table, the slowest driver, and the
corpus mix (all drivers' telegrams interleaved) as one figure. Target: slowest driver >= 20,000/s.

The `hooks us` column isolates the family module's own work: the driver's `fields()` + `alarms()` on
telegrams already taken through link/security/records by the core (payload hooks that decrypt or
descramble are counted in the full figure only).
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
from decoders.core import link_layer, walk_layers  # noqa: E402
from decoders.drivers import by_name  # noqa: E402
from decoders.model import Decoded  # noqa: E402

CORPUS = ROOT / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"
REFERENCE = ROOT / "fixtures" / "wmbusmeters_tests"

Item = tuple[bytes, str]


def load(corpus_only: bool = False) -> tuple[dict[str, list[Item]], KeyStore]:
    keys = KeyStore()
    per: dict[str, list[Item]] = defaultdict(list)
    files = [CORPUS] + ([] if corpus_only else sorted(REFERENCE.glob("*.jsonl")))
    lines = [line for f in files for line in f.read_text().splitlines()]
    for line in lines:
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


def hooks_us(items: list[Item], keys: KeyStore, seconds: float) -> float:
    """Microseconds per telegram spent in the driver's fields() and alarms()."""
    state = DecoderState()
    prepared = []
    for raw, drv in items:
        d = by_name(drv)
        tg = link_layer(raw)
        tg.keys, tg.state, tg.driver = keys, state, d
        try:
            walk_layers(tg)
        except Exception:  # rejected telegrams have no hook work to time
            continue
        if d is not None and d.payload(tg) is None:
            prepared.append((d, tg))
    if not prepared:
        return float("nan")
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for d, tg in prepared:
            d.fields(tg)
            d.alarms(tg)
        n += len(prepared)
        t = time.perf_counter()
        if t >= deadline:
            return (t - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus-only", action="store_true", help="only the corpus telegrams (no reference cases)")
    args = ap.parse_args()
    per, keys = load(args.corpus_only)
    print(f"load average: {os.getloadavg()[0]:.2f}  drivers: {len(per)}")
    results = []
    for drv in sorted(per):
        best = 0.0
        bad = 0
        for _ in range(args.repeat):
            r, bad = rate(per[drv], keys, args.seconds)
            best = max(best, r)
        hook = min(hooks_us(per[drv], keys, args.seconds / 3) for _ in range(args.repeat))
        results.append((best, drv, len(per[drv]), bad, hook))
    results.sort()
    print(f"{'driver':14s} {'telegrams':>9s} {'per second':>11s} {'hooks us':>9s}  not decoded")
    for best, drv, n, bad, hook in results:
        print(f"{drv:14s} {n:9d} {best:11,.0f} {hook:9.1f}  {bad}")
    worst_hook = max(results, key=lambda r: r[4] if r[4] == r[4] else 0)
    print(f"slowest driver hooks: {worst_hook[1]} {worst_hook[4]:.1f} us/telegram "
          f"({1e6 / worst_hook[4]:,.0f}/s if the core were free)")
    slow = results[0]
    print(f"slowest driver: {slow[1]} {slow[0]:,.0f} telegrams/s")
    mix = [it for items in per.values() for it in items]
    best_mix = max(rate(mix, keys, args.seconds * 3)[0] for _ in range(args.repeat))
    print(f"corpus mix ({len(mix)} telegrams, named drivers): {best_mix:,.0f} telegrams/s")


if __name__ == "__main__":
    main()
