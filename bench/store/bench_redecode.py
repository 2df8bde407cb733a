"""Re-decode N stored raw telegrams on PostgreSQL with all cores (`amr redecode`'s code path).

    .venv/bin/python -m bench.store.bench_redecode [--telegrams 1000000] [--meters 25000] [--workers N]

Telegrams are the corpus's plain (unencrypted) water telegrams that decode, re-addressed to --meters
distinct meters and re-numbered (access number), so every one is a distinct frame; each meter keeps one
template. They are stored undecoded through Store.ingest (the importer's path, decoding switched off),
which is timed as "store_only_ingest". Then redecode() decodes them all, inserts the readings and updates
every telegram's outcome (timed), and runs once more to show that a second pass adds nothing (timed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

from bench.store.common import pg_store
from decoders import decode
from decoders.frame import Frame
from server.redecode import redecode

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _bcd(n: int) -> bytes:
    return bytes.fromhex(f"{n:08d}")[::-1]


def _acc_offset(t: bytes) -> int | None:
    ci = t[10]
    if ci in (0x7A,):
        return 11
    if ci == 0x72 and len(t) > 19:
        return 19
    return None


def templates() -> list[bytes]:
    out = []
    for line in CORPUS.read_text().splitlines():
        r = json.loads(line)
        if not r.get("water") or r.get("key"):
            continue
        try:
            t = bytes.fromhex(r["telegram"])
        except ValueError:
            continue
        if len(t) < 12 or _acc_offset(t) is None or not decode(t).ok:
            continue
        probe = bytearray(t)
        probe[4:8] = _bcd(12345678)
        probe[_acc_offset(t)] = 0x42
        res = decode(bytes(probe))
        if res.ok and res.readings:
            out.append(t)
    return out


def telegram(tpl: bytes, meter: int, acc: int) -> bytes:
    t = bytearray(tpl)
    t[4:8] = _bcd(meter)
    t[_acc_offset(tpl)] = acc & 0xFF
    if acc > 255:  # keep frames distinct beyond one access-number cycle
        t[-1] = (t[-1] + acc // 256) & 0xFF
    return bytes(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--telegrams", type=int, default=1_000_000)
    ap.add_argument("--meters", type=int, default=25_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=20_000)
    args = ap.parse_args()
    tpls = templates()
    out: dict[str, object] = {"telegrams": args.telegrams, "meters": args.meters, "templates": len(tpls),
                              "workers": args.workers, "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    with pg_store(decode=False) as store:
        t0 = time.perf_counter()
        for start in range(0, args.telegrams, args.batch):
            items = []
            for i in range(start, min(start + args.batch, args.telegrams)):
                meter, nth = i % args.meters, i // args.meters
                items.append((Frame(telegram(tpls[meter % len(tpls)], meter, nth),
                                    T0 + dt.timedelta(hours=6 * nth, seconds=meter), "bench"), None))
            store.ingest(items)
        s = time.perf_counter() - t0
        out["store_only_ingest_frames_per_s"] = round(args.telegrams / s)

        rep = redecode(store, workers=args.workers)
        out["redecode"] = {"telegrams": rep.telegrams, "seconds": round(rep.seconds, 1),
                           "telegrams_per_s": round(rep.rate), "decoded": rep.decoded,
                           "rejected": rep.rejected, "readings_new": rep.readings_new,
                           "outcomes_updated": rep.outcome_changed}
        again = redecode(store, workers=args.workers)
        out["redecode_again"] = {"seconds": round(again.seconds, 1), "telegrams_per_s": round(again.rate),
                                 "readings_new": again.readings_new, "outcomes_updated": again.outcome_changed}
        out["counts"] = {k: v for k, v in store.counts().items() if k in ("meters", "raw_telegrams", "readings")}
    out["loadavg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
