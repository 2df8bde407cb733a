"""Diehl (DME) heat cost allocators: standard records, current and previous period units.

The reference names these fields current_hca and previous_hca and appends the unit, hence the
doubled suffix in current_hca_hca."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, error_flags


@register
class DmeHca(SpecDriver):
    name = "dmehca"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("DME", 0x80, 0x08), ("DME", 0x81, 0x08)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFF),
        F("current_hca", "hca", "hca"),
        F("previous_hca", "hca", "hca", storage=1),
    )
