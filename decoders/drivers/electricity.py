"""Electricity meters: Apator AMIplus, EMH eHZ-P, NZR, Gran-System, Carlo Gavazzi EM24, Nemo (Schneider-like
wired) — standard energy, power, voltage and current records under the reference field names."""

from __future__ import annotations

import math
from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, num, numbers, raw_uint
from decoders.model import Reading
from decoders.telegram import Telegram


def _phases(base: str, q: str, unit: str, dif_vif: str) -> tuple[F, ...]:
    """Per-phase values sent with a combinable VIFE per phase (FC 01..03 or FF 01..03)."""
    return tuple(F(f"{base}_{n}", q, unit, dif_vif=f"{dif_vif}{n:02X}") for n in (1, 2, 3))


def _milli(r: Reading) -> float | int | None:
    """The record's digits (as sent, without VIF scaling) in thousandths."""
    v = raw_uint(r)
    return None if v is None else num(v / 1000)


@register
class AmiPlus(SpecDriver):
    name = "amiplus"
    meter_type = "ElectricityMeter"
    # Apator AMIplus and Otus 1/3 (APA, APT, DEV), NES and Elgama Gama 350 (EGM) meters
    detect = frozenset({("APA", 0x01, 0x02), ("APA", 0x02, 0x02), ("APT", 0x01, 0x02), ("DEV", 0x00, 0x02),
                        ("DEV", 0x01, 0x02), ("DEV", 0x02, 0x37), ("NES", 0x03, 0x02), ("EGM", 0x01, 0x02)})
    spec = (
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_consumption_tariff_{tariff}", "energy", "kwh", tariff=range(1, 5)),
        F("current_power_consumption", "power", "kw"),
        F("total_energy_production", "energy", "kwh", vifes=("backward",)),
        F("total_energy_production_tariff_{tariff}", "energy", "kwh", tariff=range(1, 5), vifes=("backward",)),
        F("current_power_production", "power", "kw", vifes=("backward",)),
        F("max_power_consumption", "power", "kw", function="maximum"),
        # the phase is a second-level combinable VIFE (FC 01..03); the voltage resolution varies by model
        *(F(f"voltage_at_phase_{n}", "voltage", "v", vifes=("extension_fc", f"error_{n:02x}")) for n in (1, 2, 3)),
        F("device", "datetime", "datetime", kind="datetime"),
        # reactive energy and power in manufacturer VIFs (FB 82 73 / FB 14, capacitive with VIFE 3C), 1/1000
        *(F(name, None, unit, dif_vif=dv, fmt=_milli) for name, unit, dv in (
            ("total_reactive_energy_inductive", "kvarh", "0EFB8273"),
            ("total_reactive_energy_capacitive", "kvarh", "0EFB82F33C"),
            ("reactive_power_inductive", "kvar", "0BFB14"), ("reactive_power_capacitive", "kvar", "0BFB943C"))),
    )


@register
class Ehzp(SpecDriver):
    name = "ehzp"
    meter_type = "ElectricityMeter"
    detect = frozenset({("EMH", 0x02, 0x02)})
    status = "tpl"
    spec = (
        F("on_time", "on_time", "h"),
        F("total_energy_consumption", "energy", "kwh"),
        F("current_power_consumption", "power", "kw"),
        F("total_energy_production", "energy", "kwh", vifes=("backward",)),
    )


@register
class Nzr(SpecDriver):
    name = "nzr"
    meter_type = "ElectricityMeter"
    detect = frozenset({("NZR", 0x01, 0x02), ("NZR", 0x00, 0x02)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFF),
        F("total_energy_consumption", "energy", "kwh", tariff=None),
        F("current_power_consumption", "power", "kw"),
        F("current_power_consumption_{storage/2}", "power", "kw", storage=range(2, 7, 2)),
        F("voltage_at_phase_{storage/2}", "voltage", "v", storage=range(2, 7, 2)),
        F("current_at_phase_{storage/2}", "current", "a", storage=range(2, 7, 2)),
    )


GRAN_FLAGS = Lookup(((0x02, "RTC_ERROR"),), mask=0xFF, unknown="ERROR_FLAGS")


@register
class GranSystems(SpecDriver):
    """Gran-System-S electricity meters: byte 2 of the error flags tells single or three phase."""

    name = "gransystems"
    meter_type = "ElectricityMeter"
    detect = frozenset({("GSS", 0x01, 0x02), ("GSS", 0x02, 0x02)})
    status = "fields"
    spec = (
        F("status", "error_flags", kind="lookup", status=True, lookup=GRAN_FLAGS),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_consumption_tariff_{tariff}", "energy", "kwh", tariff=range(1, 5)),
        F("target", "datetime", "datetime", kind="datetime", storage=2),
        F("target_energy_consumption", "energy", "kwh", storage=2),
        F("target_energy_consumption_tariff_{tariff}", "energy", "kwh", storage=2, tariff=range(1, 5)),
        F("device", "datetime", "datetime", kind="datetime"),
        F("voltage_at_phase_1", "voltage", "v"),
        F("voltage_at_phase_{subunit}", "voltage", "v", subunit=range(1, 4)),
        F("current_at_phase_1", "current", "a"),
        F("current_at_phase_{subunit}", "current", "a", subunit=range(1, 4)),
        F("frequency", "frequency", "hz"),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        for r in tg.readings:
            if r.quantity == "error_flags" and len(r.raw) >= 4:
                out["info"] = {2: "SINGLE_PHASE_METER", 1: "THREE_PHASE_METER"}.get(r.raw[2], f"INFO_{r.raw[2]:02X}")
                break


EM24_ERRORS = Lookup((
    (0x01, "V_1_OVERFLOW"), (0x02, "V_2_OVERFLOW"), (0x04, "V_3_OVERFLOW"), (0x08, "I_1_OVERFLOW"),
    (0x10, "I_2_OVERFLOW"), (0x20, "I_3_OVERFLOW"), (0x40, "FREQUENCY"),
), mask=0xFF, default="", unknown="ERROR")


@register
class Em24(SpecDriver):
    name = "em24"
    meter_type = "ElectricityMeter"
    detect = frozenset({("KAM", 0x33, 0x02), ("GAV", 0x00, 0x02)})
    status = "fields"
    spec = (
        F("status", "error_flags", kind="lookup", status=True, lookup=EM24_ERRORS),
        F("error", "error_flags", kind="lookup", lookup=EM24_ERRORS),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_production", "energy", "kwh", vifes=("backward",)),
        F("total_reactive_energy_consumption", None, "kvarh", kind="int", dif_vif="04FB8275"),
        F("total_reactive_energy_production", None, "kvarh", kind="int", dif_vif="04FB82F53C"),
        F("power", "power", "kw"),
        *_phases("amperage_at_phase", "current", "a", "04FDD9FC"),
        *_phases("voltage_at_phase", "voltage", "v", "04FDC8FC"),
        F("frequency", "frequency", "hz"),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        # Apparent energy is derived from active and reactive energy.
        for kind in ("consumption", "production"):
            a = out.get(f"total_energy_{kind}_kwh")
            r = out.get(f"total_reactive_energy_{kind}_kvarh")
            out[f"total_apparent_energy_{kind}_kvah"] = (
                num(math.hypot(a, r)) if numbers(a, r) else None)
        out.setdefault("frequency_hz", None)


IEM_ERRORS = Lookup((
    (0x00, "CODE_101_EEPROM_ERROR"), (0x10, "CODE_102_NO_CALIBRATION_TABLE"),
    (0x20, "CODE_201_MISMATCH_BETWEEN_FREQUENCY_SETTINGS_AND_FREQUENCY_MEASUREMENTS"),
    (0x30, "CODE_202_PHASE_SEQUENCE_REVERSED"), (0x40, "CODE_203_PHASE_SEQUENCE_REVERSED"),
    (0x50, "CODE_204_TOTAL_ACTIVE_ENERGY_NEGATIVE_DUE_TO_INCORRECT_V_OR_A_CONNECTIONS"),
    (0x60, "CODE_205_DATE_TIME_RESET_DUE_TO_POWER_FAILUER"),
    (0x70, "CODE_206_PULSE_MISSING_DUE_TO_OVERSPEED_OF_ENERGY_PULSE_OUTPUT"),
    (0x80, "CODE_207_ABNORMAL_INTERNAL_CLOCK_FUNCTION"), (0x90, "INTERNAL_DATA_BUS_COMUNICATION_ERROR"),
), mask=0xFFFFFF, kind="index", unknown="ERROR_FLAGS")
_EMPTY = Lookup(mask=0xFFFF, default="", unknown="INPUT")


def _mfct(name: str, unit: str, dif_vif: str, kind: str = "num") -> F:
    return F(name, None, unit, kind=kind, dif_vif=dif_vif)


@register
class Iem3000(SpecDriver):
    """Schneider iEM3000 (wired M-Bus): three frame kinds — instantaneous values, energies and I/O,
    configuration. Per-phase values carry a manufacturer VIFE with the phase number."""

    name = "iem3000"
    meter_type = "ElectricityMeter"
    detect = frozenset({("SEC", 0x13, 0x02), ("SEC", 0x15, 0x02), ("SEC", 0x18, 0x02)})
    status = "tpl"
    spec = (
        F("error_flags", "error_flags", kind="lookup", status=True, lookup=IEM_ERRORS),
        F("firmware_version", "firmware_version", kind="text"),
        F("manufacturer", "manufacturer", kind="text"),
        F("model_version", "model_version", kind="text"),
        F("meter", "datetime", "datetime", kind="datetime_raw"),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_consumption_tariff_{tariff}", "energy", "kwh", tariff=range(1, 5)),
        *(_mfct(f"total_energy_consumption_l{n}", "kwh", f"0783FF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"total_energy_consumption_l{n}", "kwh", f"0583FF0{n}") for n in (1, 2, 3)),
        _mfct("total_energy_production", "kwh", "0783FF09"),
        _mfct("total_energy_production", "kwh", "0583FF09"),
        _mfct("partial_energy_consumption", "kwh", "0783FF0D"),
        _mfct("partial_energy_consumption", "kwh", "0583FF0D"),
        _mfct("partial_reactive_energy_consumption", "kvarh", "874083FF0D"),
        _mfct("partial_reactive_energy_consumption", "kvarh", "854083FF0D"),
        F("total_reactive_energy_consumption", "energy", "kvarh", subunit=1),
        _mfct("total_reactive_energy_production", "kvarh", "874083FF09"),
        _mfct("total_reactive_energy_production", "kvarh", "854083FF09"),
        F("active_consumption", "power", "kw"),
        *(_mfct(f"active_consumption_l{n}", "kw", f"05AEFF0{n}") for n in (1, 2, 3)),
        F("reactive_consumption", "power", "kw", subunit=1),
        F("apparent_consumption", "power", "kw", subunit=2),
        *(_mfct(f"current_l{n}", "a", f"05FDDCFF0{n}") for n in (1, 2, 3)),
        _mfct("current_average", "a", "05FDDCFF00"),
        *(_mfct(f"voltage_l{n}_n", "v", f"05FDC9FF0{n}") for n in (1, 2, 3)),
        _mfct("voltage_average_ln", "v", "05FDC9FF04"),
        _mfct("voltage_l1_l2", "v", "05FDC9FF05"),
        _mfct("voltage_l2_l3", "v", "05FDC9FF06"),
        _mfct("voltage_l3_l1", "v", "05FDC9FF07"),
        _mfct("voltage_average_ll", "v", "05FDC9FF08"),
        _mfct("frequency", "hz", "05FF0B"),
        _mfct("power_factor", "", "05FF0A"),
        _mfct("active_tariff_nr", "", "03FF10", kind="int"),
        F("input_metering_cumulation", "cumulation_counter", "counter"),
        F("last_partial_energy_reset", None, "datetime", kind="datetime_raw", dif_vif="04EDFF0C"),
        F("last_input_metering_reset", None, "datetime", kind="datetime_raw", dif_vif="04EDFF0E"),
        _mfct("pulse_duration", "counter", "03FF2C", kind="int"),
        _mfct("pulse_weight", "counter", "05FF2E"),
        _mfct("pulse_constant", "counter", "05FF2F"),
        F("digital_input", "digital_input", kind="lookup", lookup=_EMPTY),
        F("digital_input_association", None, kind="lookup", dif_vif="03FF30", lookup=_EMPTY),
        F("digital_input_status", None, kind="lookup", dif_vif="02FF32", lookup=_EMPTY),
        F("digital_output", "digital_output", kind="lookup",
          lookup=Lookup(mask=0xFFFF, default="", unknown="OUTPUT")),
        F("digital_output_association", None, kind="lookup", dif_vif="03FF30", lookup=_EMPTY),
        # configuration frame
        _mfct("phases_counter", "", "03FF21", kind="int"),
        _mfct("wires_nr", "", "03FF22", kind="int"),
        F("power_system_configuration", None, kind="lookup", dif_vif="03FF23",
          lookup=Lookup(mask=0xFFFFFF, kind="index", default="", unknown="POWER_SYS_CONFIG")),
        _mfct("nominal_frequency", "hz", "03FF24", kind="int"),
        _mfct("vts_counter", "", "03FF25", kind="int"),
        _mfct("vt_primary_nr", "", "05FF26"),
        _mfct("vt_secondary_nr", "", "03FF27", kind="int"),
        _mfct("cts_counter", "", "03FF28", kind="int"),
        _mfct("ct_primary_nr", "", "03FF29", kind="int"),
        _mfct("ct_secondary_nr", "", "03FF2A", kind="int"),
        _mfct("vt_connection_type_nr", "", "03FF2B", kind="int"),
        _mfct("operating_time_y", "", "06FF20", kind="int"),
        F("activated_status", None, kind="lookup", dif_vif="02FF34", lookup=_EMPTY),
        _mfct("pickup_setpoint_counter", "", "05FF35"),
        F("unack_status", None, kind="lookup", dif_vif="02FF36", lookup=_EMPTY),
        F("overload_alarm_setup", None, kind="lookup", dif_vif="02FF37", lookup=_EMPTY),
        F("digital_output_association_2", None, kind="lookup", dif_vif="02FF38", lookup=_EMPTY),
        F("last_alarm", None, "datetime", kind="datetime_raw", dif_vif="04EDFF39"),
        F("last_alarm_nr", None, dif_vif="05FF3A", fmt=lambda r: None if r.value != r.value else num(r.value)),
    )


@register
class Eltako(SpecDriver):
    """Eltako DSZ15DM (wired): per-phase values with a manufacturer VIFE phase number (00 = overall)."""

    name = "eltako"
    meter_type = "ElectricityMeter"
    detect = frozenset({("ELT", 0x01, 0x02)})
    spec = (
        F("total_tariff_{tariff}", "energy", "kwh", tariff=range(1, 3)),
        F("total_reactive_tariff_{tariff}", "energy", "kwh", storage=2, tariff=range(1, 3)),
        *(_mfct(f"voltage_l{n}_n", "v", f"02FDC9FF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"current_l{n}", "a", f"02FDDBFF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"power_l{n}", "kw", f"02ACFF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"reactive_power_l{n}", "kw", f"8240ACFF0{n}") for n in (1, 2, 3)),
        _mfct("active_power_overall", "kw", "02ACFF00"),
        _mfct("reactive_power_overall", "kw", "8240ACFF00"),
        _mfct("active_tariff", "counter", "01FF13", kind="int"),
        _mfct("ct_numerator", "counter", "02FF68", kind="int"),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        tariffs = [v for k, v in out.items() if k.startswith("total_tariff_") and isinstance(v, (int, float))]
        if tariffs:
            out["total_kwh"] = num(sum(tariffs))


_ABB_FLAGS = {"error_flags": ("07FFA600", "OK"), "warning_flags": ("07FFA700", "OK"),
              "information_flags": ("07FFA800", ""), "alarm_flags": ("07FFA900", "OK")}


@register
class AbbB23(SpecDriver):
    name = "abbb23"
    meter_type = "ElectricityMeter"
    detect = frozenset({("ABB", 0x20, 0x02)})
    status = "fields"
    spec = (
        F("total_energy_consumption", "energy", "kwh", vifes=None),
        _mfct("ct_numerator_factor", "", "04FFA015", kind="int"),
        _mfct("vt_numerator_factor", "", "04FFA115", kind="int"),
        _mfct("ct_denominator_factor", "", "04FFA215", kind="int"),
        _mfct("vt_denominator_factor", "", "04FFA315", kind="int"),
        *(F(name, None, kind="lookup", dif_vif=dv, status=(default == "OK"),
            lookup=Lookup(mask=0xFFFFFFFFFFFFFFFF, default=default, unknown=name.upper()))
          for name, (dv, default) in _ABB_FLAGS.items()),
        F("firmware_version", "firmware_version", kind="text", vifes=None),
        # This text record is sent in reading order, unlike standard text records.
        F("product_no", None, kind="text", dif_vif="0DFFAA00", fmt=lambda r: r.raw.decode("latin-1")),
    )


@register
class EsysWm(SpecDriver):
    name = "esyswm"
    meter_type = "ElectricityMeter"
    detect = frozenset({("ESY", 0x30, 0x37)})
    spec = (
        F("fabrication_no", "fabrication_no", kind="text"),
        F("enhanced_id", "enhanced_id", kind="text"),
        F("location", "customer_location", kind="text", fmt=lambda r: r.raw[::-1].hex().upper()),
        F("location_hex", "customer_location", kind="text", fmt=lambda r: r.raw[::-1].hex().upper()),
        F("version", "medium", kind="text"),
        F("total_energy_consumption", "energy", "kwh"),
        F("total_energy_consumption_tariff{tariff}", "energy", "kwh", tariff=range(1, 3)),
        F("total_energy_production", "energy", "kwh", vifes=("backward",)),
        F("current_power_consumption", "power", "kw"),
        *(_mfct(f"current_power_consumption_phase{n}", "kw", f"04A9FF0{n}") for n in (1, 2, 3)),
    )


@register
class Nemo(SpecDriver):
    """IME Nemo (wired): tariff 1/2 = positive/negative, subunit 1/2 = active/reactive, per-phase values
    with a manufacturer VIFE phase number."""

    name = "nemo"
    meter_type = "ElectricityMeter"
    detect = frozenset({("IME", 0x01, 0x02), ("IME", 0x1D, 0x02)})
    status = "tpl"
    spec = (
        error_flags(mask=0xFF),
        F("total_active_positive_3phase", "energy", "kwh", tariff=1, subunit=1),
        F("active_positive_3phase", "power", "kw", tariff=1, subunit=1),
        F("total_reactive_positive_3phase", "energy", "kwh", tariff=1, subunit=2),
        F("reactive_positive_3phase", "power", "kw", tariff=1, subunit=2),
        F("total_active_partial_3phase", "energy", "kwh", tariff=2, subunit=1),
        F("active_negative_3phase", "power", "kw", tariff=2, subunit=1),
        F("total_reactive_partial_3phase", "energy", "kwh", tariff=2, subunit=2),
        F("reactive_negative_3phase", "power", "kw", tariff=2, subunit=2),
        F("power_factor", "dimensionless", kind="num", vifes=()),
        *(_mfct(f"current_at_phase_{n}", "a", f"05FDD9FF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"voltage_at_phase_{n}", "v", f"05FDC8FF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"active_power_at_phase_{n}", "kw", f"8540ABFF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"reactive_power_at_phase_{n}", "kw", f"858040ABFF0{n}") for n in (1, 2, 3)),
        *(_mfct(f"at_phase_{n}_power_factor", "", f"05FDBAFF0{n}") for n in (1, 2, 3)),
        _mfct("voltage_l1_l2", "v", "05FDC8FF04"),
        _mfct("voltage_l2_l3", "v", "05FDC8FF05"),
        _mfct("voltage_l3_l1", "v", "05FDC8FF06"),
        _mfct("current_in_neutral", "a", "05FDD9FF04"),
        F("frequency", None, "hz", dif_vif="05FF5A", scale=0.1),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        out.setdefault("frequency_hz", None)


def _ime_energy() -> tuple[F, ...]:
    """IME Conto: energies as manufacturer records; tariff 5 = total, 6 = partial, 1-2 = tariffs; the
    manufacturer code says active (80, kWh) or reactive (81, kvarh), the last VIFE forward/backward."""
    out = []
    for tariff_dif, where in (("849010", "total"), ("84A010", "partial"), ("8410", "tariff1"), ("8420", "tariff2")):
        for code, kind, unit in (("80", "active", "kwh"), ("81", "reactive", "kvarh")):
            for direction, sign in (("3B", "positive"), ("3C", "negative")):
                name = (f"partial_{sign}_{kind}_energy" if where == "partial"
                        else f"{sign}_{where}_{kind}_energy")
                out.append(F(name, None, unit, dif_vif=f"{tariff_dif}FF{code}84{direction}", scale=0.01))
    return tuple(out)


@register
class Ime(SpecDriver):
    name = "ime"
    meter_type = "ElectricityMeter"
    detect = frozenset({("IME", 0x66, 0x02)})
    status = "tpl"
    spec = (
        *_ime_energy(),
        F("pulse_input_counter", None, kind="int", dif_vif="04FF9029"),
        F("pulse_unit", None, kind="lookup", dif_vif="02FF912B",
          lookup=Lookup(((0, "WH"), (1, "KWH"), (2, "MWH")), mask=0xFFFF, kind="index", unknown="UNIT")),
        *(F(f"voltage_{n}_n", None, "v", dif_vif=f"84{t}20FF8748", scale=0.1)
          for n, t in ((1, "80"), (2, "90"), (3, "A0"))),
        *(F(f"voltage_{a}_{b}", None, "v", dif_vif=f"84{t}20FF8848", scale=0.1)
          for a, b, t in ((1, 2, "80"), (2, 3, "90"), (3, 1, "A0"))),
        *(F(f"current_l{n}", None, "a", dif_vif=f"84{t}20FF8959", scale=0.001)
          for n, t in ((1, "80"), (2, "90"), (3, "A0"))),
        F("frequency", None, "hz", dif_vif="02FF8A48", scale=0.1),
        # telegram 2: active (FF84), reactive (FF85) and apparent (FF86) power, total (B010) and per phase
        *(F(f"{name}", None, unit, dif_vif=f"84{t}FF{v}2B", scale=0.001)
          for v, kind, unit in (("84", "active", "kw"), ("85", "reactive", "kvar"), ("86", "apparent", "kva"))
          for name, t in ((f"three_phase_total_{kind}_power", "B010"), (f"{kind}_power_l1", "8020"),
                          (f"{kind}_power_l2", "9020"), (f"{kind}_power_l3", "A020"))),
        F("three_phase_power_factor", None, dif_vif="82B010FF8B28", scale=0.001),
        F("power_factor_sector", None, kind="lookup", dif_vif="82B010FF8C2B",
          lookup=Lookup(((0, "RESISTIVE"), (1, "INDUCTIVE"), (2, "CAPACITIVE")), mask=0xFFFF, kind="index",
                        unknown="SECTOR")),
        F("total_active_power_requirement", None, "kw", dif_vif="8410FF8D2B", scale=0.001),
        *(F(f"max_total_active_power_tariff{n}", None, "kw", dif_vif=f"84{t}FF8E2B", scale=0.001)
          for n, t in ((1, "10"), (2, "20"))),
        F("run_meter_total", None, "h", dif_vif="84B010FF8F21", scale=1 / 60),
        *(F(f"run_meter_tariff{n}", None, "h", dif_vif=f"84{t}FF8F21", scale=1 / 60) for n, t in ((1, "10"), (2, "20"))),
    )
