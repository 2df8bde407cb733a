"""Water meters of smaller makers, all standard records: WEH (Wehrle) 07 and modular, Imeter/Integra
Aquastream, Elster/Emerlin EV200 and eMerlin 868, FIO, Ista, Watertech."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, error_flags, lib


@register
class Weh07(SpecDriver):
    name = "weh_07"
    meter_type = "WaterMeter"
    detect = frozenset({("WEH", 0x03, 0x07), ("WEH", 0x03, 0x16), ("WEH", 0x03, 0x06)})
    spec = lib("total_m3", "target_m3", "target_date")


@register
class WerhleModWm(SpecDriver):
    name = "werhlemodwm"
    meter_type = "WaterMeter"
    detect = frozenset({("WEH", 0x01, 0x16), ("WEH", 0x01, 0x07), ("WZG", 0x03, 0x16), ("WZG", 0x03, 0x07)})
    spec = (
        *lib("fabrication_no", "meter_datetime", "total_m3", "target_m3", "target_date"),
        F("next_target", "date", "date", kind="date", storage=1, vifes=("future_value",)),
        F("target_{storage}", "volume", "m3", storage=range(1, 16)),
        F("target_{storage}", "date", "date", kind="date", storage=range(1, 16)),
    )


@register
class Aquastream(SpecDriver):
    name = "aquastream"
    meter_type = "WaterMeter"
    detect = frozenset({("IMT", 0x05, 0x0E), ("IMT", 0x05, 0x07)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFF),
        *lib("meter_datetime", "total_m3", "target_m3", "target_date"),
        F("total_backwards", "volume", "m3", tariff=1),
        # This meter's battery years are counted as 365-day years.
        F("battery", "remaining_battery", "y", scale=365.2425 / 365),
    )


@register
class Ev200(SpecDriver):
    name = "ev200"
    meter_type = "WaterMeter"
    detect = frozenset({("ELR", 0x0D, 0x07)})
    spec = lib("total_m3", "target_m3")


@register
class Emerlin868(SpecDriver):
    name = "emerlin868"
    meter_type = "WaterMeter"
    detect = frozenset({("ELR", 0x11, 0x37), ("ELR", 0x12, 0x37)})
    spec = (
        *lib("total_m3", "target_m3"),
        F("target", "date", "date", kind="date_raw", storage=1),
    )


@register
class FioWater(SpecDriver):
    name = "fiowater"
    meter_type = "WaterMeter"
    detect = frozenset({("FIO", 0x01, 0x07)})
    status = "tpl"
    spec = (error_flags(mask=0xFFFF), *lib("meter_datetime", "total_m3"))


@register
class IstaWater(SpecDriver):
    name = "istawater"
    meter_type = "WaterMeter"
    detect = frozenset({("IST", 0x31, 0x07), ("IST", 0x31, 0x06), ("IST", 0x33, 0x07)})
    spec = (
        *lib("total_m3"),
        F("target", "volume", "m3", storage=2),
        F("target", "date", "date", kind="date", storage=2),
    )


def _ascii(r):  # type: ignore[no-untyped-def]
    return r.raw[::-1].decode("latin-1")


@register
class Watertech(SpecDriver):
    name = "watertech"
    meter_type = "WaterMeter"
    detect = frozenset({("WTT", 0x59, 0x07)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFFFF),
        *lib("meter_datetime", "total_m3"),
        F("software_version", "software_version", kind="text", fmt=_ascii),
    )

