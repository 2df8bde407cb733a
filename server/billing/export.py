"""The billing file and the exceptions report, as CSV (one row per service point / exception) or JSON.

Amounts and quantities are written as decimal strings, never floats: the billing system re-adds them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from server.billing.model import Bill, BillingException, MeterQuantity

BILL_COLUMNS = [
    "period_start", "period_end", "service_point", "account", "connection",
    "water_m3", "water_settlement_m3", "water_source", "sewage_m3", "sewage_settlement_m3", "sewage_source",
    "water_net", "water_settlement_net", "sewage_net", "sewage_settlement_net", "subscription_months",
    "subscription_net", "net", "vat", "gross", "meters", "exceptions",
]
EXCEPTION_COLUMNS = ["service_point", "kind", "meter_id", "at", "detail"]


LITRE = Decimal("0.001")


def q(x: Decimal) -> str:
    """Quantities always with three decimals (litres), whatever precision the store returned."""
    return str(x.quantize(LITRE))


def _part(p: MeterQuantity) -> str:
    ends = ""
    if p.start is not None and p.end is not None:
        ends = f" {q(p.start.value)}({p.start.method})->{q(p.end.value)}({p.end.method})"
    return f"{p.meter_id}[{p.role}]:{q(p.consumption)}{f'{p.settlement:+.3f}' if p.settlement else ''}" \
           f" {p.source}{ends}"


def bill_row(bill: Bill) -> dict[str, Any]:
    nets = {line.kind: line for line in bill.lines}

    def net(kind: str) -> str:
        return str(nets[kind].net) if kind in nets else "0.00"

    return {
        "period_start": bill.period_start.isoformat(),
        "period_end": bill.period_end.isoformat(),
        "service_point": bill.service_point,
        "account": bill.account or "",
        "connection": str(bill.connection),
        "water_m3": q(bill.water.m3),
        "water_settlement_m3": q(bill.water.settlement_m3),
        "water_source": str(bill.water.source),
        "sewage_m3": q(bill.sewage.m3),
        "sewage_settlement_m3": q(bill.sewage.settlement_m3),
        "sewage_source": str(bill.sewage.source),
        "water_net": net("water"),
        "water_settlement_net": net("water_settlement"),
        "sewage_net": net("sewage"),
        "sewage_settlement_net": net("sewage_settlement"),
        "subscription_months": str(nets["subscription"].quantity) if "subscription" in nets else "0",
        "subscription_net": net("subscription"),
        "net": str(bill.net),
        "vat": str(bill.vat),
        "gross": str(bill.gross),
        "meters": "; ".join(_part(p) for p in bill.water.parts + [
            p for p in bill.sewage.parts if p not in bill.water.parts]),
        "exceptions": len(bill.exceptions),
    }


def bill_json(bill: Bill) -> dict[str, Any]:
    def parts(ps: list[MeterQuantity]) -> list[dict[str, Any]]:
        return [{
            "meter_id": p.meter_id, "role": str(p.role), "consumption_m3": q(p.consumption),
            "settlement_m3": q(p.settlement), "source": str(p.source), "note": p.note,
            "start": None if p.start is None else {"at": p.start.at.isoformat(), "value": q(p.start.value),
                                                   "source": str(p.start.source), "method": p.start.method},
            "end": None if p.end is None else {"at": p.end.at.isoformat(), "value": q(p.end.value),
                                               "source": str(p.end.source), "method": p.end.method},
        } for p in ps]

    return {
        "service_point": bill.service_point,
        "account": bill.account,
        "period": {"start": bill.period_start.isoformat(), "end": bill.period_end.isoformat()},
        "connection": str(bill.connection),
        "water": {"m3": q(bill.water.m3), "settlement_m3": q(bill.water.settlement_m3),
                  "source": str(bill.water.source), "parts": parts(bill.water.parts)},
        "sewage": {"m3": q(bill.sewage.m3), "settlement_m3": q(bill.sewage.settlement_m3),
                   "source": str(bill.sewage.source)},
        "lines": [{"kind": ln.kind, "quantity": str(ln.quantity), "unit": ln.unit,
                   "unit_price": str(ln.unit_price), "net": str(ln.net),
                   "source": str(ln.source) if ln.source else None} for ln in bill.lines],
        "net": str(bill.net), "vat": str(bill.vat), "gross": str(bill.gross),
        "exceptions": [e.to_dict() for e in bill.exceptions],
    }


def write_bills(bills: Iterable[Bill], path: Path, fmt: str) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        if fmt == "csv":
            w = csv.DictWriter(f, fieldnames=BILL_COLUMNS)
            w.writeheader()
            for b in bills:
                w.writerow(bill_row(b))
                n += 1
        else:
            f.write("[\n")
            for b in bills:
                f.write((",\n" if n else "") + json.dumps(bill_json(b), ensure_ascii=False))
                n += 1
            f.write("\n]\n")
    return n


def write_exceptions(exceptions: Iterable[BillingException], path: Path, fmt: str) -> int:
    rows = [e.to_dict() for e in exceptions]
    with path.open("w", newline="", encoding="utf-8") as f:
        if fmt == "csv":
            w = csv.DictWriter(f, fieldnames=EXCEPTION_COLUMNS)
            w.writeheader()
            w.writerows({k: ("" if r[k] is None else r[k]) for k in EXCEPTION_COLUMNS} for r in rows)
        else:
            json.dump(rows, f, ensure_ascii=False, indent=1)
    return len(rows)


def decimal_default(o: object) -> str:
    if isinstance(o, Decimal):
        return str(o)
    raise TypeError(type(o).__name__)
