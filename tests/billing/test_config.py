"""Tariff and norm files: used when valid, a typed error when not."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from server.billing.engine import BillingConfig, bill_service_point
from server.billing.model import Connection, ServicePoint
from server.billing.norms import NormError, NormTable
from server.billing.period import Period
from server.billing.tariff import TariffError, load_tariff


def test_tariff_file_drives_the_amounts(tmp_path):
    f = tmp_path / "t.json"
    f.write_text('{"name": "2018", "water_price": "3.63", "sewage_price": "7.07", "subscription": "3.96", '
                 '"vat_rate": "0.08"}')
    cfg = BillingConfig(tariff=load_tariff(f))
    sp = ServicePoint("SP", connection=Connection.UNMETERED, norm_category="household_wc", norm_units=D(1))
    bill = bill_service_point(sp, Period.parse("2026-10"), cfg)
    # 1.8 m3: water 6.534 -> 6.53, sewage 12.726 -> 12.73, subscription 3.96 = 23.22 net, VAT 1.8576 -> 1.86
    assert (bill.net, bill.vat, bill.gross) == (D("23.22"), D("1.86"), D("25.08"))


@pytest.mark.parametrize("text", ["{", '{"water_price": "x", "sewage_price": 1, "subscription": 1, "vat_rate": 0}',
                                  '{"water_price": 1}'])
def test_bad_tariff_file_is_a_typed_error(tmp_path, text):
    f = tmp_path / "t.json"
    f.write_text(text)
    with pytest.raises(TariffError):
        load_tariff(f)


def test_norm_file_errors(tmp_path):
    f = tmp_path / "n.csv"
    f.write_text("category,value\nx,1\n")
    with pytest.raises(NormError, match="unit"):
        NormTable.from_csv(f)
    f.write_text("category,unit,value\nx,person,lots\n")
    with pytest.raises(NormError, match="not a number"):
        NormTable.from_csv(f)
    f.write_text("category,unit,value\nx,person,-1\n")
    with pytest.raises(NormError, match="negative"):
        NormTable.from_csv(f)
