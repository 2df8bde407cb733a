"""Axioma (AXI): Qalcosonic W1 / Q400 ultrasonic water meters, all standard records (the Axioma heat
meter is in axioma.py)."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, lib


@register
class Q400(SpecDriver):
    name = "q400"
    meter_type = "WaterMeter"
    detect = frozenset({("AXI", 0x01, 0x07), ("AXI", 0x10, 0x07)})
    status = "tpl"   # the TPL status byte only; the error-state record (DIF function "error") is not shown
    spec = (
        *lib("meter_datetime", "on_time_h", "total_m3", "total_forward_m3", "total_backward_m3",
             "flow_temperature_c", "volume_flow_m3h"),
        F("set", ("datetime",), "datetime", kind="datetime", storage=1),
        F("consumption_at_set_date", "volume", "m3", storage=1),
        F("forward_at_set_date", "volume", "m3", storage=1, vifes=("forward",)),
        F("backward_at_set_date", "volume", "m3", storage=1, vifes=("backward",)),
        # VIF FD74 is "remaining battery (days)" in EN 13757-3; this meter sends its battery percentage there
        F("battery", None, "pct", kind="int", dif_vif="01FD74"),
    )
