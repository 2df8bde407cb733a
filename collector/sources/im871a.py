"""IMST iM871A (and iM170A) over its HCI serial protocol.

Wire format: ``A5 | CF | MSG | LEN | payload | [TS 4B LE] | [RSSI] | [CRC16/X-25 LE]``; the high nibble
of CF flags which optional fields follow (0x2 timestamp, 0x4 RSSI, 0x8 CRC), the low nibble is the
endpoint. Host requests carry no CRC; the stick's answers and indications do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.sources.framing import CHECKSUM, GARBAGE, crc16_x25, stalled_on_false_start
from collector.sources.serial_stick import SerialStickSource, StickError
from decoders.frame import Frame

START = 0xA5
EP_DEVMGMT, EP_RADIOLINK, EP_RADIOLINK_TEST, EP_HWTEST = 1, 2, 3, 4
FLAG_TIMESTAMP, FLAG_RSSI, FLAG_CRC = 0x20, 0x40, 0x80

# device management
PING_REQ, PING_RSP = 0x01, 0x02
SET_CONFIG_REQ, SET_CONFIG_RSP = 0x03, 0x04
GET_CONFIG_REQ, GET_CONFIG_RSP = 0x05, 0x06
RESET_REQ, RESET_RSP = 0x07, 0x08
FACTORY_RESET_REQ, FACTORY_RESET_RSP = 0x09, 0x0A
GET_DEVICEINFO_REQ, GET_DEVICEINFO_RSP = 0x0F, 0x10
GET_FWINFO_REQ, GET_FWINFO_RSP = 0x13, 0x14
# radio link
WMBUSMSG_REQ, WMBUSMSG_RSP, WMBUSMSG_IND = 0x01, 0x02, 0x03

MAX_MSG_ID = {EP_DEVMGMT: 0x27, EP_RADIOLINK: 0x05, EP_RADIOLINK_TEST: 0x07, EP_HWTEST: 0x04}

LINK_MODES = {"S1": 0, "S1M": 1, "S2": 2, "T1": 3, "T2": 4, "R2": 5, "C1A": 6, "C1B": 7,
              "C2A": 8, "C2B": 9, "C1+T1": 10}
# What the collector asks for to *receive* a link mode (C1 receive = C1b covers frames A and B).
RECEIVE_MODE = {"S1": 0, "S1M": 1, "T1": 3, "C1": 7, "C1+T1": 10}
MODE_NAMES = {0: "S1", 1: "S1M", 2: "S2", 3: "T1", 4: "T2", 5: "R2", 6: "C1", 7: "C1", 8: "C2", 9: "C2",
              10: "C1+T1"}
MODULE_TYPES = {0x33: "iM871A", 0x36: "iM170A"}

# GET_CONFIG flag byte 1 / 2 fields in wire order with their sizes.
CONFIG_FIELDS_1 = [("device_mode", 1), ("link_mode", 1), ("c_field", 1), ("mfct", 2), ("id", 4),
                   ("version", 1), ("media", 1), ("channel", 1)]
CONFIG_FIELDS_2 = [("power", 1), ("data_rate", 1), ("rx_window", 1), ("auto_power_saving", 1),
                   ("auto_rssi", 1), ("auto_timestamp", 1), ("led", 1), ("rtc", 1)]


@dataclass(frozen=True, slots=True)
class HciMessage:
    endpoint: int
    msg_id: int
    payload: bytes
    timestamp: int | None = None
    rssi_raw: int | None = None
    has_crc: bool = False


def encode(endpoint: int, msg_id: int, payload: bytes = b"", *, timestamp: int | None = None,
           rssi_raw: int | None = None, crc: bool = True) -> bytes:
    cf = endpoint & 0x0F
    tail = bytearray()
    if timestamp is not None:
        cf |= FLAG_TIMESTAMP
        tail += (timestamp & 0xFFFFFFFF).to_bytes(4, "little")
    if rssi_raw is not None:
        cf |= FLAG_RSSI
        tail.append(rssi_raw & 0xFF)
    if crc:
        cf |= FLAG_CRC
    body = bytes([cf, msg_id, len(payload)]) + payload + tail
    out = bytes([START]) + body
    if crc:
        out += crc16_x25(body).to_bytes(2, "little")
    return out


def decode(buf: bytes | bytearray) -> tuple[int, Any]:
    """Pure HCI framer: (consumed, HciMessage | Skipped | None). Resynchronises by scanning for A5."""
    if not buf:
        return 0, None
    if buf[0] != START:
        nxt = buf.find(bytes([START]), 1)
        return (len(buf) if nxt < 0 else nxt), GARBAGE
    if len(buf) < 4:
        return 0, None
    cf, msg_id, length = buf[1], buf[2], buf[3]
    endpoint = cf & 0x0F
    if cf & 0x10 or endpoint not in MAX_MSG_ID or not 1 <= msg_id <= MAX_MSG_ID[endpoint]:
        return 1, GARBAGE
    has_ts, has_rssi, has_crc = bool(cf & FLAG_TIMESTAMP), bool(cf & FLAG_RSSI), bool(cf & FLAG_CRC)
    total = 4 + length + 4 * has_ts + has_rssi + 2 * has_crc
    if len(buf) < total:
        skip = stalled_on_false_start(buf, _decode_checked, START)
        return (skip, GARBAGE) if skip else (0, None)
    if has_crc and crc16_x25(buf[1:total - 2]) != int.from_bytes(buf[total - 2:total], "little"):
        return 1, CHECKSUM
    pos = 4 + length
    timestamp = rssi = None
    if has_ts:
        timestamp = int.from_bytes(buf[pos:pos + 4], "little")
        pos += 4
    if has_rssi:
        rssi = buf[pos]
    return total, HciMessage(endpoint, msg_id, bytes(buf[4:4 + length]), timestamp, rssi, has_crc)


def _decode_checked(buf: bytes) -> tuple[int, Any]:
    """Only frames a CRC vouches for count when judging a stalled header."""
    consumed, item = decode(buf)
    if isinstance(item, HciMessage) and not item.has_crc:
        return 0, None
    return consumed, item


def rssi_dbm(raw: int) -> float:
    """The linear estimate the stick's documentation gives: 45 -> -100 dBm, 205 -> -20 dBm."""
    if raw >= 230:
        return 0.0
    return -100.0 + (raw - 45) * 0.5


def rssi_raw(dbm: float) -> int:
    return max(0, min(229, round(45 + (dbm + 100.0) * 2)))


def set_config_payload(mode: int, *, rssi: bool = True, timestamp: bool = False) -> bytes:
    # 00: volatile (not stored in NVM); 02: link mode present; 30: auto-RSSI and auto-timestamp present
    return bytes([0x00, 0x02, mode, 0x30, int(rssi), int(timestamp)])


def parse_config(payload: bytes) -> dict[str, Any]:
    """GET_CONFIG_RSP payload -> the fields its two flag bytes announce."""
    out: dict[str, Any] = {}
    pos = 0
    for fields in (CONFIG_FIELDS_1, CONFIG_FIELDS_2):
        if pos >= len(payload):
            break
        flags = payload[pos]
        pos += 1
        for bit, (name, size) in enumerate(fields):
            if flags & (1 << bit):
                chunk = payload[pos:pos + size]
                if len(chunk) < size:  # read as zero-padded, a cut answer gave e.g. a dongle id of 0
                    raise ValueError(f"iM871A config of {len(payload)} bytes ends inside {name}")
                out[name] = int.from_bytes(chunk, "little")
                pos += size
    return out


def build_config(fields: dict[str, int]) -> bytes:
    out = bytearray()
    for group in (CONFIG_FIELDS_1, CONFIG_FIELDS_2):
        flags, body = 0, bytearray()
        for bit, (name, size) in enumerate(group):
            if name in fields:
                flags |= 1 << bit
                body += int(fields[name]).to_bytes(size, "little")
        out.append(flags)
        out += body
    return bytes(out)


def parse_device_info(payload: bytes) -> dict[str, Any]:
    if len(payload) < 8:
        raise StickError(f"iM871A device info of {len(payload)} bytes")
    return {
        "module": MODULE_TYPES.get(payload[0], f"0x{payload[0]:02x}"),
        "device_mode": payload[1],
        "firmware": payload[2],
        "hci_version": payload[3],
        "uid": f"{int.from_bytes(payload[4:8], 'little'):08x}",
    }


def receive_mode_for(link_modes: tuple[str, ...]) -> tuple[int, str]:
    modes = {m.upper() for m in link_modes}
    if modes <= {"C1", "T1"} and modes == {"C1", "T1"}:
        return RECEIVE_MODE["C1+T1"], "C1+T1"
    if len(modes) != 1 or next(iter(modes)) not in RECEIVE_MODE:
        raise StickError(f"iM871A cannot receive {'+'.join(sorted(modes))} at once")
    mode = next(iter(modes))
    return RECEIVE_MODE[mode], mode


def _answer(msg_id: int):
    return lambda m: isinstance(m, HciMessage) and m.endpoint == EP_DEVMGMT and m.msg_id == msg_id


class Im871aSource(SerialStickSource):
    kind = "im871a"
    baudrate = 57600

    def decode(self, buf: bytearray) -> tuple[int, Any]:
        return decode(buf)

    def configure(self) -> None:
        # The probe doubles as a liveness check: a port that answers PING but not DEVICEINFO is not ours.
        self.command(encode(EP_DEVMGMT, PING_REQ, crc=False), _answer(PING_RSP))
        info = self.command(encode(EP_DEVMGMT, GET_DEVICEINFO_REQ, crc=False), _answer(GET_DEVICEINFO_RSP))
        self.device_info = parse_device_info(info.payload)
        mode, self._mode_name = receive_mode_for(self.link_modes)
        if mode == RECEIVE_MODE["C1+T1"] and self.device_info["firmware"] < 0x14:
            raise StickError(f"iM871A firmware 0x{self.device_info['firmware']:02x} cannot do C1+T1 "
                             "(needs 0x14 or later)")
        rsp = self.command(encode(EP_DEVMGMT, SET_CONFIG_REQ, set_config_payload(mode), crc=False),
                           _answer(SET_CONFIG_RSP))
        if rsp.payload[:1] not in (b"", b"\x00"):
            raise StickError(f"iM871A refused link mode {self._mode_name}: status {rsp.payload.hex()}")
        cfg = self.command(encode(EP_DEVMGMT, GET_CONFIG_REQ, crc=False), _answer(GET_CONFIG_RSP))
        try:
            config = parse_config(cfg.payload)
        except ValueError as exc:
            raise StickError(str(exc)) from None
        self.device_info["config"] = config
        if "id" in config:
            self.device_info["dongle_id"] = f"{config['id']:08x}"

    def to_frame(self, message: Any) -> Frame | None:
        if message.endpoint != EP_RADIOLINK or message.msg_id != WMBUSMSG_IND:
            return None
        payload = message.payload
        if not payload:
            self.reject("LENGTH", "empty WMBUSMSG_IND", encode(message.endpoint, message.msg_id, payload))
            return None
        # The stick dropped L and the DLL CRCs: L is the payload length again.
        telegram = bytes([len(payload)]) + payload
        mode = getattr(self, "_mode_name", None)
        return self.make_frame(telegram, link_mode=None if mode == "C1+T1" else mode,
                               rssi_dbm=None if message.rssi_raw is None else rssi_dbm(message.rssi_raw),
                               crc_ok=True, crcs=False)
