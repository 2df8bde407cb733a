"""Random and mutated bytes give a Decoded or a typed Rejection, never an exception or an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import DecoderState, KeyStore, decode
from decoders.model import Decoded, Reject, Rejection

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"
TELEGRAMS = [bytes.fromhex(json.loads(line)["telegram"]) for line in CORPUS.read_text().splitlines() if line]
KEYS = KeyStore.single(bytes(16))


def check(t: bytes, **kw) -> None:
    r = decode(t, **kw)
    assert isinstance(r, (Decoded, Rejection))
    if isinstance(r, Rejection):
        assert "internal error" not in r.detail, (t.hex(), r.detail)
        assert r.raw == t
    else:
        assert r.raw == t


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes(b):
    check(b)
    check(b, keys=KEYS)


@settings(max_examples=600, deadline=None)
@given(st.binary(min_size=10, max_size=255))
def test_random_with_valid_length(b):
    t = bytes([len(b)]) + b
    check(t)
    check(t, keys=KEYS, state=DecoderState())


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(TELEGRAMS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       st.integers(-40, 40), st.sampled_from(["bcd", "flip", "cut", "none"]))
def test_mutated_corpus(t, flips, cut, mode):
    b = bytearray(t)
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val if mode != "flip" else b[pos % len(b)] ^ (val or 1)
    if mode == "cut" and cut:
        b = b[:cut] if cut > 0 else b[:len(b) + cut]
        if b and b[0] != 0x68:
            b[0] = max(len(b) - 1, 0) & 0xFF
    check(bytes(b))
    check(bytes(b), keys=KEYS, state=DecoderState())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TELEGRAMS), st.sampled_from([None, "izar", "apator162", "unknown-driver", "kamwater"]))
def test_corpus_with_any_driver(t, driver):
    check(t, driver=driver)


def test_non_bytes_input():
    for bad in ("not bytes", 5, None, [1, 2]):
        r = decode(bad)  # type: ignore[arg-type]
        assert isinstance(r, Rejection) and r.reason.value == "MALFORMED"
    t = TELEGRAMS[0]
    assert decode(bytearray(t)).ok == decode(memoryview(t)).ok == decode(t).ok


# Found by a mutation campaign (corpus and reference telegrams, random byte edits): an AFL whose FCL
# announces fields beyond the telegram's end was read before its length was checked.
@pytest.mark.parametrize("hexed", [
    "10442d191469012501078c207590002c25",   # ELL, then AFL with AFLL 0 and a 2-byte telegram tail
    "10442d191469012501078c20759002" "0020",  # AFLL 2: FCL announces an MCL (bit 13) after the end
    "13442d19146901250107" "90030020" "07" "7a00000000",  # AFLL 3 holds FCL + MCL, then a TPL: decodes
])
def test_afl_fields_past_the_end_are_typed(hexed):
    check(bytes.fromhex(hexed))
    r = decode(bytes.fromhex(hexed))
    assert "AFL:90" in r.ci_chain
    assert r.ok == hexed.endswith("7a00000000")


def test_em24_energy_sent_as_text_is_no_internal_error():
    """Found by the same campaign: an energy record sent as LVAR text reached em24's apparent-energy
    computation (hypot of two numbers)."""
    t = bytes.fromhex("4144361c0202020200028c209a7a9a0030252f2f0d050100000004fb82750000000004fb82f51c00000000042a0000"
                      "000001fd17002f2f2f2f2f2f2f2f2f2f082f2f")
    check(t)
    r = decode(t)
    assert r.ok and r.driver == "em24" and r.fields["total_apparent_energy_consumption_kvah"] is None


@pytest.mark.parametrize("hexed,driver", [
    # a zenner date formatter handed a 1-byte record under its date header (minomess, mode 5)
    ("5e44496a4425155518377a17105005076d747a7d55b406a3e674c77335c69b16848cbf7056a1d0e7e00c0b2c13a19abc4f056c0e0b9"
     "739415bc60262509977b6bb921dda6f2efb9dbc2d8ee44e4fce7dd91afc1047b1cd54d1d863df57530b", "minomess"),
    # techem compact5: a text value where its total adds two energies
    ("2644685062626262454372626262626850000786001005a66838140c15590472fde86ab61ede0e", "compact5"),
    # techem mkradio4 and vario451: the same with their totals
    ("1e4468506549235827c37a1400100502f2700c3db07c7eb7a040f757a6fab8", "vario451"),
    ("2e4468502001410295627ac5002005026bf695a58b352dc70b3a68344da42eed2b5aa838249992accf016493137610", "mkradio4"),
])
def test_driver_hooks_on_mutated_records_are_no_internal_error(hexed, driver):
    """Found by a campaign that mutates record bytes behind mode 5 and forces the family's driver."""
    keys = KeyStore.single(bytes(range(16)))
    check(bytes.fromhex(hexed), keys=keys, driver=driver)
    assert decode(bytes.fromhex(hexed), keys=keys, driver=driver).ok


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=60))
def test_expand_compact_takes_any_format(headers, values):
    """A learned format is whatever a full frame taught under that signature (a corrupt frame, or another
    meter's colliding signature): expanding with it gives records or a typed RecordError. Found by the
    whole-telegram campaign with one DecoderState: a format ending inside a record header."""
    from decoders.records import RecordError, expand_compact

    try:
        out = expand_compact(headers, values)
    except RecordError as e:
        assert e.reason in (Reject.BAD_RECORD, Reject.TRUNCATED_RECORD)
    else:
        assert isinstance(out, bytes)
