"""A CUL / nanoCUL running culfw: answers ``V``, ``brt``/``brc``/``brs``, ``X21``/``X00``; prints
telegrams as ``b<hex>`` / ``bY<hex>`` lines with CRCs, LQI and RSSI. ``truncate`` imitates stock
nanoCUL firmware, which cuts long telegrams short."""

from __future__ import annotations

from collector.emulators.base import PtyEmulator, Transmission
from collector.sources import cul
from collector.sources.framing import Skipped
from decoders.crc import encode_frame_a, encode_frame_b

HEARS = {"TMODE": {"T1"}, "CMODE": {"C1", "T1"}, "SMODE": {"S1", "S1M"}}
MODES = {"brt": "TMODE", "brc": "CMODE", "brs": "SMODE"}


class CulEmulator(PtyEmulator):
    kind = "cul"

    def __init__(self, *args, version: str = "V 1.67 CUL868", truncate: int | None = None, **kwargs):
        self.version = version
        self.truncate = truncate
        super().__init__(*args, **kwargs)

    def reset_state(self) -> None:
        self.mode: str | None = None
        self.reporting = False

    def _say(self, text: str) -> None:
        self.write_raw(text.encode("ascii") + b"\r\n")

    def handle_input(self, buf: bytearray) -> None:
        while buf:
            consumed, item = cul.decode(buf)
            if consumed == 0:
                return
            del buf[:consumed]
            if not isinstance(item, cul.CulLine) or isinstance(item, Skipped):
                continue
            cmd = item.text.strip()
            self.commands.append(cmd)
            if cmd == "V":
                self._say(self.version)
            elif cmd in MODES:
                self.mode = MODES[cmd]
                self._say(self.mode)
            elif cmd.startswith("X"):
                self.reporting = cmd[1:3] != "00"
            else:
                self._say(f"? ({cmd} is unknown) Use one of B b C F i A Z E G M R T V W X e f l t u x")
            self.receiving = self.mode is not None and self.reporting

    def encode_telegram(self, t: Transmission) -> bytes | None:
        if self.mode is None or t.link_mode.upper() not in HEARS[self.mode]:
            return None
        if t.link_mode.upper() == "C1":
            body = encode_frame_b(t.telegram) if t.frame_format == "B" else encode_frame_a(t.telegram)
            prefix = "bY"
        else:
            body, prefix = encode_frame_a(t.telegram), "b"
        digits = body.hex().upper()
        if self.truncate is not None:
            digits = digits[:self.truncate]
        return f"{prefix}{digits}{40:02X}{cul.rssi_raw(t.rssi_dbm):02X}\r\n".encode("ascii")
