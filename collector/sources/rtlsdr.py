"""Local RTL-SDR dongle over USB through pyrtlsdr (librtlsdr).

Spec ``rtlsdr:INDEX`` with options ``freq`` (default 868.95M; 868.625M adds S1), ``rate`` (1600k),
``gain`` (dB or ``auto``), ``ppm``, ``modes``. Samples are read synchronously in ~40 ms chunks so that a
frame reaches the caller well within 100 ms of its end.
"""

from __future__ import annotations

import contextlib
from typing import Any

from collector.sources.base import SourceUnavailable, SpecError, parse_link_modes, refuse_unknown_options
from collector.sources.iq import ALL_MODES, SdrSource, parse_rate

DEFAULT_FREQ = 868.95e6
DEFAULT_RATE = 1.6e6


class RtlSdrSource(SdrSource):
    kind = "rtlsdr"

    def __init__(self, index: int = 0, *, freq: Any = None, rate: Any = None, gain: Any = "auto",
                 ppm: int | str = 0, modes: Any = ALL_MODES, **kw: Any):
        fs = parse_rate(rate, "rate") or DEFAULT_RATE
        centre = parse_rate(freq, "freq") or DEFAULT_FREQ
        if isinstance(modes, str):
            modes = parse_link_modes(modes, ALL_MODES)
        super().__init__(f"rtlsdr:{index}", fs, centre, "cu8", tuple(modes), **kw)
        try:
            from rtlsdr import RtlSdr
        except ImportError as exc:
            raise SourceUnavailable(f"pyrtlsdr/librtlsdr unavailable: {exc}") from exc
        try:
            sdr = RtlSdr(device_index=int(index))
        except Exception as exc:  # noqa: BLE001 - librtlsdr failures surface as LibUSBError/IOError
            raise SourceUnavailable(f"RTL-SDR #{index}: {exc}") from exc
        try:
            sdr.sample_rate = fs
            sdr.center_freq = centre
            if int(ppm):
                sdr.freq_correction = int(ppm)
            sdr.gain = "auto" if str(gain).lower() in ("auto", "", "none") else float(gain)
        except Exception as exc:  # noqa: BLE001
            sdr.close()
            raise SourceUnavailable(f"RTL-SDR #{index}: cannot configure: {exc}") from exc
        self._sdr = sdr

    @classmethod
    def from_spec(cls, args: str, options: dict[str, str]) -> RtlSdrSource:
        index = args or "0"
        if not (index.isascii() and index.isdigit()):
            raise SpecError(f"rtlsdr spec wants a device index, got {args!r}")
        opts = dict(options)
        known = {k: opts.pop(k) for k in ("freq", "rate", "gain", "ppm", "modes") if k in opts}
        refuse_unknown_options("rtlsdr", opts)
        known.setdefault("modes", "t1,c1,s1")
        return cls(int(index), **known)

    def _read_chunk(self, timeout: float) -> bytes | None:
        try:
            data = self._sdr.read_bytes(2 * self.chunk_samples)
        except Exception as exc:  # noqa: BLE001 - a pulled dongle raises IOError/LibUSBError
            if self.closed:
                return None
            raise SourceUnavailable(f"{self.name}: read failed: {exc}") from exc
        return bytes(data)

    def _close_internal(self) -> None:
        with contextlib.suppress(Exception):  # closing a vanished device must not raise
            self._sdr.close()
