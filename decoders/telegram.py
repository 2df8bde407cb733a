"""`Telegram`: the working state of one decode, handed to drivers.

The core fills it layer by layer (link, ELL, AFL, TPL, security, records); a driver reads it and may
replace the payload (manufacturer decryption), the readings (proprietary layouts), the identity
(vendors that code the A field their own way) and the security outcome. It never leaves decoders/:
`decode()` turns it into a `Decoded`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from decoders.model import Identity, Reading

if TYPE_CHECKING:
    from decoders.drivers.base import Driver
    from decoders.keys import KeyStore
    from decoders.state import DecoderState


class Telegram:
    __slots__ = (
        "raw", "data", "frame_format", "c_field", "identity", "tpl_identity", "ci", "ci_chain",
        "tpl_offset", "payload_offset", "acc", "sts", "cfg", "cfg_ext", "security_mode", "security",
        "decryption", "payload", "readings", "mfct_data", "more_records_follow", "ell", "afl",
        "message_counter", "mac_verified", "compact", "format_signature", "keys", "state", "notes",
        "_key", "ci_pos", "driver", "meter_identity",
    )

    def __init__(self, raw: bytes, data: bytes, frame_format: str) -> None:
        self.raw = raw                    # exactly as handed to decode()
        self.data = data                  # normalised: starts at L (wired: at C), no CRCs
        self.frame_format = frame_format  # "A" | "B" | "none" | "mbus"
        self.c_field = 0
        self.identity: Identity | None = None
        self.tpl_identity: Identity | None = None
        self.ci = -1                      # the CI of the application layer (last in the chain)
        self.ci_chain: list[str] = []
        self.tpl_offset = 0               # index in data of the CI byte of the application layer
        self.payload_offset = 0           # index in data where the application payload starts
        self.acc: int | None = None
        self.sts: int | None = None
        self.cfg: int | None = None
        self.cfg_ext: int | None = None
        self.security_mode = 0            # TPL CFG bits 8-12
        self.security = "none"            # none | mode5 | mode7 | ell_ctr | mfct_* | mode<n>
        self.decryption = "plain"         # plain | decrypted | already_decrypted | descrambled | pending
        self.payload = b""                # application payload after the TPL header, decrypted
        self.readings: list[Reading] = []
        self.mfct_data = b""              # bytes after a 0x0F/0x1F DIF, kept raw for drivers
        self.more_records_follow = False  # 0x1F seen
        self.ell: dict[str, int] = {}
        self.afl: dict[str, int] = {}
        self.message_counter: int | None = None
        self.mac_verified: bool | None = None
        self.compact = False
        self.format_signature: int | None = None
        self.keys: KeyStore | None = None
        self.state: DecoderState | None = None
        self.notes: list[str] = []
        self._key: bytes | None = None    # the key used; never printed
        self.meter_identity: Identity | None = None  # drivers: the real meter when the A field lies
        self.ci_pos = 10                  # index of the first CI
        self.driver: Driver | None = None

    @property
    def meter(self) -> Identity | None:
        """The metering device: a driver's override, else the long-header identity, else the link one."""
        return self.meter_identity or self.tpl_identity or self.identity

    def key(self) -> bytes | None:
        """The configured key for this meter (long-header identity first, then the link identity)."""
        if self.keys is None:
            return None
        k = None
        if self.tpl_identity is not None:
            k = self.keys.get(self.tpl_identity)
        if k is None and self.identity is not None:
            k = self.keys.get(self.identity)
        return k

    def compact_format(self, signature: int) -> bytes | None:
        """A compact-frame format shipped by the driver for this signature."""
        drv = self.driver
        return drv.compact_formats.get(signature) if drv is not None else None

    def header_bytes(self) -> bytes:
        """Everything before the application payload, as received (drivers seed scramblers with it)."""
        return self.data[: self.payload_offset]

    def driver_state(self, name: str) -> dict[str, Any]:
        """A per-driver dict that lives as long as the DecoderState (empty and throwaway without one)."""
        if self.state is None:
            return {}
        return self.state.driver_state(name)

    def __repr__(self) -> str:  # never shows the key
        return f"Telegram({self.meter}, ci={self.ci:#04x}, security={self.security}/{self.decryption})"
