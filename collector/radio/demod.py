"""Streaming wM-Bus demodulator: raw IQ bytes in, CRC-checked frames out.

Chain, cheapest first (so that idle air costs almost nothing):
1. burst detection on a decimated power estimate straight from the raw bytes (look-up table, block sums
   against a tracked noise floor; a long-smoothed twin for weak S1); power steps inside a burst start
   extra candidates (collisions);
2. per burst and channel: carrier offset from the preamble (power-weighted mean frequency, refined by a
   two-chip-lag autocorrelation), then two tone correlators (non-coherent matched filters, boxcar over
   one chip via cumulative sums);
3. chip timing for the whole burst from the chip-rate line of |tone energy difference| (rate and phase,
   so chip-rate errors of a few per cent are followed);
4. soft chips -> sync search allowing chip errors -> T1 / C1-A / C1-B / S1 framing with soft 3-of-6 and
   CRC-aided repair (collector.radio.framing).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collector.radio.framing import (
    SYNC16,
    SYNC24_S1,
    Decoded,
    FrameFail,
    decode_s1,
    decode_t1c1,
    find_syncs,
)
from collector.radio.iqformat import BYTES_PER_SAMPLE, FORMATS, from_raw, power_lut
from collector.radio.phy import S1_CHIP_RATE, S1_FREQ_HZ, T1C1_CHIP_RATE, T1C1_FREQ_HZ

DECIMATE = 4                 # power detector looks at every 4th sample
BLOCK_S = 80e-6              # power block length
SMOOTH_BLOCKS = 4
THRESHOLD = 0.2              # burst when smoothed power > floor * (1 + THRESHOLD)
MIN_BURST_S = 1.0e-3
MERGE_GAP_S = 0.3e-3
MARGIN_S = 0.25e-3
MAX_BURST_S = 0.4
MAX_OFFSET_HZ = 70e3
MAX_FS = 100e6                # beyond any SDR this reads
ROTOR_SIZE = 1 << 16
HISTORY_BLOCKS = int(1.0 / BLOCK_S)
S1_SMOOTH_BLOCKS = 16        # 1.3 ms
S1_THRESHOLD = 0.15
S1_MIN_BURST_S = 8e-3
S1_MERGE_GAP_S = 4e-3
FLOOR_TO_MEAN = 0.93         # 20th percentile of the 4-block smoothed noise power / its mean


@dataclass(frozen=True, slots=True)
class RadioFrame:
    telegram: bytes          # normalised: CRCs removed, L as in format A
    mode: str
    frame_format: str
    t: float                 # first chip of the sync word (after the preamble), s from stream start
    sample: int              # the same as a sample index
    rssi_db: float           # signal power, dB relative to full scale
    snr_db: float            # estimated Ec/N0 from the tone correlators
    freq_offset_hz: float    # carrier error relative to the mode's nominal frequency
    end_sample: int = 0
    repaired: int = 0        # decisions changed by CRC-aided repair (0: CRCs matched as received)

    def to_json_dict(self) -> dict[str, Any]:
        return {"telegram": self.telegram.hex().upper(), "mode": self.mode, "frame_format": self.frame_format,
                "t": round(self.t, 7), "rssi_db": round(self.rssi_db, 1), "snr_db": round(self.snr_db, 1),
                "freq_offset_hz": round(self.freq_offset_hz), "repaired": self.repaired}


@dataclass(frozen=True, slots=True)
class Channel:
    name: str                # "T1C1" or "S1"
    offset_hz: float         # channel centre relative to the tuner centre
    chip_rate: float
    deviation_hz: float


@dataclass
class DemodStats:
    samples: int = 0
    bursts: int = 0
    frames: int = 0
    crc_failures: int = 0    # sync found, frame failed CRC even after repair
    internal_errors: int = 0  # bursts that hit a demodulator bug (never expected; tests assert 0)
    by_mode: dict[str, int] = field(default_factory=dict)
    failures: deque = field(default_factory=lambda: deque(maxlen=200))  # (t, channel, "CRC")
    internal: deque = field(default_factory=lambda: deque(maxlen=50))   # (t, channel, error)

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "bursts": self.bursts, "frames": self.frames,
                "crc_failures": self.crc_failures, "internal_errors": self.internal_errors,
                "by_mode": dict(self.by_mode)}


def channels_for(fs: float, centre_hz: float, modes: tuple[str, ...]) -> list[Channel]:
    out = []
    usable = fs / 2 - 100e3 - MAX_OFFSET_HZ
    if {"T1", "C1"} & set(modes) and abs(T1C1_FREQ_HZ - centre_hz) <= usable:
        out.append(Channel("T1C1", T1C1_FREQ_HZ - centre_hz, T1C1_CHIP_RATE, 48e3))
    if "S1" in modes and abs(S1_FREQ_HZ - centre_hz) <= usable:
        out.append(Channel("S1", S1_FREQ_HZ - centre_hz, S1_CHIP_RATE, 50e3))
    return out


def boxcar(x: np.ndarray, n: int) -> np.ndarray:
    """y[i] = sum(x[i:i+n]) via a cumulative sum (the matched filter of a one-chip tone)."""
    c = x.cumsum()
    y = c[n - 1:].copy()
    y[1:] -= c[:-n]
    return y


class Demodulator:
    """Feed raw IQ bytes in any chunking; get RadioFrames back as soon as their burst has ended."""

    def __init__(self, fs: float, centre_hz: float, fmt: str = "cu8",
                 modes: tuple[str, ...] = ("T1", "C1", "S1")):
        if fmt not in FORMATS:
            raise ValueError(f"unknown IQ format {fmt!r}")
        self.fs = float(fs)
        self.centre_hz = float(centre_hz)
        # block sizes and tables scale with fs: an infinite or absurd rate must be refused up front
        if not (0 < self.fs <= MAX_FS and abs(self.centre_hz) < float("inf")):
            raise ValueError(f"sample rate {fs!r} / centre {centre_hz!r} out of range (rate up to {MAX_FS:.0e})")
        self.fmt = fmt
        self.modes = tuple(m.upper() for m in modes)
        self.channels = channels_for(self.fs, self.centre_hz, self.modes)
        if not self.channels:
            raise ValueError(f"no wM-Bus channel within {fs / 1e3:.0f} kS/s around {centre_hz / 1e6:.3f} MHz")
        self.stats = DemodStats()
        self._bps = BYTES_PER_SAMPLE[fmt]
        self._pts = max(8, int(round(BLOCK_S * fs / DECIMATE)))
        self._block = self._pts * DECIMATE
        self._buf = np.zeros(0, np.uint8)
        self._buf_start = 0          # stream sample index of _buf[0]
        self._done_until = 0         # stream sample up to which bursts have been processed
        self._s1_done_until = 0
        self._s1_keep_from = 0
        self._hist = np.zeros(0, np.float32)   # smoothed block powers of the last ~1 s
        self._hist_until = 0
        self._floor = 0.0
        self._dc_known = False
        self._new_samples = 0
        self._sub_power = float("inf")
        self._dc = np.complex64(0)
        self._recent: deque[tuple[bytes, int]] = deque(maxlen=64)
        self._tables: dict[Any, np.ndarray] = {}
        self._ramp = np.zeros(0, np.int32)
        self._rot = np.exp(-2j * np.pi * np.arange(ROTOR_SIZE) / ROTOR_SIZE).astype(np.complex64)
        # a 100 kchip/s burst raises the total power less at higher sample rates; blocks then hold
        # more samples, so the noise estimate is steadier and the threshold can come down with it
        self._threshold = THRESHOLD * (1.6e6 / self.fs) ** 0.5
        self._plut = power_lut(fmt) if fmt in ("cu8", "cs8") else None

    # --- streaming -------------------------------------------------------------------------------

    def feed(self, raw: bytes | bytearray | memoryview | np.ndarray) -> list[RadioFrame]:
        data = np.frombuffer(raw, np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8).ravel()
        n_new = len(data) // self._bps
        self.stats.samples += n_new
        self._new_samples += n_new
        # no copy when nothing is pending; _scan copies only the short tail it keeps
        self._buf = np.concatenate([self._buf, data]) if len(self._buf) else data
        return self._scan(final=False)

    def flush(self) -> list[RadioFrame]:
        out = self._scan(final=True)
        self._buf = np.zeros(0, np.uint8)
        return out

    def _scan(self, final: bool) -> list[RadioFrame]:
        n = len(self._buf) // self._bps
        nblk = n // self._block
        if nblk < 2 * SMOOTH_BLOCKS and not final:
            return []
        self._update_dc(self._buf[: n * self._bps])
        power = self._block_power(self._buf[: nblk * self._block * self._bps], nblk)
        kern = np.full(SMOOTH_BLOCKS, 1 / SMOOTH_BLOCKS, np.float32)
        if nblk >= SMOOTH_BLOCKS:
            # edges normalised: zero padding would fake low power at every chunk boundary
            sm = np.convolve(power, kern, mode="same") / np.convolve(np.ones(nblk, np.float32), kern, mode="same")
        else:
            sm = power
        floor = self._track_floor(sm, n)
        self._floor = floor
        active = sm > floor * (1 + self._threshold)
        runs = self._runs(active)
        frames: list[RadioFrame] = []
        keep_from = max(n - 2 * SMOOTH_BLOCKS * self._block - int(MARGIN_S * self.fs), 0)
        margin = int(MARGIN_S * self.fs)
        max_len = int(MAX_BURST_S * self.fs)
        for b0, b1 in runs:
            s, e = b0 * self._block, b1 * self._block
            complete = final or b1 < nblk - SMOOTH_BLOCKS or (e - s) > max_len
            if not complete:
                keep_from = min(keep_from, max(s - margin, 0))
                break
            if self._buf_start + e <= self._done_until:
                continue
            if (b1 - b0) * self._block < MIN_BURST_S * self.fs:
                continue
            steps = self._steps(sm, b0, b1, floor)
            onset = self._onset(power, b0, b1, floor) * self._block
            frames += self._process(max(s - margin, 0), min(e + margin, n), onset, steps)
            self._done_until = self._buf_start + e
        s1 = next((c for c in self.channels if c.name == "S1"), None)
        if s1 is not None and nblk >= S1_SMOOTH_BLOCKS:
            frames += self._scan_s1(power, floor, nblk, n, final, s1)
            keep_from = min(keep_from, self._s1_keep_from)
        if not final:
            self._buf = self._buf[keep_from * self._bps:].copy()
            self._buf_start += keep_from
        frames.sort(key=lambda f: f.sample)
        return frames

    def _scan_s1(self, power: np.ndarray, floor: float, nblk: int, n: int, final: bool,
                 s1: Channel) -> list[RadioFrame]:
        """S1 bursts are long (>= 17 ms of preamble) but their power is spread thinly over the band:
        a second, long-smoothed detector finds them well below the short detector's threshold."""
        kern = np.full(S1_SMOOTH_BLOCKS, 1 / S1_SMOOTH_BLOCKS, np.float32)
        sm = np.convolve(power, kern, mode="same") / np.convolve(np.ones(nblk, np.float32), kern, mode="same")
        noise_mean = floor / FLOOR_TO_MEAN
        runs = self._runs(sm > noise_mean * (1 + S1_THRESHOLD), S1_MERGE_GAP_S)
        margin = int(MARGIN_S * self.fs)
        self._s1_keep_from = n
        frames: list[RadioFrame] = []
        for b0, b1 in runs:
            s, e = b0 * self._block, b1 * self._block
            if not (final or b1 < nblk - S1_SMOOTH_BLOCKS or (e - s) > int(MAX_BURST_S * self.fs)):
                self._s1_keep_from = max(s - 4 * margin, 0)
                break
            if self._buf_start + e <= self._s1_done_until or (e - s) < S1_MIN_BURST_S * self.fs:
                continue
            level = float(np.median(sm[b0:b1]))
            half = noise_mean + 0.5 * (level - noise_mean)
            above = np.flatnonzero(sm[b0:b1] > half)
            onset = (b0 + (int(above[0]) if len(above) else 0)) * self._block
            frames += self._process(max(s - 4 * margin, 0), min(e + 4 * margin, n), onset, [], [s1])
            self._s1_done_until = self._buf_start + e
        return frames

    def _track_floor(self, sm: np.ndarray, n: int) -> float:
        """Noise floor = 20th percentile of the smoothed block power over the last ~1 s of air.

        Only blocks not seen before enter the history, so a long burst held across many small
        chunks cannot drag the floor up."""
        first_new = max(self._hist_until - self._buf_start, 0) // self._block
        new = sm[first_new:]
        if len(new):
            self._hist = np.concatenate([self._hist, new.astype(np.float32)])[-HISTORY_BLOCKS:]
            self._hist_until = self._buf_start + len(sm) * self._block
        hist = self._hist if len(self._hist) >= 32 else sm
        if not len(hist):
            return self._floor or 1.0
        k = len(hist) // 5
        return float(np.partition(hist, k)[k])

    def _block_power(self, raw: np.ndarray, nblk: int) -> np.ndarray:
        dc = self._dc
        if abs(dc) ** 2 > 0.05 * self._sub_power:
            # a strong LO leak would hide weak bursts in the total power: measure around it
            x = from_raw(raw, self.fmt)[::DECIMATE] - dc
            p = (x.real * x.real + x.imag * x.imag).astype(np.float32)
        elif self._plut is not None:
            sub = raw.view("<u2")[::DECIMATE]
            p = self._plut[sub]
        else:
            x = from_raw(raw, self.fmt)[::DECIMATE]
            p = (x.real * x.real + x.imag * x.imag).astype(np.float32)
        return p[: nblk * self._pts].reshape(nblk, self._pts).mean(axis=1)

    def _update_dc(self, raw: np.ndarray) -> None:
        """The RTL's LO leakage: a slowly moving constant (time constant ~0.2 s of air).

        Estimated over contiguous windows (a strided subsample would alias the FSK tones onto 0 Hz)."""
        win, period = 2048, 65536
        n = len(raw) // self._bps
        if n >= period:
            use = raw[: n // period * period * self._bps].reshape(-1, period * self._bps)[:, : win * self._bps]
            x = from_raw(np.ascontiguousarray(use).ravel(), self.fmt)
        elif n >= 256:
            x = from_raw(raw[: n * self._bps], self.fmt)
        else:
            return
        dc = np.complex64(x.mean())
        self._sub_power = float(np.mean(x.real * x.real + x.imag * x.imag))
        if not self._dc_known:
            self._dc, self._dc_known = dc, True
        else:
            a = min(1.0, self._new_samples / (0.2 * self.fs))
            self._dc = np.complex64((1 - a) * self._dc + a * dc)
        self._new_samples = 0

    def _runs(self, active: np.ndarray, merge_gap_s: float = MERGE_GAP_S) -> list[tuple[int, int]]:
        if not active.any():
            return []
        d = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        gap = max(1, int(merge_gap_s / BLOCK_S))
        runs: list[list[int]] = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            if runs and a - runs[-1][1] <= gap:
                runs[-1][1] = b
            else:
                runs.append([a, b])
        return [(a, b) for a, b in runs]

    def _onset(self, power: np.ndarray, b0: int, b1: int, floor: float) -> int:
        """First block at half the burst's power rise (smoothing and merged noise blips start runs early)."""
        seg = power[b0:b1]
        level = float(np.partition(seg, len(seg) // 2)[len(seg) // 2])
        half = floor + 0.5 * (level - floor)
        p2 = seg
        if len(p2) > 1:
            p2 = 0.5 * (p2[:-1] + p2[1:])
        # sustained rise only: an impulse just before the burst must not move the start
        hold = 4
        above = p2 > half
        if len(above) >= hold:
            sustained = np.flatnonzero(np.convolve(above, np.ones(hold), mode="valid") >= hold)
            if len(sustained):
                return b0 + int(sustained[0])
        first = np.flatnonzero(above)
        return b0 + (int(first[0]) if len(first) else 0)

    def _steps(self, sm: np.ndarray, b0: int, b1: int, floor: float) -> list[int]:
        """Sample offsets (from the burst start) where power jumps by > 4 dB: a stronger late arrival."""
        lag = 6
        if b1 - b0 < 4 * lag:
            return []
        seg = sm[b0:b1] - floor * 0.9
        seg = np.maximum(seg, floor * 0.05)
        ratio = seg[lag:] / seg[:-lag]
        out = []
        i = 2 * lag
        while i < len(ratio):
            if ratio[i] > 2.5:
                j = i + int(np.argmax(ratio[i:i + lag]))
                out.append((j + lag // 2) * self._block)
                i = j + 3 * lag
            else:
                i += 1
        return out[:3]

    # --- per burst -------------------------------------------------------------------------------

    def _process(self, s: int, e: int, burst_start: int, steps: list[int],
                 only: list[Channel] | None = None) -> list[RadioFrame]:
        self.stats.bursts += 1
        x = from_raw(self._buf[s * self._bps: e * self._bps], self.fmt) - self._dc
        starts = [burst_start - s] + [burst_start - s + st for st in steps]
        found: list[RadioFrame] = []
        if only is not None:
            chans = only
        else:
            chans = self._present_channels(x, starts[0]) if len(self.channels) > 1 else self.channels
        fail: tuple[float, str, str] | None = None
        for st in starts:
            for ch in chans:
                try:
                    frames = self._demod_channel(x, st, ch, s)
                except FrameFail as exc:
                    fail = (self._t(s + st), ch.name, exc.reason)
                    continue
                except (ValueError, IndexError, ArithmeticError) as exc:
                    # a receiver must outlive one odd burst; counted so that tests notice
                    self.stats.internal_errors += 1
                    self.stats.internal.append((self._t(s + st), ch.name, repr(exc)))
                    continue
                for f in frames:
                    if not any(f.telegram == t and abs(f.sample - smp) < 0.002 * self.fs for t, smp in self._recent):
                        self._recent.append((f.telegram, f.sample))
                        found.append(f)
                        self.stats.frames += 1
                        self.stats.by_mode[f.mode] = self.stats.by_mode.get(f.mode, 0) + 1
        if not found and fail is not None and fail[2] in ("CRC", "AMBIGUOUS"):
            self.stats.crc_failures += 1
            self.stats.failures.append(fail)
        return found

    def _t(self, local: float) -> float:
        return (self._buf_start + local) / self.fs

    def _present_channels(self, x: np.ndarray, st: int) -> list[Channel]:
        nw = min(len(x) - st, int(1e-3 * self.fs))
        if nw < 64:
            return self.channels
        w = x[st: st + nw]
        nfft = 1 << int(np.ceil(np.log2(nw)))
        p = np.abs(np.fft.fft(w, nfft)) ** 2
        f = np.fft.fftfreq(nfft, 1 / self.fs)
        floor = float(np.median(p))
        scored = []
        for ch in self.channels:
            sel = np.abs(f - ch.offset_hz) < MAX_OFFSET_HZ + ch.deviation_hz
            scored.append((float((p[sel] - floor).sum()) / (floor * sel.sum()), ch))
        scored.sort(key=lambda t: -t[0])
        return [ch for sc, ch in scored if sc > 0.1] or [scored[0][1]]

    def _rotor(self, freq: float, n: int) -> np.ndarray:
        """exp(-j 2 pi freq t) for n samples from a 65536-entry table (frequency grid fs/65536)."""
        k = int(round(freq / self.fs * ROTOR_SIZE)) % ROTOR_SIZE
        if len(self._ramp) < n:
            self._ramp = np.arange(max(n, 1 << 16), dtype=np.int32)
        idx = self._ramp[:n] * np.int32(k)      # int32 wrap-around keeps the low 16 bits right
        idx &= ROTOR_SIZE - 1
        return self._rot[idx]

    def _table(self, key: Any, n: int, freq_norm: float) -> np.ndarray:
        tbl = self._tables.get(key)
        if tbl is None or len(tbl) < n:
            m = max(n, 1 << 15)
            tbl = np.exp(-2j * np.pi * freq_norm * np.arange(m)).astype(np.complex64)
            self._tables[key] = tbl
        return tbl[:n]

    def _coarse_offset(self, x: np.ndarray, st: int, ch: Channel) -> float | None:
        """Carrier estimate from the preamble: its spectral centroid (a "01" preamble is balanced)."""
        # S1's preamble is >= 17 ms: start well inside it, the weak-S1 onset is only ~1 ms exact
        dur = 0.3e-3 if ch.name == "T1C1" else 3e-3
        a = st + int((60e-6 if ch.name == "T1C1" else 1.5e-3) * self.fs)
        w = x[a: a + int(dur * self.fs)]
        if len(w) < 32:
            return None
        nfft = 1 << int(np.ceil(np.log2(len(w) * 4)))
        p = np.abs(np.fft.fft(w, nfft)) ** 2
        df = self.fs / nfft
        half = MAX_OFFSET_HZ + ch.deviation_hz + 40e3
        k0 = int(np.floor((ch.offset_hz - half) / df))
        k1 = int(np.ceil((ch.offset_hz + half) / df))
        idx = np.arange(k0, k1 + 1) % nfft
        q = p[idx] - float(np.partition(p, len(p) // 2)[len(p) // 2])
        np.maximum(q, 0, out=q)
        tot = float(q.sum())
        if tot <= 0:
            return None
        # power-weighted mean frequency: the preamble is balanced, so this is the carrier
        centroid = float(np.dot(q, np.arange(k0, k1 + 1))) / tot * df
        return centroid - ch.offset_hz

    def _demod_channel(self, x: np.ndarray, st: int, ch: Channel, region: int) -> list[RadioFrame]:
        fs = self.fs
        coarse = self._coarse_offset(x, st, ch)
        if coarse is None:
            raise FrameFail("SHORT")
        spc_f = fs / ch.chip_rate
        spc = int(round(spc_f))
        a = max(st - 2 * spc, 0)
        seg = x[a:]
        n = len(seg)
        # fine offset: a two-chip lag correlation over the preamble (phase change of any two FSK
        # chips with h ~ 1 is ~ 0 mod 2 pi, so data does little harm)
        f_ch = ch.offset_hz + coarse
        lag = int(round(2 * spc_f))
        fine_len = min(n - lag - spc, int((2e-3 if ch.name == "T1C1" else 6e-3) * fs))
        if fine_len > 4 * spc:
            m = fine_len + lag + spc
            zf = boxcar(seg[:m] * self._rotor(f_ch, m), max(spc // 2, 1))
            r = np.vdot(zf[: fine_len], zf[lag: lag + fine_len])
            fine = float(np.angle(r)) * fs / (2 * np.pi * lag)
            if abs(fine) < 0.6 * fs / (2 * lag):
                f_ch += fine
        z = seg * self._rotor(f_ch, n)
        w = self._table(("dev", ch.deviation_hz), n, ch.deviation_hz / fs)
        yp = boxcar(z * w, spc)
        ym = boxcar(z * np.conj(w), spc)
        # timing needs the tone energies only at every other sample; the chips are then read at
        # full resolution
        d2p, d2m = yp[::2], ym[::2]
        ediff = np.abs(d2p.real * d2p.real + d2p.imag * d2p.imag - d2m.real * d2m.real - d2m.imag * d2m.imag)
        pos = self._timing(ediff, ch, 2)
        pos = pos[(pos >= 0) & (pos < len(yp))]
        if len(pos) < 40:
            raise FrameFail("SHORT")
        ap_, am_ = yp[pos], ym[pos]
        e_p = ap_.real * ap_.real + ap_.imag * ap_.imag
        e_m = am_.real * am_.real + am_.imag * am_.imag
        amp_p, amp_m = np.sqrt(e_p), np.sqrt(e_m)
        soft = amp_p - amp_m
        # chips hit by an impulse carry far more energy than the burst: erase them (soft 0) so that
        # CRC repair tries them first instead of trusting them most
        tot = e_p + e_m
        typical = float(np.partition(tot, len(tot) // 2)[len(tot) // 2])
        soft[tot > 8 * typical] = 0.0
        frames = self._frames_from_chips(soft, ch, pos, amp_p, amp_m, a + region, f_ch - ch.offset_hz, seg)
        return frames

    def _timing(self, ediff: np.ndarray, ch: Channel, step: int = 1) -> np.ndarray:
        """Chip start positions (sample indices) from the chip-rate line of |E+ - E-| (given at every
        `step`-th sample)."""
        r0 = step * ch.chip_rate / self.fs
        seglen = int(round(8 / r0))
        nseg = len(ediff) // seglen
        if nseg < 3:
            raise FrameFail("SHORT")
        tbl = self._table(("rate", ch.chip_rate, step), nseg * seglen, r0)
        v = (ediff[: nseg * seglen] * tbl).reshape(nseg, seglen).sum(axis=1)
        # chip-rate error = rotation rate of the segment phasors: the periodogram peak (robust to
        # noise and phase wrapping), refined by a parabola through the three top bins
        nfft = 1024
        spec = np.abs(np.fft.fft(v, nfft))
        lim = int(0.02 * r0 * seglen * nfft) + 2     # chip-rate errors up to +-2 %
        lim = min(lim, nfft // 2 - 2)
        cand = np.concatenate([spec[: lim + 1], spec[nfft - lim:]])
        idx = np.concatenate([np.arange(lim + 1), np.arange(-lim, 0)])
        j = int(np.argmax(cand))
        m = int(idx[j])
        y0, y1, y2 = spec[(m - 1) % nfft], spec[m % nfft], spec[(m + 1) % nfft]
        den = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        r = r0 + (m + frac) / nfft / seglen
        k = np.arange(nseg)
        centres = (k + 0.5) * seglen - 0.5
        mean = (v * np.exp(-2j * np.pi * (r - r0) * centres)).sum()
        theta = float(np.angle(mean))
        n0 = (-theta / (2 * np.pi * r)) % (1 / r)
        count = int((len(ediff) - n0) * r)
        return np.rint((n0 + np.arange(count) / r) * step).astype(np.int64)

    def _frames_from_chips(self, soft: np.ndarray, ch: Channel, pos: np.ndarray, amp_p: np.ndarray,
                           amp_m: np.ndarray, base: int, offset: float, seg: np.ndarray) -> list[RadioFrame]:
        hard = (soft > 0).astype(np.uint8)
        if ch.name == "T1C1":
            pattern, max_err = SYNC16, 2
        else:
            pattern, max_err = SYNC24_S1, 3
        cands = find_syncs(hard, pattern, max_err)
        if len(cands) == 0:
            raise FrameFail("NOSYNC")
        pm = pattern.astype(np.float32) * 2 - 1
        score = np.array([float(np.dot(soft[c - len(pattern): c], pm)) for c in cands])
        order = np.argsort(-score)[:8]
        frames: list[RadioFrame] = []
        spans: list[tuple[int, int]] = []
        last: FrameFail = FrameFail("CRC")
        for i in sorted(order.tolist(), key=lambda j: cands[j]):
            c = int(cands[i])
            if any(lo <= c < hi for lo, hi in spans):
                continue
            try:
                d: Decoded = decode_t1c1(soft, c) if ch.name == "T1C1" else decode_s1(soft[c:])
            except FrameFail as exc:
                last = exc
                continue
            extra = 16 if d.mode == "C1" else 0
            end = min(c + d.chips + extra, len(pos)) - 1
            spans.append((c - len(pattern), end + 1))
            # t marks the first chip of the sync word proper (after the "010101" we also matched)
            frames.append(self._measure(d, c - len(pattern), end, pos, amp_p, amp_m, base, offset, seg,
                                        c - len(pattern) + 6))
        if not frames:
            raise last
        return frames

    def _measure(self, d: Decoded, c0: int, c1: int, pos: np.ndarray, amp_p: np.ndarray, amp_m: np.ndarray,
                 base: int, offset: float, seg: np.ndarray, sync_chip: int) -> RadioFrame:
        win = np.maximum(amp_p[c0:c1], amp_m[c0:c1]) ** 2
        lose = np.minimum(amp_p[c0:c1], amp_m[c0:c1]) ** 2
        noise = float(lose.mean()) + 1e-12
        snr = max(float(win.mean()) - noise, 1e-12) / noise
        sig = seg[pos[c0]: pos[c1]]
        p_sig = float(np.mean(sig.real ** 2 + sig.imag ** 2)) if len(sig) else 0.0
        floor = self._floor
        rssi = 10 * np.log10(max(p_sig - floor, 1e-9) / 127.5 ** 2)
        sample = self._buf_start + base + int(pos[sync_chip])
        return RadioFrame(d.telegram, d.mode, d.frame_format, sample / self.fs, sample, float(rssi),
                          float(10 * np.log10(snr)), float(offset), self._buf_start + base + int(pos[c1]),
                          d.repaired)
