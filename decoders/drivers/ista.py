"""ista sensonic 3 heat meter (IST A9 04), C1 in OMS mode.

Standard records: current energy; storage 2 is the end of the previous month (date, energy, volume),
storage 1 the end of the previous billing year (date, energy). The status is the TPL status byte.
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver


@register
class IstaHeat(SpecDriver):
    name = "istaheat"
    meter_type = "HeatMeter"
    detect = frozenset({("IST", 0xA9, 0x04)})
    status = "tpl"
    spec = (
        F("total", "energy", "kwh"),
        F("target", ("date", "datetime"), "date", kind="date", storage=2),
        F("target", "energy", "kwh", storage=2),
        F("target", "volume", "m3", storage=2),
        F("last_year", ("date", "datetime"), "date", kind="date", storage=1),
        F("last_year", "energy", "kwh", storage=1),
    )
