"""Telegrams -> continuous-phase FSK baseband, the way a meter and an RTL-SDR would produce it.

Noise is complex white Gaussian with total power 1 (0.5 per component); a burst at Ec/N0 then has
amplitude sqrt(10^(Ec/N0/10) * chip_rate / fs), following the definition Ec/N0 = signal power x fs /
(noise power x chip rate). Quantisation to cu8/cs8/cs16 happens only when writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from collector.radio.iqformat import iq_filename, to_raw
from collector.radio.phy import MODES, telegram_chips


@dataclass(frozen=True, slots=True)
class Burst:
    telegram: bytes
    mode: str = "T1"
    frame_format: str = "A"
    start_s: float = 0.0
    ecn0_db: float = 20.0
    freq_offset_hz: float = 0.0          # carrier error on top of the mode's nominal frequency
    rate_error: float = 0.0              # relative chip-rate error, 0.005 = +0.5 %
    preamble_pairs: int | None = None
    deviation_hz: float | None = None
    phase: float | None = None

    def truth(self, chips: int, fs: float) -> dict:
        d = asdict(self)
        d["telegram"] = self.telegram.hex().upper()
        p = MODES[self.mode]
        d["duration_s"] = chips / (p.chip_rate * (1 + self.rate_error))
        d["end_s"] = self.start_s + d["duration_s"]
        return d


@dataclass
class Scene:
    """Everything a synthetic capture holds: bursts on a noise floor plus RTL-SDR impairments."""

    fs: float = 1.6e6
    centre_hz: float = 868.95e6
    duration_s: float = 1.0
    bursts: list[Burst] = field(default_factory=list)
    noise: bool = True
    dc_db: float | None = None           # LO leakage at 0 Hz, power relative to the noise floor
    impulses: Sequence[tuple[float, float, float]] = ()  # (start_s, length_s, power dB re noise)
    seed: int = 0


def modulate(chips: np.ndarray, fs: float, chip_rate: float, deviation_hz: float, freq_hz: float,
             phase0: float = 0.0, offset_samples: float = 0.0) -> np.ndarray:
    """Unit-amplitude CPFSK: chip 1 -> +deviation. `offset_samples` shifts the first chip edge by a
    fraction of a sample so that start times are not sample-aligned."""
    n = int(np.ceil(len(chips) * fs / chip_rate - offset_samples)) + 1
    t = (np.arange(n) + offset_samples) * (chip_rate / fs)
    idx = np.minimum(t.astype(np.int64), len(chips) - 1)
    inst = np.where(chips[idx] != 0, deviation_hz, -deviation_hz) + freq_hz
    phase = phase0 + np.cumsum(inst * (2 * np.pi / fs))
    return np.exp(1j * phase).astype(np.complex64)


def burst_waveform(b: Burst, fs: float, centre_hz: float, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """(first sample index, complex waveform at the right amplitude) of one burst."""
    p = MODES[b.mode]
    chips = telegram_chips(b.telegram, b.mode, b.frame_format, preamble_pairs=b.preamble_pairs)
    start = b.start_s * fs
    first = int(np.ceil(start))
    amp = np.sqrt(10 ** (b.ecn0_db / 10) * p.chip_rate / fs)
    phase = rng.uniform(0, 2 * np.pi) if b.phase is None else b.phase
    wave = modulate(chips, fs, p.chip_rate * (1 + b.rate_error), b.deviation_hz or p.deviation_hz,
                    p.freq_hz - centre_hz + b.freq_offset_hz, phase, offset_samples=first - start)
    return first, (amp * wave).astype(np.complex64)


def render(scene: Scene, chunk: int = 1 << 20) -> Iterator[np.ndarray]:
    """The scene as complex64 chunks (bounded memory for long captures)."""
    rng = np.random.default_rng(scene.seed)
    total = int(round(scene.duration_s * scene.fs))
    waves = sorted((burst_waveform(b, scene.fs, scene.centre_hz, rng) for b in scene.bursts),
                   key=lambda w: w[0])
    dc = np.complex64(0)
    if scene.dc_db is not None:
        dc = np.complex64(np.sqrt(10 ** (scene.dc_db / 10)) * np.exp(1j * rng.uniform(0, 2 * np.pi)))
    for pos in range(0, total, chunk):
        n = min(chunk, total - pos)
        if scene.noise:
            x = (rng.standard_normal(2 * n, dtype=np.float32) * np.float32(np.sqrt(0.5))).view(np.complex64)
        else:
            x = np.zeros(n, np.complex64)
        x += dc
        for first, w in waves:
            lo, hi = max(first, pos), min(first + len(w), pos + n)
            if lo < hi:
                x[lo - pos:hi - pos] += w[lo - first:hi - first]
        for start_s, length_s, power_db in scene.impulses:
            a, b = int(start_s * scene.fs), int((start_s + length_s) * scene.fs)
            lo, hi = max(a, pos), min(b, pos + n)
            if lo < hi:
                amp = np.sqrt(10 ** (power_db / 10))
                x[lo - pos:hi - pos] += amp * np.exp(1j * rng.uniform(0, 2 * np.pi, hi - lo)).astype(np.complex64)
        yield x


def auto_gain(scene: Scene, full_scale: float = 0.7) -> float:
    """Counts per unit amplitude: strongest burst peaks near `full_scale` of the 8-bit range, noise kept
    at >= 3 counts RMS per component (an AGC-like setting)."""
    amps = [np.sqrt(10 ** (b.ecn0_db / 10) * MODES[b.mode].chip_rate / scene.fs) for b in scene.bursts]
    dc = np.sqrt(10 ** (scene.dc_db / 10)) if scene.dc_db is not None else 0.0
    peak = (max(amps) if amps else 0.0) + 3 * np.sqrt(0.5) + dc
    gain = full_scale * 127.5 / peak
    return float(min(gain, 28 / np.sqrt(0.5)))


def write_scene(scene: Scene, directory: str | Path, prefix: str, fmt: str = "cu8",
                gain: float | None = None, full_scale: float = 0.7) -> Path:
    """Write the capture with an rtl_433-style name plus `<name>.truth.jsonl` (one burst per line)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / iq_filename(prefix, scene.centre_hz, scene.fs, fmt)
    g = auto_gain(scene, full_scale) if gain is None else gain
    with path.open("wb") as f:
        for x in render(scene):
            f.write(to_raw(x, fmt, g).tobytes())
    with path.with_name(path.name + ".truth.jsonl").open("w") as f:
        for b in scene.bursts:
            chips = len(telegram_chips(b.telegram, b.mode, b.frame_format, preamble_pairs=b.preamble_pairs))
            f.write(json.dumps(b.truth(chips, scene.fs)) + "\n")
    return path


def random_telegram(rng: np.random.Generator, length: int = 42) -> bytes:
    """A plausible telegram: L, C=0x44, a manufacturer, random ID, version, type, CI=0x7A, random payload."""
    body = bytearray(rng.integers(0, 256, length, dtype=np.uint8).tobytes())
    body[0] = length - 1
    body[1] = 0x44
    body[2:4] = bytes([0x2D, 0x2C])
    if length > 10:
        body[10] = 0x7A
    return bytes(body)


def traffic(rng: np.random.Generator, duration_s: float, rate_per_s: float, *, modes: Iterable[str] = ("T1", "C1"),
            ecn0_db: tuple[float, float] = (14.0, 30.0), offset_hz: float = 30e3, rate_error: float = 0.005,
            lengths: Sequence[int] = (20, 30, 42, 60, 90), guard_s: float = 0.004) -> list[Burst]:
    """Non-overlapping random bursts, `rate_per_s` on average, modes and formats mixed."""
    modes = tuple(modes)
    bursts: list[Burst] = []
    n = int(round(duration_s * rate_per_s))
    slot = duration_s / max(n, 1)
    for i in range(n):
        mode = modes[i % len(modes)]
        fmt = "B" if mode == "C1" and rng.random() < 0.3 else "A"
        tg = random_telegram(rng, int(rng.choice(lengths)))
        start = i * slot + guard_s + rng.uniform(0, max(slot - 0.03 - guard_s, 1e-3))
        bursts.append(Burst(tg, mode, fmt, float(start), float(rng.uniform(*ecn0_db)),
                            float(rng.uniform(-offset_hz, offset_hz)),
                            float(rng.uniform(-rate_error, rate_error)),
                            preamble_pairs=int(rng.integers(19, 40)) if mode == "T1" else None))
    return bursts
