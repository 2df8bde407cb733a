"""Decoding throughput: telegrams/s per core, beside pymbusparser on the same telegrams in the same run.

    .venv/bin/python bench/decode/bench_decode.py [--repeat 3] [--cli-lines 30000]

Mixes:
* corpus: every corpus telegram (prior telegrams first, the cases' keys configured), plain and keyed;
* route: 10,000 synthetic OMS water meters (no family driver: core + generic fields), each with its own
  AES key, one mode-5 telegram each (a drive).
Key stores: only the keys the mix needs, and 10,000 meters' keys (100,000 for the route mix), to show
that lookups do not slow down as configured meters grow.
Measured: the `decode()` function in-process (one core), `amr decode --keys K --format json FILE`
end to end (subprocess, startup included, output to /dev/null), pymbusparser `parse()` on the same bytes
(with the key for keyed telegrams), and decode() per driver on the corpus.
The CLI child runs this tree's code (PYTHONPATH=<tree>; so a `git archive` copy of another commit can be
measured with this script copied into it). With --bytecode-cache it gets a warmed bytecode cache in a temp
dir (PYTHONPYCACHEPREFIX) as an installed program has; without, it inherits the environment (where
PYTHONDONTWRITEBYTECODE=1 makes every start compile all of the project's modules from source).
Best of --repeat runs; the box is shared, so also look at the load average printed first.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from decoders import DecoderState, KeyStore, decode  # noqa: E402
from decoders.build import build_telegram  # noqa: E402

CORPUS = ROOT / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"
WATER = bytes.fromhex("0413E8030000" "4413A0860100" "426C9F2C" "04FD1700000000" "02FD74F401")


def corpus_mix() -> tuple[list[tuple[bytes, str | None, bytes | None]], dict[str, bytes]]:
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    mix: list[tuple[bytes, str | None, bytes | None]] = []
    keys: dict[str, bytes] = {}
    for c in cases:
        key = bytes.fromhex(c["key"]) if c.get("key") else None
        if key is not None:
            keys[c["meter_id"]] = key
        for p in c.get("prior_telegrams", []):
            mix.append((bytes.fromhex(p), c.get("driver"), key))
        mix.append((bytes.fromhex(c["telegram"]), c.get("driver"), key))
    return mix, keys


def route_mix(n: int, seed: int = 7) -> tuple[list[tuple[bytes, str | None, bytes | None]], dict[str, bytes]]:
    rnd = random.Random(seed)
    mix = []
    keys = {}
    for i in range(n):
        mid = f"{40000000 + i:08d}"
        key = rnd.randbytes(16)
        keys[mid] = key
        t = build_telegram(mfct="ABC", meter_id=mid, version=0x01, device_type=7, acc=rnd.randrange(256),
                           mode=5, key=key, records=WATER)
        mix.append((t, None, key))
    return mix, keys


def store(entries: dict[str, bytes], pad_to: int = 0) -> KeyStore:
    ks = KeyStore()
    rnd = random.Random(1)
    for mid, k in entries.items():
        ks.add(mid, k)
    n = len(ks)
    i = 0
    while n < pad_to:
        ks.add(f"{90000000 + i:08d}", rnd.randbytes(16))
        i += 1
        n += 1
    return ks


def calibration() -> float:
    """ns per `int.from_bytes` call: a yardstick of how contended the core was during the run."""
    b = b"abcd"
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200_000):
            int.from_bytes(b, "little")
        best = min(best, (time.perf_counter() - t0) / 200_000 * 1e9)
    return best


def time_decode(mix, ks: KeyStore, repeat: int, target: int = 60_000) -> tuple[float, int, int]:
    """Best telegrams per CPU-second of this process (= per core) of `repeat` runs over the mix cycled to
    about `target` telegrams."""
    telegrams = [t for t, _, _ in mix]
    drivers = [d for _, d, _ in mix]
    rounds = max(1, target // len(telegrams))
    best = 0.0
    ok = 0
    for _ in range(repeat):
        state = DecoderState()
        ok = 0
        t0 = time.process_time()
        for _ in range(rounds):
            for t, d in zip(telegrams, drivers, strict=True):
                if decode(t, keys=ks, state=state, driver=d).ok:
                    ok += 1
        dt = time.process_time() - t0
        best = max(best, rounds * len(telegrams) / dt)
    return best, ok // rounds, len(telegrams)


def time_pymbusparser(mix, repeat: int, target: int = 20_000) -> tuple[float, int]:
    import pymbusparser

    rounds = max(1, target // len(mix))
    best = 0.0
    ok = 0
    for _ in range(repeat):
        ok = 0
        t0 = time.process_time()
        for _ in range(rounds):
            for t, _, key in mix:
                try:
                    r = pymbusparser.parse(t, key=key) if key else pymbusparser.parse(t)
                    ok += r.get("decode_state") != "error"
                except Exception:
                    pass
        dt = time.process_time() - t0
        best = max(best, rounds * len(mix) / dt)
    return best, ok // rounds


def time_cli(mix, ks_entries: dict[str, bytes], lines: int, pad_to: int, repeat: int,
             pycache: str | None = None) -> tuple[float, float, int]:
    """(telegrams per wall-second, per CPU-second of the child incl. startup, lines)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    amr = str(Path(sys.executable).with_name("amr"))
    with tempfile.TemporaryDirectory() as d:
        keys = Path(d) / "keys.csv"
        rnd = random.Random(1)
        rows = [f"{mid},{k.hex()}" for mid, k in ks_entries.items()]
        rows += [f"{90000000 + i:08d},{rnd.randbytes(16).hex()}" for i in range(max(0, pad_to - len(rows)))]
        keys.write_text("id,key\n" + "\n".join(rows) + "\n")
        src = Path(d) / "telegrams.txt"
        hexes = [t.hex() for t, _, _ in mix]
        src.write_text("\n".join(hexes[i % len(hexes)] for i in range(lines)) + "\n")
        cmd = [amr, "decode", "--keys", str(keys), "--format", "json", str(src)]
        if pycache is not None:  # fill the cache first
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)
        best = best_cpu = 0.0
        for _ in range(repeat):
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            res = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, env=env)
            dt = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            out_lines = res.stdout.count(b"\n")
            assert out_lines == lines, (out_lines, lines)
            best = max(best, lines / dt)
            best_cpu = max(best_cpu, lines / cpu)
        return best, best_cpu, lines


def per_driver(repeat: int) -> list[tuple[str, float, int]]:
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    groups: dict[str, list] = defaultdict(list)
    for c in cases:
        groups[c["driver"]].append(c)
    out = []
    for name, cs in sorted(groups.items()):
        items = []
        for c in cs:
            ks = KeyStore.single(c["key"]) if c.get("key") else None
            items.append(([bytes.fromhex(p) for p in c.get("prior_telegrams", [])], bytes.fromhex(c["telegram"]),
                          ks, c["driver"]))
        n_target = 2000
        best = 0.0
        for _ in range(repeat):
            count = 0
            t0 = time.process_time()
            while count < n_target:
                for priors, t, ks, d in items:
                    state = DecoderState()
                    for p in priors:
                        decode(p, keys=ks, state=state, driver=d)
                    decode(t, keys=ks, state=state, driver=d)
                    count += 1 + len(priors)
            best = max(best, count / (time.process_time() - t0))
        out.append((name, best, len(cs)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli-lines", type=int, default=30_000)
    ap.add_argument("--meters", type=int, default=10_000)
    ap.add_argument("--no-drivers", action="store_true", help="skip the per-driver table")
    ap.add_argument("--bytecode-cache", action="store_true",
                    help="give the CLI child a warmed bytecode cache (as installed) instead of the inherited env")
    ap.add_argument("--cli-only", action="store_true", help="only the CLI figures (and decode() for reference)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"calibration {calibration():.0f} ns per int.from_bytes (lower = a freer core; compare runs by it)")
    print("rates are telegrams per CPU-second of one process (= per core) unless marked wall")
    pycache = tempfile.mkdtemp(prefix="amr-pycache-") if args.bytecode_cache else None
    if pycache is not None:
        atexit.register(shutil.rmtree, pycache, True)
    print(f"CLI child: code from {ROOT}; bytecode cache: "
          f"{'warmed, ' + pycache if pycache else 'as inherited (PYTHONDONTWRITEBYTECODE=' + os.environ.get('PYTHONDONTWRITEBYTECODE', '') + ')'}")

    cmix, ckeys = corpus_mix()
    rmix, rkeys = route_mix(args.meters)
    results = {}
    for label, mix, needed in (("corpus", cmix, ckeys), ("route", rmix, rkeys)):
        small = store(needed)
        # the corpus needs 13 keys: pad to --meters; the route already has --meters: pad to 10x that
        big = store(needed, pad_to=args.meters if len(needed) < args.meters else 10 * args.meters)
        r_small, ok, n = time_decode(mix, small, args.repeat)
        r_big, ok_big, _ = time_decode(mix, big, args.repeat)
        r_pmb, ok_pmb = time_pymbusparser(mix, args.repeat) if not args.cli_only else (0.0, 0)
        cli_keys = max(args.meters, len(needed))
        r_cli, r_cli_cpu, lines = time_cli(mix, needed, args.cli_lines, cli_keys, args.repeat, pycache)
        results[label] = (r_small, r_big, r_pmb, r_cli)
        print(f"\n[{label} mix] {n} telegrams ({sum(1 for *_, k in mix if k)} keyed); decoded ok: {ok}/{n}; "
              f"pymbusparser parsed: {ok_pmb}/{n}")
        print(f"  decode()  keys for {len(small):>5} meters : {r_small:>9,.0f} telegrams/s")
        print(f"  decode()  keys for {len(big):>5} meters : {r_big:>9,.0f} telegrams/s")
        print(f"  amr decode --keys K({cli_keys}) --format json FILE ({lines} lines, end to end, startup "
              f"included): {r_cli_cpu:>9,.0f} telegrams/s  (wall {r_cli:,.0f}/s)")
        print(f"  pymbusparser.parse (same telegrams)  : {r_pmb:>9,.0f} telegrams/s")
    if not args.no_drivers and not args.cli_only:
        rows = per_driver(max(1, args.repeat - 1))
        rows.sort(key=lambda r: r[1])
        print("\nper driver (corpus cases, decode() incl. prior telegrams), slowest first:")
        for name, rate, n in rows[:10]:
            print(f"  {name:<16} {rate:>9,.0f} telegrams/s  ({n} cases)")
        print(f"  ... fastest: {rows[-1][0]} {rows[-1][1]:,.0f}/s; median {rows[len(rows) // 2][1]:,.0f}/s")


if __name__ == "__main__":
    main()
