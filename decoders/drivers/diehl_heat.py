"""Diehl Metering / Hydrometer (DME, HYD) Sharky heat meters: Sharky 775 and Sharky 774, standard records.

Like the Diehl water meters, they may send Diehl "REAL_DATA" frames (CI 0x7A with CFG bit 12 set): the
A field in Diehl order and an LFSR-scrambled payload; `DiehlOms` (diehl.py) undoes both first."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, error_flags, lib
from decoders.drivers.diehl import DiehlOms


@register
class Sharky(DiehlOms):
    name = "sharky"
    meter_type = "HeatMeter"
    detect = frozenset({("HYD", 0x20, 0x04), ("DME", 0x40, 0x04)})
    status = "fields"   # "OK" when the meter sends an error-flags record (its bits are not documented)
    spec = (
        error_flags(mask=0),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_consumption_tariff1", "energy", "kwh", tariff=1),
        F("total_volume", "volume", "m3"),
        F("total_volume_tariff2", "volume", "m3", tariff=2),
        F("volume_flow", "volume_flow", "m3h"),
        F("power", "power", "kw"),
        F("flow_temperature", "flow_temperature", "c"),
        F("return_temperature", "return_temperature", "c"),
        F("temperature_difference", "temperature_difference", "c"),
        *lib("operating_time_h"),
        # the previous billing period is storage 5 on this meter
        F("target_energy_consumption", "energy", "kwh", storage=5),
        F("target_volume", "volume", "m3", storage=5),
        F("target", ("date",), "date", kind="date", storage=5),
    )


@register
class Sharky774(DiehlOms):
    name = "sharky774"
    meter_type = "HeatMeter"
    detect = frozenset({("DME", 0x41, 0x04), ("DME", 0x41, 0x0C), ("DME", 0x41, 0x0D)})
    spec = (
        F("total_energy_consumption", "energy", "kwh"),
        F("total_cooling_consumption", "energy", "kwh", tariff=1),
        F("total_volume", "volume", "m3"),
        F("total_cooling_volume", "volume", "m3", tariff=2),
        F("volume_flow", "volume_flow", "m3h"),
        F("power", "power", "kw"),
        F("flow_temperature", "flow_temperature", "c"),
        F("return_temperature", "return_temperature", "c"),
        F("operating_time", "operating_time", "h"),
        # VIFE 0x18: the time counted while the meter reported an error to the controller
        F("operating_time_in_error", "operating_time", "h", vifes=("error_18",)),
        F("energy_at_set_date", "energy", "kwh", storage=1),
        F("cooling_at_set_date", "energy", "kwh", storage=1, tariff=1),
        F("set", ("date",), "date", kind="date", storage=1),
    )
