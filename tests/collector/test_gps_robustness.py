"""GPS input a mutation campaign (2026-11-25) got through or crashed on: each is now a counted bad sentence
or report, never a fix, never an exception out of feed_line / feed_report."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import given
from hypothesis import strategies as st

from collector.gps import GpsdGps, NmeaGps

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
GOOD_TPV = {"class": "TPV", "mode": 3, "lat": 50.35, "lon": 18.21, "speed": 8.3, "time": "2026-11-25T09:00:00.000Z"}


def nmea(body: str) -> str:
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return f"${body}*{cs:02X}"


def test_nmea_position_off_the_globe_is_bad_even_with_a_valid_checksum():
    g = NmeaGps("x")
    for body in ("GNRMC,101010.00,A,50021.12345,N,01812.54321,E,15.2,90.0,251126,,,A",   # latitude 500
                 "GPGGA,101011.00,5021.12345,N,018512.54321,E,2,10,1.0,200.0,M,40.0,M,,",   # longitude 185
                 "GNRMC,101010.00,A,5021.12345,N,01812.54321,E,-15.2,90.0,251126,,,A"):     # speed < 0
        assert g.feed_line(nmea(body), at=T0) is None, body
    assert g.counters["bad"] == 3 and g.counters["fixes"] == 0
    assert g.current() is None


def test_gpsd_report_with_wrong_types_is_bad_not_an_exception():
    for change in ({"time": 10**30}, {"time": True}, {"time": 1.5}, {"mode": float("inf")},
                   {"lat": float("nan")}, {"lon": float("inf")}, {"lat": 1e30}, {"lon": -181},
                   {"speed": float("nan")}, {"speed": -1}):
        g = GpsdGps()
        assert g.feed_report(dict(GOOD_TPV, **change), at=T0) is None, change
        assert g.counters["bad"] == 1 and g.current() is None, change
    g = GpsdGps()
    assert g.feed_report(GOOD_TPV, at=T0) is not None and g.counters["bad"] == 0


_ANY = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.lists(st.integers(), max_size=2)


@given(st.dictionaries(st.sampled_from(sorted(GOOD_TPV)), _ANY, max_size=4))
def test_gpsd_any_field_values_give_a_sane_fix_or_none(change):
    g = GpsdGps()
    pos = g.feed_report(dict(GOOD_TPV, **change), at=T0)
    if pos is not None:
        assert math.isfinite(pos.lat) and -90 <= pos.lat <= 90 and math.isfinite(pos.lon) and -180 <= pos.lon <= 180
        assert pos.speed_kmh is None or (math.isfinite(pos.speed_kmh) and pos.speed_kmh >= 0)
