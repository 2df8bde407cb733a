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


# --- mutated records behind encryption, the family's driver forced -------------------------------------
# Byte edits of a whole telegram mostly break its CRC, length or MAC and stop in the core. Here the records
# of each reference telegram are edited and the telegram rebuilt (plain or mode 5 with a test key, so the
# edits reach the driver's tables and hooks), then decoded and rendered in both output formats.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from decoders.build import build_telegram  # noqa: E402
from decoders.cli import _json_bytes  # noqa: E402
from decoders.output import to_json, to_wmbusmeters  # noqa: E402

_TEST_KEY = bytes(range(16))
_SPECIAL = [0x0D, 0x8D, 0x0F, 0x1F, 0x2F, 0xFD, 0xFB, 0x7C, 0xFC, 0x84, 0x80, 0xFF, 0x6D, 0x6C, 0x00, 0x07, 0x79]


def _record_seeds() -> list[tuple[object, bytes, str | None]]:
    seeds = []
    for c in CASES:
        r = decode(bytes.fromhex(c["telegram"]), keys=_keys(c), driver=c.get("driver"))
        if r.ok and r.identity is not None and len(r.identity.manufacturer) == 3 and r.identity.id.isdigit():
            recs = b"".join(bytes.fromhex(x.dif_vif) + (bytes([len(x.raw)]) if x.dif_vif[1:2] == "D" else b"")
                            + x.raw for x in r.readings)
            seeds.append((r.identity, recs, c.get("driver")))
    return seeds


SEEDS = _record_seeds()


@st.composite
def _mutated(draw):
    ident, recs, driver = draw(st.sampled_from(SEEDS))
    b = bytearray(recs)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.integers(0, 4))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == 0 and b:
            b[i] = draw(st.integers(0, 255))
        elif op == 1 and b:
            b[i] = draw(st.sampled_from(_SPECIAL))
        elif op == 2 and len(b) > 2:
            del b[i:i + draw(st.integers(1, 3))]
        elif op == 3:
            b[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif op == 4:
            del b[i:]
    del b[200:]  # a wM-Bus telegram's L is one byte: room for the headers and mode-5 padding
    mode = draw(st.sampled_from([0, 5]))
    t = build_telegram(mfct=ident.manufacturer, meter_id=ident.id, version=ident.version,
                       device_type=ident.device_type, records=bytes(b), mode=mode,
                       key=_TEST_KEY if mode else None, acc=draw(st.integers(0, 255)))
    return t, draw(st.sampled_from([driver, None]))


def test_record_seeds_cover_the_families() -> None:
    assert len(SEEDS) > 350 and len({s[2] for s in SEEDS}) > 100


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_records_reach_drivers_and_render(case) -> None:
    t, driver = case
    keys = KeyStore.single(_TEST_KEY)
    check(t, keys=keys, driver=driver)
    r = decode(t, keys=keys, driver=driver)
    json.loads(_json_bytes(to_json(r)))
    json.loads(_json_bytes(to_wmbusmeters(r, timestamp="x")))
