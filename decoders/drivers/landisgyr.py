"""Landis+Gyr (LGB) gas meter, version 0x50.

Its payload uses TPL security mode 9, which this decoder does not implement; as the reference decoder
does, the telegram is still reported with what the unencrypted header says: the TPL status byte.
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import OpaqueModeDriver


@register
class LandisGyrGas(OpaqueModeDriver):
    name = "landisgyrgas"
    meter_type = "GasMeter"
    detect = frozenset({("LGB", 0x50, 0x03)})
