"""Sontex (SON): Supercom 587 water meter, Supercal heat meter and Sontex 868 heat cost allocator."""

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


@register
class Sontex868(SpecDriver):
    name = "sontex868"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("SON", 0x16, 0x08)})
    spec = (
        F("current_consumption", "hca", "hca"),
        F("set", ("date",), "date", kind="date", storage=1),
        F("consumption_at_set_date", "hca", "hca", storage=1),
        F("current_temp", "flow_temperature", "c"),
        F("current_room_temp", "external_temperature", "c"),
        F("max_temp", "flow_temperature", "c", function="maximum"),
        F("max_temp_previous_period", "flow_temperature", "c", function="maximum", storage=1),
        *lib("device_datetime"),
    )
