"""Monthly consumption history for one service point or one meter, computed by the billing engine.

Each month is billed stand-alone (no opening positions), so a month's quantity is what the register
advanced by between that month's boundaries; consecutive months tile, so they add up to the whole span.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from server.api.schemas import MeterConsumption, MonthConsumption
from server.billing.engine import BillingConfig, bill_service_point
from server.billing.model import MeterQuantity, ServicePoint
from server.billing.period import Period

LITRE = Decimal("0.001")


def _q(x: Decimal) -> str:
    return str(x.quantize(LITRE))


def months_of(sp: ServicePoint, span: Period, config: BillingConfig, meter: str | None = None,
              ) -> list[MonthConsumption]:
    if meter is not None:
        sp = replace(sp, installations=[i for i in sp.installations if i.meter_id == meter], alarms=[])
    out = []
    for month in span.split():
        bill = bill_service_point(sp, month, config)
        seen: dict[int, MeterQuantity] = {}
        for p in bill.water.parts + bill.sewage.parts:
            seen.setdefault(id(p), p)
        meters = [MeterConsumption(meter=p.meter_id, role=str(p.role), m3=_q(p.consumption),
                                   settlement_m3=_q(p.settlement), source=str(p.source)) for p in seen.values()]
        out.append(MonthConsumption(period=month.label, water_m3=_q(bill.water.m3),
                                    water_source=str(bill.water.source), sewage_m3=_q(bill.sewage.m3),
                                    sewage_source=str(bill.sewage.source), meters=meters))
    return out
