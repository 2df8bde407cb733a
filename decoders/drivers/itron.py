"""Itron (ITW): Cyble / Aquadis / Intelis water meters and the heat meter variant."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib


@register
class Itron(SpecDriver):
    name = "itron"
    meter_type = "WaterMeter"
    # (ITW 00 16): an Allmess cold-water meter whose Itron module is programmed with device type 0x16
    detect = frozenset({("ITW", 0x00, 0x07), ("ITW", 0x03, 0x07), ("ITW", 0x33, 0x07), ("ITW", 0x30, 0x07),
                        ("ITW", 0x00, 0x16)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFF, vifes=None),
        *lib("meter_datetime", "total_m3", "total_backward_m3", "volume_flow_m3h", "target_m3", "target_date"),
        F("enhanced_id", "enhanced_id", kind="text"),
        # Two manufacturer records whose meaning is not published: printed raw, as the reference does.
        F("unknowna", None, kind="lookup", dif_vif="047F", lookup=Lookup(default="WOOTA_0", unknown="WOOTA")),
        F("unknownb", None, kind="lookup", dif_vif="027F", lookup=Lookup(default="WOOTB_0", unknown="WOOTB")),
    )


@register
class ItronHeat(SpecDriver):
    name = "itronheat"
    meter_type = "HeatMeter"
    detect = frozenset({("ITW", 0x00, 0x04)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFF, vifes=None),
        F("total", "energy", "kwh"),
        *lib("total_m3", "meter_datetime"),
        F("last_year", "date", "date", kind="date", storage=1),
        F("last_year", "energy", "kwh", storage=1),
    )
