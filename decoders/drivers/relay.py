"""Relay GmbH (REL) wired M-Bus heat cost allocator: standard records only."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, lib


@register
class RelHca(SpecDriver):
    name = "relhca"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("REL", 0x41, 0x00)})
    spec = (
        F("consumption", "hca", "hca"),
        F("target", "hca", "hca", storage=1),
        # the clock record may carry the "time invalid" bit; the reference prints the time regardless
        *lib("meter_datetime", "target_date"),
        F("next_target", "date", "date", kind="date", storage=1, vifes=("future_value",)),
    )
