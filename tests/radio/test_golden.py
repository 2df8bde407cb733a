"""Small golden captures in fixtures/iq (made by bench/sdr/make_golden.py) through the file source."""

from __future__ import annotations

import json

import pytest

from collector.sources import open_source

from .conftest import IQ_DIR

CAPTURES = sorted(p for p in IQ_DIR.iterdir() if p.name.endswith((".cu8", ".cs16", ".cf32", ".sigmf-data")))


def _jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_there_are_small_golden_captures():
    assert len(CAPTURES) >= 5
    assert all(p.stat().st_size < 1_000_000 for p in CAPTURES)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_golden_capture_decodes_to_its_truth(path):
    truth = _jsonl(path.with_name(path.name + ".truth.jsonl"))
    with open_source(f"iq:{path}") as src:
        frames = list(src)
        assert src.counters.rejected.get("CRC", 0) == 0
    assert [(f.telegram.hex().upper(), f.link_mode, f.frame_format) for f in frames] == \
        [(t["telegram"], t["mode"], t["frame_format"]) for t in truth]
    for f, t in zip(frames, truth, strict=True):
        assert abs(f.freq_offset_hz - t["freq_offset_hz"]) < 3000
        assert f.stream_time is not None and t["start_s"] < f.stream_time < t["end_s"]
        assert f.crc_ok is True and f.source == f"iq:{path}"


@pytest.mark.parametrize("path", [p for p in CAPTURES if p.with_name(p.name + ".expected.jsonl").exists()],
                         ids=lambda p: p.name)
def test_golden_capture_matches_recorded_output(path):
    expected = _jsonl(path.with_name(path.name + ".expected.jsonl"))
    with open_source(f"iq:{path}") as src:
        got = []
        while (rf := src.recv_radio(5)) is not None:
            got.append(rf.to_json_dict())
    assert [(g["telegram"], g["mode"], g["frame_format"]) for g in got] == \
        [(e["telegram"], e["mode"], e["frame_format"]) for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert abs(g["t"] - e["t"]) < 1.5e-6        # within a sample or two
        assert abs(g["snr_db"] - e["snr_db"]) < 0.5
        assert abs(g["rssi_db"] - e["rssi_db"]) < 0.5
        assert abs(g["freq_offset_hz"] - e["freq_offset_hz"]) < 300
