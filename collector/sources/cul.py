"""CUL / nanoCUL sticks running culfw: a CC1101 behind a text protocol.

Probe with ``V`` (the answer names CUL), choose the mode with ``brt`` / ``brc`` / ``brs`` (answered
``TMODE`` / ``CMODE`` / ``SMODE``), start reporting with ``X21``. Each telegram is a line ``b<hex>``
(frame A, CRCs included) or ``bY<hex>`` (C1 frame B, CRCs included), followed by two hex bytes LQI and
RSSI. Stock nanoCUL firmware truncates long telegrams; such lines are rejected, never half-decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from collector.sources.framing import GARBAGE, Skipped
from collector.sources.serial_stick import SerialStickSource, StickError
from decoders.frame import Frame

MAX_LINE = 1024
MODE_COMMANDS = {"T1": ("brt", "TMODE"), "C1": ("brc", "CMODE"), "C1+T1": ("brc", "CMODE"),
                 "S1": ("brs", "SMODE"), "S1M": ("brs", "SMODE")}
_HEX = re.compile(r"[0-9A-Fa-f]*")


@dataclass(frozen=True, slots=True)
class CulLine:
    text: str


@dataclass(frozen=True, slots=True)
class CulTelegram:
    data: bytes          # frame with its DLL CRCs
    frame_b: bool        # "bY": C1 frame B
    lqi: int
    rssi_raw: int


def decode(buf: bytes | bytearray, *, final: bool = False) -> tuple[int, Any]:
    """Pure line framer: (consumed, CulLine | Skipped | None). CR, LF or CRLF end a line."""
    for i, b in enumerate(buf):
        if b in (0x0A, 0x0D):
            line = bytes(buf[:i])
            consumed = i + 1
            if b == 0x0D and consumed < len(buf) and buf[consumed] == 0x0A:
                consumed += 1
            if not line:
                return consumed, GARBAGE  # blank line (a lone LF of a split CRLF)
            try:
                return consumed, CulLine(line.decode("ascii"))
            except UnicodeDecodeError:
                return consumed, GARBAGE
        if i >= MAX_LINE:
            return i, GARBAGE
    if final and buf:
        return len(buf), Skipped("TRUNCATED")
    return 0, None


def parse_telegram_line(text: str) -> CulTelegram | Skipped | None:
    """A reception line -> CulTelegram; a malformed one -> Skipped(reason); other lines -> None."""
    if not text.startswith("b"):
        return None
    frame_b = text.startswith("bY")
    digits = text[2:] if frame_b else text[1:]
    if not _HEX.fullmatch(digits):
        return Skipped("SYNTAX")
    if len(digits) % 2 or len(digits) < 2 * 12 + 4:
        return Skipped("TRUNCATED")
    raw = bytes.fromhex(digits)
    return CulTelegram(raw[:-2], frame_b, raw[-2], raw[-1])


def rssi_dbm(raw: int) -> float:
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


def rssi_raw(dbm: float) -> int:
    return max(-128, min(127, round((dbm + 74) * 2))) & 0xFF


def _line(expected: str):
    return lambda m: isinstance(m, CulLine) and expected in m.text


class CulSource(SerialStickSource):
    kind = "cul"
    baudrate = 38400
    default_modes = ("T1",)

    def decode(self, buf: bytearray) -> tuple[int, Any]:
        consumed, item = decode(buf)
        if isinstance(item, CulLine):
            parsed = parse_telegram_line(item.text)
            if parsed is not None:
                return consumed, parsed
        return consumed, item

    def configure(self) -> None:
        # The leading CRLF ends any half line left by earlier traffic (e.g. another stick's probe).
        version = self.command(b"\r\nV\r\n", _line("CUL"))
        self.device_info = {"version": version.text.strip()}
        modes = {m.upper() for m in self.link_modes}
        key = "C1+T1" if modes == {"C1", "T1"} else "+".join(sorted(modes))
        if key not in MODE_COMMANDS:
            raise StickError(f"CUL cannot receive {key}")
        cmd, answer = MODE_COMMANDS[key]
        self.command(cmd.encode() + b"\r\n", _line(answer))
        self._mode_name = key
        self.write(b"X21\r\n")

    def to_frame(self, message: Any) -> Frame | None:
        if not isinstance(message, CulTelegram):
            return None
        mode = getattr(self, "_mode_name", "T1")
        if message.frame_b:
            link = "C1"
        elif mode.startswith("S"):
            link = "S1"
        else:
            link = "T1" if "T1" in mode else "C1"
        return self.make_frame(message.data, link_mode=link, rssi_dbm=rssi_dbm(message.rssi_raw), crcs=True)

    def on_unsolicited(self, message: Any) -> None:
        # Line noise and stray answers: counted, and kept so a garbled telegram can be looked at.
        if isinstance(message, CulLine):
            self.reject("UNSOLICITED", message.text[:200], message.text.encode("ascii", "replace"))
