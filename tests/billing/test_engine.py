"""Worked examples of the billing rules (domain notes §3), each computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from server.billing.engine import (
    BillingConfig,
    bill_service_point,
    settle_contract_end,
    settle_contract_start,
)
from server.billing.model import (
    AlarmEvent,
    Connection,
    ExceptionKind,
    Fault,
    Installation,
    Position,
    RegisterReading,
    Role,
    ServicePoint,
    Source,
)
from server.billing.norms import NormTable
from server.billing.period import Period, PeriodError

OCT = Period.parse("2026-10")
NOV = Period.parse("2026-11")


def t(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def rr(at: datetime, value: str | int | float, source: Source = Source.RADIO, due: bool = False) -> RegisterReading:
    return RegisterReading(at, D(str(value)), source, due)


def main(readings: list[RegisterReading], meter: str = "M1", **kw) -> Installation:
    kw.setdefault("installed_at", t(2020, 1, 1))
    return Installation(meter, Role.MAIN, readings=readings, **kw)


def garden(readings: list[RegisterReading], legalised_until: date | None = date(2030, 1, 1),
           meter: str = "G1", **kw) -> Installation:
    kw.setdefault("installed_at", t(2020, 1, 1))
    return Installation(meter, Role.GARDEN, readings=readings, legalised_until=legalised_until, **kw)


def kinds(bill) -> list[str]:
    return sorted(str(e.kind) for e in bill.exceptions)


def outside(bill) -> list[tuple[str | None, datetime | None, D]]:
    """The consumption_outside_contract exceptions as (meter, from, m3); the detail starts with the m3."""
    return [(e.meter_id, e.at, D(e.detail.split()[0])) for e in bill.exceptions
            if e.kind == ExceptionKind.OUTSIDE_CONTRACT]


def test_worked_example_108_70_gross():
    # 10 m3 through the main meter, 2 m3 through the legalised garden sub-meter, MWiK K-K 2019 tariff
    sp = ServicePoint("SP1", "A1", installations=[
        main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 11, 1), 110, due=True)]),
        garden([rr(t(2026, 10, 1), 5, Source.SELF_READING), rr(t(2026, 11, 1), 7, Source.SELF_READING)]),
    ])
    bill = bill_service_point(sp, OCT)
    assert bill.water.m3 == D("10.000") and bill.water.source == Source.RADIO
    assert bill.sewage.m3 == D("8.000") and bill.sewage.source == Source.SELF_READING
    nets = {line.kind: line.net for line in bill.lines}
    assert nets == {"water": D("38.30"), "sewage": D("58.00"), "subscription": D("4.35")}
    assert (bill.net, bill.vat, bill.gross) == (D("100.65"), D("8.05"), D("108.70"))
    assert bill.exceptions == []
    assert [(p.meter_id, p.value, p.method) for p in bill.closing] == [("M1", D(110), "due_date"),
                                                                       ("G1", D(7), "reading")]


def test_without_submeter_sewage_equals_water():
    sp = ServicePoint("SP1", installations=[main([rr(t(2026, 10, 1), 100), rr(t(2026, 11, 1), 110)])])
    bill = bill_service_point(sp, OCT)
    assert bill.sewage.m3 == D(10)
    assert bill.net == D("38.30") + D("72.50") + D("4.35")


def test_interpolation_between_nearest_readings():
    # Oct 1 = 90 + 10*11/20 = 95.5; Nov 1 = 105 + 10*7/16 = 109.375
    sp = ServicePoint("SP1", installations=[main([
        rr(t(2026, 9, 20), 90), rr(t(2026, 10, 10), 100), rr(t(2026, 10, 25), 105, Source.MANUAL),
        rr(t(2026, 11, 10), 115)])])
    bill = bill_service_point(sp, OCT)
    part = bill.water.parts[0]
    assert (part.start.value, part.start.method) == (D("95.500"), "interpolated")
    assert (part.end.value, part.end.source) == (D("109.375"), Source.MANUAL)
    assert bill.water.m3 == D("13.875")
    assert bill.water.source == Source.MANUAL   # the weakest boundary


def test_due_date_register_wins_over_interpolation():
    # a spot reading at the same instant is ignored in favour of the meter's own due-date value
    sp = ServicePoint("SP1", installations=[main([
        rr(t(2026, 9, 1), 0), rr(t(2026, 10, 1), 50, Source.MANUAL), rr(t(2026, 10, 1), 51, due=True),
        rr(t(2026, 11, 1), 60, due=True), rr(t(2026, 11, 20), 200)])])
    bill = bill_service_point(sp, OCT)
    assert bill.water.m3 == D(9)
    assert bill.water.parts[0].start.method == "due_date"


def test_meter_replacement_old_final_plus_new_initial():
    old = main([rr(t(2026, 10, 1), 1230, due=True)], meter="OLD", removed_at=t(2026, 10, 15, 12),
               final_value=D("1234.5"))
    new = main([rr(t(2026, 11, 1), "3.2", due=True)], meter="NEW", installed_at=t(2026, 10, 15, 12),
               initial_value=D("0.2"))
    bill = bill_service_point(ServicePoint("SP1", installations=[old, new]), OCT)
    assert [(p.meter_id, p.consumption) for p in bill.water.parts] == [("OLD", D("4.5")), ("NEW", D("3.0"))]
    assert bill.water.m3 == D("7.5")
    assert [p.meter_id for p in bill.closing] == ["NEW"]
    assert kinds(bill) == []


def test_register_rollover():
    inst = main([rr(t(2026, 10, 1), "99998"), rr(t(2026, 11, 1), "3")], register_modulus=D(100000),
                initial_value=D(99000))
    bill = bill_service_point(ServicePoint("SP1", installations=[inst]), OCT)
    assert bill.water.m3 == D(5)
    assert ExceptionKind.REVERSE not in {e.kind for e in bill.exceptions}


def test_reverse_consumption_is_reported_not_billed_negative():
    inst = main([rr(t(2026, 10, 1), 500), rr(t(2026, 10, 20), 490), rr(t(2026, 11, 1), 495)],
                register_modulus=D(100000))
    bill = bill_service_point(ServicePoint("SP1", installations=[inst]), OCT)
    assert bill.water.m3 == D(0)
    assert (bill.closing[0].value, bill.closing[0].method) == (D(500), "held")   # it does not move back
    assert "reverse_consumption" in kinds(bill)
    # the next period bills only what goes beyond the position already billed
    nxt = main(inst.readings + [rr(t(2026, 12, 1), 512)], register_modulus=D(100000))
    bill2 = bill_service_point(ServicePoint("SP1", installations=[nxt]), NOV,
                               opening={p.meter_id: p for p in bill.closing})
    assert (bill2.water.m3, bill2.water.settlement_m3) == (D(12), D(0))


def monthly(values: dict[tuple[int, int], int]) -> list[RegisterReading]:
    return [rr(t(y, m, 1), v, due=True) for (y, m), v in values.items()]


def test_estimate_then_exact_settlement():
    history = monthly({(2026, m): 10 * (m - 1) for m in range(1, 11)})   # Jan 1 = 0 ... Oct 1 = 90
    sp = ServicePoint("SP1", installations=[main(history, installed_at=t(2026, 1, 1))])
    oct_bill = bill_service_point(sp, OCT)
    # 90 m3 over Jan 1..Oct 1 (273 days) -> 0.32967 m3/day x 31 days = 10.220
    assert oct_bill.water.m3 == D("10.220") and oct_bill.water.source == Source.ESTIMATE
    assert "unread" in kinds(oct_bill)
    closing = {p.meter_id: p for p in oct_bill.closing}
    assert closing["M1"].source == Source.ESTIMATE

    # the reading comes on Dec 1: Nov 1 is now interpolated as 90 + 22 x 31/61 = 101.180
    sp.installations[0].readings.append(rr(t(2026, 12, 1), 112, due=True))
    nov_bill = bill_service_point(sp, NOV, opening=closing)
    assert nov_bill.water.m3 == D("10.820")
    assert nov_bill.water.settlement_m3 == D("101.180") - D("100.220")
    assert oct_bill.water.total + nov_bill.water.total == D(22)   # exactly the metered 112 - 90
    assert any(line.kind == "water_settlement" for line in nov_bill.lines)
    assert nov_bill.sewage.settlement_m3 == nov_bill.water.settlement_m3


def test_unmetered_connection_by_norm():
    sp = ServicePoint("SP1", connection=Connection.UNMETERED, norm_category="household_bath_central_hw",
                      norm_units=D(3))
    bill = bill_service_point(sp, OCT)
    assert bill.water.m3 == D("14.400") and bill.water.source == Source.NORM
    assert bill.sewage.m3 == D("14.400")


def test_temporary_connection_norm_until_meter_is_fitted(tmp_path):
    norms = tmp_path / "norms.csv"
    norms.write_text("category,unit,value,description\nbuilding_site,site,6,example site norm\n")
    cfg = BillingConfig(norms=NormTable.from_csv(norms))
    meter = main([rr(t(2026, 11, 1), 4, due=True)], installed_at=t(2026, 10, 16), initial_value=D(1))
    sp = ServicePoint("SP1", connection=Connection.TEMPORARY, norm_category="building_site",
                      norm_units=D(1), sewered=False, installations=[meter])
    bill = bill_service_point(sp, OCT, cfg)
    # norm for Oct 1..16 = 15/31 month x 6 m3 = 2.903; then the meter's 3 m3
    assert [(p.meter_id, p.consumption, p.source) for p in bill.water.parts] == [
        ("M1", D(3), Source.MANUAL), ("norm:building_site", D("2.903"), Source.NORM)]
    assert bill.water.source == Source.NORM
    assert bill.sewage.m3 == 0   # not connected to the sewer


def test_unknown_norm_is_an_exception():
    sp = ServicePoint("SP1", connection=Connection.TEMPORARY, norm_category="nope")
    bill = bill_service_point(sp, OCT)
    assert bill.water.m3 == 0 and kinds(bill) == ["no_norm"]


def test_faulty_meter_three_month_average():
    readings = monthly({(2026, 7): 60, (2026, 8): 70, (2026, 9): 80, (2026, 10): 90})
    readings.append(rr(t(2026, 10, 20), 90))   # stopped: ignored inside the fault
    sp = ServicePoint("SP1", installations=[main(readings, faults=[Fault(t(2026, 10, 1))])])
    bill = bill_service_point(sp, OCT)
    # 30 m3 over Jul 1..Oct 1 (92 days) x 31 days = 10.109
    assert bill.water.m3 == D("10.109") and bill.water.source == Source.FAULTY_METER_RULE
    assert bill.water.parts[0].note == "3 months before 2026-10-01: 30 m3"
    assert "faulty_meter" in kinds(bill)
    assert bill.closing == []   # nothing metered to carry over


def test_faulty_meter_falls_back_to_same_period_last_year():
    # the fault began 2.5 months after installation: no 3 months before it, so October 2025 is used
    readings = [rr(t(2025, 10, 1), 100, due=True), rr(t(2025, 11, 1), 107, due=True)]
    sp2 = ServicePoint("SP2", installations=[main(readings, installed_at=t(2025, 9, 1),
                                                  faults=[Fault(t(2025, 11, 15), t(2026, 11, 1))])])
    bill2 = bill_service_point(sp2, OCT)
    assert bill2.water.m3 == D(7) and "same span last year" in bill2.water.parts[0].note


def _gap_history(fault: Fault, *, with_last_year: bool = True) -> ServicePoint:
    """M0 metered Jan 1..Jul 1 2025 (100 -> 130: 30 m3 in 6 months), then no main meter until M1 was fitted
    on 15 Aug 2026: neither the 3 months before an October 2026 fault nor October 2025 are metered."""
    m0 = main([rr(t(2025, 1, 1), 100), rr(t(2025, 7, 1), 130)], meter="M0", installed_at=t(2025, 1, 1),
              initial_value=D(100), removed_at=t(2025, 7, 1), final_value=D(130))
    m1 = main([rr(t(2026, 9, 1), 2), rr(t(2026, 10, 1), 10), rr(t(2026, 10, 11), 12)], meter="M1",
              installed_at=t(2026, 8, 15), faults=[fault])
    return ServicePoint("SP3", installations=[m0, m1] if with_last_year else [m1])


def test_faulty_meter_third_rule_last_years_monthly_average():
    bill = bill_service_point(_gap_history(Fault(t(2026, 10, 1))), OCT)
    # 2025: 30 m3 over the 6 metered months = 5 m3/month x 1 month of malfunction (all of October) = 5.000
    assert bill.water.m3 == D("5.000") and bill.water.source == Source.FAULTY_METER_RULE
    assert bill.sewage.m3 == D("5.000")
    [part] = bill.water.parts
    assert part.note == "last year's monthly average: 30 m3 / 6.0000 months of 2025 x 1.0000 months"
    assert "faulty_meter" in kinds(bill) and "no_history_for_estimate" not in kinds(bill)
    # 5 x 3.83 = 19.15, 5 x 7.25 = 36.25, 4.35 -> 59.75 net, VAT 4.78, 64.53 gross
    assert (bill.net, bill.vat, bill.gross) == (D("59.75"), D("4.78"), D("64.53"))


def test_faulty_meter_third_rule_for_part_of_the_period():
    bill = bill_service_point(_gap_history(Fault(t(2026, 10, 11))), OCT)
    # metered Oct 1..11: 10 -> 12 = 2 m3; faulty Oct 11..Nov 1 = 21/31 month x 5 m3/month = 3.387096 -> 3.387
    assert bill.water.m3 == D("5.387")
    assert "x 0.6774 months" in bill.water.parts[0].note


def test_faulty_meter_without_any_history_bills_zero_and_says_so():
    bill = bill_service_point(_gap_history(Fault(t(2026, 10, 1)), with_last_year=False), OCT)
    assert bill.water.m3 == 0 and bill.water.parts[0].note == "no history"
    assert {"faulty_meter", "no_history_for_estimate"} <= set(kinds(bill))


def _faulty_after_a_change_of_customer(active_from: date) -> ServicePoint:
    """The previous customer used 30 m3 a month; this one, whose contract starts on `active_from`, 4 m3 a
    month. M0 (removed 1 Jul 2026) was read 270 on 1 Oct 2025, 300 on 1 Nov 2025, 308 on 1 Jan 2026, 332 on
    1 Jul 2026; no main meter until M1 was fitted on 15 Aug 2026, found faulty on 1 Oct 2026."""
    m0 = main([rr(t(2025, 10, 1), 270, due=True), rr(t(2025, 11, 1), 300, due=True),
               rr(t(2026, 1, 1), 308, due=True)], meter="M0", installed_at=t(2025, 1, 1),
              removed_at=t(2026, 7, 1), final_value=D(332))
    m1 = main([rr(t(2026, 9, 1), 2), rr(t(2026, 10, 1), 10)], meter="M1", installed_at=t(2026, 8, 15),
              faults=[Fault(t(2026, 10, 1))])
    return ServicePoint("SP21", "A21", active_from=active_from, installations=[m0, m1])


def test_faulty_meter_rule_skips_the_previous_customers_same_span_last_year():
    bill = bill_service_point(_faulty_after_a_change_of_customer(date(2025, 11, 1)), OCT)
    # the 3 months before the fault are not all metered (no main meter 1 Jul..15 Aug); October 2025 was the
    # previous customer's (30 m3): passed over; last year inside the contract = Nov..Dec 2025, 308 - 300 =
    # 8 m3 over 2 months = 4 m3/month x 1 month of malfunction = 4.000 (not 30)
    assert bill.water.m3 == D("4.000") and bill.water.source == Source.FAULTY_METER_RULE
    assert bill.water.parts[0].note == "last year's monthly average: 8 m3 / 2.0000 months of 2025 x 1.0000 months"
    [exc] = bill.exceptions
    assert exc.kind == ExceptionKind.FAULTY_METER
    assert "passed over: the same span last year, 2025-10-01..2025-11-01, not all inside the contract " \
           "(2025-11-01..open)" in exc.detail


def test_faulty_meter_rule_without_any_of_this_customers_history_bills_zero_and_says_why():
    bill = bill_service_point(_faulty_after_a_change_of_customer(date(2026, 1, 1)), OCT)
    # October 2025 and all of 2025 are before the contract: no rule has this customer's consumption
    assert bill.water.m3 == 0 and bill.water.parts[0].note == "no history"
    assert kinds(bill) == ["faulty_meter", "no_history_for_estimate"]
    [nohist] = [e for e in bill.exceptions if e.kind == ExceptionKind.NO_HISTORY]
    assert "inside the contract: 0 m3" in nohist.detail
    assert "the same span last year, 2025-10-01..2025-11-01, not all inside" in nohist.detail
    assert "no day of 2025 is inside the contract (2026-01-01..open)" in nohist.detail


def test_faulty_meter_three_months_only_from_this_customers_contract():
    # one meter read monthly: the previous customer 30 m3 a month up to 1 Aug, this customer 6 m3 a month
    readings = monthly({(2026, 6): 500, (2026, 7): 530, (2026, 8): 560, (2026, 9): 566, (2026, 10): 572})
    inst = main(readings, faults=[Fault(t(2026, 10, 1))])
    # a contract from 1 Jul covers the whole window: 42 m3 over Jul 1..Oct 1 (92 days) x 31 days = 14.152,
    # exactly as without contract dates
    for frm in (None, date(2026, 7, 1)):
        bill = bill_service_point(ServicePoint("SP22", active_from=frm, installations=[inst]), OCT)
        assert bill.water.m3 == D("14.152") and kinds(bill) == ["faulty_meter"], frm
    # from 2 Jul (or 1 Aug, the real change) it does not: neither the 3 months, nor October 2025, nor any of
    # 2025 are this customer's
    for frm in (date(2026, 7, 2), date(2026, 8, 1)):
        bill = bill_service_point(ServicePoint("SP22", active_from=frm, installations=[inst]), OCT)
        assert bill.water.m3 == 0 and kinds(bill) == ["faulty_meter", "no_history_for_estimate"], frm
        assert f"the 3 months before the fault, 2026-07-01..2026-10-01, not all inside the contract ({frm}..open)" \
            in bill.exceptions[0].detail


def test_subscription_pro_rata_contract_ends_inside_the_period():
    # the contract ends on 10 Nov (last active day); the meter stays for the next customer
    sp = ServicePoint("SP4", "A4", active_to=date(2026, 11, 10), installations=[
        main([rr(t(2026, 11, 1), 200, due=True), rr(t(2026, 11, 11), 204), rr(t(2026, 12, 1), 204, due=True)])])
    bill = bill_service_point(sp, NOV)
    # water 4 x 3.83 = 15.32; sewage 4 x 7.25 = 29.00; subscription 10/30 month x 4.35 = 1.45 exactly
    # (an exact half-grosz boundary); net 45.77, VAT 3.6616 -> 3.66, gross 49.43
    lines = {ln.kind: (ln.quantity, ln.net) for ln in bill.lines}
    assert lines == {"water": (D("4.000"), D("15.32")), "sewage": (D("4.000"), D("29.00")),
                     "subscription": (D("0.3333"), D("1.45"))}
    assert (bill.net, bill.vat, bill.gross) == (D("45.77"), D("3.66"), D("49.43"))
    assert bill.exceptions == []


def test_subscription_pro_rata_from_the_first_installation_without_contract_dates():
    # no contract dates: the service point starts with its first meter, fitted 21 Oct, in an Oct-Nov period
    sp = ServicePoint("SP5", installations=[main([rr(t(2026, 12, 1), 9, due=True)], installed_at=t(2026, 10, 21))])
    bill = bill_service_point(sp, Period.parse("2026-10..2026-11"))
    # subscription (11/31 + 30/30) = 1.354838... months x 4.35 = 5.8935... -> 5.89
    # water 9 x 3.83 = 34.47; sewage 9 x 7.25 = 65.25; net 105.61, VAT 8.4488 -> 8.45, gross 114.06
    lines = {ln.kind: (ln.quantity, ln.net) for ln in bill.lines}
    assert lines["subscription"] == (D("1.3548"), D("5.89"))
    assert (bill.net, bill.vat, bill.gross) == (D("105.61"), D("8.45"), D("114.06"))
    assert kinds(bill) == ["no_main_meter"]   # water before the meter is still reported, as before


def test_subscription_contract_dates_win_over_installations():
    # contract from 21 Oct (11/31 of October); the meter was fitted long before for the previous customer
    sp = ServicePoint("SP6", active_from=date(2026, 10, 21), installations=[
        main([rr(t(2026, 10, 1), 0, due=True), rr(t(2026, 11, 1), 0, due=True)])])
    [sub] = [ln for ln in bill_service_point(sp, OCT).lines if ln.kind == "subscription"]
    # 11/31 x 4.35 = 1.5435... -> 1.54
    assert (sub.quantity, sub.net) == (D("0.3548"), D("1.54"))


def test_contract_from_the_21st_with_the_meter_fitted_that_day():
    # the contract and the meter both start on 21 Oct: the days before are nobody's, not "no main meter"
    fitted = main([rr(t(2026, 10, 26), "2.5"), rr(t(2026, 11, 1), 6, due=True)], installed_at=t(2026, 10, 21))
    sp = ServicePoint("SP7", "A7", active_from=date(2026, 10, 21), installations=[fitted])
    bill = bill_service_point(sp, OCT)
    # water 6 x 3.83 = 22.98; sewage 6 x 7.25 = 43.50; subscription 11/31 x 4.35 = 1.5435... -> 1.54
    # net 68.02, VAT 5.4416 -> 5.44, gross 73.46
    lines = {ln.kind: (ln.quantity, ln.net) for ln in bill.lines}
    assert lines == {"water": (D("6.000"), D("22.98")), "sewage": (D("6.000"), D("43.50")),
                     "subscription": (D("0.3548"), D("1.54"))}
    assert (bill.net, bill.vat, bill.gross) == (D("68.02"), D("5.44"), D("73.46"))
    assert bill.exceptions == []
    # a meter fitted only on the 25th leaves 21..25 Oct of the contract without one: still reported, from the 21st
    late = main(fitted.readings, installed_at=t(2026, 10, 25))
    bill = bill_service_point(ServicePoint("SP7", active_from=date(2026, 10, 21), installations=[late]), OCT)
    [exc] = [e for e in bill.exceptions if e.kind == ExceptionKind.NO_MAIN_METER]
    assert exc.at == t(2026, 10, 21)


def test_norm_billed_only_for_the_contract_days():
    # unmetered house, 4 residents, bathroom with local hot water (3.0 m3/person/month), contract from 11 Nov
    sp = ServicePoint("SP8", "A8", connection=Connection.UNMETERED, norm_category="household_bath_local_hw",
                      norm_units=D(4), active_from=date(2026, 11, 11))
    bill = bill_service_point(sp, NOV)
    # 3.0 x 4 x 20/30 month = 8.000 m3; water 8 x 3.83 = 30.64; sewage 8 x 7.25 = 58.00;
    # subscription 20/30 x 4.35 = 2.90; net 91.54, VAT 7.3232 -> 7.32, gross 98.86
    assert bill.water.m3 == D("8.000") and bill.water.source == Source.NORM
    assert bill.water.parts[0].note == "3.0 m3/person/month x 4 x 0.6667 months"
    lines = {ln.kind: (ln.quantity, ln.net) for ln in bill.lines}
    assert lines == {"water": (D("8.000"), D("30.64")), "sewage": (D("8.000"), D("58.00")),
                     "subscription": (D("0.6667"), D("2.90"))}
    assert (bill.net, bill.vat, bill.gross) == (D("91.54"), D("7.32"), D("98.86"))
    assert bill.exceptions == []
    # a contract of 11..20 Nov (active_to inclusive): 3.0 x 4 x 10/30 = 4.000 m3
    sp.active_to = date(2026, 11, 20)
    assert bill_service_point(sp, NOV).water.m3 == D("4.000")


def test_temporary_connection_norm_from_the_contract_until_the_meter(tmp_path):
    # a building site: contract from 11 Nov, meter fitted 21 Nov; the norm covers 11..21 Nov, not the whole
    # month (contract) and not nothing (the installation span would start only at the meter)
    norms = tmp_path / "norms.csv"
    norms.write_text("category,unit,value,description\nbuilding_site,site,6,example site norm\n")
    cfg = BillingConfig(norms=NormTable.from_csv(norms))
    meter = main([rr(t(2026, 12, 1), 4, due=True)], installed_at=t(2026, 11, 21), initial_value=D(1))
    sp = ServicePoint("SP9", connection=Connection.TEMPORARY, norm_category="building_site", norm_units=D(1),
                      sewered=False, active_from=date(2026, 11, 11), installations=[meter])
    bill = bill_service_point(sp, NOV, cfg)
    # norm 6 x 1 x 10/30 = 2.000 m3 + metered 4 - 1 = 3 m3 -> 5.000 m3 x 3.83 = 19.15; no sewage;
    # subscription 20/30 x 4.35 = 2.90; net 22.05, VAT 1.764 -> 1.76, gross 23.81
    assert [(p.meter_id, p.consumption) for p in bill.water.parts] == [("M1", D(3)),
                                                                       ("norm:building_site", D("2.000"))]
    assert (bill.water.m3, bill.sewage.m3) == (D("5.000"), 0)
    assert (bill.net, bill.vat, bill.gross) == (D("22.05"), D("1.76"), D("23.81"))


def test_metered_water_from_the_contract_start_with_a_meter_fitted_earlier():
    # the new customer's contract starts on 21 Oct; the main meter and the garden sub-meter were there before
    sp = ServicePoint("SP10", "A10", active_from=date(2026, 10, 21), installations=[
        main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 10, 11), 105, Source.MANUAL),
              rr(t(2026, 11, 1), 121, due=True)]),
        garden([rr(t(2026, 10, 1), 0, Source.SELF_READING), rr(t(2026, 10, 21), 1, Source.SELF_READING),
                rr(t(2026, 11, 1), 3, Source.SELF_READING)])])
    bill = bill_service_point(sp, OCT)
    # main at 21 Oct, between 11 Oct (105) and 1 Nov (121): 105 + 16 x 10/21 = 112.6190... -> 112.619;
    # water 121 - 112.619 = 8.381 (not the month's 21); garden 3 - 1 = 2 (not 3); sewage 8.381 - 2 = 6.381
    [m, g] = bill.sewage.parts
    assert (m.start.at, m.start.value, m.start.method) == (t(2026, 10, 21), D("112.619"), "interpolated")
    assert (g.start.value, g.consumption) == (D(1), D(2))
    assert (bill.water.m3, bill.water.source) == (D("8.381"), Source.MANUAL)
    assert bill.sewage.m3 == D("6.381")
    # water 8.381 x 3.83 = 32.099 -> 32.10; sewage 6.381 x 7.25 = 46.262 -> 46.26;
    # subscription 11/31 x 4.35 = 1.5435... -> 1.54; net 79.90, VAT 6.392 -> 6.39, gross 86.29
    lines = {ln.kind: (ln.quantity, ln.net) for ln in bill.lines}
    assert lines == {"water": (D("8.381"), D("32.10")), "sewage": (D("6.381"), D("46.26")),
                     "subscription": (D("0.3548"), D("1.54"))}
    assert (bill.net, bill.vat, bill.gross) == (D("79.90"), D("6.39"), D("86.29"))
    # the main meter's 112.619 - 100 = 12.619 m3 of 1..21 Oct are billed to nobody: reported (the garden
    # sub-meter is no water of its own)
    assert kinds(bill) == ["consumption_outside_contract"]
    assert outside(bill) == [("M1", t(2026, 10, 1), D("12.619"))]


def _leaving_customer(**kw) -> ServicePoint:
    """Contract to 10 Nov (last day): the leaving customer's final reading on 11 Nov 00:00 (204); the sewage
    meter read on 6 Nov (52) and 1 Dec (60)."""
    m = main([rr(t(2026, 11, 1), 200, due=True), rr(t(2026, 11, 11), 204, Source.MANUAL),
              *kw.pop("later", [])])
    sew = Installation("S1", Role.SEWAGE, t(2020, 1, 1), readings=[
        rr(t(2026, 11, 1), 50, due=True), rr(t(2026, 11, 6), 52), rr(t(2026, 12, 1), 60, due=True)])
    return ServicePoint("SP11", "A11", active_to=date(2026, 11, 10), installations=[m, sew], **kw)


def test_metered_water_and_sewage_meter_up_to_the_contract_end():
    bill = bill_service_point(_leaving_customer(later=[rr(t(2026, 12, 1), 215, due=True)]), NOV)
    # water 204 - 200 = 4 (not 15); sewage meter at 11 Nov: 52 + 8 x 5/25 = 53.6, so 3.6 (not 10)
    # water 4 x 3.83 = 15.32; sewage 3.6 x 7.25 = 26.10; subscription 10/30 x 4.35 = 1.45
    # net 42.87, VAT 3.4296 -> 3.43, gross 46.30
    assert (bill.water.m3, bill.sewage.m3) == (D(4), D("3.600"))
    assert (bill.net, bill.vat, bill.gross) == (D("42.87"), D("3.43"), D("46.30"))
    assert bill.closing == []   # nothing of this contract is left to open the next period with
    # the sewage meter covers the whole contract: not partial; the main meter's 215 - 204 = 11 m3 after the
    # contract are billed to nobody (the sewage meter's are no water)
    assert kinds(bill) == ["consumption_outside_contract"]
    assert outside(bill) == [("M1", t(2026, 11, 11), D(11))]


def test_a_meter_unread_only_after_the_contract_end_is_neither_estimated_nor_reported():
    # no reading after the leaving customer's final one: the period end would need an estimate, the contract
    # end does not
    bill = bill_service_point(_leaving_customer(), NOV)
    assert (bill.water.m3, bill.water.source) == (D(4), Source.MANUAL)
    assert bill.exceptions == []   # nor is an estimate after the contract taken for water billed to nobody


def test_a_previous_customers_meter_is_no_part_of_the_contract():
    # M0, the previous customer's meter, was removed on 5 Oct without a final reading (last read 20 Sep); M1 was
    # fitted then; the contract starts on 21 Oct. M0 would need an estimate up to 5 Oct and has no reading in
    # October, but none of that is this customer's
    m0 = main([rr(t(2026, 9, 1), 10), rr(t(2026, 9, 20), 12)], meter="M0", removed_at=t(2026, 10, 5))
    m1 = main([rr(t(2026, 10, 21), 1, Source.MANUAL), rr(t(2026, 11, 1), 3, due=True)], meter="M1",
              installed_at=t(2026, 10, 5))
    bill = bill_service_point(ServicePoint("SP12", active_from=date(2026, 10, 21), installations=[m0, m1]), OCT)
    assert [(p.meter_id, p.consumption) for p in bill.water.parts] == [("M1", D(2))]
    # M0's October would be estimates only: not reported; M1 went from 0 at its fitting to 1 on 21 Oct, when
    # nobody had a contract: reported
    assert outside(bill) == [("M1", t(2026, 10, 5), D(1))]
    assert kinds(bill) == ["consumption_outside_contract"]


def test_a_meter_read_in_the_period_but_not_during_the_contract_is_reported_unread():
    # read on 1 and 10 Oct, then 15 Nov; the contract starts on 21 Oct: both of its boundaries are interpolated
    m = main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 10, 10), 103), rr(t(2026, 11, 15), 115)])
    bill = bill_service_point(ServicePoint("SP13", active_from=date(2026, 10, 21), installations=[m]), OCT)
    # 21 Oct: 103 + 12 x 11/36 = 106.667; 1 Nov: 103 + 12 x 22/36 = 110.333 -> 3.666 m3
    assert bill.water.m3 == D("3.666")
    assert kinds(bill) == ["consumption_outside_contract", "unread"]
    assert outside(bill) == [("M1", t(2026, 10, 1), D("6.667"))]   # 106.667 - 100, from real readings around


def test_sewage_meter_fitted_with_the_contract_is_not_partial():
    # contract and sewage meter both from 21 Oct: the meter covers all of the contract's part of October
    m = main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 10, 21), 104, Source.MANUAL),
              rr(t(2026, 11, 1), 110, due=True)])
    sew = Installation("S1", Role.SEWAGE, t(2026, 10, 21), readings=[rr(t(2026, 11, 1), 5, due=True)])
    bill = bill_service_point(ServicePoint("SP14", active_from=date(2026, 10, 21), installations=[m, sew]), OCT)
    assert (bill.water.m3, bill.sewage.m3) == (D(6), D(5))
    # the only exception is the main meter's 104 - 100 = 4 m3 before the contract, billed to nobody
    assert outside(bill) == [("M1", t(2026, 10, 1), D(4))]
    assert kinds(bill) == ["consumption_outside_contract"]
    # fitted only on 25 Oct it leaves 21..25 Oct of the contract unmeasured: still reported
    late = Installation("S1", Role.SEWAGE, t(2026, 10, 25), readings=sew.readings)
    bill = bill_service_point(ServicePoint("SP14", active_from=date(2026, 10, 21), installations=[m, late]), OCT)
    assert kinds(bill) == ["consumption_outside_contract", "partial_sewage_meter"]
    # the previous customer's sewage meter, removed on 5 Oct, does not make this contract's sewage metered:
    # sewage = water (6), not nothing
    gone = Installation("S0", Role.SEWAGE, t(2024, 1, 1), removed_at=t(2026, 10, 5), final_value=D(40),
                        readings=[rr(t(2026, 10, 1), 39, due=True)])
    bill = bill_service_point(ServicePoint("SP14", active_from=date(2026, 10, 21), installations=[m, gone]), OCT)
    assert (bill.water.m3, bill.sewage.m3) == (D(6), D(6))
    assert kinds(bill) == ["consumption_outside_contract"]


def test_garden_legalisation_ending_after_the_contract_is_not_reported():
    # contract to 10 Nov; the garden sub-meter's legalisation runs until 20 Nov, past the contract: nothing lost
    m = main([rr(t(2026, 11, 1), 200, due=True), rr(t(2026, 11, 11), 204, Source.MANUAL)])
    g = garden([rr(t(2026, 11, 1), 0), rr(t(2026, 11, 11), 1)], legalised_until=date(2026, 11, 20))
    bill = bill_service_point(ServicePoint("SP15", active_to=date(2026, 11, 10), installations=[m, g]), NOV)
    assert (bill.water.m3, bill.sewage.m3) == (D(4), D(3))
    assert bill.exceptions == []
    # until 5 Nov it ends inside the contract: deducted up to 6 Nov 00:00 (0 + 1 x 5/10 = 0.5), and reported
    g.legalised_until = date(2026, 11, 5)
    bill = bill_service_point(ServicePoint("SP15", active_to=date(2026, 11, 10), installations=[m, g]), NOV)
    assert bill.sewage.m3 == D("3.5")
    assert kinds(bill) == ["legalisation_expired"]


def test_water_before_the_contract_is_reported_and_not_billed():
    # contract from 21 Oct; the main meter read on 21 Sep (101), 11 Oct (103), 26 Oct (106), 11 Nov (109.2), so
    # no boundary has a reading of its own:
    #   1 Oct  = 101 + 2 x 10/20 = 102.000     (21 Sep .. 11 Oct)
    #   21 Oct = 103 + 3 x 10/15 = 105.000     (11 Oct .. 26 Oct)
    #   1 Nov  = 106 + 3.2 x 6/16 = 107.200    (26 Oct .. 11 Nov)
    # the vacant flat's 1..21 Oct: 105 - 102 = 3 m3, billed to nobody, reported; the bill is the contract's
    # 107.2 - 105 = 2.2 m3: water 2.2 x 3.83 = 8.426 -> 8.43; sewage 2.2 x 7.25 = 15.95; subscription 11/31 x
    # 4.35 = 1.5435... -> 1.54; net 25.92, VAT 2.0736 -> 2.07, gross 27.99
    m = main([rr(t(2026, 9, 21), 101), rr(t(2026, 10, 11), 103), rr(t(2026, 10, 26), 106, Source.MANUAL),
              rr(t(2026, 11, 11), "109.2")])
    bill = bill_service_point(ServicePoint("SP16", "A16", active_from=date(2026, 10, 21), installations=[m]), OCT)
    assert kinds(bill) == ["consumption_outside_contract"]
    [exc] = bill.exceptions
    assert outside(bill) == [("M1", t(2026, 10, 1), D(3))]
    assert "2026-10-01T00:00:00+00:00 to 2026-10-21T00:00:00+00:00" in exc.detail
    assert (bill.water.m3, bill.sewage.m3) == (D("2.2"), D("2.2"))
    lines = {ln.kind: (ln.quantity, ln.net) for ln in bill.lines}
    assert lines == {"water": (D("2.200"), D("8.43")), "sewage": (D("2.200"), D("15.95")),
                     "subscription": (D("0.3548"), D("1.54"))}
    assert (bill.net, bill.vat, bill.gross) == (D("25.92"), D("2.07"), D("27.99"))


def test_no_water_outside_the_contract_is_not_reported():
    # the meter stood at 100 from 1 Oct until the contract began on 21 Oct: nothing to report
    m = main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 10, 21), 100, Source.MANUAL),
              rr(t(2026, 11, 1), 105, due=True)])
    bill = bill_service_point(ServicePoint("SP17", active_from=date(2026, 10, 21), installations=[m]), OCT)
    assert bill.water.m3 == D(5)
    assert bill.exceptions == []
    # likewise at the end: a contract to 20 Oct with the register still at 105 on 1 Nov after 105 on 21 Oct
    m = main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 10, 21), 105, Source.MANUAL),
              rr(t(2026, 11, 1), 105, due=True)])
    bill = bill_service_point(ServicePoint("SP17", active_to=date(2026, 10, 20), installations=[m]), OCT)
    assert (bill.water.m3, bill.exceptions) == (D(5), [])


def test_a_contract_covering_the_whole_period_has_nothing_outside():
    m = main([rr(t(2026, 10, 1), 100, due=True), rr(t(2026, 10, 15), 104), rr(t(2026, 11, 1), 110, due=True)])
    for frm, to in ((date(2026, 10, 1), date(2026, 10, 31)), (date(2025, 5, 1), None), (None, date(2027, 1, 31))):
        bill = bill_service_point(ServicePoint("SP18", active_from=frm, active_to=to, installations=[m]), OCT)
        assert (bill.water.m3, bill.exceptions) == (D(10), []), (frm, to)


def test_a_meter_installed_only_inside_the_contract_has_nothing_outside():
    # contract 11..20 Oct; the meter was fitted on 11 Oct at 0 and removed on 21 Oct at 4: all of its water is
    # the contract's
    m = main([rr(t(2026, 10, 16), 2)], installed_at=t(2026, 10, 11), removed_at=t(2026, 10, 21),
             final_value=D(4))
    sp = ServicePoint("SP19", active_from=date(2026, 10, 11), active_to=date(2026, 10, 20), installations=[m])
    bill = bill_service_point(sp, OCT)
    assert bill.water.m3 == D(4)
    assert bill.exceptions == []


def test_own_intake_after_the_contract_is_reported():
    # an own well metered to 30 on 11 Nov (the contract's last day was 10 Nov) and 36 on 1 Dec: 6 m3 of sewage
    # after the contract, billed to nobody; the main meter did not move after the contract
    m = main([rr(t(2026, 11, 1), 200, due=True), rr(t(2026, 11, 11), 204, Source.MANUAL),
              rr(t(2026, 12, 1), 204, due=True)])
    well = Installation("W1", Role.OWN_INTAKE, t(2020, 1, 1), readings=[
        rr(t(2026, 11, 1), 28, due=True), rr(t(2026, 11, 11), 30), rr(t(2026, 12, 1), 36, due=True)])
    bill = bill_service_point(ServicePoint("SP20", active_to=date(2026, 11, 10), installations=[m, well]), NOV)
    assert (bill.water.m3, bill.sewage.m3) == (D(4), D(6))   # 4 water + 2 own intake
    assert outside(bill) == [("W1", t(2026, 11, 11), D(6))]
    assert "own_intake meter" in bill.exceptions[0].detail


def _left_unread(**kw) -> ServicePoint:
    """Contract to 10 Nov (last day); the main meter was read 140 on 1 May and 200 on 1 Nov, not at the end."""
    m = main([rr(t(2026, 5, 1), 140, due=True), rr(t(2026, 11, 1), 200, due=True)])
    return ServicePoint("SP23", "A23", active_to=date(2026, 11, 10), installations=[m, *kw.pop("more", [])], **kw)


def test_an_estimate_at_the_contract_end_is_settled_to_the_leaving_customer():
    sp = _left_unread()
    nov = bill_service_point(sp, NOV)
    # 11 Nov estimated: 60 m3 over 184 days (1 May..1 Nov) x 10 days = 3.2608... -> 203.261; billed 3.261 m3
    assert (nov.water.m3, nov.water.source) == (D("3.261"), Source.ESTIMATE)
    assert kinds(nov) == ["unread"] and nov.closing == []
    assert [(p.meter_id, p.at, p.value, p.source) for p in nov.final] == [
        ("M1", t(2026, 11, 11), D("203.261"), Source.ESTIMATE)]
    billed = {p.meter_id: p for p in nov.final}
    # the December run: still no reading after 1 Nov, nothing to settle yet
    assert settle_contract_end(sp, Period.parse("2026-12"), billed) is None
    # the meter is read 215 on 1 Dec: 11 Nov = 200 + 15 x 10/30 = 205.000, so 1.739 m3 more for the customer who
    # left: water 1.739 x 3.83 = 6.660 -> 6.66; sewage (= water) 1.739 x 7.25 = 12.607 -> 12.61; no subscription
    # net 19.27, VAT 1.5416 -> 1.54, gross 20.81
    sp.installations[0].readings.append(rr(t(2026, 12, 1), 215, due=True))
    dec = settle_contract_end(sp, Period.parse("2026-12"), billed)
    assert (dec.service_point, dec.account, dec.period_start) == ("SP23", "A23", date(2026, 12, 1))
    assert (dec.water.m3, dec.water.settlement_m3, dec.sewage.m3, dec.sewage.settlement_m3) == (
        0, D("1.739"), 0, D("1.739"))
    lines = {ln.kind: (ln.quantity, ln.net) for ln in dec.lines if ln.net}
    assert lines == {"water_settlement": (D("1.739"), D("6.66")), "sewage_settlement": (D("1.739"), D("12.61"))}
    assert (dec.net, dec.vat, dec.gross) == (D("19.27"), D("1.54"), D("20.81"))
    [exc] = dec.exceptions
    assert (exc.kind, exc.at) == (ExceptionKind.CONTRACT_END_SETTLEMENT, t(2026, 11, 11))
    assert "account A23" in exc.detail and "water +1.739 m3" in exc.detail and "+20.81 zł" in exc.detail
    # estimate + settlement = exactly the register's advance over the contract's part of November
    assert nov.water.total + dec.water.total == D(5)
    # the settled position is real: a later run settles nothing again
    assert [(p.value, p.source, p.method) for p in dec.final] == [(D(205), Source.RADIO, "interpolated")]
    assert settle_contract_end(sp, Period.parse("2027-01"), {p.meter_id: p for p in dec.final}) is None


def test_a_contract_end_settles_only_what_other_runs_have_not_settled():
    sp = _left_unread()
    nov = bill_service_point(sp, NOV)   # 11 Nov billed 203.261 estimated
    sp.installations[0].readings.append(rr(t(2026, 12, 1), 215, due=True))   # 11 Nov = 205.000: 1.739 owed
    billed = {p.meter_id: p for p in nov.final}
    dec = settle_contract_end(sp, Period.parse("2026-12"), billed, settled={"M1": D("1.739")})
    assert (dec.water.settlement_m3, dec.gross) == (0, 0)                 # already settled: nothing again
    part = settle_contract_end(sp, Period.parse("2026-12"), billed, settled={"M1": D("1.5")})
    assert part.water.settlement_m3 == D("0.239") and "+1.5 m3 settled before" in part.water.parts[0].note
    # a rerun of November billing 11 Nov for real (205, interpolated) charges the 1.739 itself: it goes back
    real = {"M1": Position("M1", t(2026, 11, 11), D(205), Source.RADIO, "interpolated")}
    back = settle_contract_end(sp, Period.parse("2027-01"), real, settled={"M1": D("1.739")})
    assert (back.water.settlement_m3, back.sewage.settlement_m3, back.gross) == (D("-1.739"), D("-1.739"),
                                                                                D("-20.81"))
    assert settle_contract_end(sp, Period.parse("2027-01"), real) is None


def test_a_contract_end_estimate_above_the_reading_is_credited_and_a_sewage_meter_settles_sewage():
    # the leaving customer's sewage meter was estimated too: 11 Nov = 50 + 20/184 x 10 = 51.087 (20 m3 since 1 May)
    sew = Installation("S1", Role.SEWAGE, t(2020, 1, 1), readings=[rr(t(2026, 5, 1), 30, due=True),
                                                                   rr(t(2026, 11, 1), 50, due=True)])
    sp = _left_unread(more=[sew])
    nov = bill_service_point(sp, NOV)
    assert (nov.water.m3, nov.sewage.m3) == (D("3.261"), D("1.087"))
    # read on 21 Nov: the main meter at 201 (11 Nov = 200.5: 2.761 m3 too much billed), the sewage meter at 51
    # (11 Nov = 50.5: 0.587 m3 too much); sewage is by the sewage meter, whatever the main meter settles
    sp.installations[0].readings.append(rr(t(2026, 11, 21), 201, Source.MANUAL))
    sew.readings.append(rr(t(2026, 11, 21), 51, Source.MANUAL))
    dec = settle_contract_end(sp, Period.parse("2026-12"), {p.meter_id: p for p in nov.final})
    assert (dec.water.settlement_m3, dec.sewage.settlement_m3) == (D("-2.761"), D("-0.587"))
    assert dec.water.source == Source.MANUAL
    # -2.761 x 3.83 = -10.574 -> -10.57; -0.587 x 7.25 = -4.255 -> -4.26 (half away from zero); net -14.83,
    # VAT -1.1864 -> -1.19, gross -16.02: a credit for the customer who left
    assert (dec.net, dec.vat, dec.gross) == (D("-14.83"), D("-1.19"), D("-16.02"))
    assert nov.sewage.total + dec.sewage.total == D("0.5")


def test_a_held_position_at_the_contract_end_is_settled_only_beyond_what_was_billed():
    # reverse flow in October holds the billed position at 500 (the register read 495 on 1 Nov); the contract
    # ends on 10 Nov unread: the estimate (no net advance in the last year: 0 m3/day) stays below 500, so the
    # leaving customer is billed nothing and the position is held at 500
    m = main([rr(t(2026, 10, 1), 500, due=True), rr(t(2026, 10, 20), 490), rr(t(2026, 11, 1), 495, due=True)])
    sp = ServicePoint("SP25", "A25", active_to=date(2026, 11, 10), installations=[m])
    oct_bill = bill_service_point(sp, OCT)
    nov = bill_service_point(sp, NOV, opening={p.meter_id: p for p in oct_bill.closing})
    assert nov.water.m3 == 0
    assert [(p.value, p.source, p.method) for p in nov.final] == [(D(500), Source.ESTIMATE, "held")]
    billed = {p.meter_id: p for p in nov.final}
    # read 497 on 1 Dec: 11 Nov = 495 + 2 x 10/30 = 495.667, still below what was billed: nothing owed, no credit
    m.readings.append(rr(t(2026, 12, 1), 497, due=True))
    assert settle_contract_end(sp, Period.parse("2026-12"), billed).water.settlement_m3 == 0
    # read 515 instead: 11 Nov = 495 + 20 x 10/30 = 501.667: 1.667 m3 beyond the held 500
    m.readings[-1] = rr(t(2026, 12, 1), 515, due=True)
    assert settle_contract_end(sp, Period.parse("2026-12"), billed).water.settlement_m3 == D("1.667")


def test_the_next_customer_does_not_pay_the_settlement_of_the_previous_ones_estimate():
    # the leaving customer's contract ends with October (31 Oct): 1 Nov is estimated; the next customer's
    # contract starts on 1 Nov on the same meter, whose November opens from October's closing position
    m = main([rr(t(2026, 5, 1), 140, due=True), rr(t(2026, 10, 1), 190, due=True)])
    leaving = ServicePoint("SP24", "A24", active_to=date(2026, 10, 31), installations=[m])
    oct_bill = bill_service_point(leaving, OCT)
    # 1 Nov = 190 + 50/153 x 31 = 200.131
    assert [(p.at, p.value, p.source) for p in oct_bill.final] == [(t(2026, 11, 1), D("200.131"), Source.ESTIMATE)]
    m.readings.append(rr(t(2026, 12, 1), 221, due=True))   # 1 Nov now 190 + 31 x 31/61 = 205.754
    arriving = ServicePoint("SP24", "B24", active_from=date(2026, 11, 1), installations=[m])
    nov = bill_service_point(arriving, NOV, opening={p.meter_id: p for p in oct_bill.closing})
    assert (nov.water.m3, nov.water.settlement_m3) == (D("15.246"), 0)   # 221 - 205.754, nothing of A24's
    dec = settle_contract_end(leaving, NOV, {p.meter_id: p for p in oct_bill.final})
    assert (dec.account, dec.water.settlement_m3) == ("A24", D("5.623"))   # 205.754 - 200.131 to A24
    assert oct_bill.water.total + dec.water.total + nov.water.total == D(31)


def test_an_estimate_at_a_change_of_customer_is_settled_to_both_customers_once():
    # A23 leaves on 10 Nov (last day), B23 arrives on 11 Nov; the meter was read 140 on 1 May and 200 on 1 Nov,
    # nobody read it at the change: 11 Nov = 200 + 60/184 x 10 = 203.261 estimated, where A23's bill ends and
    # B23's starts (B23 has no reading of their own yet: 0 m3/day, 1 Dec stays at 203.261)
    m = main([rr(t(2026, 5, 1), 140, due=True), rr(t(2026, 11, 1), 200, due=True)])
    leaving = ServicePoint("SP26", "A23", active_to=date(2026, 11, 10), installations=[m])
    arriving = ServicePoint("SP26", "B23", active_from=date(2026, 11, 11), installations=[m])
    nov_a, nov_b = bill_service_point(leaving, NOV), bill_service_point(arriving, NOV)
    assert [(p.at, p.value, p.source) for p in nov_a.final] == [(t(2026, 11, 11), D("203.261"), Source.ESTIMATE)]
    assert [(p.at, p.value, p.source) for p in nov_b.initial] == [(t(2026, 11, 11), D("203.261"), Source.ESTIMATE)]
    assert (nov_b.water.m3, nov_a.initial, nov_b.final) == (0, [], [])
    # December: read 215 on 1 Dec and 230 on 1 Jan; 11 Nov = 200 + 15 x 10/30 = 205.000
    m.readings += [rr(t(2026, 12, 1), 215, due=True), rr(t(2027, 1, 1), 230, due=True)]
    DEC = Period.parse("2026-12")
    dec_b = bill_service_point(arriving, DEC, opening={p.meter_id: p for p in nov_b.closing})
    # B23's December settles their own November estimate (215 - 203.261 = 11.739) and bills 15: from 203.261
    assert (dec_b.water.m3, dec_b.water.settlement_m3) == (D(15), D("11.739"))
    end = settle_contract_end(leaving, DEC, {p.meter_id: p for p in nov_a.final})
    assert (end.account, end.water.settlement_m3) == ("A23", D("1.739"))   # 205 - 203.261 to A23
    # the bug: B23 was billed 0 + 11.739 + 15 = 26.739 m3 from 203.261, but from 205 to 230 is 25: the 1.739
    # charged to A23 was charged to B23 too. Their start is settled the other way: -1.739 to B23; water
    # -1.739 x 3.83 = -6.660 -> -6.66, sewage -1.739 x 7.25 = -12.607 -> -12.61, net -19.27, VAT -1.54,
    # gross -20.81
    billed = {p.meter_id: p for p in nov_b.initial}
    start = settle_contract_start(arriving, DEC, billed)
    assert (start.account, start.period_start, start.water.m3) == ("B23", date(2026, 12, 1), 0)
    assert (start.water.settlement_m3, start.sewage.settlement_m3) == (D("-1.739"), D("-1.739"))
    assert (start.net, start.vat, start.gross) == (D("-19.27"), D("-1.54"), D("-20.81"))
    assert not any(ln.net for ln in start.lines if ln.kind == "subscription")
    [exc] = start.exceptions
    assert (exc.kind, exc.at) == (ExceptionKind.CONTRACT_START_SETTLEMENT, t(2026, 11, 11))
    assert "account B23" in exc.detail and "contract from 2026-11-11" in exc.detail and "-20.81 zł" in exc.detail
    # each customer pays exactly the register's advance inside their contract, together the whole 200 -> 230
    a_total = nov_a.water.total + end.water.total
    b_total = nov_b.water.total + dec_b.water.total + start.water.total
    assert (a_total, b_total, a_total + b_total) == (D(5), D(25), D(30))
    # settled once: a real position is final; what other periods settled is not settled again; a rerun of
    # November billing 11 Nov for real (205) already bills B23 from there, so what was settled goes back
    assert [(p.value, p.source, p.method) for p in start.final] == [(D(205), Source.RADIO, "interpolated")]
    assert settle_contract_start(arriving, Period.parse("2027-01"), {p.meter_id: p for p in start.final}) is None
    again = settle_contract_start(arriving, Period.parse("2027-01"), billed, settled={"M1": D("-1.739")})
    assert (again.water.settlement_m3, again.gross) == (0, 0)
    rerun = bill_service_point(arriving, NOV)
    assert [(p.value, p.source) for p in rerun.initial] == [(D(205), Source.RADIO)]
    real = {p.meter_id: p for p in rerun.initial}
    back = settle_contract_start(arriving, Period.parse("2027-01"), real, settled={"M1": D("-1.739")})
    assert (back.water.settlement_m3, back.gross) == (D("1.739"), D("20.81"))
    assert settle_contract_start(arriving, Period.parse("2027-01"), real) is None


def test_submeter_above_main_is_an_exception_not_a_negative_bill():
    sp = ServicePoint("SP1", installations=[
        main([rr(t(2026, 10, 1), 100), rr(t(2026, 11, 1), 110)]),
        garden([rr(t(2026, 10, 1), 0), rr(t(2026, 11, 1), 12)])])
    bill = bill_service_point(sp, OCT)
    assert bill.sewage.m3 == 0 and bill.gross > 0
    assert kinds(bill) == ["submeter_above_main"]


def test_sewage_meter_and_own_intake():
    m = main([rr(t(2026, 10, 1), 100), rr(t(2026, 11, 1), 110)])
    sew = Installation("S1", Role.SEWAGE, t(2020, 1, 1), readings=[rr(t(2026, 10, 1), 50),
                                                                   rr(t(2026, 11, 1), 57)])
    well = Installation("W1", Role.OWN_INTAKE, t(2020, 1, 1), readings=[rr(t(2026, 10, 1), 5),
                                                                        rr(t(2026, 11, 1), 8)])
    g = garden([rr(t(2026, 10, 1), 0), rr(t(2026, 11, 1), 2)])
    assert bill_service_point(ServicePoint("A", installations=[m, sew, g]), OCT).sewage.m3 == 7
    assert bill_service_point(ServicePoint("B", installations=[m, well, g]), OCT).sewage.m3 == 11


def test_garden_deducted_only_while_legalised():
    g = garden([rr(t(2026, 10, 1), 0), rr(t(2026, 10, 16), 1), rr(t(2026, 11, 1), 3)],
               legalised_until=date(2026, 10, 15))
    m = main([rr(t(2026, 10, 1), 100), rr(t(2026, 11, 1), 110)])
    bill = bill_service_point(ServicePoint("SP1", installations=[m, g]), OCT)
    assert bill.sewage.m3 == 9
    assert kinds(bill) == ["legalisation_expired"]
    unlegalised = garden(g.readings, legalised_until=None)
    bill = bill_service_point(ServicePoint("SP1", installations=[m, unlegalised]), OCT)
    assert bill.sewage.m3 == 10


def test_garden_without_a_new_reading_deducts_nothing_yet():
    g = garden([rr(t(2026, 9, 1), 0), rr(t(2026, 10, 1), 2)])
    m = main([rr(t(2026, 10, 1), 100), rr(t(2026, 11, 1), 110)])
    bill = bill_service_point(ServicePoint("SP1", installations=[m, g]), OCT)
    assert bill.sewage.m3 == 10   # no estimate for deductions: only measured garden water counts


def test_exceptions_report_alarms_and_implausible():
    m = main([rr(t(2026, 10, 1), 100), rr(t(2026, 10, 2), 180), rr(t(2026, 11, 1), 181)])
    sp = ServicePoint("SP1", installations=[m], alarms=[
        AlarmEvent("M1", t(2026, 10, 5), "leak"), AlarmEvent("M1", t(2026, 11, 5), "tamper")])
    bill = bill_service_point(sp, OCT)
    assert kinds(bill) == ["alarm", "implausible_reading"]
    assert [e.detail for e in bill.exceptions if e.kind == ExceptionKind.ALARM] == ["leak"]


def test_a_period_without_any_reading_is_reported_unread_even_when_interpolated():
    sp = ServicePoint("SP1", installations=[main([rr(t(2026, 9, 15), 100), rr(t(2026, 11, 15), 120)])])
    bill = bill_service_point(sp, OCT)
    assert bill.water.source == Source.RADIO and bill.water.m3 == D("10.164")
    assert kinds(bill) == ["unread"]


def test_meter_plausibility_limits():
    readings = [rr(t(2026, 10, 1), 100), rr(t(2026, 11, 1), 110)]
    ok = main(readings, plausible_min_m3=D(1), plausible_max_m3=D(20))
    assert kinds(bill_service_point(ServicePoint("SP1", installations=[ok]), OCT)) == []
    high = main(readings, plausible_max_m3=D(8))
    low = main(readings, plausible_min_m3=D(12))
    for inst, word in ((high, "above"), (low, "below")):
        bill = bill_service_point(ServicePoint("SP1", installations=[inst]), OCT)
        assert [(e.kind, word in e.detail) for e in bill.exceptions] == [(ExceptionKind.IMPLAUSIBLE, True)]


def test_periods():
    assert Period.parse("2026-11..2027-01").months == 3
    assert Period.parse("2026-12").next() == Period.parse("2027-01")
    assert Period.parse("2026-10..2026-12").split()[1] == NOV
    for bad in ("2026-13", "2026-1", "2026-10..2026-09", ""):
        with pytest.raises(PeriodError):
            Period.parse(bad)


def _moved_in_1_jul(**kw) -> ServicePoint:
    """The previous customer used 240 m3 from 1 Nov 2025 (100) to 1 Jul 2026 (340, read at the change); this one
    9.2 m3 from then to 1 Oct (349.2), the last reading."""
    m = main([rr(t(2025, 11, 1), 100, due=True), rr(t(2026, 7, 1), 340, Source.MANUAL),
              rr(t(2026, 10, 1), "349.2", due=True)])
    return ServicePoint("SP30", "A30", active_from=date(2026, 7, 1), installations=[m], **kw)


def test_an_estimate_averages_only_this_customers_consumption():
    nov = bill_service_point(_moved_in_1_jul(), NOV)
    # own average 9.2 m3 / 92 days = 0.1 m3/day: 1 Nov = 349.2 + 31 x 0.1 = 352.3, 1 Dec = 349.2 + 61 x 0.1 = 355.3
    assert (nov.water.m3, nov.water.source) == (D("3.000"), Source.ESTIMATE)
    assert [(p.value, p.source) for p in nov.closing] == [(D("355.3"), Source.ESTIMATE)]
    # without the contract's dates, the year's window from the first reading in it (1 Nov 2025): 249.2 m3 / 334
    # days; 1 Nov = 349.2 + 31 x 249.2/334 = 372.329, 1 Dec = 349.2 + 61 x 249.2/334 = 394.713: 22.384 m3
    undated = bill_service_point(ServicePoint("SP30", "A30", installations=_moved_in_1_jul().installations), NOV)
    assert undated.water.m3 == D("22.384")
    # moving in on 15 Jul, between readings: the register then is interpolated, 340 + 9.2 x 14/92 = 341.4, and
    # the average is (349.2 - 341.4) / 78 days = 0.1 m3/day again
    later = ServicePoint("SP30", "A30", active_from=date(2026, 7, 15), installations=_moved_in_1_jul().installations)
    assert bill_service_point(later, NOV).water.m3 == D("3.000")
    # a contract ending unread is estimated from that customer's own use too: 11 Nov = 349.2 + 41 x 0.1 = 353.3
    leaving = bill_service_point(_moved_in_1_jul(active_to=date(2026, 11, 10)), NOV)
    assert (leaving.water.m3, [p.value for p in leaving.final]) == (D("1.000"), [D("353.3")])


def test_a_customer_without_a_reading_of_their_own_is_estimated_at_0_with_an_exception():
    # the contract starts on 15 Oct, after the last reading (1 Oct): where the register stood on 15 Oct is the
    # previous customer's (estimated from the whole year: 349.2 + 14 x 249.2/334 = 359.646) and this customer has
    # no history: October bills 0 m3 and says so; undated it would bill 17 x 249.2/334 = 12.684 m3
    m = _moved_in_1_jul().installations[0]
    oct_ = bill_service_point(ServicePoint("SP31", "A31", active_from=date(2026, 10, 15), installations=[m]), OCT)
    [part] = oct_.water.parts
    assert (part.start.value, part.end.value, oct_.water.m3) == (D("359.646"), D("359.646"), 0)
    assert kinds(oct_) == ["no_history_for_estimate", "unread"]
    # (the whole October undated: 31 x 249.2/334 = 23.129, of which 17 days are 12.684)
    assert bill_service_point(ServicePoint("SP31", "A31", installations=[m]), OCT).water.m3 == D("23.129")
    # the previous customer's bill for the same October ends where this one starts: nothing lost, nothing twice
    before = bill_service_point(ServicePoint("SP31", "A29", active_to=date(2026, 10, 14), installations=[m]), OCT)
    assert [p.value for p in before.final] == [D("359.646")]
