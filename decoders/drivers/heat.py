"""Heat meters and heat cost allocators with standard records: Engelmann Sensostar, Kaden HCA."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, lib
from decoders.model import Alarm

SENSOSTAR_FLAGS = Lookup((
    (0x01, "ERROR_TEMPERATURE_SENSOR_1_CABLE_BREAK"), (0x02, "ERROR_TEMPERATURE_SENSOR_1_SHORT_CIRCUIT"),
    (0x04, "ERROR_TEMPERATURE_SENSOR_2_CABLE_BREAK"), (0x08, "ERROR_TEMPERATURE_SENSOR_2_SHORT_CIRCUIT"),
    (0x10, "ERROR_FLOW_MEASUREMENT_SYSTEM_ERROR", Alarm.HARDWARE_ERROR),
    (0x20, "ERROR_ELECTRONICS_DEFECT", Alarm.HARDWARE_ERROR), (0x40, "OK_DEVICE_RESET"),
    (0x80, "ERROR_BATTERY_LOW", Alarm.LOW_BATTERY),
), mask=0xFF, unknown="ERROR_FLAGS")


@register
class Sensostar(SpecDriver):
    name = "sensostar"
    meter_type = "HeatMeter"
    detect = frozenset({("EFE", 0x00, 0x04), ("EFE", 0x00, 0x0C)})
    status = "tpl"
    alarm_lookups = (("status", SENSOSTAR_FLAGS),)
    spec = (
        error_flags(bits=SENSOSTAR_FLAGS.bits, mask=0xFF),
        *lib("meter_datetime", "on_time_h", "power_kw"),
        F("fabrication_no", "fabrication_no", kind="hex"),
        F("total", "energy", "kwh"),
        F("total_water", "volume", "m3"),
        F("total_tariff{tariff}", "energy", "kwh", tariff=range(2, 4)),
        F("total_subunit{subunit}", "volume", "m3", subunit=range(1, 4)),
        F("target", "energy", "kwh", storage=1),
        F("target_water", "volume", "m3", storage=1),
        F("target", "date", "date", kind="date", storage=1),
        F("target_tariff{tariff}", "energy", "kwh", storage=1, tariff=range(2, 4)),
        F("target_subunit{subunit}", "volume", "m3", storage=1, subunit=range(1, 4)),
        F("target_{storage}", "energy", "kwh", storage=range(2, 32)),
        F("flow_water", "volume_flow", "m3h"),
        F("flow_water_max", "volume_flow", "m3h", function="maximum"),
        F("power_max", "power", "kw", function="maximum"),
        F("forward", "flow_temperature", "c"),
        F("return", "return_temperature", "c"),
        F("difference", "temperature_difference", "c"),
        F("model_version", "model_version", kind="hex"),
        F("parameter_set", "parameter_set", kind="hex"),
    )


KADEN_FLAGS = Lookup(((0x08, "TAMPERING", Alarm.TAMPER),), mask=0xFFFF, unknown="ERROR_FLAGS")


@register
class Kaden(SpecDriver):
    name = "kaden"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("VIP", 0x1E, 0x08)})
    status = "fields"
    alarm_lookups = (("status", KADEN_FLAGS),)
    spec = (
        error_flags(bits=KADEN_FLAGS.bits),
        F("fabrication_no", "fabrication_no", kind="text"),
        F("consumption", "hca", "hca"),
        F("target", "hca", "hca", storage=1),
        F("target", "date", "date", kind="date", storage=1),
        F("no_measurement_duration", None, "h", dif_vif="0475"),
        F("no_measurement_duration_last_year", None, "h", dif_vif="4475"),
        F("tampering_duration", None, "h", dif_vif="0474"),
        *lib("meter_datetime", "flow_temperature_c", "external_temperature_c"),
    )
