"""Compiled field plans (`SpecDriver.fields`) give exactly what field-by-field matching gives
(`SpecDriver.fields_unplanned`, which never uses a cached plan or memo).

Compared on the whole decode result (fields, alarms, status, memory of earlier telegrams), on every corpus
case, and on synthetic meters whose record layout changes from telegram to telegram under every
registered table-driven driver.
"""

from __future__ import annotations

import pytest

from decoders import DecoderState, decode
from decoders.build import build_telegram
from decoders.core import link_layer, walk_layers
from decoders.drivers import by_name, load_all, names
from decoders.drivers._lib import Field, Lookup, SpecDriver
from tests.drivers.golden import decode_frames, load_cases

CASES = load_cases()


def _decode_corpus() -> list[str]:
    return [repr(r) for r in decode_frames(CASES)]


def _planned_layouts() -> int:
    load_all()
    return sum(len(d.__dict__.get("_plans", {})) for d in map(by_name, names()) if isinstance(d, SpecDriver))


def test_corpus_fields_identical_planned_and_unplanned(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _decode_corpus()
    again = _decode_corpus()  # every layout's compiled plan (and memos) now reused
    assert _planned_layouts() > 50, "few plans compiled: the comparison would prove little"
    monkeypatch.setattr(SpecDriver, "fields", SpecDriver.fields_unplanned)
    reference = _decode_corpus()
    assert first == reference
    assert again == reference
    assert sum("fields={}" not in r for r in reference) > 200  # the results do carry fields


# Record blocks (DIF, DIFE/VIF/VIFE, data) that drivers' tables commonly name.
VOL = bytes.fromhex("0C13") + bytes.fromhex("78563412")
VOL_B = bytes.fromhex("0C13") + bytes.fromhex("11223344")
VOL_BAD = bytes.fromhex("0C13") + bytes.fromhex("AABBCCDD")       # invalid BCD: no value
VOL_INT = bytes.fromhex("0413") + bytes.fromhex("39300000")
VOL_1 = bytes.fromhex("4C13") + bytes.fromhex("00450000")         # storage 1
VOL_2 = bytes.fromhex("8C0113") + bytes.fromhex("00440000")       # storage 2
VOL_3 = bytes.fromhex("CC0113") + bytes.fromhex("00430000")       # storage 3
VOL_T1 = bytes.fromhex("8C1013") + bytes.fromhex("00120000")      # tariff 1
VOL_BACK = bytes.fromhex("0C933C") + bytes.fromhex("05000000")    # backward flow
DATE_1 = bytes.fromhex("426C") + bytes.fromhex("BF2C")            # storage 1 date
DATE_1B = bytes.fromhex("426C") + bytes.fromhex("DF2C")
DATE_2 = bytes.fromhex("826C") + bytes.fromhex("FFFF")            # storage 2, not set
DT = bytes.fromhex("046D") + bytes.fromhex("2A0EBF2C")
DT_B = bytes.fromhex("046D") + bytes.fromhex("2B0FC12C")
FLOW = bytes.fromhex("023B") + bytes.fromhex("1300")
MAX_FLOW = bytes.fromhex("123B") + bytes.fromhex("2000")
T_FLOW = bytes.fromhex("025A") + bytes.fromhex("D200")
T_RET = bytes.fromhex("025E") + bytes.fromhex("9600")
ENERGY = bytes.fromhex("0C06") + bytes.fromhex("27040000")
ENERGY_1 = bytes.fromhex("4C06") + bytes.fromhex("11040000")
HCA = bytes.fromhex("0B6E") + bytes.fromhex("120000")
HCA_1 = bytes.fromhex("4B6E") + bytes.fromhex("100000")
ERR = bytes.fromhex("02FD17") + bytes.fromhex("0000")
ERR_B = bytes.fromhex("02FD17") + bytes.fromhex("1100")
ON_TIME = bytes.fromhex("0C22") + bytes.fromhex("50120000")
FABR = bytes.fromhex("0C78") + bytes.fromhex("12345678")
# 8-byte integer energies (kWh, factor 1.0) around 1e15, where a printed integer turns into a float
BIG = [bytes.fromhex("0706") + v.to_bytes(8, "little", signed=True) for v in (10**15 - 1, 10**15, -(10**15) + 1)]

# One meter's telegrams: the layout changes (order, extra and missing records, duplicated headers,
# a value that cannot be read), and a repeated layout carries different data (memos must not stick).
SEQUENCE: tuple[bytes, ...] = (
    VOL + DATE_1 + VOL_1 + DT + FLOW + ERR,
    DT + VOL + VOL_1 + DATE_1,
    VOL + DATE_1 + VOL_1 + DT + FLOW + ERR,
    VOL_B + DATE_1B + VOL_1 + DT_B + FLOW + ERR_B,
    VOL_BAD + VOL + ERR_B + FLOW + VOL_BACK + VOL_T1 + VOL_2 + VOL_3 + DATE_2,
    VOL + VOL_B + MAX_FLOW + T_FLOW + T_RET + ON_TIME + FABR,
    ENERGY + ENERGY_1 + DATE_1 + VOL_INT + T_FLOW + T_RET + FLOW + ERR,
    HCA + HCA_1 + DATE_1 + DT + ERR_B,
    HCA + HCA_1 + DATE_1B + DT_B + ERR,
    VOL,
    VOL_B + DATE_1 + VOL_1 + DT + FLOW + ERR,
    BIG[0] + ERR, BIG[1] + ERR, BIG[2] + ERR, BIG[0] + ERR,
)


def _spec_drivers() -> list[str]:
    load_all()
    return sorted(n for n in names() if isinstance(by_name(n), SpecDriver))


def _decode_sequence(driver: str, device_type: int) -> list[str]:
    state = DecoderState()
    out = []
    for n, records in enumerate(SEQUENCE * 2):
        raw = build_telegram(mfct="ABC", meter_id="31415926", device_type=device_type, acc=n,
                             sts=(0, 0x04, 0x10, 0)[n % 4], records=records)
        out.append(repr(decode(raw, state=state, driver=driver)))
    return out


@pytest.mark.parametrize("device_type", [0x07, 0x04, 0x08])
def test_changing_layouts_identical_planned_and_unplanned(monkeypatch: pytest.MonkeyPatch,
                                                          device_type: int) -> None:
    drivers = _spec_drivers()
    assert len(drivers) > 40
    planned = {d: _decode_sequence(d, device_type) for d in drivers}
    monkeypatch.setattr(SpecDriver, "fields", SpecDriver.fields_unplanned)
    reference = {d: _decode_sequence(d, device_type) for d in drivers}
    for d in drivers:
        assert planned[d] == reference[d], d
    # the synthetic records do reach the tables: many drivers print fields from them
    with_fields = [d for d in drivers if any("fields={}" not in r and "Decoded(" in r for r in reference[d])]
    assert len(with_fields) > 30


class _Colliding(SpecDriver):
    """Not registered: a table whose fields compete for names, take the n-th record and skip records
    without a value, the cases where the compiled plan must keep the first writer."""

    name = "test_colliding"
    status = "fields"
    spec = (
        Field("total", "volume", "m3", storage=None, nth=2),
        Field("total", "volume", "m3"),                       # same name: only if the first was skipped
        Field("history_{storage}", "volume", "m3", storage=range(0, 4)),
        Field("history_1", "volume", "m3", storage=0),         # taken by the template when storage 1 exists
        Field("when", ("date", "datetime"), "date", kind="date", storage=None),
        Field("status", "error_flags", kind="lookup", status=True,
              lookup=Lookup(((0x01, "LEAK"), (0x10, "DRY")), 0xFF, "OK", "ERR")),
    )


@pytest.mark.parametrize("records", SEQUENCE, ids=range(len(SEQUENCE)))
def test_name_collisions_identical_planned_and_unplanned(records: bytes) -> None:
    raw = build_telegram(mfct="ABC", meter_id="27182818", records=records)
    drv = _Colliding()
    got, want = [], []
    for fields, sink in ((drv.fields, got), (drv.fields_unplanned, want), (drv.fields, got)):
        tg = link_layer(raw)
        walk_layers(tg)
        assert drv.payload(tg) is None
        sink.append(fields(tg))
    assert got == [want[0], want[0]]
