"""eBZ (EBZ) electricity meters with a wM-Bus radio module: energy, per-phase power in records with a
manufacturer VIFE (A9 FF 01-03), customer text. The total power printed is the sum of the phases (null
when a phase is missing), not the module's own power record."""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, SpecDriver, lib, num
from decoders.telegram import Telegram

_PHASES = tuple(f"current_power_consumption_phase{n}_kw" for n in (1, 2, 3))


@register
class EbzWmbe(SpecDriver):
    name = "ebzwmbe"
    meter_type = "ElectricityMeter"
    detect = frozenset({("EBZ", 0x01, 0x02)})
    spec = (
        *lib("total_energy_consumption_kwh"),
        *(F(f"current_power_consumption_phase{n}", "power", "kw", dif_vif=f"04A9FF0{n}") for n in (1, 2, 3)),
        F("customer", "customer", kind="text"),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        phases = [out.get(p) for p in _PHASES]
        out["current_power_consumption_kw"] = (
            None if any(p is None for p in phases) else num(sum(phases)))  # type: ignore[arg-type]
