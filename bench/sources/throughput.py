"""Source throughput: frames per second out of each log format and through each stick emulator.

    .venv/bin/python bench/sources/throughput.py [--n 20000] [--stick-n 2000]

Log formats are read from files written here from corpus telegrams; sticks run through real
pyserial on a pty pair with the emulator sending as fast as it can.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import tests.sources.test_contract as contract  # noqa: E402
from collector.emulators.base import Transmission  # noqa: E402
from collector.emulators.cli import make_emulator  # noqa: E402
from collector.sources import open_source  # noqa: E402
from tests.sources.conftest import wireless_telegrams  # noqa: E402
from tests.sources.test_contract import LOG_FORMATS, _log_content  # noqa: E402


def bench_logs(n: int) -> dict[str, float]:
    base = wireless_telegrams()
    contract.TELEGRAMS = (base * (n // len(base) + 1))[:n]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in LOG_FORMATS:
            path = _log_content(fmt, Path(tmp))
            t0 = time.perf_counter()
            with open_source(f"log:{path}?format={fmt}") as src:
                count = sum(1 for _ in src)
            dt = time.perf_counter() - t0
            assert count == n, (fmt, count)
            out[fmt] = round(count / dt)
    return out


def bench_sticks(n: int) -> dict[str, float]:
    base = wireless_telegrams()
    tx = [Transmission(t, "T1") for t in (base * (n // len(base) + 1))[:n]]
    out = {}
    for kind in ("im871a", "amb8465", "cul"):
        emu = make_emulator(kind, tx).start()
        try:
            with open_source(f"{kind}:{emu.port}:t1") as src:
                first = src.recv(timeout=5)
                t0 = time.perf_counter()
                count = 1 if first else 0
                while count < n:
                    if src.recv(timeout=5) is None:
                        break
                    count += 1
                dt = time.perf_counter() - t0
            out[kind] = round((count - 1) / dt)
        finally:
            emu.stop()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--stick-n", type=int, default=2000)
    args = ap.parse_args()
    print(json.dumps({"log_frames_per_s": bench_logs(args.n),
                      "stick_frames_per_s (pty, no baud limit)": bench_sticks(args.stick_n)}, indent=1))
