"""Data records: VIF tables, codings, dates, LVAR, fillers, tails and typed errors."""

from __future__ import annotations

import datetime as dt

import pytest

from decoders.model import Reject
from decoders.records import RecordError, bcd_value, date_g, datetime_f, datetime_i, parse_records, time_j


def recs(hexstr: str):
    data = bytes.fromhex(hexstr)
    readings, mfct, more, _ = parse_records(data, 0, len(data))
    return readings, mfct, more


def one(hexstr: str):
    readings, _, _ = recs(hexstr)
    assert len(readings) == 1
    return readings[0]


def test_volume_scales():
    assert one("0C1378563412").value == pytest.approx(12345.678)   # BCD8, litres
    assert one("0414E8030000").value == pytest.approx(10.0)        # int32, 10 L
    assert one("0416E8030000").value == 1000                       # m3
    r = one("0C1378563412")
    assert (r.quantity, r.unit, r.storage, r.function, r.dif_vif) == ("volume", "m3", 0, "instantaneous", "0C13")


def test_energy_power_flow_temperature():
    assert one("0406D2040000").value == pytest.approx(1234)         # kWh
    assert one("0403D2040000").value == pytest.approx(1.234)        # Wh -> kWh
    assert one("022B6400").value == pytest.approx(0.1)              # W -> kW
    assert one("023B1027").value == pytest.approx(10.0)             # L/h -> m3/h
    r = one("025A2301")
    assert (r.quantity, r.unit, r.value) == ("flow_temperature", "C", pytest.approx(29.1))
    assert one("025E2301").quantity == "return_temperature"
    assert one("02622C01").quantity == "temperature_difference"
    assert one("02FD1A0100").quantity == "digital_output"


def test_durations_in_hours():
    assert one("0422B8220000").value == 8888            # operating hours
    assert one("0423010000 00".replace(" ", "")).value == 24  # days
    assert one("0227A001").quantity == "operating_time"


def test_storage_tariff_subunit_function():
    r = one("8401130A000000")   # DIF 84 DIFE 01 -> storage 2
    assert r.storage == 2
    r = one("C400130A000000")   # storage bit in DIF + DIFE storage 0 -> 1
    assert r.storage == 1
    r = one("C401130A000000")   # DIF bit (LSB) + DIFE nibble 1 (next 4 bits) -> 3
    assert r.storage == 3
    r = one("8410130A000000")   # tariff 1
    assert r.tariff == 1 and r.storage == 0
    r = one("8440130A000000")   # subunit 1
    assert r.subunit == 1
    r = one("848110130A000000")   # 2 DIFEs: storage 2, tariff 4
    assert r.storage == 2 and r.tariff == 4
    assert one("1413E8030000").function == "maximum"
    assert one("2413E8030000").function == "minimum"
    assert one("3413E8030000").function == "error"


def test_fd_fb_tables_and_combinable_vifes():
    r = one("04FD17AABBCCDD")
    assert (r.quantity, r.value) == ("error_flags", 0xDDCCBBAA)
    r = one("02FD74F401")
    assert r.quantity == "remaining_battery" and r.value == 500 * 24
    r = one("02FD4864 00".replace(" ", ""))   # 10^-1 V
    assert r.quantity == "voltage" and r.value == pytest.approx(10.0)
    r = one("02FB1AAE01")
    assert r.quantity == "relative_humidity" and r.value == pytest.approx(43.0)
    r = one("0493 3C E8030000".replace(" ", ""))  # volume, VIFE 3C backward
    assert r.vifes == ("backward",) and r.value == pytest.approx(1.0)
    r = one("0493 3B E8030000".replace(" ", ""))
    assert r.vifes == ("forward",)
    r = one("0493 75 E8030000".replace(" ", ""))  # multiplicative 10^(5-6)
    assert r.value == pytest.approx(0.1) and r.vifes == ("scaled",)
    r = one("04ED39 E8030000".replace(" ", ""))   # 0x6D + VIFE 39 start date of
    assert r.vifes == ("start_date",)


def test_bcd_negative_and_invalid():
    assert bcd_value(bytes.fromhex("785634F1")) == -1345678   # top nibble F: negative
    assert bcd_value(bytes.fromhex("785634F0")) == -345678
    assert bcd_value(bytes.fromhex("7856A412")) is None
    r = one("0C13785634F1")
    assert r.value == pytest.approx(-1345.678)
    r = one("0C13FFFFFFFF")
    assert r.value is None and r.raw == b"\xff" * 4


def test_integers_and_reals():
    assert one("0113FF").value == pytest.approx(-0.001)        # int8 signed
    assert one("0613010000000000").value == pytest.approx(0.001)
    assert one("0713FFFFFFFFFFFFFFFF").value == pytest.approx(-0.001)
    assert one("05130000803F").value == pytest.approx(0.001)    # real32 1.0 litres
    assert one("0278FFFF").value == 0xFFFF                      # fabrication number: unsigned


def test_dates_and_times():
    assert date_g(bytes.fromhex("9F2C")) == dt.date(2020, 12, 31)
    assert date_g(bytes.fromhex("FFFF")) is None
    assert datetime_f(bytes.fromhex("1E02DE21")) == dt.datetime(2022, 1, 30, 2, 30)
    assert datetime_f(bytes.fromhex("9E02DE21")) is None       # IV bit
    assert datetime_f(bytes.fromhex("1E5C11DA")) is None       # hour 28
    assert datetime_i(bytes.fromhex("0A1E0CD12A00")) == dt.datetime(2022, 10, 17, 12, 30, 10)
    assert time_j(bytes.fromhex("0A1E0C")) == dt.time(12, 30, 10)
    r = one("046D1E02DE21")
    assert r.value == dt.datetime(2022, 1, 30, 2, 30)
    r = one("066D0A1E0CD12A00")
    assert r.value == dt.datetime(2022, 10, 17, 12, 30, 10)
    r = one("426C9F2C")
    assert r.value == dt.date(2020, 12, 31) and r.storage == 1


def test_lvar_text_bcd_binary():
    r = one("0DFD0C054443424140")   # text, sent reversed
    assert r.value == "@ABCD" and r.quantity == "model_version"
    assert one("0D13C3563412").value == pytest.approx(123.456)
    assert one("0D13D3563412").value == pytest.approx(-123.456)
    assert one("0DFF01E3010203").value == b"\x01\x02\x03"
    r = one("0DFD11F0" + "00" * 16)           # 4*(0xF0-0xEC) = 16 bytes binary
    assert r.value == bytes(16)
    with pytest.raises(RecordError) as e:
        recs("0D13F8")
    assert e.value.reason == Reject.BAD_RECORD


def test_fillers_tails_and_readout():
    readings, mfct, more = recs("2F2F0C13785634122F2F0F0102030405")
    assert len(readings) == 1 and mfct == bytes.fromhex("0102030405") and not more
    readings, mfct, more = recs("0C13785634121FAABB")
    assert mfct == bytes.fromhex("AABB") and more
    readings, _, _ = recs("7F0C1378563412")
    assert len(readings) == 1


def test_plain_text_unit():
    r = one("047C03726170E8030000")   # unit "par" reversed = "rap"? sent reversed -> "par"
    assert r.unit == "par" and r.value == 1000


@pytest.mark.parametrize("bad,reason", [
    ("0C137856", Reject.TRUNCATED_RECORD),      # data cut
    ("0C", Reject.TRUNCATED_RECORD),            # no VIF
    ("84", Reject.TRUNCATED_RECORD),            # DIFE missing
    ("0CFD", Reject.TRUNCATED_RECORD),          # FD without VIFE
    ("0C93", Reject.TRUNCATED_RECORD),          # VIFE missing
    ("3F13", Reject.BAD_RECORD),                # reserved special DIF
    ("8080808080808080808080800013", Reject.BAD_RECORD),  # > 10 DIFEs
    ("0D13C9", Reject.TRUNCATED_RECORD),        # LVAR longer than the rest
])
def test_typed_errors(bad, reason):
    with pytest.raises(RecordError) as e:
        recs(bad)
    assert e.value.reason == reason


def test_partial_records_kept_in_error():
    with pytest.raises(RecordError) as e:
        recs("0C13785634120C1378")
    assert len(e.value.readings) == 1


def test_compact_frame_learned_and_crc_checked():
    from decoders import DecoderState, decode
    from decoders.build import build_telegram
    from decoders.crc import crc16_en13757
    from decoders.records import format_signature

    records = bytes.fromhex("0C1378563412426C9F2C")
    headers = bytes.fromhex("0C13426C")
    values = bytes.fromhex("785634129F2C")

    def compact(crc: int) -> bytes:
        t = bytearray(build_telegram(ci=0x7B, records=b"", meter_id="55556666"))
        t += format_signature(headers).to_bytes(2, "little") + crc.to_bytes(2, "little") + values
        t[0] = len(t) - 1
        return bytes(t)

    good = compact(crc16_en13757(records))
    state = DecoderState()
    assert decode(good, state=state).reason.value == "COMPACT_FORMAT_UNKNOWN"
    assert decode(build_telegram(ci=0x7A, records=records, meter_id="55556666"), state=state).ok
    r = decode(good, state=state)
    assert r.ok and r.compact and r.fields["total_m3"] == 12345.678 and not r.notes
    r = decode(compact(0x1234), state=state)
    assert r.ok and any("data CRC" in n for n in r.notes)
