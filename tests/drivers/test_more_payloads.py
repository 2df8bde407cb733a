"""Proprietary layouts and helpers behind the a-h reference drivers (DES mode 2, E-ITN blocks, compact
profiles, month arithmetic), checked on their edge cases."""

from __future__ import annotations

import datetime as dt

from decoders import KeyStore, decode
from decoders.drivers._lib import months_back
from decoders.drivers.apator_payloads import eitn40_fields, eitn40_words, eitn_block, eitn_date
from decoders.drivers.caltos import compact_profile_values
from decoders.model import Reject, Rejection

ACTIS = bytes.fromhex("1E468B050100000004077A01001002BBD1EAFD0222F871CB70DA16C78AE098")


def _keys(key: str) -> KeyStore:
    ks = KeyStore()
    ks.add("00000001", key)
    return ks


def test_des_mode2_needs_the_right_key() -> None:
    ok = decode(ACTIS, keys=_keys("0102030405060708"), driver="actislink")
    assert not isinstance(ok, Rejection) and ok.fields["total_m3"] == 1
    wrong = decode(ACTIS, keys=_keys("1122334455667788"), driver="actislink")
    assert isinstance(wrong, Rejection) and wrong.reason == Reject.WRONG_KEY
    none = decode(ACTIS, driver="actislink")
    assert isinstance(none, Rejection) and none.reason == Reject.NO_KEY


def test_months_back_keeps_month_ends_and_clamps_other_days() -> None:
    assert months_back(dt.date(2024, 11, 30), 1) == dt.date(2024, 10, 31)
    assert months_back(dt.date(2020, 12, 31), 10) == dt.date(2020, 2, 29)
    assert months_back(dt.date(2025, 3, 30), 1) == dt.date(2025, 2, 28)
    assert months_back(dt.date(2025, 8, 20), 13) == dt.date(2024, 7, 20)
    assert months_back(dt.date(2026, 2, 1), 4) == dt.date(2025, 10, 1)


def test_eitn_block_and_dates() -> None:
    assert eitn_date(0) is None
    assert eitn_date(0x2D32) == "2022-09-18"
    assert eitn_block(0xA0, bytes(15)) == b"\xa0" + bytes(15)
    assert eitn_block(0xB6, bytes([2, 9, 9]) + b"\xa0" + bytes(15)) == b"\xa0" + bytes(15)
    assert eitn_block(0xB6, bytes([2, 9, 9]) + bytes(16)) is None  # no A0 marker after the header
    assert eitn_block(0xA0, bytes(14)) is None


def test_eitn40_status_word() -> None:
    words = [0] * 27
    assert eitn40_words(0xA0, bytes(54)) == words
    assert eitn40_words(0xA0, bytes(53)) is None
    words[26] = 0xFFFF
    assert eitn40_fields(words)["status"] == "SEAL_BROKEN"
    words[26] = 0x0011
    assert eitn40_fields(words)["status"] == "LOW_BATTERY SENSOR_RADIATOR_OPEN"
    words[2] = 0xFFF0  # radiator temperature is signed, 1/16 degree
    assert eitn40_fields(words)["temp_radiator_c"] == -1


def test_compact_profile_elements() -> None:
    # 6-digit BCD elements (code B), monthly spacing; unset elements are all FF
    raw = bytes.fromhex("3BFE990000520000FFFFFF")
    assert compact_profile_values(raw) == [99, 52, None]
    assert compact_profile_values(bytes.fromhex("32FE01000200")) == [1, 2]  # 16-bit binary elements
    assert compact_profile_values(b"\x3b") == []


# Reference cases whose meters announce themselves with a (manufacturer, version, type) that a driver
# detects: they decode the same without naming the driver (hydroclima's second case is a version the
# driver does not claim, so it is left out).
_DETECTED = ("actislink", "aerius", "amiplus", "apator162", "apatoreitn", "apatoreitn40", "apatorna1", "axis",
             "bfw240radio", "brunatawm", "caltose", "compact5", "ebeco500", "ebzwmbe", "ei6500", "elster",
             "elstergas", "engelmann-faw", "evo868", "flonidangas", "hydrocalm4", "hydrodigit", "hydrus")


def test_reference_cases_are_detected() -> None:
    import json
    from pathlib import Path

    from tests.drivers.golden import diff, run_case

    root = Path(__file__).resolve().parents[2] / "fixtures" / "wmbusmeters_tests"
    bad = []
    for name in _DETECTED:
        for line in (root / f"{name}.jsonl").read_text().splitlines():
            case = json.loads(line)
            if case.get("xfail"):
                continue
            problems = diff(case["expected"], run_case({**case, "driver": None}))
            if problems:
                bad.append(f"{name} {case['telegram'][:24]}: {problems[:2]}")
    assert not bad, "\n".join(bad)


def test_generic_prints_identifiers_as_written() -> None:
    """A meter no driver claims: the fabrication number is text and keeps its leading zeros."""
    from decoders.output import to_wmbusmeters

    # OMS heat meter header under a manufacturer code no driver claims; 0C78 = 8-digit BCD fabrication no.
    frame = bytes.fromhex("1A4411114433221107047A0000000004130A0000000C7844332200")
    out = to_wmbusmeters(decode(frame))
    assert out["meter"] == "unknown"
    assert out["fabrication_no"] == "00223344"
    assert out["total_m3"] == 0.01


def test_driver_of_the_meter_behind_a_converter_gives_its_default_keys() -> None:
    """A radio converter (HYD, device type 0E) relays a Diehl meter whose long TPL header names it
    (DME 70 07, hydrus): without a driver name, that driver's published key decrypts the mode-5 payload."""
    from decoders.output import to_wmbusmeters

    frame = bytes.fromhex(
        "6644242328001081640E7266567464A51170071F0050052C411A08674048DD6BA82A0DF79FFD401309179A893A1BE3CE8EDC"
        "50C2A45CD7AFEC3B4CE765820BE8056C124A17416C3722985FFFF7FCEB7094901AB3A16294B511B9A740C9F9911352B42A7"
        "2FB3B0C")
    out = to_wmbusmeters(decode(frame))
    assert out["meter"] == "hydrus"
    assert out["total_m3"] == 137.291 and out["at_date"] == "2020-12-31"


def test_hcae2_reads_the_euris_layout() -> None:
    """The reference tests hcae2 on the Euris II frames of the corpus: same values, no error_flags field."""
    from decoders.output import to_wmbusmeters

    frame = bytes.fromhex(
        "7644C5250188018855087201880188C5255508010000002F2F0B6E332211426E110182016E1102C2016E110382026E1104C2"
        "026E110582036E1106C2036E110782046E1108C2046E110982056E1110C2056E111182066E1112C2066E111382076E1114C207"
        "6E111582086E1116C2086E111702FD172100")
    out = to_wmbusmeters(decode(frame, driver="hcae2"))
    assert out["meter"] == "hcae2" and "error_flags" not in out
    assert out["status"] == "MEASUREMENT RESET"
    assert out["current_consumption_hca"] == 112233
    assert out["consumption_at_set_date_hca"] == out["consumption_at_set_date_1_hca"] == 273
    assert out["consumption_at_set_date_17_hca"] == 5905


def test_dmehca_fields() -> None:
    """DME 80 08 allocator (a frame built for the test: 0B6E current units, 4B6E previous period)."""
    from decoders.output import to_wmbusmeters

    frame = bytes.fromhex("1C44A511785634128008" "7A2A000000" "0B6E250100" "4B6E990000" "02FD170000")
    frame = bytes([len(frame) - 1]) + frame[1:]
    out = to_wmbusmeters(decode(frame))
    assert out["meter"] == "dmehca"
    assert out["current_hca_hca"] == 125 and out["previous_hca_hca"] == 99 and out["status"] == "OK"


def test_ei6500_head_faults_become_alarms() -> None:
    from decoders.model import Alarm

    frame = bytes.fromhex(
        "58442515747209010C1A7A940000000BFD0F070101046D0007D82502FD17000082206CD825426CD0238440FF2C420F1100825"
        "0FD61010082506CD8258260FD6101008360FD3101000082606CD8258270FD61020082706CD825")
    res = decode(frame)
    assert res.driver == "ei6500"
    assert res.alarms == frozenset({Alarm.TAMPER})
    assert res.fields["status"] == "TAMPER_WHILE_REMOVED"


def test_engelmann_faw_flags_become_alarms() -> None:
    from decoders.model import Alarm

    hexframe = ("8f44c5145502004301077260402520c51400076b0000002f2f426cbf2c441322e9000001fd1720840113"
                "3c340100c40113ae2d010084021303290100c402137e21010084031313180100c403138a0e010084041337060100"
                "c40413b2fc00008405139af30000c4051322e90000840613c1df0000c40613cdd5000084071365ce0000c407136d"
                "c500008408138dbf0000")  # the reference's frame with the error flags set to 0x20 (leakage)
    res = decode(bytes.fromhex(hexframe))
    assert res.driver == "engelmann_faw"
    assert res.fields["status"] == "LEAKAGE"
    assert res.alarms == frozenset({Alarm.LEAK})


def test_eitn40_status_alarms() -> None:
    from decoders.model import Alarm

    good = "40440106139901000908A00000A10081016B013F00A2004E00000000000000000000000000000018001E0007007800100002002F01C700000000002D3006000000"
    broken = good[:-4] + "FFFF"  # seal word all ones
    assert decode(bytes.fromhex(good)).alarms == frozenset()
    res = decode(bytes.fromhex(broken))
    assert res.fields["status"] == "SEAL_BROKEN" and res.alarms == frozenset({Alarm.TAMPER_OPENING})
