"""SDR sources: raw IQ chunks -> collector.radio.demod.Demodulator -> Frames.

`SdrSource` holds the policy shared by the IQ file, RTL-SDR (USB) and rtl_tcp sources: a driver only
supplies `_read_chunk`. Spec: ``iq:FILE`` with options ``format``, ``rate``, ``freq``, ``modes``
(``t1,c1,s1``), ``realtime`` (pace the file like a live dongle), e.g.
``iq:drive_868.625M_1600k.cu8?modes=t1,c1,s1``.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from collector.sources.base import Source, SourceExhausted, SourceUnavailable, SpecError, parse_link_modes
from decoders.frame import Frame

ALL_MODES = ("T1", "C1", "S1")


def parse_rate(text: str | float | int | None, what: str) -> float | None:
    """'868.95M', '1600k', '2.4e6', 1600000 -> Hz (None stays None)."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float):
        return float(text)
    t = str(text).strip().lower()
    for suffix, mult in (("ghz", 1e9), ("mhz", 1e6), ("khz", 1e3), ("hz", 1.0), ("msps", 1e6), ("ksps", 1e3),
                         ("sps", 1.0), ("g", 1e9), ("m", 1e6), ("k", 1e3)):
        if t.endswith(suffix):
            try:
                return float(t[: -len(suffix)]) * mult
            except ValueError:
                break
    try:
        return float(t)
    except ValueError:
        raise SpecError(f"{what}: cannot read {text!r} as a frequency") from None


class SdrSource(Source):
    """A Source fed by raw IQ bytes. Subclasses implement `_read_chunk(timeout)`."""

    kind = "sdr"
    #: samples per read; ~40 ms at 1.6 MS/s keeps frames within 100 ms of their end on live input
    chunk_samples = 1 << 16

    def __init__(self, name: str, fs: float, centre_hz: float, fmt: str = "cu8",
                 modes: tuple[str, ...] = ALL_MODES, **kw: Any):
        super().__init__(name, **kw)
        from collector.radio.demod import Demodulator  # numpy only when an SDR source is opened

        try:
            self.demod = Demodulator(fs, centre_hz, fmt, modes)
        except ValueError as exc:
            raise SpecError(str(exc)) from exc
        self.fs, self.centre_hz, self.fmt = fs, centre_hz, fmt
        self._pending: deque[Any] = deque()
        self._eof = False
        self._failures_seen = 0

    # driver side
    def _read_chunk(self, timeout: float) -> bytes | None:
        """Next raw bytes (None if nothing within timeout). Raise SourceExhausted at the end."""
        raise NotImplementedError

    # radio frames (with every measurement the demodulator makes), for `amr demod`
    def recv_radio(self, timeout: float | None = None) -> Any:
        """Next RadioFrame, or None on timeout / end of input (then `exhausted` is True)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            if self._eof or self.closed:
                self.exhausted = True
                return None
            remaining = 0.25 if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                chunk = self._read_chunk(min(remaining, 0.25))
            except SourceExhausted:
                self._eof = True
                self._pending.extend(self.demod.flush())
                self._note_failures()
                continue
            if chunk:
                self._pending.extend(self.demod.feed(chunk))
                self._note_failures()
            if deadline is not None and time.monotonic() >= deadline and not self._pending:
                return None
        return self._pending.popleft()

    def _note_failures(self) -> None:
        """Frames that failed CRC are counted and kept (bounded) as rejections, never passed on."""
        stats = self.demod.stats
        new = stats.crc_failures - self._failures_seen
        if new <= 0:
            return
        recent = list(stats.failures)[-new:]
        for t, channel, reason in recent:
            self.reject(reason, f"{channel} burst at t={t:.6f} s failed after repair")
        self._failures_seen = stats.crc_failures

    def _recv_internal(self, timeout: float) -> Frame | None:
        rf = self.recv_radio(timeout)
        if rf is None:
            if self.exhausted:
                raise SourceExhausted(self.name)
            return None
        return Frame(telegram=rf.telegram, received_at=self.now(), source=self.name, link_mode=rf.mode,
                     frame_format=rf.frame_format, rssi_dbm=None, snr_db=rf.snr_db,
                     freq_offset_hz=rf.freq_offset_hz, crc_ok=True, stream_time=rf.t)

    def stats(self) -> dict[str, Any]:
        return {**self.counters.to_dict(), "demod": self.demod.stats.to_dict()}


class IqFileSource(SdrSource):
    """An IQ capture file (cu8, cs8, cs16, cf32; rtl_433-style name, SigMF metadata or options)."""

    kind = "iq"
    file_chunk_samples = 1 << 20   # files are read in big chunks: latency is CPU time, not air time

    def __init__(self, path: str | Path, *, fmt: str | None = None, rate: Any = None, freq: Any = None,
                 modes: Any = ALL_MODES, realtime: bool = False, **kw: Any):
        from collector.radio.iqformat import BYTES_PER_SAMPLE, IqFormatError, resolve

        p = Path(path)
        if not p.exists():
            raise SourceUnavailable(f"IQ file {p} does not exist")
        try:
            info = resolve(p, fmt, parse_rate(rate, "rate"), parse_rate(freq, "freq"))
        except IqFormatError as exc:
            raise SpecError(str(exc)) from exc
        if isinstance(modes, str):
            modes = parse_link_modes(modes, ALL_MODES)
        super().__init__(f"iq:{p}", info.fs, info.centre_hz, info.fmt, tuple(modes), **kw)
        self.path = p
        self._bps = BYTES_PER_SAMPLE[info.fmt]
        self._realtime = realtime
        try:
            self._file = p.open("rb")
        except OSError as exc:
            raise SourceUnavailable(f"IQ file {p}: {exc}") from exc
        self._t0 = time.monotonic()
        self._sent = 0
        self._chunk = (self.chunk_samples if realtime else self.file_chunk_samples) * self._bps

    @classmethod
    def from_spec(cls, args: str, options: dict[str, str]) -> IqFileSource:
        if not args:
            raise SpecError("iq source needs a file: iq:FILE")
        opts = dict(options)
        realtime = str(opts.pop("realtime", "")).lower() in ("1", "true", "yes")
        return cls(args, fmt=opts.pop("format", None), rate=opts.pop("rate", None), freq=opts.pop("freq", None),
                   modes=opts.pop("modes", "t1,c1,s1"), realtime=realtime)

    def _read_chunk(self, timeout: float) -> bytes | None:
        if self._realtime:
            due = self._t0 + self._sent / self.fs
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(max(timeout, 0))
                return None
            if wait > 0:
                time.sleep(wait)
        data = self._file.read(self._chunk)
        if not data:
            raise SourceExhausted(self.name)
        usable = len(data) // self._bps * self._bps
        self._sent += usable // self._bps
        return data[:usable]

    def _close_internal(self) -> None:
        self._file.close()
