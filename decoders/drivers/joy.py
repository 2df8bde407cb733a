"""Joy Technology JOYH100 heat cost allocator (JOY 0B/0C 08, AES mode 5).

Standard records: current and billing-date units, two radiator temperatures, the dates of the last
cover-removal and temperature-sensor alarms (storage 2 and 3; 0000 when none, printed as the reference
normalises it), error flags in storage 4, monthly history in storage 7-18 and yearly in 19-21. TPL status
bit 2 is the radio module's low battery.
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, lib
from decoders.model import Alarm

JOY_FLAGS = Lookup((
    (0x01, "OPEN_COVER", Alarm.TAMPER_OPENING), (0x02, "MEMORY_ERROR", Alarm.HARDWARE_ERROR),
    (0x04, "TEMP_SENSOR_ERROR", Alarm.HARDWARE_ERROR), (0x08, "BATTERY_LOW", Alarm.LOW_BATTERY),
), mask=0xFF, unknown="ERROR_FLAGS")


@register
class JoyH100(SpecDriver):
    name = "joyh100"
    meter_type = "HeatCostAllocationMeter"
    detect = frozenset({("JOY", 0x0B, 0x08), ("JOY", 0x0C, 0x08)})
    status = "tpl"
    tpl_mfct_bits = {0x04: "RADIO_MODULE_BATTERY_LOW"}
    alarm_lookups = (("status", JOY_FLAGS),)
    spec = (
        F("status", "error_flags", kind="lookup", storage=4, lookup=JOY_FLAGS, status=True),
        F("consumption", "hca", "hca"),
        F("target", "hca", "hca", storage=1),
        *lib("meter_datetime", "target_date", "flow_temperature_c", "return_temperature_c"),
        F("open_cover_alarm", "date", "date", kind="date", storage=2),
        F("temp_sensor_alarm", "date", "date", kind="date", storage=3),
        *(F(f"historic_{s - 6}", "hca", "hca", storage=s) for s in range(7, 19)),
        *(F(f"historic_{s - 18}_year", "hca", "hca", storage=s) for s in range(19, 22)),
    )
