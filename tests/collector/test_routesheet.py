from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.routesheet import RouteMeter, RouteSheet, RouteSheetError, TransmitWindow

WAW = ZoneInfo("Europe/Warsaw")


def sheet() -> RouteSheet:
    return RouteSheet("R-12", [
        RouteMeter("12345678", "APA", 0x14, 7, "ul. Piastowska 1", "K001", "SP1", 100.5, dt.date(2026, 5, 1),
                   0.0, 30.0, 16, "Mon-Fri 08:00-18:00", 50.35, 18.2, 1, "Apator JS", "psy"),
        RouteMeter("00000042", transmit_window="days 1-5 06:00-20:00; Sat", notes="piwnica, klucz u sąsiada"),
    ], name="Osiedle Piastów", due_date=dt.date(2026, 11, 30))


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_round_trip(tmp_path, suffix):
    s = sheet()
    s.dump(tmp_path / f"r{suffix}")
    assert RouteSheet.load(tmp_path / f"r{suffix}") == s


def test_billing_style_csv_with_bom_semicolons_and_aliases(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("\ufeffserial;mfct;prev_reading;window;latitude;longitude\n"
                 "1234;apa;12,5;Mon-Fri 08:00-18:00;50,1;18,2\n\n", encoding="utf-8")
    s = RouteSheet.load(p)
    assert s.route_id == "export"
    m = s.meters[0]
    assert (m.meter_id, m.manufacturer, m.previous_reading_m3, m.lat) == ("00001234", "APA", 12.5, 50.1)


@pytest.mark.parametrize("row,msg", [
    ("meter_id,previous_reading_m3\n12345678,abc\n", "not a number"),
    ("meter_id\n\n1234567890\n", "eight digits"),
    ("meter_id,manufacturer\n12345678,AP\n", "three-letter"),
    ("meter_id,min_consumption_m3,max_consumption_m3\n12345678,5,1\n", "min_consumption"),
    ("meter_id,transmit_window\n12345678,Funday 08:00-09:00\n", "Funday"),
    ("meter_id,lat\n12345678,95\n", "out of range"),
    ("meter_id\n12345678\n12345678\n", "twice"),
    ("address\nfoo\n", "meter_id is missing"),
])
def test_bad_csv_is_a_typed_error_naming_the_line(tmp_path, row, msg):
    p = tmp_path / "bad.csv"
    p.write_text(row)
    with pytest.raises(RouteSheetError, match=msg):
        RouteSheet.load(p)


def test_bad_json(tmp_path):
    p = tmp_path / "r.json"
    p.write_text('{"meters": [{"meter_id": "12345678", "version": 1.5}]}')
    with pytest.raises(RouteSheetError, match="version"):
        RouteSheet.load(p)
    p.write_text("{nope")
    with pytest.raises(RouteSheetError, match="not JSON"):
        RouteSheet.load(p)


def test_windows():
    w = TransmitWindow.parse("Mon-Fri 08:00-18:00")
    wed_noon = dt.datetime(2026, 11, 25, 12, 0, tzinfo=WAW)
    sat_noon = dt.datetime(2026, 11, 28, 12, 0, tzinfo=WAW)
    assert w.contains(wed_noon, WAW) and not w.contains(sat_noon, WAW)
    assert not w.contains(dt.datetime(2026, 11, 25, 18, 0, tzinfo=WAW), WAW)
    assert w.next_change(wed_noon, WAW) == dt.datetime(2026, 11, 25, 18, 0, tzinfo=WAW)
    first_days = TransmitWindow.parse("days 1-5 06:00-20:00")
    assert first_days.contains(dt.datetime(2026, 12, 3, 7, 0, tzinfo=WAW), WAW)
    assert not first_days.contains(wed_noon, WAW)
    assert TransmitWindow.parse("").always and TransmitWindow.parse("always").contains(sat_noon, WAW)


@given(st.lists(st.builds(
    RouteMeter,
    meter_id=st.integers(0, 99_999_999).map(lambda i: f"{i:08d}"),
    manufacturer=st.sampled_from([None, "APA", "KAM"]),
    version=st.none() | st.integers(0, 255),
    address=st.text(max_size=20).map(str.strip),
    previous_reading_m3=st.none() | st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
    transmit_interval_s=st.none() | st.floats(1, 3600).map(lambda x: round(x, 1)),
), max_size=8, unique_by=lambda m: (m.manufacturer, m.meter_id)))
def test_round_trip_property(tmp_path_factory, meters):
    d = tmp_path_factory.mktemp("rs")
    s = RouteSheet("r", meters)
    for suffix in (".csv", ".json"):
        s.dump(d / f"x{suffix}")
        got = RouteSheet.load(d / f"x{suffix}")
        assert got.meters == s.meters
