"""Every driver, forced onto every reference telegram (its own and other families'), and every truncation of
its own telegrams: a Decoded or a typed Rejection, never an exception or an internal error. Proprietary
payload code is where a short or foreign frame would index past the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decoders import DecoderState, KeyStore, decode
from decoders.drivers import names
from decoders.model import Decoded, Rejection

ROOT = Path(__file__).resolve().parents[2]


def _cases() -> list[dict]:
    out = [json.loads(s) for s in (ROOT / "fixtures" / "corpus" / "wmbus_telegrams.jsonl").read_text().splitlines()
           if s.strip()]
    for p in sorted((ROOT / "fixtures" / "wmbusmeters_tests").glob("*.jsonl")):
        out += [json.loads(s) for s in p.read_text().splitlines() if s.strip()]
    return out


CASES = _cases()
TELEGRAMS = sorted({bytes.fromhex(c["telegram"]) for c in CASES})
DRIVERS = names()


def _keys(case: dict) -> KeyStore | None:
    if not case.get("key"):
        return None
    ks = KeyStore()
    ks.add(case["meter_id"], case["key"])
    return ks


def check(t: bytes, **kw) -> None:
    r = decode(t, **kw)
    assert isinstance(r, (Decoded, Rejection)), (t.hex(), kw.get("driver"))
    assert r.raw == t
    if isinstance(r, Rejection):
        assert "internal error" not in r.detail, (t.hex(), kw.get("driver"), r.detail)


def test_registry_is_large_and_cases_are_loaded() -> None:
    assert len(DRIVERS) > 100 and len(TELEGRAMS) > 350


@pytest.mark.parametrize("driver", DRIVERS)
def test_driver_on_every_reference_telegram(driver: str) -> None:
    state = DecoderState()
    for t in TELEGRAMS:
        check(t, driver=driver, state=state)


@pytest.mark.parametrize("driver", sorted({c["driver"] for c in CASES}))
def test_truncations_of_own_telegrams(driver: str) -> None:
    for c in (c for c in CASES if c["driver"] == driver):
        t = bytes.fromhex(c["telegram"])
        keys = _keys(c)
        for n in range(1, len(t)):
            b = bytearray(t[:n])
            check(bytes(b), driver=driver, keys=keys)
            if b[0] != 0x68:  # a receiver hands over L matching what it got: the layers see the short payload
                b[0] = (n - 1) & 0xFF
                check(bytes(b), driver=driver, keys=keys, state=DecoderState())
