"""VIF/VIFE tables (EN 13757-3): value information -> (quantity, unit, factor, kind).

Values are converted to one unit per quantity: m3, m3/h, kWh, kW, C, K, h, bar, kg, kg/h, V, A, Hz,
%RH. `kind` says how the data bytes are read: "num" (a number scaled by factor), "date" (type G),
"datetime" (F/I, or J for three bytes), "text", "id" (unsigned; fabrication numbers, flags), "raw".

Entries are plain tuples so the record loop pays one dict/list lookup per VIF.
"""

from __future__ import annotations

VifInfo = tuple[str, str, float, str]  # quantity, unit, factor, kind

_DUR_H = (1 / 3600, 1 / 60, 1.0, 24.0)  # s, min, h, d -> hours


def _primary() -> list[VifInfo]:
    t: list[VifInfo] = [("unknown", "", 1.0, "raw")] * 128
    for n in range(8):
        t[0x00 + n] = ("energy", "kWh", 10.0 ** (n - 3) / 1000, "num")
        t[0x08 + n] = ("energy", "kWh", 10.0 ** n / 3.6e6, "num")
        t[0x10 + n] = ("volume", "m3", 10.0 ** (n - 6), "num")
        t[0x18 + n] = ("mass", "kg", 10.0 ** (n - 3), "num")
        t[0x28 + n] = ("power", "kW", 10.0 ** (n - 3) / 1000, "num")
        t[0x30 + n] = ("power", "kW", 10.0 ** n / 3.6e6, "num")
        t[0x38 + n] = ("volume_flow", "m3/h", 10.0 ** (n - 6), "num")
        t[0x40 + n] = ("volume_flow", "m3/h", 10.0 ** (n - 7) * 60, "num")
        t[0x48 + n] = ("volume_flow", "m3/h", 10.0 ** (n - 9) * 3600, "num")
        t[0x50 + n] = ("mass_flow", "kg/h", 10.0 ** (n - 3), "num")
    for n in range(4):
        t[0x20 + n] = ("on_time", "h", _DUR_H[n], "num")
        t[0x24 + n] = ("operating_time", "h", _DUR_H[n], "num")
        t[0x58 + n] = ("flow_temperature", "C", 10.0 ** (n - 3), "num")
        t[0x5C + n] = ("return_temperature", "C", 10.0 ** (n - 3), "num")
        t[0x60 + n] = ("temperature_difference", "K", 10.0 ** (n - 3), "num")
        t[0x64 + n] = ("external_temperature", "C", 10.0 ** (n - 3), "num")
        t[0x68 + n] = ("pressure", "bar", 10.0 ** (n - 3), "num")
        t[0x70 + n] = ("averaging_duration", "h", _DUR_H[n], "num")
        t[0x74 + n] = ("actuality_duration", "h", _DUR_H[n], "num")
    t[0x6C] = ("date", "", 1.0, "date")
    t[0x6D] = ("datetime", "", 1.0, "datetime")
    t[0x6E] = ("hca", "", 1.0, "num")
    t[0x6F] = ("reserved", "", 1.0, "raw")
    t[0x78] = ("fabrication_no", "", 1.0, "id")
    t[0x79] = ("enhanced_id", "", 1.0, "id")
    t[0x7A] = ("bus_address", "", 1.0, "id")
    t[0x7C] = ("plain_text_unit", "", 1.0, "num")
    t[0x7E] = ("any", "", 1.0, "raw")
    t[0x7F] = ("manufacturer_specific", "", 1.0, "raw")
    return t


PRIMARY: list[VifInfo] = _primary()


def _fd() -> dict[int, VifInfo]:
    t: dict[int, VifInfo] = {}
    for n in range(4):
        t[0x00 + n] = ("credit", "", 10.0 ** (n - 3), "num")
        t[0x04 + n] = ("debit", "", 10.0 ** (n - 3), "num")
        t[0x24 + n] = ("storage_interval", "h", _DUR_H[n], "num")
        t[0x2C + n] = ("duration_since_readout", "h", _DUR_H[n], "num")
        t[0x34 + n] = ("tariff_period", "h", _DUR_H[n], "num")
    names = {
        0x08: ("access_number", "id"), 0x09: ("medium", "id"), 0x0A: ("manufacturer", "id"),
        0x0B: ("parameter_set", "id"), 0x0C: ("model_version", "id"), 0x0D: ("hardware_version", "id"),
        0x0E: ("firmware_version", "id"), 0x0F: ("software_version", "id"),
        0x10: ("customer_location", "id"), 0x11: ("customer", "id"), 0x12: ("access_code_user", "id"),
        0x13: ("access_code_operator", "id"), 0x14: ("access_code_system_operator", "id"),
        0x15: ("access_code_developer", "id"), 0x16: ("password", "id"), 0x17: ("error_flags", "id"),
        0x18: ("error_mask", "id"), 0x1A: ("digital_output", "id"), 0x1B: ("digital_input", "id"),
        0x1C: ("baud_rate", "num"), 0x1D: ("response_delay", "num"), 0x1E: ("retry", "num"),
        0x1F: ("remote_control", "id"), 0x20: ("first_storage", "num"), 0x21: ("last_storage", "num"),
        0x22: ("storage_block_size", "num"), 0x28: ("storage_interval_months", "num"),
        0x29: ("storage_interval_years", "num"), 0x2A: ("operator_data", "id"),
        0x2B: ("time_point_second", "num"), 0x30: ("tariff_start", "datetime"),
        0x38: ("tariff_period_months", "num"), 0x39: ("tariff_period_years", "num"),
        0x3A: ("dimensionless", "num"), 0x3B: ("wireless_container", "raw"),
        0x60: ("reset_counter", "num"), 0x61: ("cumulation_counter", "num"),
        0x62: ("control_signal", "id"), 0x63: ("day_of_week", "num"), 0x64: ("week_number", "num"),
        0x65: ("day_change_time", "datetime"), 0x66: ("parameter_activation", "id"),
        0x67: ("supplier_information", "id"), 0x70: ("battery_change", "datetime"),
        0x71: ("rssi", "num"), 0x72: ("daylight_saving", "id"), 0x73: ("listening_window", "id"),
        0x74: ("remaining_battery", "num"), 0x75: ("stop_count", "num"),
        0x76: ("manufacturer_container", "raw"),
    }
    for code, (q, kind) in names.items():
        unit = "dBm" if q == "rssi" else "d" if q == "remaining_battery" else ""
        t[code] = (q, unit, 1.0, kind)
    t[0x74] = ("remaining_battery", "h", 24.0, "num")
    for n in range(1, 4):
        t[0x30 + n] = ("tariff_duration", "h", _DUR_H[n], "num")
    for n in range(16):
        t[0x40 + n] = ("voltage", "V", 10.0 ** (n - 9), "num")
        t[0x50 + n] = ("current", "A", 10.0 ** (n - 12), "num")
    t[0x68] = ("duration_since_cumulation", "h", 1.0, "num")
    t[0x69] = ("duration_since_cumulation", "h", 24.0, "num")
    t[0x6A] = ("duration_since_cumulation_months", "", 1.0, "num")
    t[0x6B] = ("duration_since_cumulation_years", "", 1.0, "num")
    t[0x6C] = ("battery_operating_time", "h", 1.0, "num")
    t[0x6D] = ("battery_operating_time", "h", 24.0, "num")
    t[0x6E] = ("battery_operating_time_months", "", 1.0, "num")
    t[0x6F] = ("battery_operating_time_years", "", 1.0, "num")
    return {0xFD00 | k: v for k, v in t.items()}


def _fb() -> dict[int, VifInfo]:
    t: dict[int, VifInfo] = {}
    for n in range(2):
        t[0x00 + n] = ("energy", "kWh", 10.0 ** (n - 1) * 1000, "num")
        t[0x02 + n] = ("reactive_energy", "kvarh", 10.0 ** (n - 1) * 1000, "num")
        t[0x08 + n] = ("energy", "kWh", 10.0 ** (n - 1) * 1e9 / 3.6e6, "num")
        t[0x10 + n] = ("volume", "m3", 10.0 ** (n + 2), "num")
        t[0x18 + n] = ("mass", "kg", 10.0 ** (n + 2) * 1000, "num")
        t[0x1A + n] = ("relative_humidity", "%RH", 10.0 ** (n - 1), "num")
        t[0x28 + n] = ("power", "kW", 10.0 ** (n - 1) * 1000, "num")
        t[0x30 + n] = ("power", "kW", 10.0 ** (n - 1) * 1e9 / 3.6e6, "num")
    t[0x20] = ("volume", "m3", 0.028316846592, "num")
    t[0x21] = ("volume", "m3", 0.0028316846592, "num")
    t[0x2A] = ("phase_u_u", "deg", 0.1, "num")
    t[0x2B] = ("phase_u_i", "deg", 0.1, "num")
    for n in range(4):
        t[0x2C + n] = ("frequency", "Hz", 10.0 ** (n - 3), "num")
        t[0x58 + n] = ("flow_temperature", "F", 10.0 ** (n - 3), "num")
        t[0x5C + n] = ("return_temperature", "F", 10.0 ** (n - 3), "num")
        t[0x60 + n] = ("temperature_difference", "F", 10.0 ** (n - 3), "num")
        t[0x64 + n] = ("external_temperature", "F", 10.0 ** (n - 3), "num")
        t[0x70 + n] = ("temperature_limit", "F", 10.0 ** (n - 3), "num")
        t[0x74 + n] = ("temperature_limit", "C", 10.0 ** (n - 3), "num")
    for n in range(4):
        t[0x34 + n] = ("apparent_power", "kVA", 10.0 ** (n - 3) / 1000, "num")
    for n in range(8):
        t[0x78 + n] = ("max_power_count", "kW", 10.0 ** (n - 3) / 1000, "num")
    return {0xFB00 | k: v for k, v in t.items()}


EXTENDED: dict[int, VifInfo] = {**_fd(), **_fb()}
UNKNOWN: VifInfo = ("unknown", "", 1.0, "raw")


def _combinable() -> list[tuple[str, float]]:
    """Combinable (orthogonal) VIFE, low 7 bits -> (name, multiplicative factor)."""
    t: list[tuple[str, float]] = [("", 1.0)] * 128
    for c in range(0x20):
        t[c] = (f"error_{c:02x}", 1.0)
    per = ("per_second", "per_minute", "per_hour", "per_day", "per_week", "per_month", "per_year",
           "per_revolution", "per_pulse_in_0", "per_pulse_in_1", "per_pulse_out_0", "per_pulse_out_1",
           "per_litre", "per_m3", "per_kg", "per_k", "per_kwh", "per_gj", "per_kw", "per_kl", "per_v",
           "per_a", "times_s", "times_s_per_v", "times_s_per_a", "start_date", "uncorrected", "forward",
           "backward")
    for i, name in enumerate(per):
        t[0x20 + i] = (name, 1.0)
    t[0x3D] = ("reserved_3d", 1.0)
    t[0x3E] = ("base_conditions", 1.0)  # value at base conditions (gas volume converted to them)
    t[0x3F] = ("reserved_3f", 1.0)
    for c in range(0x40, 0x70):
        u = "upper" if c & 0x08 else "lower"
        if c in (0x40, 0x48):
            t[c] = (f"{u}_limit", 1.0)
        elif c in (0x41, 0x49):
            t[c] = (f"{u}_limit_exceed_count", 1.0)
        elif c in (0x68, 0x6C):
            t[c] = (f"value_during_{u}_limit_exceed", 1.0)
        elif c == 0x69:
            t[c] = ("leakage_values", 1.0)
        elif c == 0x6D:
            t[c] = ("overflow_values", 1.0)
        elif 0x50 <= c < 0x60:
            t[c] = (f"{u}_limit_exceed_duration", 1.0)
        elif 0x60 <= c < 0x68:
            t[c] = ("duration_of_first" if c & 0x04 == 0 else "duration_of_last", 1.0)
        else:
            t[c] = (f"{u}_limit_exceed_time_{c & 0x07}", 1.0)
    for n in range(8):
        t[0x70 + n] = ("scaled", 10.0 ** (n - 6))
    for n in range(4):
        t[0x78 + n] = (f"additive_correction_{n}", 1.0)
    t[0x7C] = ("extension_fc", 1.0)
    t[0x7D] = ("scaled", 1000.0)
    t[0x7E] = ("future_value", 1.0)
    t[0x7F] = ("manufacturer_specific", 1.0)
    return t


COMBINABLE: list[tuple[str, float]] = _combinable()
