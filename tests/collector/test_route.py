from __future__ import annotations

import datetime as dt

from collector.route import HEARD, READ, UNREAD, RouteProgress
from collector.simdrive import telegram
from decoders import decode
from decoders.frame import Frame, Position
from sync.routesheet import RouteMeter, RouteSheet

T0 = dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.UTC)  # a Wednesday, 12:00 in Warsaw


def sheet() -> RouteSheet:
    return RouteSheet("R", [
        RouteMeter("00000001", "APA", previous_reading_m3=10.0, min_consumption_m3=0.5, max_consumption_m3=20.0,
                   transmit_interval_s=16),
        RouteMeter("00000002", "APA", previous_reading_m3=10.0, max_consumption_m3=20.0, transmit_interval_s=120),
        RouteMeter("00000003", previous_reading_m3=10.0, transmit_interval_s=16,
                   transmit_window="Sat 08:00-12:00"),
        RouteMeter("00000004", "APA", transmit_window="Mon-Fri 08:00-12:30"),
    ])


def heard(meter: str, litres: int, acc: int = 1, *, mfct: str = "APA", t: float = 0, status: int = 0,
          rssi: float = -80.0, pos: Position | None = None):
    f = Frame(telegram(mfct, meter, 0x14, 7, acc, litres, status=status), T0 + dt.timedelta(seconds=t), "t",
              rssi_dbm=rssi, position=pos)
    return f, decode(f.telegram)


def test_counts_and_plausibility():
    rp = RouteProgress(sheet())
    assert rp.counts()[UNREAD] == 4
    p = rp.observe(*heard("00000001", 15_000))          # +5 m3: fine
    assert p.status == READ and p.implausible is None and p.consumption_m3 == 5.0
    p = rp.observe(*heard("00000002", 9_000))           # below the previous reading
    assert p.implausible == "below_previous"
    p = rp.observe(*heard("00000003", 40_000))          # +30 > no max: fine; mfct not pinned on the sheet
    assert p.status == READ and p.implausible is None
    c = rp.counts()
    assert (c[READ], c[UNREAD], c["implausible"], c["alarmed"]) == (3, 1, 1, 0)
    # a new reading re-evaluates the limits
    p = rp.observe(*heard("00000001", 40_000, acc=2, t=16))
    assert p.implausible == "above_max" and p.times_heard == 2
    p = rp.observe(*heard("00000001", 10_100, acc=3, t=32))
    assert p.implausible == "below_min"


def test_late_older_transmission_does_not_overwrite():
    rp = RouteProgress(sheet())
    rp.observe(*heard("00000001", 15_000, acc=2, t=20))
    p = rp.observe(*heard("00000001", 14_000, acc=1, t=4))
    assert p.volume_m3 == 15.0 and p.first_heard == T0 + dt.timedelta(seconds=4)


def test_duplicates_count_receptions_not_transmissions():
    rp = RouteProgress(sheet())
    f, r = heard("00000001", 15_000, rssi=-90)
    rp.observe(f, r)
    p = rp.observe(f, r, first=False, rssi=-60.0)
    assert p.times_heard == 1 and p.receptions == 2 and p.best_rssi == -60.0


def test_rejected_frames_mark_heard_not_read():
    from decoders.model import Identity, Reject, Rejection

    rp = RouteProgress(sheet())
    f, _ = heard("00000004", 1)
    rej = Rejection(Reject.NO_KEY, "encrypted", f.telegram, Identity("APA", "00000004", 0x14, 7))
    p = rp.observe(f, rej)
    assert p.status == HEARD and p.last_reject == "NO_KEY"
    assert rp.counts()[HEARD] == 1


def test_alarm_from_status_byte_and_position_of_best_rssi():
    rp = RouteProgress(sheet())
    rp.observe(*heard("00000001", 15_000, status=0x03, rssi=-90, pos=Position(50.0, 18.0)))
    p = rp.observe(*heard("00000001", 15_000, acc=2, status=0x04, rssi=-70, pos=Position(50.1, 18.1)))
    assert p.alarms in (["low_battery"], ["status_power_low"]) and (p.lat, p.lon) == (50.1, 18.1)
    assert rp.counts()["alarmed"] == 1
    assert rp.alarms()[0]["meter_id"] == "00000001"


def test_out_of_route_kept_and_listed():
    rp = RouteProgress(sheet())
    rp.observe(*heard("00000001", 1, mfct="KAM"))   # same id, other manufacturer: not ours
    rp.observe(*heard("55555555", 1, mfct="TCH"))
    rp.observe(*heard("55555555", 1, mfct="TCH", acc=2, t=10))
    foreign = {(f.manufacturer, f.meter_id): f for f in rp.out_of_route()}
    assert set(foreign) == {("KAM", "00000001"), ("TCH", "55555555")}
    assert foreign[("TCH", "55555555")].times_heard == 2
    assert rp.counts()["out_of_route"] == 2 and rp.counts()[READ] == 0


def test_out_of_route_memory_is_bounded():
    rp = RouteProgress(sheet(), max_foreign=10)
    for i in range(50):
        rp.observe(*heard(f"{90000000 + i:08d}", 1))
    assert rp.counts()["out_of_route"] == 10 and rp.foreign_evicted == 40


def test_at_risk():
    rp = RouteProgress(sheet())
    risk = {r["meter_id"]: r for r in rp.at_risk(T0, speed_kmh=30)}
    assert "00000001" not in risk                          # 16 s at 30 km/h: 1.5 telegrams per pass
    assert "0.2 telegrams" in risk["00000002"]["reasons"][0]  # 120 s interval
    assert "outside transmit window" in risk["00000003"]["reasons"][0]
    assert "closes 12:30" in risk["00000004"]["reasons"][0]
    # slower driving removes the interval risk; reading the meter removes it from the list
    assert "00000002" not in {r["meter_id"] for r in rp.at_risk(T0, speed_kmh=5)}
    rp.observe(*heard("00000002", 11_000))
    assert "00000002" not in {r["meter_id"] for r in rp.at_risk(T0, speed_kmh=30)}


def test_survey_mode_without_sheet():
    rp = RouteProgress()
    rp.observe(*heard("00000001", 1))
    assert rp.counts()["total"] == 0 and rp.counts()["out_of_route"] == 1
