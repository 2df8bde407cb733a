"""AMT (Arad Measuring Technologies): Topas ES KR ultrasonic water meter."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, lib


@register
class TopasEsKr(SpecDriver):
    name = "topaseskr"
    meter_type = "WaterMeter"
    detect = frozenset({("AMT", 0xF1, 0x07), ("AMT", 0xF1, 0x06)})
    spec = (
        *lib("total_m3", "battery_y"),
        F("access_counter", "access_number", kind="int"),
        F("temperature", "flow_temperature", "c"),
        F("current_flow", "volume_flow", "m3h"),
        F("volume_year_period", "volume", "m3", storage=1),
        F("reverse_volume_year_period", "volume", "m3", storage=1, tariff=1),
        F("meter_year_period_end", "date", "date", kind="date", storage=1),
        F("volume_month_period", "volume", "m3", storage=3),
        F("meter_month_period_end", "datetime", "datetime", kind="datetime", storage=3),
    )
