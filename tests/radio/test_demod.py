"""The demodulator on synthetic signals: every mode and frame format, offsets, chip rates, impairments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.radio.iqformat import to_raw
from collector.radio.phy import MODES, telegram_chips
from collector.radio.synth import Burst, Scene, auto_gain, modulate, random_telegram, render

from .conftest import demod_all, synth_raw

MODE_FORMATS = [("T1", "A"), ("C1", "A"), ("C1", "B")]


def sync_time(b: Burst) -> float:
    """Where the sync word starts: after the preamble pairs."""
    pairs = b.preamble_pairs if b.preamble_pairs is not None else {"T1": 24, "C1": 16, "S1": 279}[b.mode]
    return b.start_s + 2 * pairs / (MODES[b.mode].chip_rate * (1 + b.rate_error))


@pytest.mark.parametrize("mode,fmt", MODE_FORMATS)
@pytest.mark.parametrize("offset", [-60e3, -25e3, 0.0, 30e3, 60e3])
@pytest.mark.parametrize("rate_error", [-0.01, 0.0, 0.01])
def test_every_format_across_offsets_and_chip_rates(mode, fmt, offset, rate_error, telegram):
    b = Burst(telegram, mode, fmt, 0.0041, 22, offset, rate_error, preamble_pairs=19 if mode == "T1" else None)
    frames, d = demod_all(synth_raw([b], seed=int(offset) % 97))
    assert len(frames) == 1, d.stats.to_dict()
    f = frames[0]
    assert (f.telegram, f.mode, f.frame_format) == (telegram, mode, fmt)
    assert abs(f.t - sync_time(b)) <= 2.5 / 1.6e6          # sample accurate
    assert abs(f.freq_offset_hz - offset) < 3e3
    assert 17 < f.snr_db < 26
    assert d.stats.crc_failures == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode_fmt=st.sampled_from(MODE_FORMATS), offset=st.floats(-60e3, 60e3), rate=st.floats(-0.01, 0.01),
       length=st.integers(10, 140), seed=st.integers(0, 2**16), fs=st.sampled_from([1.2e6, 1.6e6, 2.4e6]))
def test_property_high_snr_always_decodes(mode_fmt, offset, rate, length, seed, fs):
    mode, fmt = mode_fmt
    if fmt == "B" and length > 126:
        length = 126
    tg = random_telegram(np.random.default_rng(seed), length)
    b = Burst(tg, mode, fmt, 0.003, 25, offset, rate)
    frames, _ = demod_all(synth_raw([b], fs=fs, seed=seed), fs=fs)
    assert [(f.telegram, f.mode, f.frame_format) for f in frames] == [(tg, mode, fmt)]


def test_s1_and_t1_c1_with_the_tuner_between_the_channels(rng):
    bursts = [Burst(random_telegram(rng, 30), "S1", "A", 0.003, 22, 15e3, 0.002),
              Burst(random_telegram(rng, 42), "T1", "A", 0.045, 22, -20e3, 0.0),
              Burst(random_telegram(rng, 42), "C1", "B", 0.06, 22, 10e3, 0.0)]
    for fs in (1.6e6, 2.4e6):
        frames, _ = demod_all(synth_raw(bursts, fs=fs, centre=868.625e6), fs=fs, centre=868.625e6)
        assert [(f.telegram, f.mode) for f in frames] == [(b.telegram, b.mode) for b in bursts]


def test_chunked_streaming_equals_one_shot(rng):
    bursts = [Burst(random_telegram(rng, 42), m, f, 0.004 + 0.02 * i, 20, 5e3 * i, 0.001)
              for i, (m, f) in enumerate(MODE_FORMATS * 2)]
    raw = synth_raw(bursts)
    whole, _ = demod_all(raw)
    for chunk in (2 * 4096, 2 * 10007, 2 * 65536):
        parts, _ = demod_all(raw, chunk=chunk)
        assert [(f.telegram, f.sample) for f in parts] == [(f.telegram, f.sample) for f in whole]
    assert {f.telegram for f in whole} == {b.telegram for b in bursts}


def test_frames_come_out_soon_after_they_end_and_memory_stays_bounded(rng, telegram):
    from collector.radio.demod import Demodulator

    b = Burst(telegram, "T1", "A", 0.01, 20, 0.0, 0.0)
    raw = synth_raw([b], duration=2.0)
    d = Demodulator(1.6e6, 868.95e6, "cu8")
    chunk = 2 * 4096                              # 2.56 ms of air per feed
    end_sample = None
    for i in range(0, len(raw), chunk):
        out = d.feed(raw[i:i + chunk])
        assert len(d._buf) < 2 * int(0.05 * 1.6e6)    # never more than 50 ms held
        if out:
            end_sample = (i + chunk) // 2
            frame = out[0]
            break
    assert end_sample is not None and frame.telegram == telegram
    # emitted from the feed that reached 2 ms (+ one chunk) past the frame's last chip
    assert (end_sample - frame.end_sample) / 1.6e6 < 0.002 + chunk / 2 / 1.6e6


def test_noise_alone_gives_no_frames():
    scene = Scene(fs=1.6e6, centre_hz=868.95e6, duration_s=1.0, bursts=[], seed=3)
    raw = np.concatenate([to_raw(x, "cu8", 20.0).view(np.uint8) for x in render(scene)])
    frames, d = demod_all(raw)
    assert frames == [] and d.stats.frames == 0


def test_crc_failures_are_counted_never_passed_on(telegram):
    chips = telegram_chips(telegram, "T1", "A")
    chips[2 * 24 + 10 + 12 * 14: 2 * 24 + 10 + 12 * 17] ^= 1       # three whole bytes of block 2
    fs = 1.6e6
    wave = modulate(chips, fs, 100e3, 50e3, 7e3, 0.3) * np.sqrt(10 ** 2.2 * 100e3 / fs)
    rng = np.random.default_rng(0)
    n = int(0.03 * fs)
    x = ((rng.standard_normal(2 * n) * np.sqrt(0.5)).astype(np.float32)).view(np.complex64)
    x[8000:8000 + len(wave)] += wave
    frames, d = demod_all(to_raw(x, "cu8", 15.0).view(np.uint8))
    assert frames == []
    assert d.stats.crc_failures == 1
    assert list(d.stats.failures)[0][2] == "CRC"


def test_c1_long_runs_of_identical_chips(rng):
    zeros = bytes([41, 0x44, 0x2D, 0x2C, 1, 2, 3, 4, 1, 7, 0x7A]) + bytes(31)
    ones = bytes([41, 0x44, 0x2D, 0x2C, 1, 2, 3, 4, 1, 7, 0x7A]) + b"\xff" * 31
    bursts = [Burst(zeros, "C1", "A", 0.004, 18, 12e3, 0.003), Burst(ones, "C1", "B", 0.02, 18, -12e3, -0.003)]
    frames, _ = demod_all(synth_raw(bursts))
    assert [f.telegram for f in frames] == [zeros, ones]


@pytest.mark.parametrize("dc_db,offset", [(0, 0.0), (10, 0.0), (20, 0.0), (10, 50e3)])
def test_dc_spike(dc_db, offset, telegram):
    frames, _ = demod_all(synth_raw([Burst(telegram, "T1", "A", 0.005, 20, offset, 0.0)], dc_db=dc_db))
    assert [f.telegram for f in frames] == [telegram]


@pytest.mark.parametrize("mode", ["T1", "C1"])
def test_near_full_scale_8bit_signal(mode, telegram):
    raw = synth_raw([Burst(telegram, mode, "A", 0.005, 40, 10e3, 0.0)], full_scale=1.4)
    assert (raw == 0).mean() + (raw == 255).mean() > 0.01     # really clipping
    frames, _ = demod_all(raw)
    assert [f.telegram for f in frames] == [telegram]


def test_impulsive_interference_around_and_inside_a_frame(telegram):
    imp = [(0.002, 125e-6, 30), (0.0046, 125e-6, 25), (0.0075, 30e-6, 25), (0.0135, 125e-6, 25)]
    frames, _ = demod_all(synth_raw([Burst(telegram, "T1", "A", 0.005, 20, 10e3, 0.0)], impulses=imp))
    assert [f.telegram for f in frames] == [telegram]


@pytest.mark.parametrize("strong_first", [True, False])
@pytest.mark.parametrize("mode", ["T1", "C1"])
def test_collision_decodes_the_stronger(strong_first, mode, rng):
    a, b = random_telegram(rng, 42), random_telegram(rng, 42)
    first, second = (28, 16) if strong_first else (16, 28)
    bursts = [Burst(a, mode, "A", 0.005, first, 10e3, 0.0), Burst(b, mode, "A", 0.0065, second, -20e3, 0.002)]
    frames, _ = demod_all(synth_raw(bursts))
    assert [f.telegram for f in frames] == [a if strong_first else b]


@pytest.mark.parametrize("fmt", ["cu8", "cs8", "cs16", "cf32"])
def test_sample_formats(fmt, telegram):
    b = Burst(telegram, "T1", "A", 0.004, 20, -15e3, 0.0)
    frames, _ = demod_all(synth_raw([b], fmt=fmt), fmt=fmt)
    assert [f.telegram for f in frames] == [telegram]


def test_scene_gain_is_an_agc_like_level():
    scene = Scene(bursts=[Burst(b"\x09" + bytes(9), "T1", "A", 0.0, 30)])
    g = auto_gain(scene)
    assert 3 < g * np.sqrt(0.5) < 28


def test_weak_traffic_never_invents_frames_or_trips_the_demodulator():
    """Near and below sensitivity: whatever comes out must be exactly what was sent."""
    from collector.radio.synth import traffic

    rng = np.random.default_rng(99)
    bursts = traffic(rng, 3.0, 20.0, ecn0_db=(5.0, 11.0), offset_hz=60e3, rate_error=0.01)
    frames, d = demod_all(synth_raw(bursts, duration=3.0), chunk=2 * 50000)
    sent = {b.telegram for b in bursts}
    assert {f.telegram for f in frames} <= sent
    assert d.stats.internal_errors == 0, list(d.stats.internal)
    assert d.stats.frames == len(frames) > 0


def test_long_c1_format_b_with_a_block_3(rng):
    tg = random_telegram(rng, 200)
    b = Burst(tg, "C1", "B", 0.004, 22, 8e3, 0.002)
    frames, d = demod_all(synth_raw([b]))
    assert [(f.telegram, f.frame_format) for f in frames] == [(tg, "B")], d.stats.to_dict()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30])
def test_one_damaged_cf32_value_loses_no_frame(bad, rng):
    """Any 4 bytes are a float: one NaN/inf/1e30 (a damaged file) used to poison the DC estimate, and
    with it every later burst of the capture (found by an IQ-file mutation campaign)."""
    tgs = [random_telegram(rng, 30 + 5 * i) for i in range(3)]
    bursts = [Burst(t, "T1", "A", 0.02 + 0.06 * i, 18) for i, t in enumerate(tgs)]
    raw = synth_raw(bursts, fmt="cf32", seed=3, duration=0.25).view("<f4").copy()
    raw[1001] = bad
    frames, d = demod_all(raw.view(np.uint8), fmt="cf32")
    assert [f.telegram for f in frames] == tgs, d.stats.to_dict()
    assert d.stats.internal_errors == 0, list(d.stats.internal)
