"""A long mutation campaign against the decoder, for an engineer to run by hand (CI runs the short
hypothesis versions in tests/decoders/test_fuzz.py and tests/drivers/test_driver_robustness.py).

    .venv/bin/python tests/campaigns/decode_mutations.py --seed 1 --seconds 600 [--records]

Without --records: byte edits of whole reference telegrams (corpus + fixtures/wmbusmeters_tests), L fixed up
most of the time, so the edits pass the link layer and reach ELL/AFL/TPL and the records. With --records:
edits of the records of each reference telegram, rebuilt plain or in mode 5 with a test key, decoded with
the family's driver forced half of the time, so they reach the drivers' tables and hooks. Every result is
rendered in both output formats. Prints each distinct internal error / render failure with one input that
gave it (`amr decode` reproduces it); bugs this found are regression cases in test_fuzz.py.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from decoders import DecoderState, KeyStore, decode  # noqa: E402
from decoders.build import build_telegram  # noqa: E402
from decoders.cli import _emitter  # noqa: E402
from tests.drivers.test_driver_robustness import _SPECIAL, _TEST_KEY, CASES, SEEDS  # noqa: E402


def _edit(rnd: random.Random, b: bytearray, lo: int) -> None:
    for _ in range(rnd.choice([1, 1, 2, 3, 5])):
        op = rnd.randrange(6)
        i = rnd.randrange(lo, len(b)) if len(b) > lo else len(b)
        if op == 0 and i < len(b):
            b[i] = rnd.randrange(256)
        elif op == 1 and i < len(b):
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 2 and i < len(b):
            del b[i:i + rnd.randrange(1, 4)]
        elif op == 3:
            b[i:i] = rnd.randbytes(rnd.randrange(1, 4))
        elif op == 4:
            del b[i:]
        elif op == 5 and i < len(b):
            b[i] = rnd.choice(_SPECIAL)


def _whole(rnd: random.Random) -> tuple[bytes, KeyStore | None, str | None]:
    c = rnd.choice(CASES)
    b = bytearray.fromhex(c["telegram"])
    _edit(rnd, b, 11)
    if b and rnd.random() < 0.8:
        b[0] = (len(b) - 1) & 0xFF
    return bytes(b), KeyStore.single(c["key"]) if c.get("key") else None, c.get("driver") if rnd.random() < 0.7 else None


def _records(rnd: random.Random) -> tuple[bytes, KeyStore | None, str | None]:
    ident, recs, driver = rnd.choice(SEEDS)
    b = bytearray(recs)
    _edit(rnd, b, 0)
    del b[200:]  # L is one byte: room for the headers and mode-5 padding
    mode = rnd.choice([0, 0, 5, 5])
    t = build_telegram(mfct=ident.manufacturer, meter_id=ident.id, version=ident.version,
                       device_type=ident.device_type, records=bytes(b), mode=mode,
                       key=_TEST_KEY if mode else None, acc=rnd.randrange(256), sts=rnd.choice([0, 0, 4, 0x10, 0xE0]))
    return t, KeyStore.single(_TEST_KEY), driver if rnd.random() < 0.5 else None


class _Sink:
    """Stands in for stdout: the CLI's own renderers write here."""

    def __init__(self) -> None:
        self.buffer = self

    def write(self, b: bytes) -> int:
        return len(b)

    def flush(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--records", action="store_true")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    make = _records if a.records else _whole
    renderers = [_emitter(_Sink(), fmt) for fmt in ("json", "wmbusmeters")]
    found: collections.Counter[tuple] = collections.Counter()
    example: dict[tuple, tuple] = {}
    state = DecoderState()
    n = 0
    t0 = time.time()
    while time.time() - t0 < a.seconds:
        t, keys, driver = make(rnd)
        for st in (state, None):
            site: tuple | None = None
            try:
                r = decode(t, keys=keys, state=st, driver=driver)
                if not r.ok and "internal error" in r.detail:
                    site = ("decode", r.detail)
                for emit, render, _flush in renderers:
                    emit(render(r))
            except Exception as e:  # noqa: BLE001  (what the campaign is looking for)
                site = ("render", type(e).__name__, traceback.format_exc().splitlines()[-3].strip())
            if site is not None:
                found[site] += 1
                example.setdefault(site, (t.hex(), driver))
        n += 1
    print(f"{n} mutants in {a.seconds:.0f} s (seed {a.seed}, {'records' if a.records else 'whole telegrams'})")
    for site, count in found.most_common():
        hexed, driver = example[site]
        print(f"{count:6d} {site}\n       telegram {hexed} driver {driver}")


if __name__ == "__main__":
    main()
