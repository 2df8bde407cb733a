"""Frame success vs Ec/N0 for 42-byte T1 and C1 telegrams (random offsets, chip rates, phases).

    .venv/bin/python bench/sdr/sensitivity.py --n 100 --points 9 10 11 12 13 14 --rtl433 --png

One capture per (mode, Ec/N0) with N telegrams 14 ms apart, cu8 at 1.6 MS/s, noise at a fixed 20
counts RMS per component (an AGC-like level). Success = the exact telegram decoded with valid CRCs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from collector.radio.demod import Demodulator
from collector.radio.synth import Burst, Scene, random_telegram, write_scene

FS = 1.6e6
CENTRE: float | None = None   # --centre: one tuner frequency for every mode


def centre_for(mode: str) -> float:
    if CENTRE is not None:
        return CENTRE
    return 868.625e6 if mode == "S1" else 868.95e6   # S1 needs the tuner between the channels


def make(mode: str, fmt: str, ecn0: float, n: int, seed: int, directory: Path) -> tuple[Path, list[bytes]]:
    rng = np.random.default_rng(seed)
    bursts = []
    gap = 0.1 if mode == "S1" else 0.014   # S1 telegrams last ~40 ms
    for i in range(n):
        tg = random_telegram(rng, 42)
        bursts.append(Burst(tg, mode, fmt, 0.006 + i * gap, ecn0, float(rng.uniform(-30e3, 30e3)),
                            float(rng.uniform(-0.005, 0.005)),
                            preamble_pairs=int(rng.integers(19, 40)) if mode == "T1" else None))
    scene = Scene(fs=FS, centre_hz=centre_for(mode), duration_s=0.006 + n * gap + 0.05, bursts=bursts, seed=seed)
    path = write_scene(scene, directory, f"sens_{mode}{fmt}_{ecn0:g}dB", "cu8", gain=20 / np.sqrt(0.5))
    return path, [b.telegram for b in bursts]


def ours(path: Path, mode: str) -> set[bytes]:
    d = Demodulator(FS, centre_for(mode), "cu8", modes=("S1",) if mode == "S1" else ("T1", "C1"))
    raw = np.fromfile(path, np.uint8)
    frames = []
    for i in range(0, len(raw), 1 << 20):
        frames += d.feed(raw[i:i + (1 << 20)])
    frames += d.flush()
    return {f.telegram for f in frames}


def rtl433(path: Path) -> set[bytes]:
    out = subprocess.run(["rtl_433", "-r", str(path), "-R", "104", "-F", "json"], capture_output=True, text=True)
    got = set()
    for line in out.stdout.splitlines():
        try:
            data = bytes.fromhex(json.loads(line)["data"])
        except (ValueError, KeyError):
            continue
        # Debian 22.11, format A: L - 2 and the last block's CRC appended (radio.md 4.4)
        fixed = bytearray(data[:-2])
        if fixed:
            fixed[0] = len(fixed) - 1
        got.add(bytes(fixed))
        got.add(data)
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--points", type=float, nargs="+", default=[9, 10, 11, 12, 13, 14])
    ap.add_argument("--modes", nargs="+", default=["T1A", "C1A"])
    ap.add_argument("--rtl433", action="store_true", help="also run rtl_433 -R 104 on the same files")
    ap.add_argument("--png", default=None, help="write the curve to this PNG")
    ap.add_argument("--json", default=None)
    ap.add_argument("--rate", type=float, default=1.6e6, help="sample rate, S/s")
    ap.add_argument("--centre", type=float, default=None, help="tuner centre for all modes, Hz")
    args = ap.parse_args()
    global FS, CENTRE
    FS, CENTRE = args.rate, args.centre
    tmp = Path(tempfile.mkdtemp(prefix="amr_sens_"))
    results: dict[str, dict[float, dict[str, float]]] = {}
    try:
        for mf in args.modes:
            mode, fmt = mf[:2], mf[2:] or "A"
            results[mf] = {}
            for k, e in enumerate(args.points):
                path, tgs = make(mode, fmt, e, args.n, 1000 + 17 * k + (0 if mode == "T1" else 5000), tmp)
                t0 = time.perf_counter()
                got = ours(path, mode)
                dt = time.perf_counter() - t0
                row = {"ours": sum(t in got for t in tgs) / len(tgs), "false": len(got - set(tgs))}
                if args.rtl433 and mode != "S1":
                    got_r = rtl433(path)
                    row["rtl_433"] = sum(t in got_r for t in tgs) / len(tgs)
                elif args.rtl433:
                    row["rtl_433"] = float("nan")   # rtl_433 -R 105 needs S1 at the tuner centre
                results[mf][e] = row
                print(f"{mf} {e:5.1f} dB  ours {row['ours']:.2f}  false {row['false']}"
                      + (f"  rtl_433 {row.get('rtl_433', float('nan')):.2f}" if args.rtl433 else "") + f"  ({dt:.2f} s)", flush=True)
                path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for mf, rows in results.items():
            xs = sorted(rows)
            ax.plot(xs, [rows[x]["ours"] for x in xs], "o-", label=f"amr demod {mf}")
            if args.rtl433:
                ax.plot(xs, [rows[x]["rtl_433"] for x in xs], "x--", label=f"rtl_433 -R 104 {mf}")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.axhline(0.9, color="grey", lw=0.5)
        ax.set_xlabel("Ec/N0 (dB)")
        ax.set_ylabel(f"frame success ({args.n} x 42-byte telegrams per point)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
