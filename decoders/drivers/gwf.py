"""GWF (GWF): water meters with a GWF radio module, and the gas meter variant.

The water module appends a 0x0F block: type byte 0x01, a status byte (continuous flow, broken pipe,
battery low, backflow) and a byte with the power mode (bit 0) and battery life in half years (bits 3-7).
Other type bytes are not understood and are reported as UNKNOWN_MFCT_STATUS_<type>.
"""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, lib, num
from decoders.model import Alarm
from decoders.telegram import Telegram

GWF_FLAGS = Lookup((
    (0x02, "CONTINUOUS_FLOW", Alarm.LEAK), (0x08, "BROKEN_PIPE", Alarm.BURST),
    (0x20, "BATTERY_LOW", Alarm.LOW_BATTERY), (0x40, "BACKFLOW", Alarm.BACKFLOW),
), mask=0xFF, unknown="MFCT_FLAGS")


@register
class GwfWater(SpecDriver):
    name = "gwfwater"
    meter_type = "WaterMeter"
    detect = frozenset({("GWF", 0x01, 0x0E), ("GWF", 0x3C, 0x07)})
    status = "tpl"
    spec = lib("actuality_duration_s", "total_m3", "target_m3", "target_date")

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        b = tg.mfct_data
        if not b:
            return
        if b[0] != 0x01:
            out["_status_words"] = [f"UNKNOWN_MFCT_STATUS_{b[0]:X}"]
            out["battery_y"] = None
            return
        words = []
        if len(b) > 1:
            t = GWF_FLAGS.text(b[1])
            words = t.split() if t != "OK" else []
        out["_status_words"] = words
        if len(b) > 2:
            out["power_mode"] = "SAVING" if b[2] & 0x01 else "NORMAL"
            out["battery_y"] = num((b[2] // 8) * 0.5)

    def alarms(self, tg: Telegram):  # type: ignore[no-untyped-def]
        found, bits = super().alarms(tg)
        b = tg.mfct_data
        if len(b) > 1 and b[0] == 0x01:
            found = found | GWF_FLAGS.alarms(b[1])
            bits["gwf_status"] = b[1]
        return frozenset(found), bits


@register
class GwfGas(SpecDriver):
    name = "gwfgas"
    meter_type = "GasMeter"
    detect = frozenset({("GWF", 0x02, 0x03), ("GWF", 0x3C, 0x03)})
    status = "tpl"
    spec = (
        *lib("actuality_duration_s", "total_m3", "target_m3", "target_date"),
        F("status_flags", "error_flags", kind="lookup", status=True, lookup=Lookup(unknown="ERROR_FLAGS")),
    )
