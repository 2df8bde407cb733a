"""Maddalena (MAD): EVO 868 / Microsonic water meters."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver, error_flags, lib


@register
class Maddalena(SpecDriver):
    name = "maddalena"
    aliases = ("evo868",)
    meter_type = "WaterMeter"
    detect = frozenset({("MAD", 0x01, 0x07), ("MAD", 0x50, 0x07)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFFFF),
        *lib("total_m3", "target_m3", "target_date", "fabrication_no", "meter_datetime"),
    )
