"""The driver mechanism: registration, lookup by name and (M, V, T), hooks, default keys, fallback."""

from __future__ import annotations

import pytest

import decoders.drivers as registry
from decoders import DecoderState, KeyStore, decode
from decoders.build import build_telegram
from decoders.drivers.base import Driver, FieldSpec, reject, sts_text, tg_parse_records
from decoders.model import Alarm, Reject

KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
RECORDS = bytes.fromhex("0C1378563412" "4C1311223344" "426C9F2C")


@pytest.fixture
def test_drivers():
    """Register two throwaway families, and remove them again so other tests see the real registry."""
    before_names, before_mvt = dict(registry._BY_NAME), dict(registry._BY_MVT)

    @registry.register
    class Declarative(Driver):
        name = "test_declarative"
        aliases = ("test_alias",)
        media = "water"
        meter_type = "WaterMeter"
        detect = frozenset({("ZZZ", 0xFE, 0x07)})
        default_keys = (KEY,)
        field_specs = (
            FieldSpec("total_m3", "volume"),
            FieldSpec("target_m3", "volume", storage=1),
            FieldSpec("target_date", "date", storage=1),
        )

        def status_fields(self, tg):
            return {"status": sts_text(tg.sts)}

        def alarms(self, tg):
            return (frozenset({Alarm.LEAK}) if tg.sts and tg.sts & 0x20 else frozenset()), {"sts": tg.sts or 0}

    @registry.register
    class Proprietary(Driver):
        name = "test_proprietary"
        detect = frozenset({("ZZZ", 0xFD, 0x07)})

        def payload(self, tg):
            if tg.ci != 0xA0:
                return super().payload(tg)
            plain = bytes(b ^ 0x5A for b in tg.payload)  # a toy "manufacturer scrambling"
            if plain[:1] != b"\x2f":
                return reject(tg, Reject.WRONG_KEY, "toy check byte missing")
            tg.security = "mfct_toy"
            tg.decryption = "descrambled"
            return tg_parse_records(tg, plain[1:])

        def fields(self, tg):
            return {"total_m3": tg.readings[0].value}

    yield Declarative, Proprietary
    registry._BY_NAME.clear()
    registry._BY_NAME.update(before_names)
    registry._BY_MVT.clear()
    registry._BY_MVT.update(before_mvt)


def test_detection_by_mvt_and_declarative_fields(test_drivers):
    t = build_telegram(mfct="ZZZ", version=0xFE, device_type=7, sts=0x20, records=RECORDS)
    r = decode(t)
    assert r.ok and r.driver == "test_declarative" and r.media == "water" and r.meter_type == "WaterMeter"
    # STS 0x20 is a manufacturer bit: no standard flag, so "OK"; the driver maps it to a leak
    assert r.fields == {"total_m3": 12345.678, "target_m3": 44332.211, "target_date": "2020-12-31",
                        "status": "OK"}
    assert r.alarms == frozenset({Alarm.LEAK}) and r.alarm_bits == {"sts": 0x20}
    assert registry.by_name("test_alias").name == "test_declarative"


def test_named_driver_wins_over_detection(test_drivers):
    t = build_telegram(mfct="ABC", version=1, device_type=7, records=RECORDS)
    assert decode(t).driver is None
    assert decode(t, driver="test_declarative").driver == "test_declarative"
    r = decode(t, driver="no_such_driver")
    assert r.driver is None and any("unknown" in n for n in r.notes)


def test_default_keys_used_when_none_configured(test_drivers):
    t = build_telegram(mfct="ZZZ", version=0xFE, device_type=7, mode=5, key=KEY, records=RECORDS)
    r = decode(t)
    assert r.ok and r.decryption == "decrypted" and r.fields["total_m3"] == 12345.678
    wrong = KeyStore.single(bytes(16))
    assert decode(t, keys=wrong).reason == Reject.WRONG_KEY  # a configured key is not second-guessed


def test_manufacturer_ci_goes_to_the_payload_hook(test_drivers):
    body = bytes(b ^ 0x5A for b in b"\x2f" + RECORDS)
    t = bytearray(build_telegram(mfct="ZZZ", version=0xFD, device_type=7, ci=0x78, records=b""))
    t[10] = 0xA0
    t += body
    t[0] = len(t) - 1
    r = decode(bytes(t))
    assert r.ok and r.security == "mfct_toy" and r.decryption == "descrambled" and r.ci_chain == ("TPL:A0",)
    assert r.fields == {"total_m3": 12345.678}
    bad = bytearray(t)
    bad[11] ^= 0xFF
    assert decode(bytes(bad)).reason == Reject.WRONG_KEY
    # the same CI without a driver that claims it: a typed rejection, not garbage
    other = bytearray(t)
    other[2:4] = build_telegram(mfct="ZZY")[2:4]
    assert decode(bytes(other)).reason == Reject.UNKNOWN_CI


def test_generic_fallback_names_standard_records():
    recs = bytes.fromhex("0C1378563412" "4C1311223344" "426C9F2C" "023B1027" "025A2301" "04FD17AA000000"
                         "0406D2040000" "04226400 0000".replace(" ", ""))
    t = build_telegram(mfct="QQQ", version=9, device_type=7, sts=0x04, records=recs)
    r = decode(t, state=DecoderState())
    assert r.ok and r.driver is None
    f = r.fields
    assert f["total_m3"] == 12345.678 and f["target_m3"] == 44332.211 and f["target_date"] == "2020-12-31"
    assert f["volume_flow_m3h"] == 10.0 and f["flow_temperature_c"] == 29.1
    assert f["error_flags"] == 0xAA and f["total_energy_consumption_kwh"] == 1234
    assert f["on_time_h"] == 100 and f["status"] == "POWER_LOW"
    assert Alarm.LOW_BATTERY in r.alarms
