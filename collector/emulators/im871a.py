"""An IMST iM871A as the host sees it over HCI: answers ping, device info, get/set config, reset and
firmware info; once a link mode is configured it sends WMBUSMSG_IND for telegrams of that mode."""

from __future__ import annotations

from collector.emulators.base import PtyEmulator, Transmission
from collector.sources import im871a as hci
from collector.sources.framing import Skipped

# Which received link modes each configured mode hears.
HEARS = {0: {"S1"}, 1: {"S1", "S1M"}, 3: {"T1"}, 6: {"C1"}, 7: {"C1"}, 10: {"C1", "T1"}}


class Im871aEmulator(PtyEmulator):
    kind = "im871a"

    def __init__(self, *args, firmware: int = 0x15, uid: int = 0x00102759, wmbus_id: int = 0x12345678,
                 module: int = 0x33, **kwargs):
        self.firmware = firmware
        self.uid = uid
        self.wmbus_id = wmbus_id
        self.module = module
        super().__init__(*args, **kwargs)

    def reset_state(self) -> None:
        self.link_mode: int | None = None
        self.auto_rssi = False
        self.auto_timestamp = False
        self.clock = 0

    def _reply(self, msg_id: int, payload: bytes = b"") -> None:
        self.write_raw(hci.encode(hci.EP_DEVMGMT, msg_id, payload))

    def handle_input(self, buf: bytearray) -> None:
        while buf:
            consumed, msg = hci.decode(buf)
            if consumed == 0:
                return
            del buf[:consumed]
            if msg is None or isinstance(msg, Skipped):
                continue
            self.commands.append((msg.endpoint, msg.msg_id, msg.payload))
            if msg.endpoint != hci.EP_DEVMGMT:
                continue
            self._devmgmt(msg)

    def _devmgmt(self, msg: hci.HciMessage) -> None:
        mid = msg.msg_id
        if mid == hci.PING_REQ:
            self._reply(hci.PING_RSP)
        elif mid == hci.GET_DEVICEINFO_REQ:
            self._reply(hci.GET_DEVICEINFO_RSP, bytes([self.module, 0x00, self.firmware, 0x01])
                        + self.uid.to_bytes(4, "little"))
        elif mid == hci.GET_FWINFO_REQ:
            self._reply(hci.GET_FWINFO_RSP, bytes([self.firmware, 0x00, 0x01, 0x00]) + b"iM871A\x00")
        elif mid == hci.SET_CONFIG_REQ:
            self._reply(hci.SET_CONFIG_RSP, bytes([0x00 if self._set_config(msg.payload) else 0x01]))
        elif mid == hci.GET_CONFIG_REQ:
            fields = {"device_mode": 0, "c_field": 0x44, "mfct": 0x0CAE, "id": self.wmbus_id,
                      "version": 0x01, "media": 0x07, "auto_rssi": int(self.auto_rssi),
                      "auto_timestamp": int(self.auto_timestamp)}
            if self.link_mode is not None:
                fields["link_mode"] = self.link_mode
            self._reply(hci.GET_CONFIG_RSP, hci.build_config(fields))
        elif mid in (hci.RESET_REQ, hci.FACTORY_RESET_REQ):
            self._reply(mid + 1, b"\x00")
            self.reset_state()
            self.receiving = False

    def _set_config(self, payload: bytes) -> bool:
        if len(payload) < 2:
            return False
        try:
            fields = hci.parse_config(payload[1:])  # first byte: store-in-NVM flag
        except (IndexError, ValueError):
            return False
        mode = fields.get("link_mode", self.link_mode)
        if mode is not None and mode not in HEARS:
            return False
        if mode == 10 and self.firmware < 0x14:
            return False
        self.link_mode = mode
        self.auto_rssi = bool(fields.get("auto_rssi", self.auto_rssi))
        self.auto_timestamp = bool(fields.get("auto_timestamp", self.auto_timestamp))
        self.receiving = self.link_mode is not None
        return True

    def encode_telegram(self, t: Transmission) -> bytes | None:
        if self.link_mode is None or t.link_mode.upper() not in HEARS.get(self.link_mode, set()):
            return None
        self.clock += 1000
        return hci.encode(hci.EP_RADIOLINK, hci.WMBUSMSG_IND, t.telegram[1:],
                          timestamp=self.clock if self.auto_timestamp else None,
                          rssi_raw=hci.rssi_raw(t.rssi_dbm) if self.auto_rssi else None)
