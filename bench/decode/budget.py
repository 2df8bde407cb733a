"""Where a telegram's time goes in `amr decode --format json`, against the budget the 100,000/s target leaves.

    taskset -c 0 .venv/bin/python bench/decode/budget.py [--repeat 5]

The target of issues #2/#3 (>= 100,000 telegrams/s per core) was set for a machine class on which
pymbusparser (a Rust decoder) parses about 23,000/s. Core speed on this shared box swings by 3x between
sessions, so the budget is taken relative to pymbusparser measured here, in the same process, on the same
telegrams: budget = 1e6 / (pymbusparser rate x 100,000 / 23,000) microseconds per telegram.

Stages, each timed alone over the whole mix (best of --repeat, CPU time of this process), warmed first so
that plan compilation is not counted:
  read+unhex   the CLI's per-line work before decoding (strip, fromhex);
  decode       decoders.decode() with 10,000 meters' keys;
  render       the json format's bytes from the result (decoders.output.decoded_json, the CLI's renderer);
  dumps floor  orjson.dumps of the already built output document: what printing a document of this size
               costs when nothing is computed at all (a lower bound of any renderer that goes through Python
               objects).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from bench_decode import calibration, corpus_mix, route_mix, store  # noqa: E402

from decoders import DecoderState, decode  # noqa: E402
from decoders.cli import _default  # noqa: E402
from decoders.output import decoded_json, to_json  # noqa: E402

REFERENCE_PYMBUS = 23_000
TARGET = 100_000


def best_rate(fn, n: int, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = max(best, n / (time.process_time() - t0))
    return best


def measure(label: str, mix, keys, repeat: int) -> None:
    import pymbusparser

    ks = store(keys, pad_to=max(10_000, len(keys)))
    telegrams = [t for t, _, _ in mix]
    drivers = [d for _, d, _ in mix]
    lines = [t.hex() + "\n" for t in telegrams]
    n = len(telegrams)

    def pmb() -> None:
        for t, _, key in mix:
            with contextlib.suppress(Exception):  # a parse error is a result here
                pymbusparser.parse(t, key=key) if key else pymbusparser.parse(t)

    def unhex() -> None:
        fromhex = bytes.fromhex
        for line in lines:
            fromhex(line.strip())

    state = DecoderState()
    results = [decode(t, keys=ks, state=state, driver=d) for t, d in zip(telegrams, drivers, strict=True)]

    def dec() -> None:
        for t, d in zip(telegrams, drivers, strict=True):
            decode(t, keys=ks, state=state, driver=d)

    def dumps(v):
        return orjson.dumps(v, default=_default)

    def render() -> None:
        for r in results:
            decoded_json(r, dumps)

    docs = [to_json(r) for r in results]

    def floor() -> None:
        for d in docs:
            orjson.dumps(d, default=_default)

    for _ in range(2):  # warm: plans compiled, caches filled
        dec()
        render()
    r_pmb = best_rate(pmb, n, repeat)
    budget = 1e6 / (r_pmb * TARGET / REFERENCE_PYMBUS)
    size = sum(len(decoded_json(r, dumps)) + 1 for r in results) / n
    print(f"\n[{label} mix] {n} telegrams, output {size:,.0f} bytes per line on average")
    print(f"  pymbusparser.parse  {r_pmb:>9,.0f}/s  -> target = {TARGET * r_pmb / REFERENCE_PYMBUS:,.0f}/s here, "
          f"a budget of {budget:.1f} us per telegram")
    total = 0.0
    for name, fn in (("read+unhex", unhex), ("decode", dec), ("render", render)):
        us = 1e6 / best_rate(fn, n, repeat)
        total += us
        print(f"  {name:<11} {us:>7.1f} us  ({us / budget:>5.0%} of the budget)")
    us = 1e6 / best_rate(floor, n, repeat)
    print(f"  {'sum':<11} {total:>7.1f} us  ({total / budget:>5.0%} of the budget)")
    print(f"  dumps floor {us:>7.1f} us  ({us / budget:>5.0%} of the budget; orjson of the finished document)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}; calibration "
          f"{calibration():.0f} ns per int.from_bytes")
    cmix, ckeys = corpus_mix()
    measure("corpus", cmix, ckeys, args.repeat)
    rmix, rkeys = route_mix(10_000)
    measure("route", rmix, rkeys, args.repeat)


if __name__ == "__main__":
    main()
