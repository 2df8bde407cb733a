"""Kaden / Ecomess type 07 water meter (KDN or VIP manufacturer code, AES mode 5).

The records are standard; the meter repeats the volume and the actuality-duration headers, and the second
of each (purpose undocumented) is printed as `volume_b` / `duration_b`. A water-leak alarm is signalled in
the TPL status byte: bits 0-1 = 3 (ALARM) plus manufacturer bits 5 (flow stayed below 100 l/h during the
leak) and 6 (flow exceeded 100 l/h).
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, error_flags, lib
from decoders.model import Alarm
from decoders.telegram import Telegram


@register
class KadenWater(SpecDriver):
    name = "kadenwater"
    meter_type = "WaterMeter"
    detect = frozenset({("KDN", 0x01, 0x07), ("VIP", 0x01, 0x07)})
    status = "tpl"
    tpl_mfct_bits = {0x20: "LEAK_FLOW_LOW", 0x40: "LEAK_FLOW_HIGH"}
    spec = (
        error_flags(),
        *lib("total_m3", "volume_flow_m3h", "actuality_duration_s", "meter_datetime", "fabrication_no"),
        F("max_flow", "volume_flow", "m3h", function="maximum"),
        F("volume_b", "volume", "m3", nth=2),
        F("duration_b", "actuality_duration", "s", nth=2),
    )

    def alarms(self, tg: Telegram) -> tuple[frozenset[Alarm], dict[str, int]]:
        found, bits = super().alarms(tg)
        if tg.sts is not None and tg.sts & 0x03 == 0x03:  # the meter's permanent water-leak alarm
            found = found | {Alarm.LEAK}
        return found, bits
