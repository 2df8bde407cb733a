"""Sontex (SON): Supercom 587 water meter and Supercal heat meter."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, error_flags, lib


@register
class Supercom587(SpecDriver):
    name = "supercom587"
    meter_type = "WaterMeter"
    detect = frozenset({("SON", 0x3C, 0x06), ("SON", 0x3C, 0x07), ("SON", 0x3C, 0x16)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFF),
        *lib("total_m3"),
        F("software_version", "software_version", kind="hex"),
    )
