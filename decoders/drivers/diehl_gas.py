"""Diehl (DME) Aerius gas meter: standard records, volumes at base conditions (VIFE 0x3E)."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver


@register
class Aerius(SpecDriver):
    name = "aerius"
    meter_type = "GasMeter"
    detect = frozenset({("DME", 0x30, 0x03)})
    spec = (
        F("total", "volume", "m3", vifes=("base_conditions",)),
        F("flow", "volume_flow", "m3h"),
        F("temperature", "flow_temperature", "c"),
        F("target", "datetime", "datetime", kind="datetime", storage=3),
        F("target", "volume", "m3", storage=3, vifes=("base_conditions",)),
    )
