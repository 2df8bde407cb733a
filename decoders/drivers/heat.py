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


@register
class Qualcosonic(SpecDriver):
    name = "qualcosonic"
    meter_type = "HeatCoolingMeter"
    detect = frozenset({("AXI", 0x0B, 0x0D), ("AXI", 0x0C, 0x0D)})
    status = "tpl"
    spec = (
        error_flags(function=None),
        F("fabrication_no", "fabrication_no", kind="text"),
        *lib("operating_time_h", "on_time_h", "meter_datetime", "total_m3", "flow_temperature_c",
             "return_temperature_c", "volume_flow_m3h", "power_kw"),
        F("meter_datetime_at_error", "datetime", kind="datetime", function="error"),
        F("flow_return_temperature_difference", "temperature_difference", "c"),
        F("total_heat_energy", "energy", "kwh", vifes=("forward",)),
        F("total_cooling_energy", "energy", "kwh", vifes=("backward",)),
        F("target", "datetime", "datetime", kind="datetime", storage=16),
        F("target_heat_energy", "energy", "kwh", storage=16, vifes=("forward",)),
        F("target_cooling_energy", "energy", "kwh", storage=16, vifes=("backward",)),
    )


@register
class UltraHeat(SpecDriver):
    name = "ultraheat"
    meter_type = "HeatMeter"
    detect = frozenset({("LUG", 0x04, 0x04), ("LUG", 0x04, 0x0C)})
    status = "tpl"
    spec = (
        error_flags(),
        F("heat", "energy", "kwh"),
        F("volume", "volume", "m3"),
        *lib("power_kw", "actuality_duration_s", "meter_datetime"),
        F("flow", "volume_flow", "m3h"),
        F("flow", "flow_temperature", "c"),
        F("return", "return_temperature", "c"),
        F("target", "energy", "kwh", storage=1),
        F("fabrication_no", "fabrication_no", kind="text"),
    )


@register
class Elf(SpecDriver):
    """Apator Elf heat meter: its error word is a manufacturer record (VIF 0x7F)."""

    name = "elf"
    meter_type = "HeatMeter"
    detect = frozenset({("APA", 0x18, 0x37), ("APA", 0x18, 0x04)})
    status = "fields"
    spec = (
        F("status", None, kind="lookup", dif_vif="047F", status=True, lookup=Lookup(unknown="ERROR_FLAGS")),
        *lib("meter_date", "total_energy_consumption_kwh", "flow_temperature_c", "return_temperature_c",
             "external_temperature_c", "operating_time_h"),
        F("current_power_consumption", "power", "kw"),
        F("total_volume", "volume", "m3"),
        F("total_energy_consumption_at_date", "energy", "kwh", storage=1),
        F("version", "model_version", kind="hex"),
        F("battery", "voltage", "v"),
    )


@register
class Elf2(SpecDriver):
    name = "elf2"
    meter_type = "HeatMeter"
    detect = frozenset({("APA", 0x42, 0x0D), ("APA", 0x42, 0x04)})
    status = "tpl"
    spec = (
        error_flags(),
        *lib("fabrication_no", "meter_date", "meter_datetime", "on_time_h"),
        F("current_power", "power", "kw"),
        F("current_volume_flow", "volume_flow", "m3h"),
        F("on_time_at_error", "on_time", "h", function="error"),
        F("t1_temperature", "flow_temperature", "c"),
        F("t2_temperature", "return_temperature", "c"),
        F("total_energy", "energy", "kwh"),
        F("total_volume", "volume", "m3"),
        F("input{tariff}_volume", "volume", "m3", tariff=range(1, 3)),
        F("total_energy_cooling", "energy", "kwh", subunit=1),
        F("total_energy_cooling_period", "energy", "kwh", storage=1, subunit=1),
        F("total_energy_period", "energy", "kwh", storage=1),
        F("total_volume_cooling", "volume", "m3", subunit=1),
    )


@register
class Enercal(SpecDriver):
    name = "enercal"
    meter_type = "HeatMeter"
    detect = frozenset({("GWF", 0x08, 0x04)})
    status = "tpl"
    spec = (
        error_flags(),
        F("total", "energy", "kwh"),
        F("target", "energy", "kwh", storage=1),
        *lib("power_kw", "flow_m3h", "total_m3", "target_m3", "target_date", "operating_time_h", "on_time_h",
             "meter_datetime"),
        F("forward", "flow_temperature", "c"),
        F("return", "return_temperature", "c"),
        F("difference", "temperature_difference", "c"),
        F("subunit{subunit}", "volume", "m3", subunit=range(1, 3)),
        F("subunit{subunit}_target", "volume", "m3", storage=1, subunit=range(1, 3)),
        F("subunit{subunit}", "hca", "hca", subunit=range(1, 3)),
        F("subunit{subunit}_target", "hca", "hca", storage=1, subunit=range(1, 3)),
    )


@register
class PolluComF(SpecDriver):
    name = "pollucomf"
    meter_type = "HeatMeter"
    detect = frozenset({("SEN", 0x1D, 0x04)})
    status = "tpl"
    spec = (
        error_flags(),
        F("total", "energy", "kwh"),
        F("target", "energy", "kwh", storage=1),
        *lib("total_m3", "power_kw", "flow_m3h", "target_date", "target_m3", "on_time_h", "meter_datetime"),
        F("forward", "flow_temperature", "c"),
        F("return", "return_temperature", "c"),
        F("forward_max", "flow_temperature", "c", storage=1, function="maximum"),
        F("return_max", "return_temperature", "c", storage=1, function="maximum"),
        F("flow_max", "volume_flow", "m3h", storage=1, function="maximum"),
        F("on_time_at_error", "on_time", "h", function="error"),
    )


@register
class Supercal(SpecDriver):
    name = "supercal"
    meter_type = "HeatMeter"
    detect = frozenset({("SON", 0x1B, 0x04)})
    spec = (
        *lib("flow_temperature_c", "meter_datetime", "power_kw", "return_temperature_c", "total_m3",
             "volume_flow_m3h"),
        F("total", "energy", "kwh"),
        F("target", "date", "date", kind="date", storage=20),
        F("target", "energy", "kwh", storage=20),
        F("target", "volume", "m3", storage=20),
    )


@register
class Unismart(SpecDriver):
    """Apator/AMX Unismart gas meter: uncorrected volume registers; the reference reports its 02FD74 word as
    status flags and the one-byte manufacturer record as other flags."""

    name = "unismart"
    meter_type = "GasMeter"
    detect = frozenset({("AMX", 0x01, 0x03)})
    status = "fields"
    spec = (
        F("status", None, kind="lookup", dif_vif="02FD74", status=True,
          lookup=Lookup(mask=0xFFFF, unknown="STATUS_FLAGS")),
        F("other", None, kind="lookup", dif_vif="017F", lookup=Lookup(mask=0xFF, unknown="OTHER_FLAGS")),
        F("fabrication_no", "fabrication_no", kind="text"),
        F("total", "datetime", "datetime", kind="datetime"),
        F("total", "volume", "m3", vifes=("uncorrected",)),
        F("target", "datetime", "datetime", kind="datetime", storage=1),
        F("target", "volume", "m3", storage=1, vifes=("uncorrected",)),
        F("version", "model_version", kind="text"),
        F("supplier_info", "supplier_information", kind="hex"),
        F("parameter_set", "parameter_set", kind="hex"),
        F("meter", None, "datetime", kind="datetime", dif_vif="066D"),
    )
