"""Helpers for the SDR receiver tests: synthesise a scene to raw bytes and demodulate it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from collector.radio.demod import Demodulator, RadioFrame
from collector.radio.iqformat import to_raw
from collector.radio.synth import Burst, Scene, auto_gain, random_telegram, render

IQ_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "iq"


def synth_raw(bursts: list[Burst], *, fs: float = 1.6e6, centre: float = 868.95e6, duration: float | None = None,
              fmt: str = "cu8", dc_db: float | None = None, impulses=(), full_scale: float = 0.7,
              seed: int = 0, noise: bool = True) -> np.ndarray:
    duration = duration or max(b.start_s for b in bursts) + 0.05
    scene = Scene(fs=fs, centre_hz=centre, duration_s=duration, bursts=bursts, dc_db=dc_db, impulses=impulses,
                  seed=seed, noise=noise)
    g = auto_gain(scene, full_scale)
    return np.concatenate([to_raw(x, fmt, g).view(np.uint8) for x in render(scene)])


def demod_all(raw: np.ndarray, *, fs: float = 1.6e6, centre: float = 868.95e6, fmt: str = "cu8",
              modes=("T1", "C1", "S1"), chunk: int | None = None) -> tuple[list[RadioFrame], Demodulator]:
    d = Demodulator(fs, centre, fmt, modes)
    frames: list[RadioFrame] = []
    if chunk is None:
        frames += d.feed(raw)
    else:
        for i in range(0, len(raw), chunk):
            frames += d.feed(raw[i:i + chunk])
    frames += d.flush()
    return frames, d


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def telegram(rng) -> bytes:
    return random_telegram(rng, 42)


@pytest.fixture(scope="session")
def iq_dir() -> Path:
    return IQ_DIR
