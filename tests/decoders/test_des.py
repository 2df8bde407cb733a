"""TPL security mode 2 (EN 13757-3:2004: DES-CBC, zero IV, 8-byte key) in the decoding core.

Known answers: the DES-CBC example of FIPS 81 (Appendix C) for the primitive, the public mode 2 test
telegram of wmbusmeters (tests/test_des.sh: key 0102030405060708, 1000 L) for the whole path, and
telegrams built here with other keys, ids and plain tails. Mode 3 (IV from the transmission date) is a
typed UNSUPPORTED_SECURITY.
"""

from __future__ import annotations

import pytest

from decoders import DecoderState, KeyStore, decode
from decoders import security as sec
from decoders.build import build_telegram
from decoders.crc import encode_frame_a
from decoders.output import to_json, to_wmbusmeters

KEY8 = bytes.fromhex("13579BDF02468ACE")
WRONG8 = bytes.fromhex("0F1E2D3C4B5A6978")
KEY16 = bytes.fromhex("0102030405060708090A0B0C0D0E0F11")
RECORDS = bytes.fromhex("0C1378563412" "426C9F2C" "4C1311223344")
# wmbusmeters tests/test_des.sh: ALK 00000001 water, CI 7A, ACC 01, CFG 0210 (mode 2, 16 encrypted bytes)
PUBLIC = bytes.fromhex("1E468B050100000004077A01001002BBD1EAFD0222F871CB70DA16C78AE098")
PUBLIC_KEY = bytes.fromhex("0102030405060708")


def keys(meter_id: str = "12345678", key: bytes = KEY8) -> KeyStore:
    ks = KeyStore()
    ks.add(meter_id, key)
    return ks


def test_des_cbc_fips81_known_answer() -> None:
    key, iv = bytes.fromhex("0123456789ABCDEF"), bytes.fromhex("1234567890ABCDEF")
    pt = b"Now is the time for all "
    ct = bytes.fromhex("E5C7CDDE872BF27C43E934008C389C0F683788499A7C05F6")
    assert sec.des_cbc_encrypt(key, iv, pt) == ct
    assert sec.des_cbc_decrypt(key, iv, ct) == pt
    assert sec.des_cbc_decrypt(key, iv, b"") == b""
    with pytest.raises(ValueError):
        sec.des_cbc_decrypt(KEY16, iv, ct)


def test_public_mode2_telegram_in_the_core() -> None:
    assert sec.des_cbc_decrypt(PUBLIC_KEY, bytes(8), PUBLIC[15:]) == bytes.fromhex("2F2F0413E8030000" + "2F" * 8)
    for driver in (None, "actislink"):
        r = decode(PUBLIC, keys=keys("00000001", PUBLIC_KEY), driver=driver)
        assert r.ok and r.security == "mode2" and r.decryption == "decrypted", r
        assert r.driver == "actislink" and r.fields["total_m3"] == 1
    assert decode(encode_frame_a(PUBLIC), keys=keys("00000001", PUBLIC_KEY)).fields["total_m3"] == 1


def test_built_mode2_known_answer_with_plain_tail() -> None:
    tail = bytes.fromhex("02FD170000")
    t = build_telegram(mfct="ABC", meter_id="12345678", acc=0x55, mode=2, key=KEY8, records=RECORDS,
                       plain_tail=tail)
    pt = b"\x2f\x2f" + RECORDS + b"\x2f" * 6                    # 2 + 16 record bytes -> 24 = three DES blocks
    assert t[10:15] == bytes.fromhex("7A55001802")                # CI, ACC, STS, CFG 0218: mode 2, 24 bytes
    assert t[-len(tail) - 24:-len(tail)] == sec.des_cbc_encrypt(KEY8, bytes(8), pt)
    r = decode(t, keys=keys())
    assert r.ok and r.security == "mode2" and r.decryption == "decrypted"
    assert r.fields["total_m3"] == 12345.678 and r.fields["target_m3"] == 44332.211
    assert any(x.quantity == "error_flags" for x in r.readings), "the plain tail after the blocks is kept"


def test_mode2_cfg_counts_bytes() -> None:
    t = build_telegram(mode=2, key=KEY8, records=RECORDS)
    cfg = int.from_bytes(t[13:15], "little")
    assert cfg == 0x0218
    for n, reason in ((0x20, "DECRYPT_FAILED"), (0x0C, "DECRYPT_FAILED")):  # past the payload; half a block
        bad = bytearray(t)
        bad[13] = n
        assert decode(bytes(bad), keys=keys()).reason.value == reason
    # only the first 8 bytes declared encrypted: the second block is then read as (garbage) plain data
    half = bytearray(t)
    half[13] = 0x08
    r = decode(bytes(half), keys=keys())
    assert not (r.ok and r.fields.get("target_m3") == 44332.211)


def test_mode2_outcomes() -> None:
    t = build_telegram(mode=2, key=KEY8, records=RECORDS)
    assert decode(t).reason.value == "NO_KEY"
    assert decode(t, keys=keys(key=WRONG8)).reason.value == "WRONG_KEY"
    wrong_size = decode(t, keys=keys(key=KEY16))                 # an AES key on a DES telegram
    assert wrong_size.reason.value == "WRONG_KEY" and "DES" in wrong_size.detail
    aes = decode(build_telegram(mode=5, key=KEY16, records=RECORDS), keys=keys(key=KEY8))
    assert aes.reason.value == "WRONG_KEY" and "AES" in aes.detail   # a DES key on an AES telegram
    plain = decode(build_telegram(mode=2, key=None, records=RECORDS))  # declared mode 2, already plain
    assert plain.ok and plain.decryption == "already_decrypted" and plain.fields["total_m3"] == 12345.678


def test_mode2_keys_never_in_output_or_errors() -> None:
    t = build_telegram(mode=2, key=KEY8, records=RECORDS)
    for k in (KEY8, WRONG8, KEY16):
        for r in (decode(t, keys=keys(key=k)), decode(t, keys=keys(key=k), state=DecoderState())):
            text = repr(r) + str(to_json(r)) + str(to_wmbusmeters(r, timestamp="x"))
            assert k.hex() not in text.lower()


def test_mode3_is_a_typed_unsupported_security() -> None:
    t = build_telegram(mode=3, records=RECORDS)
    r = decode(t, keys=keys())
    assert not r.ok and r.reason.value == "UNSUPPORTED_SECURITY" and "mode 3" in r.detail
