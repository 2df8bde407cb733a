"""Ebeco (EBE) EB-Therm 500 underfloor heating thermostat: standard records and a status word in a
manufacturer record (02 FB 17)."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, lib

EBECO_FLAGS = Lookup(tuple((1 << i, name) for i, name in enumerate((
    "TEMPORARY", "MIN_LIMIT", "MAX_LIMIT", "OPEN_WINDOW", "ROOM_OC", "ROOM_SC", "FLOOR_OC", "FLOOR_SC",
    "RELAY_OC", "RELAY_SC", "RELAY_OT", "SYSTEM", "STARTUP", "POWER_CTRL", "POWER_OFF", "RELAY_TEST"))),
    mask=0xFFFF, unknown="ERROR_FLAGS")


@register
class Ebeco500(SpecDriver):
    name = "ebeco500"
    meter_type = "ElectricityMeter"
    # the thermostat sends version 0x01, device type 0x02 (electricity); the reference lists them swapped
    detect = frozenset({("EBE", 0x01, 0x02), ("EBE", 0x02, 0x01)})
    status = "tpl"
    spec = (
        F("status", None, kind="lookup", dif_vif="02FB17", status=True, lookup=EBECO_FLAGS),
        *lib("external_temperature_c", "on_time_h", "meter_datetime"),
        F("total", "energy", "kwh"),
    )
