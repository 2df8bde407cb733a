"""Heat cost allocators, heat meters and water meters of smaller makers with standard records:
Aventies (AAA), Ecomess/Picoflux (ECM), Inema/Ram Eurisii (INE/RAM), Engelmann HCA e2 (EFE), Kaden (VIP)."""

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


HCAE2_FLAGS = Lookup(((0x0001, "MEASUREMENT"), (0x0002, "SABOTAGE"), (0x0004, "BATTERY"), (0x0008, "CS"),
                      (0x0010, "HF"), (0x0020, "RESET")), mask=0xFFFF, unknown="ERROR_FLAGS")


@register
class Hcae2(SpecDriver):
    """Engelmann HCA e2: the Euris II record layout, error flags joined with the TPL status."""

    name = "hcae2"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("EFE", 0x31, 0x08)})
    status = "tpl"
    spec = (
        F("status", "error_flags", kind="lookup", status=True, lookup=HCAE2_FLAGS),
        *lib("current_consumption_hca"),
        F("consumption_at_set_date_{storage}", "hca", "hca", storage=range(1, 18)),
        F("consumption_at_set_date", "hca", "hca", storage=1),
    )


def _bcd(b: int) -> int:
    return (b >> 4) * 10 + (b & 0x0F)


@register
class Bfw240Radio(SpecDriver):
    """BFW 240 radio HCA: a fixed layout after 2F2F, not records. Previous and current period units as
    big-endian words, 18 monthly values packed 12 bits each in nine 3-byte groups (oldest first), and the
    device date as BCD day, month, year."""

    name = "bfw240radio"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("BFW", 0x02, 0x08)})

    def payload(self, tg):  # type: ignore[no-untyped-def]
        tg.readings = []
        return None

    def extra(self, tg, out):  # type: ignore[no-untyped-def]
        p = tg.payload
        if len(p) < 40:
            return
        out["current_hca"] = p[6] << 8 | p[7]
        out["prev_hca"] = p[4] << 8 | p[5]
        groups = [p[10 + 3 * k:13 + 3 * k] for k in range(9)]  # months 18/17 ... 02/01
        for k, (b0, b1, b2) in enumerate(reversed(groups)):
            newer, older = 2 * k + 1, 2 * k + 2
            out[f"prev_{newer:02d}_hca"] = (b1 & 0x0F) << 8 | b2
            out[f"prev_{older:02d}_hca"] = (b1 >> 4) << 8 | b0
        d, m, y = _bcd(p[37]), _bcd(p[38]), _bcd(p[39])
        out["device_date"] = f"{2000 + y:04d}-{m:02d}-{d:02d}"
