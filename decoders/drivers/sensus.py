"""Sensus (SEN): iPERL water meter."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, lib


@register
class Iperl(SpecDriver):
    name = "iperl"
    meter_type = "WaterMeter"
    detect = frozenset({("SEN", 0x68, 0x06), ("SEN", 0x68, 0x07), ("SEN", 0x7C, 0x07)})
    # The iPERL reports its highest flow of the period as an instantaneous record.
    spec = (*lib("total_m3"), F("max_flow", "volume_flow", "m3h"))
