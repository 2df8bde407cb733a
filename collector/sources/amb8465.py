"""Amber/Würth AMB8465-M and Metis-II (and AMB3665) over their command interface.

Command frames: ``FF | CMD | LEN | payload | CS`` with CS the XOR of every byte before it; answers use
``CMD | 0x80``. Received telegrams come either as command frames (``FF 03 LEN telegram [RSSI] CS``,
when UART_CMD_Out_Enable is set) or transparently as raw ``L C M M A…`` with the RSSI byte counted in
L. The stick's parameter memory says which, so the driver reads it before framing any data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.sources.framing import (
    CHECKSUM,
    GARBAGE,
    Skipped,
    decode_transparent,
    stalled_on_false_start,
    xor_checksum,
)
from collector.sources.serial_stick import SerialStickSource, StickError
from decoders.frame import Frame

START = 0xFF
DATA_REQ, DATA_IND, SET_MODE, RESET, SET_CHANNEL = 0x00, 0x03, 0x04, 0x05, 0x06
SET, GET, SERIALNO, FWV, RSSI, SETUARTSPEED, FACTORYRESET = 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x10, 0x11
CONFIRM = 0x80
COMMANDS = {DATA_REQ, DATA_IND, SET_MODE, RESET, SET_CHANNEL, SET, GET, SERIALNO, FWV, RSSI,
            SETUARTSPEED, FACTORYRESET, 0x50, 0x51, 0x52}
ANSWERS = {c | CONFIRM for c in COMMANDS} | {DATA_IND}

RECEIVE_MODE = {"C1+T1": 0x09, "S1": 0x03, "S1M": 0x03, "T1": 0x08, "C1": 0x0E, "T2": 0x07, "C2": 0x0D}
MODE_NAMES = {0x09: "C1+T1", 0x03: "S1", 0x08: "T1", 0x0E: "C1", 0x07: "T2", 0x0D: "C2"}

# parameter memory offsets
P_CMD_OUT = 5
P_RSSI = 69
PARAM_SIZE = 0x80


@dataclass(frozen=True, slots=True)
class AmberMessage:
    cmd: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class TransparentTelegram:
    data: bytes       # as received: L (RSSI counted) C M M A ... [RSSI]


def encode(cmd: int, payload: bytes = b"") -> bytes:
    body = bytes([START, cmd, len(payload)]) + payload
    return body + bytes([xor_checksum(body)])


def decode(buf: bytes | bytearray, *, transparent: bool = False, rssi: bool = True,
           final: bool = False) -> tuple[int, Any]:
    """Pure framer for both output framings. ``transparent``: raw telegrams may appear between
    command frames; ``rssi``: an RSSI byte is appended (and counted in L when transparent)."""
    if not buf:
        return 0, None
    if buf[0] == START and (len(buf) < 2 or buf[1] in ANSWERS or buf[1] in COMMANDS):
        if len(buf) < 3:
            return (len(buf), GARBAGE) if final else (0, None)
        total = 3 + buf[2] + 1
        if len(buf) < total:
            if final:
                return len(buf), Skipped("LENGTH")
            skip = stalled_on_false_start(buf, _decode_command, START, weak_check=True)
            return (skip, GARBAGE) if skip else (0, None)
        if xor_checksum(buf[:total - 1]) != buf[total - 1]:
            return 1, CHECKSUM
        return total, AmberMessage(buf[1], bytes(buf[3:total - 1]))
    if transparent:
        consumed, item = decode_transparent(buf, final=final)
        if isinstance(item, bytes):
            return consumed, TransparentTelegram(item)
        return consumed, item
    nxt = buf.find(bytes([START]), 1)
    return (len(buf) if nxt < 0 else nxt), GARBAGE


def _decode_command(buf: bytes) -> tuple[int, Any]:
    return decode(buf)


def rssi_dbm(raw: int) -> float:
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


def rssi_raw(dbm: float) -> int:
    value = round((dbm + 74) * 2)
    value = max(-128, min(127, value))
    return value & 0xFF


def telegram_from_indication(payload: bytes, *, rssi: bool) -> tuple[bytes, int | None]:
    """DATA_IND payload (telegram with L, optional RSSI) -> (normalised telegram, raw RSSI)."""
    if rssi and len(payload) >= 2:
        return payload[:-1], payload[-1]
    return payload, None


def telegram_from_transparent(data: bytes, *, rssi: bool) -> tuple[bytes, int | None]:
    if rssi and len(data) >= 2:
        body = bytearray(data[:-1])
        body[0] = len(body) - 1   # L counted the RSSI byte
        return bytes(body), data[-1]
    return data, None


def _answer(cmd: int):
    return lambda m: isinstance(m, AmberMessage) and m.cmd == cmd | CONFIRM


class Amb8465Source(SerialStickSource):
    kind = "amb8465"
    baudrate = 9600

    def __init__(self, *args: Any, configure_memory: bool | str = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.command_mode = True   # until the parameter memory says otherwise, only trust FF frames
        self.rssi_enabled = True
        # Command-mode output has a checksum and RSSI tells signal quality, so by default the stick is
        # set to both (written once to its parameter memory, then reset) when it is not already.
        self.configure_memory = str(configure_memory).lower() not in ("0", "false", "no", "off")
        # Parameters written but not yet applied by a RESET (the handshake that wrote them failed
        # before): the memory then says what the stick will run, not what it runs.
        self._reset_due = False

    def decode(self, buf: bytearray) -> tuple[int, Any]:
        return decode(buf, transparent=not self.command_mode, rssi=self.rssi_enabled)

    def configure(self) -> None:
        self.command_mode = True
        if self._reset_due:
            self.command(encode(RESET), _answer(RESET))
            self._reset_due = False
        memory = self._read_memory()
        if self.configure_memory and not (memory[P_CMD_OUT] and memory[P_RSSI]):
            self._reset_due = True
            for offset in (P_CMD_OUT, P_RSSI):
                rsp = self.command(encode(SET, bytes([offset, 1, 1])), _answer(SET))
                if rsp.payload[:1] != b"\x00":
                    raise StickError(f"AMB8465 refused to set parameter {offset}: {rsp.payload.hex()}")
            self.command(encode(RESET), _answer(RESET))
            self._reset_due = False
            memory = self._read_memory()
        serial_no = self.command(encode(SERIALNO), _answer(SERIALNO))
        self.device_info = {
            "serial": serial_no.payload.hex(),
            "cmd_out": bool(memory[P_CMD_OUT]),
            "rssi": bool(memory[P_RSSI]),
        }
        modes = {m.upper() for m in self.link_modes}
        key = "C1+T1" if modes == {"C1", "T1"} else "+".join(sorted(modes))
        if key not in RECEIVE_MODE:
            raise StickError(f"AMB8465 cannot receive {key}")
        rsp = self.command(encode(SET_MODE, bytes([RECEIVE_MODE[key]])), _answer(SET_MODE))
        if rsp.payload[:1] != b"\x00":
            raise StickError(f"AMB8465 refused mode {key}: status {rsp.payload.hex()}")
        self._mode_name = key
        self.rssi_enabled = self.device_info["rssi"]
        self.command_mode = self.device_info["cmd_out"]

    def _read_memory(self) -> bytes:
        params = self.command(encode(GET, bytes([0x00, PARAM_SIZE])), _answer(GET))
        memory = params.payload[2:]  # offset, length, then the bytes
        if params.payload[:1] != b"\x00" or params.payload[1:2] != bytes([len(memory) & 0xFF]):
            raise StickError(f"AMB8465 parameter memory answer for offset/length {params.payload[:2].hex()} "
                             f"with {len(memory)} bytes, asked for 0080")
        if len(memory) <= P_RSSI:
            raise StickError(f"AMB8465 parameter memory answer of {len(memory)} bytes")
        return memory

    def to_frame(self, message: Any) -> Frame | None:
        if isinstance(message, AmberMessage):
            if message.cmd != DATA_IND:
                return None
            telegram, raw = telegram_from_indication(message.payload, rssi=self.rssi_enabled)
        elif isinstance(message, TransparentTelegram):
            telegram, raw = telegram_from_transparent(message.data, rssi=self.rssi_enabled)
        else:
            return None
        mode = getattr(self, "_mode_name", None)
        return self.make_frame(telegram, link_mode=None if mode == "C1+T1" else mode,
                               rssi_dbm=None if raw is None else rssi_dbm(raw), crc_ok=True, crcs=False)
