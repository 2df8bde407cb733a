"""`DecoderState`: what one decoding process remembers between telegrams.

Learned compact-frame formats (per format signature and per meter; from full frames and format frames), per-driver scratch dicts for
stateful drivers, and rejection counters. Pure memory, no I/O; one instance per process/stream.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from decoders.crc import crc16_en13757


class DecoderState:
    __slots__ = ("formats", "meter_formats", "_drivers", "rejections", "decoded", "_last_headers", "_counters")

    def __init__(self) -> None:
        self.formats: dict[int, bytes] = {}                         # signature -> DIF/VIF header bytes
        self.meter_formats: dict[tuple[str, str, int, int], int] = {}  # meter -> last learned signature
        self._drivers: dict[str, dict[str, Any]] = {}
        self._counters: dict[tuple[str, str, int, int], int] = {}
        self._last_headers: dict[tuple[str, str, int, int], bytes] = {}
        self.rejections: Counter[str] = Counter()
        self.decoded = 0

    def learn_format(self, meter_key: tuple[str, str, int, int] | None, signature: int, headers: bytes) -> None:
        """Keep a format (DIF/VIF header list) under its signature, from a full frame's records or from a
        format frame (CI 0x69/0x6A/0x6B); compact frames with that signature then decode."""
        self.formats[signature] = headers
        if meter_key is not None:
            self.meter_formats[meter_key] = signature

    def learn_headers(self, meter_key: tuple[str, str, int, int], headers: bytes) -> None:
        """Learn a full frame's DIF/VIF list; repeated frames of the same layout cost one comparison."""
        if self._last_headers.get(meter_key) == headers:
            return
        self._last_headers[meter_key] = headers
        self.learn_format(meter_key, crc16_en13757(headers), headers)

    def last_counter(self, meter_key: tuple[str, str, int, int], counter: int) -> int | None:
        """Record an authenticated message counter; return the highest one seen before (or None)."""
        last = self._counters.get(meter_key)
        if last is None or counter > last:
            self._counters[meter_key] = counter
        return last

    def format_for(self, signature: int) -> bytes | None:
        return self.formats.get(signature)

    def driver_state(self, name: str) -> dict[str, Any]:
        d = self._drivers.get(name)
        if d is None:
            d = self._drivers[name] = {}
        return d

    def __repr__(self) -> str:
        return f"DecoderState({len(self.formats)} formats, {self.decoded} decoded, {sum(self.rejections.values())} rejected)"
