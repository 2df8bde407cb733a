"""GPS at its byte boundary: NMEA through a real pty and pyserial; gpsd's JSON protocol over real TCP."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time

import pynmea2
import pytest

from collector.gps import Gps, GpsdGps, GpsError, NmeaGps, open_gps, wait_for_fix
from decoders.frame import Position

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def rmc(lat: str, ns: str, lon: str, ew: str, knots: float, status: str = "A") -> str:
    return str(pynmea2.RMC("GP", "RMC", ("090000.00", status, lat, ns, lon, ew, f"{knots:.1f}", "0.0",
                                         "251126", "", "", "A"))) + "\r\n"


def gga(lat: str, lon: str, qual: str = "1") -> str:
    return str(pynmea2.GGA("GP", "GGA", ("090001.00", lat, "N", lon, "E", qual, "08", "0.9", "180.0", "M",
                                         "40.0", "M", "", ""))) + "\r\n"


def wait_until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_nmea_over_pty():
    master, slave = os.openpty()
    gps = NmeaGps(os.ttyname(slave), 9600).start()
    stop = threading.Event()

    def receiver():  # a GPS talks once a second whether anyone listens or not (pyserial flushes on open)
        while not stop.is_set():
            os.write(master, b"garbage without newline \x00\xff\n")
            os.write(master, b"$GPRMC,bad*01\r\n")
            os.write(master, rmc("5021.000", "N", "01813.200", "E", 16.2).encode())
            stop.wait(0.1)

    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    try:
        pos = wait_for_fix(gps, 5)
        assert pos is not None
        assert pos.lat == pytest.approx(50.35) and pos.lon == pytest.approx(18.22)
        assert pos.speed_kmh == pytest.approx(16.2 * 1.852)
        assert pos.fix_time == dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
        assert wait_until(lambda: gps.counters["bad"] >= 1)
        stop.set()
        t.join()
        # a GGA refines the position and keeps the last known speed
        n = gps.counters["fixes"]
        os.write(master, gga("5021.060", "01813.200").encode())
        assert wait_until(lambda: gps.counters["fixes"] > n)
        assert gps.current().lat == pytest.approx(50.351)
        assert gps.current().speed_kmh == pytest.approx(16.2 * 1.852)
    finally:
        stop.set()
        gps.stop()
        os.close(master)
        os.close(slave)


def test_nmea_no_fix_gives_no_position():
    g = NmeaGps("/dev/null")
    assert g.feed_line(rmc("5021.000", "N", "01813.200", "E", 0, status="V")) is None
    assert g.feed_line(gga("5021.000", "01813.200", qual="0")) is None
    assert g.current() is None


def test_position_at_receive_time_nearest_fix_within_max_age():
    g = Gps(max_age_s=5)
    for k in range(10):
        g.add_fix(Position(50.0 + k * 0.001, 18.0, 30.0), at=T0 + dt.timedelta(seconds=k))
    assert g.position_at(T0 + dt.timedelta(seconds=3.2)).lat == pytest.approx(50.003)
    assert g.position_at(T0 + dt.timedelta(seconds=3.7)).lat == pytest.approx(50.004)
    assert g.position_at(T0 + dt.timedelta(seconds=13)).lat == pytest.approx(50.009)
    assert g.position_at(T0 + dt.timedelta(seconds=15)) is None      # stale
    assert g.position_at(T0 - dt.timedelta(seconds=6)) is None
    assert Gps().position_at(T0) is None                              # no GPS at all


class FakeGpsd:
    """Speaks enough of gpsd's protocol: banner, waits for ?WATCH, then streams reports."""

    def __init__(self, reports: list[dict]):
        self.reports = reports
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.watched = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.sendall(b'{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}\n')
            buf = b""
            while b"?WATCH" not in buf:
                buf += conn.recv(1024)
            self.watched.set()
            conn.sendall(b'{"class":"DEVICES","devices":[]}\nnot json\n')
            for r in self.reports:
                conn.sendall(json.dumps(r).encode() + b"\n")
            time.sleep(3)

    def close(self):
        self.sock.close()


def test_gpsd_protocol():
    srv = FakeGpsd([
        {"class": "TPV", "mode": 1, "time": "2026-11-25T09:00:00.000Z"},
        {"class": "TPV", "mode": 3, "lat": 50.35, "lon": 18.22, "speed": 8.5, "time": "2026-11-25T09:00:01.000Z"},
    ])
    gps = open_gps(f"gpsd:127.0.0.1:{srv.port}").start()
    try:
        assert isinstance(gps, GpsdGps)
        pos = wait_for_fix(gps, 5)
        assert srv.watched.is_set()
        assert pos is not None and pos.lat == 50.35 and pos.speed_kmh == pytest.approx(30.6)
        assert pos.fix_time == dt.datetime(2026, 11, 25, 9, 0, 1, tzinfo=dt.UTC)
        assert gps.counters["bad"] == 1  # the "not json" line
    finally:
        gps.stop()
        srv.close()


def test_specs():
    assert type(open_gps(None)) is Gps and type(open_gps("none")) is Gps
    g = open_gps("nmea:/dev/ttyACM0:9600")
    assert (g.port, g.baudrate) == ("/dev/ttyACM0", 9600)
    assert open_gps("nmea:socket://localhost:5000").port == "socket://localhost:5000"
    assert open_gps("gpsd").port == 2947
    for bad in ("nmea", "gpsd:host:xx", "glonass:1"):
        with pytest.raises(GpsError):
            open_gps(bad)


def test_unreachable_gpsd_does_not_raise():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    g = open_gps(f"gpsd:127.0.0.1:{port}").start()
    assert wait_until(lambda: g.counters["reconnects"] >= 1)
    assert g.current() is None
    g.stop()
