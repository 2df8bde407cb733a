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
    # Defaults live on the class: a decode sets only what its layers find (no __slots__ on purpose, so
    # an instance starts as a near-empty dict instead of 34 assignments per telegram).
    c_field = 0
    identity: Identity | None = None
    tpl_identity: Identity | None = None
    meter_identity: Identity | None = None   # drivers: the real meter when the A field codes it otherwise
    ci = -1                                  # the CI of the application layer (last in the chain)
    ci_pos = 10                              # index of the first CI
    tpl_offset = 0                           # index in data of the CI byte of the application layer
    payload_offset = 0                       # index in data where the application payload starts
    acc: int | None = None
    sts: int | None = None
    cfg: int | None = None
    cfg_ext: int | None = None
    security_mode = 0                        # TPL CFG bits 8-12
    security = "none"                        # none | mode5 | mode7 | ell_ctr | mfct_* | mode<n>
    decryption = "plain"                     # plain | decrypted | already_decrypted | descrambled | pending | not_decrypted
    payload = b""                            # application payload after the TPL header, decrypted
    mfct_data = b""                          # bytes after a 0x0F/0x1F DIF, kept raw for drivers
    more_records_follow = False              # 0x1F seen
    message_counter: int | None = None
    mac_verified: bool | None = None
    compact = False
    format_signature: int | None = None
    keys: KeyStore | None = None
    state: DecoderState | None = None
    driver: Driver | None = None
    _key: bytes | None = None                # the key used; never printed

    def __init__(self, raw: bytes, data: bytes, frame_format: str) -> None:
        self.raw = raw                    # exactly as handed to decode()
        self.data = data                  # normalised: starts at L (wired: at C), no CRCs
        self.frame_format = frame_format  # "A" | "B" | "none" | "mbus"
        self.ci_chain: list[str] = []
        self.readings: list[Reading] = []
        self.ell: dict[str, int] = {}
        self.afl: dict[str, int] = {}
        self.notes: list[str] = []

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
