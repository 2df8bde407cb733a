"""Brunata water meter (sent under the DWZ manufacturer code): standard records."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver, lib


@register
class BrunataWm(SpecDriver):
    name = "brunatawm"
    meter_type = "WaterMeter"
    detect = frozenset({("DWZ", 0x01, 0x06)})
    status = "tpl"
    spec = lib("total_m3", "target_m3", "target_date", "meter_date")
