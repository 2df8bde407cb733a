"""Metrona (MWU) heat cost allocator, version 02: standard records (current and billing-date units)."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, lib


@register
class MetronaHca(SpecDriver):
    name = "metronahca"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("MWU", 0x02, 0x08)})
    spec = (
        F("consumption", "hca", "hca"),
        *lib("meter_date"),
        F("target", "hca", "hca", storage=1),
        *lib("target_date"),
    )
