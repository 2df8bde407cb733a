"""Behaviour of the i-m family drivers beyond the reference telegrams: the branches those telegrams do not
reach (security modes handed to a driver, the forwarded-telegram container, the other half of a month)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decoders import DecoderState, KeyStore, decode
from decoders.model import Alarm, Decoded, Reject, Rejection
from tests.drivers.golden import diff, run_case

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "wmbusmeters_tests"


def _case(driver: str, n: int = 1) -> dict:
    return [json.loads(s) for s in (CASES / f"{driver}.jsonl").read_text().splitlines() if s.strip()][n - 1]


def test_unimplemented_security_mode_only_for_a_driver_that_takes_it() -> None:
    t = bytes.fromhex(_case("landisgyrgas")["telegram"])
    res = decode(t)
    assert isinstance(res, Decoded) and res.driver == "landisgyrgas"
    assert res.security == "tpl_mode_9" and res.decryption == "not_decrypted"
    assert res.readings == [] and res.fields == {"status": "ALARM UNKNOWN_20"}
    other = bytearray(t)
    other[8] = 0x51  # another version: no driver takes mode 9 for it
    rej = decode(bytes(other))
    assert isinstance(rej, Rejection) and rej.reason is Reject.UNSUPPORTED_SECURITY


def test_forwarded_wmbus_telegram_needs_its_key() -> None:
    c = _case("lansenco2")
    t = bytes.fromhex(c["telegram"])
    good = KeyStore()
    good.add(c["meter_id"], c["key"])
    ok = decode(t, keys=good)
    assert isinstance(ok, Decoded) and ok.driver == "lansenco2" and ok.fields["co2_counter"] == 616
    wrong = KeyStore()
    wrong.add(c["meter_id"], "00" * 16)
    rej = decode(t, keys=wrong)
    assert isinstance(rej, Rejection) and "forwarded wM-Bus telegram" in rej.detail


def test_forwarded_container_with_a_bad_length_keeps_the_gateway_records() -> None:
    c = _case("lansenco2")
    t = bytearray.fromhex(c["telegram"])
    i = t.index(bytes.fromhex("0DFD3B"))
    t[i + 4] ^= 0x01   # the inner frame's L byte no longer matches the container length
    t[-2] = sum(t[4:-2]) & 0xFF   # the wired frame's checksum over C field .. data
    res = decode(bytes(t), driver="lansenco2")
    assert isinstance(res, Decoded)
    assert "co2_counter" not in res.fields
    assert any(r.quantity == "wireless_container" for r in res.readings)


def test_mkradio3a_first_half_of_month_splits_history_bytes_the_other_way() -> None:
    t = bytearray.fromhex(_case("mkradio3a")["telegram"])
    p = 11  # payload after the CI byte
    raw = t[p + 2] | t[p + 3] << 8
    raw = (raw & ~0x1F) | 10   # day 10 of the same month
    t[p + 2], t[p + 3] = raw & 0xFF, raw >> 8
    f = decode(bytes(t)).fields
    hist = [(t[p + 8 + 3 * k], t[p + 9 + 3 * k]) for k in range(2)]
    assert f["target_date"] == "2024-11-10"
    assert f["target_m3"] == hist[0][0] / 10                      # this month: first byte alone
    assert f["last_oct_m3"] == (hist[0][1] + hist[1][0]) / 10     # last month spans two entries
    assert f["total_m3"] == 948.8


def test_minomess_named_error_bits_and_alarms() -> None:
    t = bytearray.fromhex("6644496A4425155518377251413121496A0116360050052F2F0C1355000000026CEC2182046CE121"
                          "8C0413000000808D0493132C33FE00008000008000008000008000008000008000008000008000"
                          "008000008000008000008000008000008002FD1700002F2F")
    i = t.index(bytes.fromhex("02FD17")) + 3
    t[i], t[i + 1] = 0x20, 0x00          # 0x0020: leaking now
    res = decode(bytes(t), state=DecoderState())
    assert isinstance(res, Decoded) and res.driver == "minomess"
    assert res.fields["status"] == "LEAKING"
    assert Alarm.LEAK in res.alarms


# i-m reference drivers whose meters announce a (manufacturer, version, type) their driver detects: the
# cases decode the same without naming the driver (izarv2 is left out: izar claims the same meters).
_DETECTED = ("ime", "istaheat", "istawater", "itron", "izar", "joyh100", "kadenwater", "kamheat", "kampress",
             "kamwater", "landisgyrgas", "lansenco2", "lansenpu", "lansensm", "lse_07_17", "lse_08",
             "metronahca", "microclima", "minomess", "mkradio3", "mkradio3a", "multical303")


@pytest.mark.parametrize("driver", _DETECTED)
def test_reference_cases_decode_without_the_driver_name(driver: str) -> None:
    for line in (CASES / f"{driver}.jsonl").read_text().splitlines():
        case = json.loads(line)
        if case.get("xfail"):
            continue
        got = run_case({**case, "driver": None})
        assert not [d for d in diff(case["expected"], got)], (driver, case["telegram"][:24])
