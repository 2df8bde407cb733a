"""An Amber AMB8465-M / Metis-II: answers GET/SET parameter memory, SET_MODE, SERIALNO, FWV, RSSI,
RESET and FACTORYRESET; sends telegrams as DATA_IND command frames or transparently, depending on
its UART_CMD_Out_Enable parameter, with the RSSI byte when RSSI_Enable is set."""

from __future__ import annotations

from collector.emulators.base import PtyEmulator, Transmission
from collector.sources import amb8465 as amb
from collector.sources.framing import Skipped

HEARS = {0x09: {"C1", "T1"}, 0x03: {"S1", "S1M"}, 0x08: {"T1"}, 0x0E: {"C1"}, 0x07: {"T1", "T2"},
         0x0D: {"C1", "C2"}}


class Amb8465Emulator(PtyEmulator):
    kind = "amb8465"

    def __init__(self, *args, command_mode: bool = True, rssi: bool = True, serial_no: int = 0x0A0B0C0D,
                 **kwargs):
        self.serial_no = serial_no
        # Parameter memory is non-volatile: it survives RESET and replugging; a change to it takes
        # effect at the next reset, as on the module.
        self.memory = bytearray(amb.PARAM_SIZE)
        self.memory[amb.P_CMD_OUT] = int(command_mode)
        self.memory[amb.P_RSSI] = int(rssi)
        self.memory[48:56] = bytes([0x01, 0x44, 0xAE, 0x0C, 0x78, 0x56, 0x34, 0x12])
        self.resets = 0
        super().__init__(*args, **kwargs)

    def reset_state(self) -> None:
        self.active = bytes(self.memory)
        self.mode: int | None = None

    def _reply(self, cmd: int, payload: bytes) -> None:
        self.write_raw(amb.encode(cmd | amb.CONFIRM, payload))

    def handle_input(self, buf: bytearray) -> None:
        while buf:
            consumed, msg = amb.decode(buf)
            if consumed == 0:
                return
            del buf[:consumed]
            if not isinstance(msg, amb.AmberMessage) or isinstance(msg, Skipped):
                continue
            self.commands.append((msg.cmd, msg.payload))
            self._command(msg)

    def _command(self, msg: amb.AmberMessage) -> None:
        cmd, p = msg.cmd, msg.payload
        if cmd == amb.GET and len(p) == 2:
            offset, length = p[0], min(p[1], amb.PARAM_SIZE - p[0])
            # The AMB8465 answers with 0x78 bytes when asked for 0x80 (its memory is shorter).
            length = min(length, 0x78)
            self._reply(cmd, bytes([offset, length]) + bytes(self.memory[offset:offset + length]))
        elif cmd == amb.SET and len(p) >= 2:
            offset, length = p[0], p[1]
            self.memory[offset:offset + length] = p[2:2 + length]
            self._reply(cmd, b"\x00")
        elif cmd == amb.SET_MODE and len(p) == 1:
            ok = p[0] in HEARS
            if ok:
                self.mode = p[0]
                self.receiving = True
            self._reply(cmd, b"\x00" if ok else b"\x01")
        elif cmd == amb.SERIALNO:
            self._reply(cmd, self.serial_no.to_bytes(4, "big"))
        elif cmd == amb.FWV:
            self._reply(cmd, bytes([1, 2, 0]))
        elif cmd == amb.RSSI:
            self._reply(cmd, bytes([amb.rssi_raw(-95.0)]))
        elif cmd in (amb.RESET, amb.FACTORYRESET):
            self._reply(cmd, b"\x00")
            self.resets += 1
            self.reset_state()
            self.receiving = False

    def encode_telegram(self, t: Transmission) -> bytes | None:
        if self.mode is None or t.link_mode.upper() not in HEARS[self.mode]:
            return None
        rssi = bytes([amb.rssi_raw(t.rssi_dbm)]) if self.active[amb.P_RSSI] else b""
        if self.active[amb.P_CMD_OUT]:
            return amb.encode(amb.DATA_IND, t.telegram + rssi)
        body = bytearray(t.telegram + rssi)
        body[0] = len(body) - 1
        return bytes(body)
