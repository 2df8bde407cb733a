"""Heat cost allocators, heat meters and water meters of smaller makers with standard records:
Aventies (AAA), Ecomess/Picoflux (ECM), Inema/Ram Eurisii (INE/RAM), Kaden (VIP)."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib

AVENTIES_FLAGS = Lookup(((0x0001, "MEASUREMENT"), (0x0010, "HF")), mask=0xFFFF, default="",
                        unknown="ERROR_FLAGS")


@register
class AventiesWm(SpecDriver):
    name = "aventieswm"
    meter_type = "WaterMeter"
    detect = frozenset({("AAA", 0x25, 0x07), ("AAA", 0x25, 0x06)})
    status = "fields"
    spec = (
        *lib("total_m3"),
        F("consumption_at_set_date_{storage}", "volume", "m3", storage=range(1, 15)),
        F("status", "error_flags", kind="lookup", status=True, lookup=AVENTIES_FLAGS),
        F("error_flags", "error_flags", kind="lookup", lookup=AVENTIES_FLAGS),
    )


@register
class AventiesHca(SpecDriver):
    name = "aventieshca"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("AAA", 0x55, 0x08)})
    status = "fields"
    spec = (
        *lib("current_consumption_hca"),
        F("consumption_at_set_date", "hca", "hca", storage=1),
        F("consumption_at_set_date_{storage}", "hca", "hca", storage=range(2, 18)),
        F("status", "error_flags", kind="lookup", status=True, lookup=AVENTIES_FLAGS),
        F("error_flags", "error_flags", kind="lookup", lookup=AVENTIES_FLAGS),
    )


@register
class Picoflux(SpecDriver):
    name = "picoflux"
    meter_type = "WaterMeter"
    detect = frozenset({("ECM", 0x05, 0x07)})
    status = "tpl"
    tpl_mfct_bits = {0x20: "LEAK_FLOW_LOW", 0x40: "LEAK_FLOW_HIGH"}
    spec = (
        error_flags(mask=0xFFFF),
        *lib("actuality_duration_s", "total_backward_m3", "total_m3", "meter_datetime"),
    )


EURIS_FLAGS = Lookup(((0x0001, "MEASUREMENT"), (0x0020, "RESET")), mask=0xFFFF, unknown="ERROR_FLAGS")


@register
class EurisII(SpecDriver):
    name = "eurisii"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("INE", 0x55, 0x08), ("RAM", 0x55, 0x08)})
    status = "fields"
    spec = (
        *lib("current_consumption_hca"),
        F("consumption_at_set_date", "hca", "hca", storage=1),
        F("consumption_at_set_date_{storage}", "hca", "hca", storage=range(1, 18)),
        F("status", "error_flags", kind="lookup", status=True, lookup=EURIS_FLAGS),
        F("error_flags", "error_flags", kind="lookup", lookup=EURIS_FLAGS),
    )
