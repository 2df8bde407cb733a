"""Elster (ELS) gas meters: standard records; the newer ones send only the TPL status in clear."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import OpaqueModeDriver, SpecDriver, lib


@register
class Elster(SpecDriver):
    name = "elster"
    meter_type = "GasMeter"
    detect = frozenset({("ELS", 0x81, 0x03)})
    spec = lib("actuality_duration_s", "total_m3")


@register
class ElsterGas(OpaqueModeDriver):
    name = "elstergas"
    meter_type = "GasMeter"
    detect = frozenset({("ELS", 0x50, 0x03)})
