"""Elster (ELS) gas meters: standard records; the newer ones send only the TPL status in clear."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver, lib
from decoders.model import Rejection
from decoders.telegram import Telegram


@register
class Elster(SpecDriver):
    name = "elster"
    meter_type = "GasMeter"
    detect = frozenset({("ELS", 0x81, 0x03)})
    spec = lib("actuality_duration_s", "total_m3")


@register
class ElsterGas(SpecDriver):
    name = "elstergas"
    meter_type = "GasMeter"
    detect = frozenset({("ELS", 0x50, 0x03)})
    status = "tpl"
    # the payload is encrypted with a mode (8-15) not implemented here: the TPL status is still read
    opaque_security_modes = frozenset(range(8, 16))

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.decryption == "pending" and tg.security_mode in self.opaque_security_modes:
            tg.readings = []
            tg.decryption = "not_decrypted"
            return None
        return super().payload(tg)
