"""Proprietary payload functions and driver table machinery, tested on bytes built here (not corpus)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from decoders import DecoderState, decode
from decoders.drivers import by_name
from decoders.drivers._lib import Lookup, date_text, date_text_raw, datetime_text, tpl_status_words
from decoders.drivers.apator_payloads import apator162_total_litres, na1_decrypt, na1_parse
from decoders.drivers.bmeters import hydrodigit_block
from decoders.drivers.diehl_prios import (
    DEFAULT_KEYS,
    Interpretation,
    _keystream_xor,
    diehl_identity,
    fold_key,
    interpretation,
    prios_descramble,
    real_data_descramble,
)
from decoders.drivers.qundis import qds_walk_by
from decoders.drivers.techem import curr_date, date_str, prev_date
from decoders.model import Alarm, Decoded

# --- Diehl PRIOS / REAL_DATA ---------------------------------------------------------------------

def _prios_frame(plain: bytes, key: bytes, ci: int = 0xA2, mfct: bytes = b"\xa5\x11") -> bytes:
    """A PRIOS frame whose payload descrambles to `plain` (XOR keystream: scrambling = descrambling)."""
    header = bytes([0, 0x44]) + mfct + bytes.fromhex("780779194820") + bytes([ci]) + bytes.fromhex("21170013")
    frame = bytearray(header + plain)
    frame[0] = len(frame) - 1
    scrambled = _keystream_xor(bytes(frame), fold_key(key))
    return bytes(frame[:15]) + bytes(scrambled)


@pytest.mark.parametrize("key", DEFAULT_KEYS)
def test_prios_round_trip_with_each_default_key(key: bytes) -> None:
    plain = bytes.fromhex("4B0E110000000000009F2C")
    frame = _prios_frame(plain, key)
    assert prios_descramble(frame) == plain


def test_prios_wrong_key_is_refused() -> None:
    frame = _prios_frame(bytes.fromhex("4B0E1100000000"), DEFAULT_KEYS[0])
    assert prios_descramble(frame, bytes.fromhex("0102030405060708")) is None


def test_prios_user_key_replaces_defaults() -> None:
    key = bytes.fromhex("1122334455667788")
    plain = bytes.fromhex("4B01020304")
    assert prios_descramble(_prios_frame(plain, key), key) == plain


def test_real_data_checksum_and_plain_fallback() -> None:
    # CFG high byte 0x10 marks REAL_DATA; the byte sum of the plain payload must match it (mask 0xEF).
    plain = bytes.fromhex("0413DDC00000")
    cfg_hi = sum(plain) & 0xEF | 0x10
    frame = bytearray(bytes.fromhex("1E4424238B06204790607A2A0010") + bytes([cfg_hi]) + plain)
    assert interpretation(bytes(frame)) is Interpretation.REAL_DATA
    scrambled = bytes(frame[:15]) + bytes(_keystream_xor(bytes(frame), fold_key(DEFAULT_KEYS[1])))
    assert real_data_descramble(scrambled) == plain


def test_diehl_address_coding() -> None:
    # DME PRIOS: version and type come first, then the id.
    assert diehl_identity(bytes.fromhex("1944A511780779194820A121170013355F8EDB")) == ("20481979", 0x78, 0x07)
    # SAP PRIOS: the version byte is part of the id; always a water meter.
    assert diehl_identity(bytes.fromhex("1944304C72242421D401A2013D4013DD8B46A4")) == ("21242472", 0x00, 0x07)
    # OMS frames keep the standard A field.
    assert diehl_identity(bytes.fromhex("1E44A511909192937B077A9F0010052F2F04")) is None


# --- Apator --------------------------------------------------------------------------------------

def test_na1_decrypts_and_unpacks_with_any_key() -> None:
    key = os.urandom(16)
    header = bytes.fromhex("1C440106813591041407A0") + bytes([0x42, 0x01])  # CI, ACC, frame status
    raw_total = (0x1234 << 8) | (1 << 4) | 0x5     # (0x1234 * 16 + 5) * 10 = 745,650 l
    plain = bytearray(16)
    plain[1:5] = raw_total.to_bytes(4, "little")
    plain[5:9] = (86400 * 366).to_bytes(4, "little")   # 2001-01-01 00:00
    plain[9], plain[10] = 24, (1 << 2) | 0             # age 1*256 + 24 = 280 h
    plain[11:14] = bytes((5, 0, 0))                     # delta (5 << 2) = 20 units of 10 l
    plain[14], plain[15] = 0x08, 0x80
    iv = header[2:10] + bytes([0x42]) * 8
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    frame = header + enc.update(bytes(plain)) + enc.finalize()
    dec = na1_decrypt(frame, key)
    assert dec == bytes(plain)
    r = na1_parse(frame, dec)
    assert r.total_m3 == pytest.approx(745.65)
    assert r.historic_m3 == pytest.approx(745.65 - 0.2)
    assert r.historic_age_h == 280
    assert r.meter_datetime.isoformat() == "2001-01-01T00:00:00"
    assert r.frame_status == 0x01 and r.current_status == 0x08 and r.historic_status == 0x80


def test_apator162_walks_tags_to_the_total() -> None:
    block = bytes([0x0F]) + bytes(7) + bytes([0x43, 1, 2]) + bytes([0x71, 9]) + bytes(8)
    block += bytes([0x10]) + (123456).to_bytes(4, "little") + bytes([0xFF, 0xFF, 0xAB, 0xCD])
    assert apator162_total_litres(block) == 123456
    assert apator162_total_litres(bytes([0x0F]) + bytes(7) + bytes([0x99, 0, 0])) is None


# --- other families ------------------------------------------------------------------------------

def test_hydrodigit_block_optional_parts() -> None:
    block = bytes([0x15, 0x0A]) + (15).to_bytes(4, "little") + b"".join(
        (100 * (m + 1)).to_bytes(3, "little") for m in range(12))
    out = hydrodigit_block(block)
    assert out["contents"] == "BACKFLOW BATTERY_VOLTAGE MONTHLY_DATA"
    assert out["voltage_v"] == 3.05 and out["backflow_m3"] == 0.015
    assert out["January_total_m3"] == 1 and out["December_total_m3"] == 12


def test_qds_walk_by_block_becomes_records() -> None:
    raw = bytearray(53)
    raw[9] = 0x13
    raw[12:16] = bytes.fromhex("91670400")
    raw[16:18] = bytes.fromhex("FF2C")
    recs = qds_walk_by(bytes(raw))
    assert recs is not None and recs.startswith(bytes.fromhex("0C1391670400426CFF2C4C13"))
    assert qds_walk_by(bytes(52)) is None


def test_techem_period_dates_roll_over_the_year() -> None:
    prev = prev_date(0x259F)
    assert date_str(prev) == "2018-12-31"
    assert date_str(curr_date(0x29B0, prev)) == "2019-04-27"


# --- table machinery -----------------------------------------------------------------------------

def test_lookup_sorts_consumes_and_names_unknown_bits() -> None:
    lk = Lookup(((0x01, "B_FLAG"), (0x04, "A_FLAG"), (0x04, "SHADOWED")), mask=0xFF, unknown="ERROR_FLAGS")
    assert lk.text(0) == "OK"
    assert lk.text(0x05) == "A_FLAG B_FLAG"
    assert lk.text(0x85) == "A_FLAG B_FLAG ERROR_FLAGS_80"
    idx = Lookup(((1, "SMOKE"),), kind="index", unknown="STATUS", mask=0xFF)
    assert idx.text(1) == "SMOKE" and idx.text(0x71) == "STATUS_71"


def test_dates_print_like_the_reference() -> None:
    assert date_text(bytes.fromhex("BF2C")) == "2021-12-31"
    assert date_text(bytes.fromhex("0000")) == "1999-11-30"      # day 0, month 0 normalised
    assert date_text_raw(bytes.fromhex("0000")) == "2000-00-00"
    assert date_text(bytes.fromhex("FFFF")) is None
    assert datetime_text(bytes.fromhex("0E1015C82A00"), seconds=True) == "2022-10-08 21:16:14"


def test_tpl_status_words() -> None:
    assert tpl_status_words(0) == []
    assert tpl_status_words(0x14) == ["POWER_LOW", "TEMPORARY_ERROR"]
    assert tpl_status_words(0xE8) == ["PERMANENT_ERROR", "UNKNOWN_E0"]
    assert tpl_status_words(0x48, {0x40: "TAMPER"}) == ["PERMANENT_ERROR", "TAMPER"]


# --- through decode(): detection, compact frames, alarms --------------------------------------------

def _decode(hexstr: str, **kw: object) -> Decoded:
    r = decode(bytes.fromhex(hexstr), **kw)  # type: ignore[arg-type]
    assert isinstance(r, Decoded), r
    return r


def test_kamstrup_compact_frame_decodes_in_one_pass_from_shipped_format() -> None:
    # No full frame seen before: the Multical 21 format is shipped with the driver.
    r = _decode("21442D2C776655441B168D2079CC8C3A20F4307912C40DFF00002F4E00003D010203", state=DecoderState())
    assert r.driver == "kamwater" and r.compact
    assert r.fields["total_m3"] == 20.015 and r.fields["max_flow_m3h"] == 0.317


def test_detection_by_manufacturer_version_type() -> None:
    r = _decode("2E4401069897969501167A4B0320052F2F0413320C000003FD1708080144132109000004933C000000002F2F2F2F2F")
    assert r.driver == "ultrimisv2"
    assert r.fields["status"] == "NO_FLOW NO_FLOW_THIS_MONTH TAMPER_PREV_MONTH"
    assert Alarm.NO_CONSUMPTION in r.alarms and r.alarm_bits["status"] == 0x010808


def test_kamstrup_info_codes_become_alarms() -> None:
    r = _decode("2A442D2C998734761B168D2091D37CAC21576C7802FF207100041308190000441308190000615B7F616713")
    assert r.fields["status"] == "DRY" and r.fields["time_dry"] == "22-31 days"
    assert Alarm.DRY in r.alarms and r.alarm_bits["status16"] == 0x71


def test_prios_alarms_and_fields_through_decode() -> None:
    r = _decode("1944304C72242421D401A2013D4013DD8B46A4999C1293E582CC", driver="izar")
    assert r.meter.id == "21242472" and r.fields["total_m3"] == 3.488
    assert {Alarm.BLOCKED, Alarm.UNDERFLOW} <= r.alarms


def test_every_registered_driver_has_a_name_and_meter_type() -> None:
    for name in ("apator162", "apatorna1", "izar", "kamwater", "hydrodigit", "qwater", "mkradio3", "iperl"):
        d = by_name(name)
        assert d is not None and d.meter_type


def test_lfsr_byte_tables_equal_the_bitwise_definition() -> None:
    import random

    from decoders.drivers.diehl_prios import _T0, _T1, _T2, _T3, _step8_bitwise

    rnd = random.Random(5)
    for _ in range(2000):
        r = rnd.getrandbits(32)
        assert _step8_bitwise(r) & 0xFF == _T0[r & 0xFF] ^ _T1[(r >> 8) & 0xFF] ^ _T2[(r >> 16) & 0xFF] ^ _T3[r >> 24]


def test_diehl_prios_detected_without_a_driver_name() -> None:
    # SAP PRIOS codes id bytes where version and type belong; the Diehl detector corrects the identity.
    r = _decode("1944304C72242421D401A2013D4013DD8B46A4999C1293E582CC")
    assert r.driver == "izar" and r.meter.id == "21242472"
    assert r.fields["total_m3"] == 3.488
    # REAL_DATA (CFG mode 16-31) hydrus frame: swapped address, detected as hydrus.
    r = _decode("1E4424238B06204790607A2A0010D80413DDC00000426CBF23441382BB0000")
    assert r.driver == "hydrus" and r.meter.id == "60904720" and r.fields["total_m3"] == 49.373
