"""Quantities x tariff -> net, VAT, gross.

Rounding (documented because invoices are checked by hand): every charge line's net amount is rounded to
the grosz, half up; VAT is computed once on the sum of the net lines and rounded to the grosz, half up;
gross = net + VAT. The worked example: 38.30 + 58.00 + 4.35 = 100.65 net, VAT 8.052 -> 8.05, 108.70 gross.
The subscription is charged per month of the period the service point was active (an exact fraction, see
`Period.month_ratio`) and rounded the same way; its quantity is shown to 4 decimals when not whole.
"""

from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

from server.billing.model import ChargeLine, Quantity, Tariff

GROSZ = Decimal("0.01")

# MWiK Kędzierzyn-Koźle, 14.06.2019-13.06.2020 (domain notes §3.4): a documented default, not a guess.
MWIK_KK_2019 = Tariff(
    water_price=Decimal("3.83"),
    sewage_price=Decimal("7.25"),
    subscription=Decimal("4.35"),
    vat_rate=Decimal("0.08"),
    name="MWiK K-K 2019/2020",
)


class TariffError(ValueError):
    """A tariff file that cannot be used."""


def money(x: Decimal) -> Decimal:
    return x.quantize(GROSZ, rounding=ROUND_HALF_UP)


def money_exact(x: Fraction) -> Decimal:
    """`money` of an exact fraction: half up (away from zero) to the grosz, no intermediate rounding."""
    grosze = math.floor(abs(x) * 100 + Fraction(1, 2))
    return (Decimal(grosze if x >= 0 else -grosze) / 100).quantize(GROSZ)


def subscription_line(months: int | Fraction, tariff: Tariff) -> ChargeLine:
    months = Fraction(months)
    if months.denominator == 1:   # whole months: exactly the charge of a full period
        qty = Decimal(months.numerator)
        return ChargeLine("subscription", qty, "month", tariff.subscription, money(tariff.subscription * qty))
    qty = (Decimal(months.numerator) / Decimal(months.denominator)).quantize(Decimal("0.0001"))
    return ChargeLine("subscription", qty, "month", tariff.subscription,
                      money_exact(Fraction(tariff.subscription) * months))


def charge_lines(water: Quantity, sewage: Quantity, months: int | Fraction, tariff: Tariff) -> list[ChargeLine]:
    """`months`: the months of the period the service point was active (whole or a fraction)."""
    lines = [ChargeLine("water", water.m3, "m3", tariff.water_price, money(water.m3 * tariff.water_price),
                        water.source)]
    if water.settlement_m3:
        lines.append(ChargeLine("water_settlement", water.settlement_m3, "m3", tariff.water_price,
                                money(water.settlement_m3 * tariff.water_price), water.source))
    lines.append(ChargeLine("sewage", sewage.m3, "m3", tariff.sewage_price,
                            money(sewage.m3 * tariff.sewage_price), sewage.source))
    if sewage.settlement_m3:
        lines.append(ChargeLine("sewage_settlement", sewage.settlement_m3, "m3", tariff.sewage_price,
                                money(sewage.settlement_m3 * tariff.sewage_price), sewage.source))
    lines.append(subscription_line(months, tariff))
    return lines


def totals(lines: list[ChargeLine], tariff: Tariff) -> tuple[Decimal, Decimal, Decimal]:
    net = sum((line.net for line in lines), Decimal(0))
    vat = money(net * tariff.vat_rate)
    return net, vat, net + vat


def load_tariff(path: str | Path) -> Tariff:
    """JSON: {"water_price": "3.83", "sewage_price": "7.25", "subscription": "4.35", "vat_rate": "0.08"}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Tariff(
            water_price=Decimal(str(data["water_price"])),
            sewage_price=Decimal(str(data["sewage_price"])),
            subscription=Decimal(str(data["subscription"])),
            vat_rate=Decimal(str(data["vat_rate"])),
            name=str(data.get("name", Path(path).stem)),
        )
    except (OSError, ValueError, KeyError, TypeError, InvalidOperation) as e:
        raise TariffError(f"{path}: {e!r}") from None
