"""The construct declarations: codec properties per format, and the fast path agreeing with them."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.build import build_telegram, id_bytes, wired_long_frame
from decoders.core import Fail, link_layer, walk_layers
from decoders.formats import (
    AFL,
    DLL,
    ELL_I,
    ELL_II,
    ELL_III,
    ELL_IV,
    TPL_LONG,
    TPL_NONE,
    TPL_SHORT,
    CompactBody,
    DataRecord,
    WiredLongFrame,
)
from decoders.records import parse_records
from decoders.tables import MANUFACTURERS, manufacturer_code

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


# --- one line per declared format -------------------------------------------------------------------

def test_dll(assert_codec):
    assert_codec(DLL, bytes.fromhex("2E4433300302010007 1B".replace(" ", "")),
                 {"l": 0x2E, "c": 0x44, "m": 0x3033, "id": bytes.fromhex("03020100"), "version": 7,
                  "device_type": 0x1B}, size=10)


def test_wired_long_frame(assert_codec):
    frame = wired_long_frame(0x08, 0x01, 0x72, bytes.fromhex("78563412B4090107550000000C1378563412"))
    p = assert_codec(WiredLongFrame, frame, {"l": 21, "c": 8, "a": 1, "ci": 0x72})
    assert p["cs"] == sum(frame[4:-2]) & 0xFF


def test_ell_variants(assert_codec):
    assert_codec(ELL_I, bytes.fromhex("8C2070"), {"cc": 0x20, "acc": 0x70}, size=3)
    p = assert_codec(ELL_II, bytes.fromhex("8D2070806A0520B4D3"), {"cc": 0x20, "payload_crc": 0xD3B4}, size=9)
    assert p["enc"] == 1 and p["sn"] == 0x20056A80
    assert_codec(ELL_III, bytes.fromhex("8E2070A511332233226307"), {"m2": 0x11A5}, size=11)
    p = assert_codec(ELL_IV, bytes.fromhex("8F2070A51133223322630700000000B4D3"), {"m2": 0x11A5}, size=17)
    assert p["enc"] == 0


def test_afl(assert_codec):
    p = assert_codec(AFL, bytes.fromhex("900F002C256C1601004BB24778D6AC091E"),
                     {"afll": 15, "fcl": 0x2C00, "mcl": 0x25, "mcr": 0x0001166C, "ki": None, "ml": None})
    assert p["mac"] == bytes.fromhex("4BB24778D6AC091E")
    # with key information and message length
    assert_codec(AFL, bytes.fromhex("901500") + (0x3E00).to_bytes(2, "little")[1:] + bytes.fromhex(
        "2534120100000011223344556677883000"), {"fcl": 0x3E00, "ki": 0x1234, "ml": 0x0030})


def test_tpl_headers(assert_codec):
    assert_codec(TPL_NONE, b"\x78", {"ci": 0x78}, size=1)
    p = assert_codec(TPL_SHORT, bytes.fromhex("7A63482025"), {"acc": 0x63, "sts": 0x48, "cfg": 0x2520})
    assert p["mode"] == 5 and p["blocks"] == 2 and p["cfg_ext"] is None
    p = assert_codec(TPL_SHORT, bytes.fromhex("7ADF00310710"), {"cfg": 0x0731, "cfg_ext": 0x10})
    assert p["mode"] == 7 and p["blocks"] == 3
    p = assert_codec(TPL_LONG, bytes.fromhex("7237329305B42501075B003025"),
                     {"id": bytes.fromhex("37329305"), "m": 0x25B4, "version": 1, "device_type": 7})
    assert p["mode"] == 5


def test_compact_body(assert_codec):
    assert_codec(CompactBody, bytes.fromhex("E7F1D5902C0000"), {"signature": 0xF1E7, "data_crc": 0x90D5,
                                                                 "values": bytes.fromhex("2C0000")})


@pytest.mark.parametrize("record", [
    "0C1378563412", "8201FB1AA901", "04FB827500000000", "0DFD8E0007302E38322E3142", "426C9F2C",
    "046D1E5C11DA", "01FD1700", "0E833C994900000000", "0DFF5FC6123456789ABC", "0D7F054142434445", "05FF0D0000803F",
])
def test_data_record(assert_codec, record):
    assert_codec(DataRecord, bytes.fromhex(record))


# --- the fast path against the declarations --------------------------------------------------------

def _spec_view(t: bytes) -> dict:
    """What the construct specs say about a telegram's layers."""
    out: dict = {}
    if t[0] == 0x68:
        w = WiredLongFrame.parse(t)
        out["c"] = w.c
        pos, data = 6, t[:4 + w.l]
    else:
        d = DLL.parse(t)
        out.update(c=d.c, m=MANUFACTURERS[d.m & 0x7FFF], id=d.id[::-1].hex(), version=d.version,
                   device_type=d.device_type)
        pos, data = 10, t
    while True:
        ci = data[pos]
        if ci in (0x8C, 0x8D, 0x8E, 0x8F):
            spec = {0x8C: ELL_I, 0x8D: ELL_II, 0x8E: ELL_III, 0x8F: ELL_IV}[ci]
            e = spec.parse(data[pos:])
            out["ell_cc"], out["ell_acc"] = e.cc, e.acc
            pos += spec.sizeof()
        elif ci == 0x90:
            a = AFL.parse(data[pos:])
            out["mcr"] = a.mcr
            pos += 2 + a.afll
        elif ci in (0x78, 0x79):
            return out
        elif ci in (0x7A, 0x7B):
            h = TPL_SHORT.parse(data[pos:])
            out.update(acc=h.acc, sts=h.sts, cfg=h.cfg, cfg_ext=h.cfg_ext)
            return out
        elif ci in (0x72, 0x73):
            h = TPL_LONG.parse(data[pos:])
            out.update(acc=h.acc, sts=h.sts, cfg=h.cfg, cfg_ext=h.cfg_ext,
                       tpl=(MANUFACTURERS[h.m & 0x7FFF], h.id[::-1].hex(), h.version, h.device_type))
            return out
        else:
            return out


def _fast_view(t: bytes) -> dict:
    tg = link_layer(t)
    with contextlib.suppress(Fail):  # a rejected telegram still has the headers parsed so far
        walk_layers(tg)
    out: dict = {"c": tg.c_field}
    if tg.identity is not None:
        out.update(m=tg.identity.manufacturer, id=tg.identity.id, version=tg.identity.version,
                   device_type=tg.identity.device_type)
    if tg.ell:
        out["ell_cc"], out["ell_acc"] = tg.ell["cc"], tg.ell["acc"]
    if tg.afl:
        out["mcr"] = tg.message_counter
    if tg.cfg is not None:
        out.update(acc=tg.acc, sts=tg.sts, cfg=tg.cfg, cfg_ext=tg.cfg_ext)
    if tg.tpl_identity is not None:
        i = tg.tpl_identity
        out["tpl"] = (i.manufacturer, i.id, i.version, i.device_type)
    return out


def test_core_structs_are_derived_from_the_declarations():
    """decoders/core.py writes the derived unpackers out (no construct import when decoding): each must be
    exactly what derive_struct makes of its declaration."""
    import decoders.core as core
    from decoders import formats

    names = ["DLL_FAST", "ELL_II_FAST", "TPL_SHORT_FAST", "TPL_LONG_FAST", "FORMAT_FRAME_FAST"]
    assert sorted(names) == sorted(n for n in vars(core) if n.endswith("_FAST"))
    for name in names:
        assert getattr(core, name).format == getattr(formats, name).format, name
    assert formats.DLL_FAST.format == formats.derive_struct(formats.DLL).format


def test_decoding_does_not_import_construct():
    import subprocess
    import sys

    code = ("import sys, decoders.cli; from decoders import decode; "
            "decode(bytes.fromhex('1444AE0C7856341201078C2027780B134365877AC5')); "
            "print('construct' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{c['driver']}" for n, c in enumerate(CASES)])
def test_fast_path_equals_spec_on_corpus(case):
    t = bytes.fromhex(case["telegram"])
    if case["header"].get("dll_crc") not in (None, "none"):
        t = t[: t[0] + 1] if t[0] + 1 <= len(t) else t
    assert _fast_view(t) == _spec_view(t)


def _records_via_spec(payload: bytes) -> list[tuple[str, bytes]]:
    """(header hex, data bytes) per record, walking the payload with the DataRecord declaration."""
    out = []
    i = 0
    while i < len(payload):
        dif = payload[i]
        if dif == 0x2F:
            i += 1
            continue
        if dif & 0x0F == 0x0F:
            break
        r = DataRecord.parse(payload[i:])
        size = len(DataRecord.build(r))
        data = r.data if isinstance(r.data, bytes) else r.data.value
        head = size - len(data) - (1 if dif & 0x0F == 0x0D else 0)
        out.append((payload[i:i + head].hex().upper(), data))
        i += size
    return out


def test_record_loop_equals_spec_on_corpus():
    """For every plain corpus payload of standard records, the table-driven loop finds the same records
    (headers and data bytes) as the DataRecord declaration."""
    checked = 0
    for case in CASES:
        t = bytes.fromhex(case["telegram"])
        try:
            tg = link_layer(t)
            walk_layers(tg)
        except Fail:
            continue
        if tg.compact or tg.decryption == "pending" or not tg.payload:
            continue
        try:
            readings, _, _, _ = parse_records(tg.payload, 0, len(tg.payload))
        except Exception:
            continue  # proprietary payloads: covered by the drivers
        if any(r.quantity == "plain_text_unit" for r in readings):
            continue
        try:
            via_spec = _records_via_spec(tg.payload)
        except Exception:
            continue
        assert [(r.dif_vif, r.raw) for r in readings] == via_spec
        checked += 1
    assert checked >= 150


# --- hypothesis: build -> parse round trips --------------------------------------------------------

letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)
ids = st.integers(min_value=0, max_value=99999999).map(lambda n: f"{n:08d}")
bcd4 = st.integers(min_value=0, max_value=99999999)


@settings(max_examples=200, deadline=None)
@given(mfct=letters, meter_id=ids, version=st.integers(0, 255), dtype=st.integers(0, 255),
       acc=st.integers(0, 255), sts=st.integers(0, 255), value=bcd4,
       ci=st.sampled_from([0x78, 0x7A, 0x72]), ell=st.sampled_from([None, "8C", "8D"]))
def test_built_frames_parse_back(mfct, meter_id, version, dtype, acc, sts, value, ci, ell):
    from decoders import decode

    records = bytes.fromhex("0C13") + bytes.fromhex(f"{value:08d}")[::-1]
    t = build_telegram(mfct=mfct, meter_id=meter_id, version=version, device_type=dtype, acc=acc, sts=sts,
                       records=records, ci=ci, ell=ell)
    assert _fast_view(t) == _spec_view(t)
    r = decode(t)
    assert r.ok, r
    assert (r.identity.manufacturer, r.identity.id, r.identity.version, r.identity.device_type) == (
        mfct, meter_id, version, dtype)
    vol = [x for x in r.readings if x.quantity == "volume"]
    assert vol and abs(vol[0].value - value / 1000) < 1e-9
    if ci != 0x78:
        assert r.status == sts and r.access_number == acc


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
def test_manufacturer_code_round_trip(letters3):
    assert MANUFACTURERS[manufacturer_code(letters3)] == letters3


def test_id_bytes():
    assert id_bytes("12345678") == bytes.fromhex("78563412")


# --- the derived struct unpackers used by the hot path ----------------------------------------------

@pytest.mark.parametrize("name", ["DLL", "ELL_II", "TPL_SHORT", "TPL_LONG"])
def test_derived_structs_equal_spec(name):
    from decoders import formats

    spec = getattr(formats, name)
    fast = getattr(formats, f"{name}_FAST")
    upto = None if name in ("DLL", "ELL_II") else "mode"
    names = formats.derived_names(spec, upto)
    rnd = __import__("random").Random(5)
    for _ in range(300):
        data = bytes(rnd.randrange(256) for _ in range(fast.size + 2))
        if name == "ELL_II":
            data = b"\x8d" + data[1:]
        parsed = spec.parse(data)
        assert dict(zip(names, fast.unpack_from(data), strict=True)) == {n: parsed[n] for n in names}


def test_derive_struct_refuses_variable_fields():
    from decoders.formats import AFL, derive_struct

    with pytest.raises(TypeError):
        derive_struct(AFL)


def test_manufacturer_table_is_the_letter_function():
    from decoders.tables import manufacturer_letters

    assert len(MANUFACTURERS) == 0x8000
    assert all(MANUFACTURERS[m] == manufacturer_letters(m) for m in range(0x8000))
    assert manufacturer_letters(0x2C2D) == "KAM" and manufacturer_letters(0x2C2D | 0x8000) == "KAM"
