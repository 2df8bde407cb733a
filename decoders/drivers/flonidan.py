"""Flonidan (FLO) gas meters: the TPL status is what is readable without decrypting."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver
from decoders.model import Rejection
from decoders.telegram import Telegram


@register
class FlonidanGas(SpecDriver):
    name = "flonidangas"
    meter_type = "GasMeter"
    detect = frozenset({("FLO", 0x50, 0x03)})
    status = "tpl"
    # the payload is encrypted with a mode (8-15) not implemented here: the TPL status is still read
    opaque_security_modes = frozenset(range(8, 16))

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.decryption == "pending" and tg.security_mode in self.opaque_security_modes:
            tg.readings = []
            tg.decryption = "not_decrypted"
            return None
        return super().payload(tg)
