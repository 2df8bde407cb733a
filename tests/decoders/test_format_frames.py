"""Format frames (CI 0x69/0x6A/0x6B) teach the decoder a compact-frame format (EN 13757-3 annex G).

Known answers: the standard's G.5 example (energy 123.4 Wh, volume 567.8 m3, power 901.2 W sent as a full
frame, a format frame and a compact frame) wrapped into wM-Bus link layers with decoders.build, and
generated header lists checked against the full-frame decode of the same records.
"""

from __future__ import annotations

import json

import pytest

from decoders import DecoderState, KeyStore, Reject, decode
from decoders.build import build_telegram
from decoders.crc import crc16_en13757
from decoders.formats import FORMAT_FRAME_FAST, FormatFrameBody
from decoders.records import format_signature

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
MID = "31415926"

# EN 13757-3:2018 G.5.2, application layers without the CI byte
G5_FULL = bytes.fromhex("0202D20402152E16022A3423")
G5_FORMAT = bytes.fromhex("08313B02020215022A")
G5_COMPACT = bytes.fromhex("313B42A6D2042E163423")
G5_EXPECTED = [("energy", 0.1234, "kWh"), ("volume", 567.8, "m3"), ("power", 0.9012, "kW")]

_CI_OFFSET = 10  # DLL is 10 bytes; no ELL/AFL in these telegrams


def telegram(ci: int, app: bytes, **kw) -> bytes:
    """A telegram with the given TPL CI: built with the full-frame CI of the same header size (the builder
    knows 0x78/0x7A/0x72 and the compact ones), then the CI byte set (no IV or MAC covers it)."""
    base = {0x69: 0x78, 0x6A: 0x7A, 0x6B: 0x72}.get(ci, ci)
    t = bytearray(build_telegram(ci=base, records=app, meter_id=MID, **kw))
    assert t[_CI_OFFSET] == base
    t[_CI_OFFSET] = ci
    return bytes(t)


def values(readings) -> list[tuple[str, float, str]]:
    return [(r.quantity, r.value, r.unit) for r in readings]


def approx(expected):
    return [(q, pytest.approx(v), u) for q, v, u in expected]


def format_body(headers: bytes) -> bytes:
    return bytes((len(headers) + 2,)) + format_signature(headers).to_bytes(2, "little") + headers


def test_codec(assert_codec):
    p = assert_codec(FormatFrameBody, G5_FORMAT, {"length": 8, "signature": 0x3B31})
    assert p["headers"] == bytes.fromhex("02020215022A")
    assert FORMAT_FRAME_FAST.unpack_from(G5_FORMAT) == (p["length"], p["signature"])
    assert crc16_en13757(p["headers"]) == p["signature"]


@pytest.mark.parametrize("ci_format, ci_compact, ci_full", [(0x69, 0x79, 0x78), (0x6A, 0x7B, 0x7A),
                                                           (0x6B, 0x73, 0x72)])
def test_standard_example_format_then_compact(ci_format, ci_compact, ci_full):
    state = DecoderState()
    compact = telegram(ci_compact, G5_COMPACT)
    alone = decode(compact, state=state)
    assert not alone.ok and alone.reason is Reject.COMPACT_FORMAT_UNKNOWN

    f = decode(telegram(ci_format, G5_FORMAT), state=state)
    assert f.ok and f.readings == [] and f.ci_chain == (f"TPL:{ci_format:02X}",)
    assert "format frame: learned format 3B31 (6 header bytes)" in f.notes
    assert state.format_for(0x3B31) == bytes.fromhex("02020215022A")

    r = decode(compact, state=state)
    assert r.ok and r.compact and not r.notes  # the compact frame's data CRC checks out too
    assert values(r.readings) == approx(G5_EXPECTED)
    full = decode(telegram(ci_full, G5_FULL), state=DecoderState())
    assert values(full.readings) == values(r.readings)


def test_compact_without_format_frame_still_rejected():
    state = DecoderState()
    decode(telegram(0x69, format_body(bytes.fromhex("0C13"))), state=state)  # another format
    r = decode(telegram(0x79, G5_COMPACT), state=state)
    assert not r.ok and r.reason is Reject.COMPACT_FORMAT_UNKNOWN


def test_without_state_decodes_but_keeps_nothing():
    r = decode(telegram(0x69, G5_FORMAT))
    assert r.ok and any("not kept" in n for n in r.notes)


@pytest.mark.parametrize("records", [
    "0C1378563412" "4C1311223344" "02FD170000" "426C9F2C",                  # BCD, storage, FD table, date
    "8401130A000000" "C40113FFFFFFFF" "046D1E5C11DA" "0F0102",              # DIFE, datetime, mfct tail
    "04933C01000000" "0B3B563412" "2F2F" "01FD1B05",                        # VIFE, filler inside the list
])
def test_generated_formats_match_full_frames(records):
    """A format frame built from the headers of full records, then the compact frame of their data: the
    same readings as the full frame (and the compact data CRC agrees with the rebuilt records)."""
    from decoders.records import parse_records

    full = bytes.fromhex(records)
    readings, mfct, _, headers = parse_records(full, 0, len(full), want_headers=True)
    data = b"".join(r.raw for r in readings) + mfct
    rebuilt = b"".join(bytes.fromhex(r.dif_vif) + r.raw for r in readings)
    if mfct or headers.endswith((b"\x0f", b"\x1f")):
        rebuilt += headers[-1:] + mfct
    state = DecoderState()
    assert decode(telegram(0x6A, format_body(headers)), state=state).ok
    compact = format_signature(headers).to_bytes(2, "little") + crc16_en13757(rebuilt).to_bytes(2, "little") + data
    r = decode(telegram(0x7B, compact), state=state)
    ref = decode(telegram(0x7A, full), state=DecoderState())
    assert len(ref.readings) >= 3 and r.ok and r.compact and not r.notes
    assert r.readings == ref.readings and r.mfct_data == ref.mfct_data


def test_encrypted_format_frame_mode5():
    fmt = telegram(0x6A, G5_FORMAT, mode=5, key=KEY)
    state = DecoderState()
    assert decode(fmt, state=state).reason is Reject.NO_KEY
    assert state.format_for(0x3B31) is None
    wrong = KeyStore.single("FF" * 16)
    assert decode(fmt, state=state, keys=wrong).reason is Reject.WRONG_KEY
    f = decode(fmt, state=state, keys=KeyStore.single(KEY.hex()))
    assert f.ok and f.security == "mode5" and f.decryption == "decrypted"
    r = decode(telegram(0x7B, G5_COMPACT), state=state)
    assert r.ok and values(r.readings) == approx(G5_EXPECTED)


# --- mutations: bad bytes give a typed rejection and teach nothing -----------------------------------

def _cut(headers: bytes) -> bytes:
    """A format body whose signature is right but whose header list is cut."""
    return format_body(headers)


@pytest.mark.parametrize("body, reason", [
    (bytes.fromhex("08313C02020215022A"), Reject.MALFORMED),       # signature off by one
    (bytes.fromhex("08313B02020215022B"), Reject.MALFORMED),       # header byte changed
    (bytes.fromhex("09313B02020215022A"), Reject.LENGTH),          # length past the end
    (bytes.fromhex("01313B"), Reject.LENGTH),                      # length shorter than the signature
    (bytes.fromhex("0831"), Reject.LENGTH),                        # body cut in the signature
    (b"", Reject.LENGTH),                                          # no body at all
    (_cut(bytes.fromhex("0202021502")), Reject.TRUNCATED_RECORD),  # last record has no VIF
    (_cut(bytes.fromhex("840184")), Reject.TRUNCATED_RECORD),      # DIFE chain cut
    (_cut(bytes.fromhex("0493")), Reject.TRUNCATED_RECORD),        # VIFE chain cut
    (_cut(bytes.fromhex("02FD")), Reject.TRUNCATED_RECORD),        # FD without its VIFE
    (_cut(bytes.fromhex("3F13")), Reject.BAD_RECORD),              # reserved special DIF
    (_cut(bytes.fromhex("0F0213")), Reject.BAD_RECORD),            # headers after the mfct DIF
])
def test_bad_format_frames_rejected(body, reason):
    state = DecoderState()
    r = decode(telegram(0x69, body), state=state)
    assert not r.ok and r.reason is reason, r
    assert state.formats == {}
    c = decode(telegram(0x79, G5_COMPACT), state=state)
    assert c.reason is Reject.COMPACT_FORMAT_UNKNOWN


def test_every_single_byte_mutation_is_typed():
    """Each byte of the format body set to each of a few values: a typed rejection or a learned format
    whose signature matches its list; never an internal error."""
    base = telegram(0x69, G5_FORMAT)
    start = _CI_OFFSET + 1
    for i in range(start, len(base)):
        for v in (0x00, 0x0F, 0x2F, 0x7F, 0x80, 0xFD, 0xFF, base[i] ^ 0x01):
            t = bytearray(base)
            t[i] = v
            state = DecoderState()
            r = decode(bytes(t), state=state)
            if r.ok:
                assert all(crc16_en13757(h) == s for s, h in state.formats.items())
            else:
                assert "internal error" not in r.detail, (i, v, r)


def test_encrypted_format_frame_mode7_with_mac():
    """Mode 7 (AFL counter and CMAC over the TPL): the format frame is built as a short-header telegram,
    its CI set to 0x6A and the AFL MAC recomputed over the changed TPL (as a meter would send it)."""
    from decoders import security as sec
    from decoders.build import id_bytes

    t = bytearray(build_telegram(ci=0x7A, records=G5_FORMAT, meter_id=MID, mode=7, key=KEY, counter=77))
    afl, tpl = _CI_OFFSET, _CI_OFFSET + 17  # 90 0F FCL(2) MCL MCR(4) MAC(8)
    assert t[afl] == 0x90 and t[tpl] == 0x7A
    t[tpl] = 0x6A
    mcl, mcr = t[afl + 4], bytes(t[afl + 5:afl + 9])
    _, kmac = sec.mode7_keys(KEY, mcr, id_bytes(MID))
    t[afl + 9:afl + 17] = sec.cmac(kmac, bytes((mcl,)) + mcr + bytes(t[tpl:]))[:8]
    state = DecoderState()
    keys = KeyStore.single(KEY.hex())
    f = decode(bytes(t), state=state, keys=keys)
    assert f.ok and f.security == "mode7" and f.mac_verified is True and f.ci_chain == ("AFL:90", "TPL:6A")
    r = decode(telegram(0x7B, G5_COMPACT), state=state)
    assert r.ok and values(r.readings) == approx(G5_EXPECTED)
    t[-1] ^= 0x01  # tampered: the MAC no longer verifies and nothing is learned
    state = DecoderState()
    assert decode(bytes(t), state=state, keys=keys).reason is Reject.MAC_MISMATCH
    assert state.formats == {}


def test_cli_learns_across_lines(tmp_path):
    """`amr decode` keeps one DecoderState per run: a format frame line teaches the compact lines after it."""
    import io

    from decoders.cli import run

    lines = [telegram(0x79, G5_COMPACT), telegram(0x69, G5_FORMAT), telegram(0x79, G5_COMPACT)]
    f = tmp_path / "t.txt"
    f.write_text("\n".join(t.hex() for t in lines) + "\n")
    out = io.StringIO()
    counts = run((str(f),), "json", None, None, out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert counts == {"lines": 3, "decoded": 2, "rejected": 1}
    assert rows[0]["reason"] == "COMPACT_FORMAT_UNKNOWN"
    assert rows[1]["records"] == [] and rows[1]["layers"] == ["TPL:69"]
    assert [(x["quantity"], round(x["value"], 6)) for x in rows[2]["records"]] == [
        ("energy", 0.1234), ("volume", 567.8), ("power", 0.9012)]
