"""Damaged telegram logs: each minimal input a mutation campaign found (2026-11-25) is rejected with a
counted reason while the good lines around it still come out as frames; nothing escapes `recv`."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.sources.logs import LogSource, dumps_capture
from decoders.frame import Frame
from tests.sources.conftest import SAMPLE_A, SAMPLE_B

GOOD_CAPTURE = json.loads(dumps_capture([Frame.from_dict({
    "telegram": SAMPLE_A.hex(), "received_at": "2026-11-25T12:00:00+00:00", "source": "im871a:/dev/ttyUSB0",
    "link_mode": "T1", "rssi_dbm": -70.5, "position": {"lat": 50.1, "lon": 18.2}})]))


def read(tmp_path, lines: list[bytes], fmt: str | None):
    path = tmp_path / "in.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with LogSource(str(path), fmt) as src:
        frames = list(src)
    return frames, src


def rtl433(data: bytes, time: str) -> bytes:
    return json.dumps({"time": time, "model": "Wireless-MBus", "mode": "T", "data": data.hex()}).encode()


def test_deeply_nested_json_line_is_a_syntax_rejection(tmp_path):
    deep = b"[" * 100_000
    for fmt, good in (("capture", json.dumps(GOOD_CAPTURE).encode()), ("rtl433-json", rtl433(SAMPLE_A, "@1s"))):
        frames, src = read(tmp_path, [good, b"{\"a\":" + deep, good], fmt)
        assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_A], fmt
        assert src.counters.rejected == {"SYNTAX": 1}, fmt


def test_deeply_nested_json_first_line_does_not_break_sniffing(tmp_path):
    frames, src = read(tmp_path, [b"{\"a\":" + b"[" * 100_000, rtl433(SAMPLE_B, "@1s")], None)
    assert src.format == "rtl433-json"
    assert [f.telegram for f in frames] == [SAMPLE_B]
    assert src.counters.rejected == {"SYNTAX": 1}


def test_rtl433_offset_that_is_not_finite_is_rejected(tmp_path):
    for bad in ("@infs", "@nans", "@-inf"):
        frames, src = read(tmp_path, [rtl433(SAMPLE_A, "@0s"), rtl433(SAMPLE_B, bad), rtl433(SAMPLE_A, "@1s")],
                           "rtl433-json")
        assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_A], bad
        assert src.counters.rejected == {"SYNTAX": 1}, bad


def test_offset_past_the_calendar_is_rejected(tmp_path):
    lines = [f"telegram=|{SAMPLE_A.hex()}|+0".encode(), f"telegram=|{SAMPLE_B.hex()}|+1{'0' * 20}".encode(),
             f"telegram=|{SAMPLE_A.hex()}|+2".encode()]
    frames, src = read(tmp_path, lines, "simulation")
    assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_A]
    assert src.counters.rejected == {"SYNTAX": 1}
    assert src.rejections[0].raw == SAMPLE_B


def test_capture_line_with_a_field_of_the_wrong_type_is_rejected(tmp_path):
    for field, value in (("rssi_dbm", "abc"), ("rssi_dbm", True), ("snr_db", {}), ("link_mode", 5),
                         ("frame_format", []), ("source", 7), ("crc_ok", 0), ("crc_ok", "yes"),
                         ("stream_time", "1"), ("freq_offset_hz", [1]), ("position", {"lat": "x", "lon": 1}),
                         ("position", {"lat": 1, "lon": 2, "speed_kmh": "fast"})):
        bad = json.dumps(dict(GOOD_CAPTURE, **{field: value})).encode()
        good = json.dumps(GOOD_CAPTURE).encode()
        frames, src = read(tmp_path, [good, bad, good], "capture")
        assert len(frames) == 2, (field, value)
        assert src.counters.rejected == {"SYNTAX": 1}, (field, value)
        assert field.split("_")[0] in src.rejections[0].detail, (field, value, src.rejections[0].detail)


def test_capture_line_with_every_field_well_typed_still_replays(tmp_path):
    line = dict(GOOD_CAPTURE, snr_db=12, freq_offset_hz=-1500.5, stream_time=3, crc_ok=None, frame_format="A",
                position={"lat": 50, "lon": 18.25, "speed_kmh": 0})
    frames, src = read(tmp_path, [json.dumps(line).encode()], "capture")
    assert len(frames) == 1 and frames[0].snr_db == 12 and frames[0].position.lat == 50
    assert not src.counters.rejected


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                     max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(GOOD_CAPTURE) + ["extra"]), value=_JSON)
def test_capture_field_of_any_json_value_gives_a_frame_or_a_counted_rejection(tmp_path, field, value):
    good = json.dumps(GOOD_CAPTURE).encode()
    frames, src = read(tmp_path, [good, json.dumps(dict(GOOD_CAPTURE, **{field: value})).encode(), good], "capture")
    assert len(frames) + sum(src.counters.rejected.values()) == 3
    for f in frames:  # what came out must be what the van's wire format accepts
        assert f.rssi_dbm is None or type(f.rssi_dbm) in (int, float)
        assert f.link_mode is None or isinstance(f.link_mode, str)
        assert isinstance(f.source, str) and f.crc_ok in (None, True, False)


def test_rtl433_time_at_the_ends_of_the_calendar_dates_the_frame_when_read(tmp_path):
    """astimezone(UTC) overflowed inside recv for these; the wire format would refuse them anyway."""
    for bad in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31 23:59:59"):
        frames, src = read(tmp_path, [rtl433(SAMPLE_A, bad), rtl433(SAMPLE_B, "2026-11-25 12:00:00")], "rtl433-json")
        assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_B], bad
        assert frames[0].received_at.year >= 2026 and frames[1].received_at.year == 2026, bad


def test_capture_line_the_wire_format_would_refuse_is_rejected(tmp_path):
    good = json.dumps(GOOD_CAPTURE).encode()
    for field, value in (("received_at", "9999-12-31T23:59:59-14:00"), ("received_at", "1850-01-01T00:00:00"),
                         ("source", "im871a\x00"), ("link_mode", "T\x001"),
                         ("position", {"lat": 1, "lon": 2, "fix_time": "0001-01-01T00:00:00+14:00"}),
                         ("position", {"lat": 1, "lon": 2, "fix_time": 0})):
        frames, src = read(tmp_path, [good, json.dumps(dict(GOOD_CAPTURE, **{field: value})).encode(), good],
                           "capture")
        assert len(frames) == 2 and src.counters.rejected == {"SYNTAX": 1}, (field, value)
