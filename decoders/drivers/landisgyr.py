"""Landis+Gyr (LGB) gas meter, version 0x50.

Its payload uses TPL security mode 9, which this decoder does not implement; as the reference decoder
does, the telegram is still reported with what the unencrypted header says: the TPL status byte.
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver
from decoders.model import Rejection
from decoders.telegram import Telegram


@register
class LandisGyrGas(SpecDriver):
    name = "landisgyrgas"
    meter_type = "GasMeter"
    detect = frozenset({("LGB", 0x50, 0x03)})
    opaque_security_modes = frozenset(range(8, 16))
    status = "tpl"

    def payload(self, tg: Telegram) -> Rejection | None:
        if tg.decryption == "pending" and tg.security_mode in self.opaque_security_modes:
            tg.readings = []
            tg.decryption = "not_decrypted"
            return None
        return super().payload(tg)


