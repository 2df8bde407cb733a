"""Axioma (AXI) Qalcosonic heat meter with the OMS record layout."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, error_flags, lib


@register
class Axis(SpecDriver):
    name = "axis"
    meter_type = "HeatMeter"
    detect = frozenset({("AXI", 0x07, 0x04)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFFFFFF),
        *lib("fabrication_no", "operating_time_h", "on_time_h", "meter_datetime", "total_m3",
             "flow_temperature_c", "return_temperature_c"),
        F("flow_return_temperature_difference", "temperature_difference", "c"),
        F("volume_flow", "volume_flow", "m3h"),
        F("total_energy", "energy", "kwh"),
        F("power", "power", "kw"),
        F("target", "datetime", "datetime", kind="datetime", storage=1),
        F("target", "date", "date", kind="date", storage=1),
        F("target_energy", "energy", "kwh", storage=1),
        F("target_volume", "volume", "m3", storage=1),
    )
