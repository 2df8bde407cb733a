"""Properties of the billing engine over generated meter histories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from functools import partial
from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from server.billing.engine import bill_service_point, settle_contract_end, settle_contract_start
from server.billing.model import (
    Connection,
    ExceptionKind,
    Fault,
    Installation,
    RegisterReading,
    Role,
    ServicePoint,
    Source,
)
from server.billing.period import Period, at_midnight
from server.billing.register import Register
from server.billing.tariff import MWIK_KK_2019, money

START = datetime(2026, 1, 1, tzinfo=UTC)
litres = st.integers(min_value=0, max_value=40_000).map(lambda n: D(n) / 1000)


@st.composite
def history(draw, months: int = 6, missing_ok: bool = True) -> list[RegisterReading]:
    """Monotone register readings at random instants; some months may have none."""
    out, value = [], D(0)
    for m in range(months):
        month_start = START + timedelta(days=31 * m)
        present = draw(st.booleans()) if missing_ok else True
        for _ in range(draw(st.integers(1, 3)) if present else 0):
            value += draw(litres)
            at = month_start + timedelta(minutes=draw(st.integers(0, 31 * 24 * 60 - 1)))
            out.append(RegisterReading(at, value, draw(st.sampled_from([Source.RADIO, Source.MANUAL]))))
    out.sort(key=lambda r: r.at)
    # keep values monotone in time after sorting
    return [RegisterReading(r.at, v, r.source) for r, v in zip(out, sorted(r.value for r in out), strict=True)]


@settings(max_examples=150, deadline=None)
@given(main_d=litres, garden_d=litres, intake_d=litres, legal=st.booleans(), sewer=st.booleans())
def test_sewage_never_negative(main_d, garden_d, intake_d, legal, sewer):
    a, b = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)

    def inst(mid: str, role: Role, delta: D, **kw) -> Installation:
        return Installation(mid, role, datetime(2020, 1, 1, tzinfo=UTC),
                            readings=[RegisterReading(a, D(0)), RegisterReading(b, delta)], **kw)

    sp = ServicePoint("SP", sewered=sewer, installations=[
        inst("M", Role.MAIN, main_d), inst("W", Role.OWN_INTAKE, intake_d),
        inst("G", Role.GARDEN, garden_d, legalised_until=date(2030, 1, 1) if legal else date(2020, 6, 1))])
    bill = bill_service_point(sp, Period.parse("2026-10"))
    assert bill.sewage.m3 >= 0
    assert bill.sewage.m3 <= main_d + intake_d
    assert bill.gross >= 0
    if sewer and legal:
        assert bill.sewage.m3 == max(D(0), main_d - min(garden_d, main_d)) + intake_d


@settings(max_examples=150, deadline=None)
@given(readings=history(), lag_days=st.integers(0, 10))
def test_estimates_plus_settlement_equal_metered_total(readings, lag_days):
    """Bill month by month as the readings arrive (run `lag_days` after each month ends, seeing only what
    was read by then); when a real reading closes the last month the sum billed is the metered total."""
    first, last = Period.month(2026, 1), Period.month(2026, 7)
    final = last.start_at
    v_end = (readings[-1].value if readings else D(0)) + D(1)
    readings = [RegisterReading(START, D(0), due_date=True), *readings,
                RegisterReading(final, v_end, due_date=True)]
    inst = Installation("M", Role.MAIN, datetime(2025, 1, 1, tzinfo=UTC), readings=[])
    sp = ServicePoint("SP", installations=[inst])
    opening: dict = {}
    billed = D(0)
    period = first
    while period.start < last.start:
        seen = period.end_at + timedelta(days=lag_days)
        inst.readings = [r for r in readings if r.at <= seen]
        bill = bill_service_point(sp, period, opening=opening)
        assert bill.water.m3 >= 0 and bill.sewage.m3 >= 0
        billed += bill.water.total
        opening = {p.meter_id: p for p in bill.closing}
        period = period.next()
    assert billed == v_end


@settings(max_examples=100, deadline=None)
@given(readings=history(months=7), months=st.integers(2, 6), carry=st.booleans())
def test_periods_tile_without_gaps_or_overlaps(readings, months, carry):
    whole = Period.month(2026, 1, months)
    parts = whole.split()
    assert parts[0].start == whole.start and parts[-1].end == whole.end
    assert all(p.end == q.start for p, q in zip(parts, parts[1:], strict=False))
    assert sum(p.months for p in parts) == whole.months

    inst = Installation("M", Role.MAIN, datetime(2025, 12, 1, tzinfo=UTC), readings=readings)
    sp = ServicePoint("SP", installations=[inst])
    opening: dict = {}
    total_water = total_sewage = D(0)
    for p in parts:
        bill = bill_service_point(sp, p, opening=opening if carry else None)
        total_water += bill.water.total
        total_sewage += bill.sewage.total
        if carry:
            opening = {c.meter_id: c for c in bill.closing}
            assert all(c.at == p.end_at for c in bill.closing)
    once = bill_service_point(sp, whole)
    assert total_water == once.water.total
    assert total_sewage == once.sewage.total


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.integers(-3000, 20_000), min_size=2, max_size=30), data=st.data())
def test_reverse_flow_never_bills_negative_and_positions_telescope(steps, data):
    """Registers that sometimes run backwards: no month bills negative consumption, and what all months
    bill together is exactly the distance between the first opening and the last closing position."""
    value, readings = D(1000), []
    for i, step in enumerate(steps):
        value += D(step) / 1000
        at = START + timedelta(hours=data.draw(st.integers(0, 23)), days=6 * i)
        readings.append(RegisterReading(at, value))
    readings.sort(key=lambda r: r.at)
    inst = Installation("M", Role.MAIN, datetime(2025, 12, 1, tzinfo=UTC), initial_value=D(1000), readings=readings)
    sp = ServicePoint("SP", installations=[inst])
    opening: dict = {}
    first_open = None
    billed = D(0)
    for p in Period.month(2026, 1, 6).split():
        bill = bill_service_point(sp, p, opening=opening)
        assert bill.water.m3 >= 0 and bill.sewage.m3 >= 0
        if first_open is None:
            first_open = bill.water.parts[0].start.value
        billed += bill.water.total
        opening = {c.meter_id: c for c in bill.closing}
    assert billed == opening["M"].value - first_open


@settings(max_examples=150, deadline=None)
@given(start=st.integers(0, 23), count=st.integers(1, 12), before=st.integers(0, 400), after=st.integers(0, 400),
       contract=st.sampled_from(["none", "from", "to", "both"]), fitted=st.booleans(), removed=st.booleans(),
       delta=litres, norm=st.booleans())
def test_full_period_subscription_is_charged_as_before(start, count, before, after, contract, fitted, removed,
                                                       delta, norm):
    """A service point active over the whole period (by its contract dates, or without them by its meters, or
    with neither) pays subscription x the period's months, exactly the old charge, whatever else it has; and its
    contract dates change nothing else either (water, norms, exceptions)."""
    period = Period.month(2025 + start // 12, start % 12 + 1, count)
    a, b = period.start_at, period.end_at
    first_day, last_day = period.start - timedelta(days=before), period.end - timedelta(days=1) + timedelta(days=after)
    insts = []
    if fitted:
        insts.append(Installation("M", Role.MAIN, a - timedelta(days=before),
                                  removed_at=b + timedelta(days=after) if removed else None,
                                  readings=[RegisterReading(a, D(0)), RegisterReading(b, delta)]))
    kw = {"connection": Connection.UNMETERED, "norm_category": "household_wc", "norm_units": D(2)} if norm else {}
    sp = ServicePoint("SP", installations=insts,
                      active_from=first_day if contract in ("from", "both") else None,
                      active_to=last_day if contract in ("to", "both") else None, **kw)
    bill = bill_service_point(sp, period)
    undated = bill_service_point(ServicePoint("SP", installations=insts, **kw), period)
    assert (bill.water, bill.sewage, bill.lines, bill.net, bill.gross, bill.exceptions) == (
        undated.water, undated.sewage, undated.lines, undated.net, undated.gross, undated.exceptions)
    [sub] = [ln for ln in bill.lines if ln.kind == "subscription"]
    old = money(MWIK_KK_2019.subscription * period.months)
    assert (sub.quantity, sub.unit, sub.unit_price, sub.net) == (D(period.months), "month",
                                                                 MWIK_KK_2019.subscription, old)
    others = sum((ln.net for ln in bill.lines if ln.kind != "subscription"), D(0))
    assert bill.net == others + old and bill.vat == money(bill.net * MWIK_KK_2019.vat_rate)


@settings(max_examples=150, deadline=None)
@given(readings=history(months=7), month=st.integers(1, 6), day=st.integers(2, 28), fitted_days=st.integers(0, 60),
       garden_d=litres)
def test_a_change_of_customer_splits_the_metered_quantities_exactly(readings, month, day, fitted_days, garden_d):
    """The leaving customer's contract ends the day before the arriving one's starts: each meter is valued once
    at the change (estimates included), so together they are billed exactly the water, garden deduction and
    sewage of one customer over the whole period, unless the period's end is estimated (the arriving customer's
    estimate averages only their own consumption, the undated one everybody's); and neither is billed anything
    from the other's days."""
    period = Period.month(2026, month)
    a, b = period.start_at, period.end_at
    change = date(2026, month, day)
    fitted = a - timedelta(days=fitted_days)   # fitted before the period or, with 0, on its first day
    insts = [
        Installation("M", Role.MAIN, fitted, readings=[r for r in readings if r.at >= fitted]),
        Installation("G", Role.GARDEN, fitted, legalised_until=date(2030, 1, 1),
                     readings=[RegisterReading(a, D(0)), RegisterReading(b, garden_d)]),
    ]
    whole = bill_service_point(ServicePoint("SP", installations=insts), period)
    leaving = bill_service_point(ServicePoint("SP", installations=insts, active_to=change - timedelta(days=1)),
                                 period)
    arriving = bill_service_point(ServicePoint("SP", installations=insts, active_from=change), period)
    [left] = [p for p in leaving.water.parts if p.meter_id == "M"]
    [came] = [p for p in arriving.water.parts if p.meter_id == "M"]
    assert left.end.at == came.start.at and left.end.value == came.start.value
    if came.end.method == "estimate":
        return
    assert leaving.water.m3 + arriving.water.m3 == whole.water.m3
    garden = [sum((p.consumption for p in bill.sewage.parts if p.role == Role.GARDEN), D(0))
              for bill in (leaving, arriving, whole)]
    assert garden[0] + garden[1] == garden[2]
    if all(bill.water.m3 >= g for bill, g in zip((leaving, arriving), garden, strict=False)):
        assert leaving.sewage.m3 + arriving.sewage.m3 == whole.sewage.m3   # no sub-meter cap on either side
    for bill, start, end in ((leaving, a, at_midnight(change)), (arriving, at_midnight(change), b)):
        for part in bill.water.parts + bill.sewage.parts:
            if part.start is not None:
                assert start <= part.start.at and part.end.at <= end


def october_with_the_previous_use_scaled(firsts: list[date], increments: list[D], change: int, kept: set[int],
                                        fitted: datetime, contract_from: date | None, k: D, faults=()):
    """October 2026's bill of a service point whose main meter, fitted at `fitted` with 1000 m3 on its register,
    advanced by `increments` between the readings due on `firsts` (those with an index in `kept` were read). The
    contract starts on `contract_from` (None: undated); the register before `firsts[change]` is the previous
    customer's use, scaled by `k` around where the register stood then."""
    values = list(accumulate(increments, initial=D(1000)))[1:]
    pivot, start = values[change], firsts[change]

    def moved(x: D) -> D:   # the register before the change, with the previous customer's use scaled
        return pivot - (pivot - x) * k

    readings = [RegisterReading(at_midnight(d), x if d >= start else moved(x), due_date=True)
                for i, (d, x) in enumerate(zip(firsts, values, strict=True)) if i in kept]
    inst = Installation("M", Role.MAIN, fitted, initial_value=moved(D(1000)), readings=readings, faults=list(faults))
    return bill_service_point(ServicePoint("SP", installations=[inst], active_from=contract_from),
                              Period.parse("2026-10"))


@settings(max_examples=150, deadline=None)
@given(increments=st.lists(litres, min_size=22, max_size=22), unread=st.sets(st.integers(1, 20), max_size=8),
       change=st.integers(1, 20), scale=st.sampled_from([D(0), D("0.5"), D(1), D(3)]), fault_month=st.integers(8, 10))
def test_the_faulty_meter_rule_uses_only_this_customers_consumption(increments, unread, change, scale, fault_month):
    """A main meter read on the 1st of each month from Jan 2025 (some months unread), found faulty on the 1st of
    Aug, Sep or Oct 2026 (so October is all faulty, nothing estimated); this customer's contract starts on the
    1st of month `change`, read that day. Whatever the previous customer used (the register before the change
    scaled by `scale`), this customer's faulty-meter quantity is the same; and a contract from before every
    reference window bills exactly what the undated one does."""
    firsts = [date(2025 + m // 12, m % 12 + 1, 1) for m in range(22)]   # 1 Jan 2025 .. 1 Oct 2026
    start = firsts[change]
    kept = {i for i in range(22) if i not in unread or i in (change, 11 + fault_month)}
    fault = Fault(at_midnight(date(2026, fault_month, 1)))
    bill = partial(october_with_the_previous_use_scaled, firsts, increments, change, kept,
                   at_midnight(date(2024, 12, 1)), faults=[fault])
    ours = bill(start, D(1))
    other = bill(start, scale)
    assert (ours.water, ours.sewage, ours.exceptions) == (other.water, other.sewage, other.exceptions)
    assert ours.water.source == Source.FAULTY_METER_RULE
    early, undated = bill(date(2025, 1, 1), D(1)), bill(None, D(1))
    assert (early.water, early.sewage, early.exceptions) == (undated.water, undated.sewage, undated.exceptions)


@settings(max_examples=150, deadline=None)
@given(readings=history(), lag_days=st.integers(0, 10), last_month=st.integers(1, 5), last_day=st.integers(1, 28))
def test_a_leaving_customers_bills_and_settlement_add_up_to_the_metered_contract(readings, lag_days, last_month,
                                                                                   last_day):
    """Bill a customer whose contract ends on `last_day` of month `last_month` month by month as the readings
    arrive (each run `lag_days` after its month, seeing only what was read by then), then settle the contract's
    end in each later run: once a reading after the end arrives (one on 1 Jul at the latest) the customer has
    been billed exactly the register's advance from 1 Jan to the contract's end, valued with all readings."""
    final = Period.month(2026, 7).start_at
    readings = [RegisterReading(START, D(0), due_date=True), *readings,
                RegisterReading(final, (readings[-1].value if readings else D(0)) + D(1), due_date=True)]
    inst = Installation("M", Role.MAIN, datetime(2025, 1, 1, tzinfo=UTC), readings=[])
    active_to = date(2026, last_month, last_day)
    sp = ServicePoint("SP", "A", installations=[inst], active_to=active_to)
    opening: dict = {}
    pending: dict = {}
    billed = D(0)
    period = Period.month(2026, 1)
    while period.start < date(2026, 8, 1):
        inst.readings = [r for r in readings if r.at <= period.end_at + timedelta(days=lag_days)]
        if period.start <= active_to:
            bill = bill_service_point(sp, period, opening=opening)
            opening = {p.meter_id: p for p in bill.closing}
            if bill.final:
                pending = {p.meter_id: p for p in bill.final}
        else:
            bill = settle_contract_end(sp, period, pending)
            if bill is not None:
                assert bill.water.m3 == 0 and not any(ln.net for ln in bill.lines if ln.kind == "subscription")
                pending = {p.meter_id: p for p in bill.final}
        billed += bill.water.total if bill is not None else D(0)
        period = period.next()
    assert pending["M"].source != Source.ESTIMATE
    inst.readings = readings
    at_end, _ = Register(inst).value_at(at_midnight(active_to + timedelta(days=1)))
    assert at_end.source != Source.ESTIMATE
    assert billed == at_end.value   # from 0 on 1 Jan


@settings(max_examples=150, deadline=None)
@given(increments=st.lists(litres, min_size=21, max_size=21), unread=st.sets(st.integers(1, 19), max_size=8),
       change=st.integers(1, 20), scale=st.sampled_from([D(0), D("0.5"), D(1), D(3)]), last=st.integers(1, 20))
def test_an_estimate_uses_only_this_customers_consumption(increments, unread, change, scale, last):
    """A main meter read on the 1st of each month from Feb 2025 (some months unread), last read on the 1st of
    month `last` (<= Sep 2026), so October is estimated; this customer's contract starts on the 1st of month
    `change`, read that day when it is not after the last reading. Whatever the previous customer used (the
    register before the change scaled by `scale`), this customer's October is the same; a contract from before
    the history window bills exactly what the undated one does."""
    firsts = [date(2025 + (m + 1) // 12, (m + 1) % 12 + 1, 1) for m in range(21)]   # 1 Feb 2025 .. 1 Oct 2026
    start = firsts[change]
    kept = {i for i in range(21) if i <= last and (i not in unread or i in (change, last))}
    bill = partial(october_with_the_previous_use_scaled, firsts, increments, change, kept,
                   at_midnight(date(2025, 1, 1)))
    ours = bill(start, D(1))
    other = bill(start, scale)
    assert ours.water.source == Source.ESTIMATE
    # the quantities (not the positions: where the register stood at the change is the previous customer's use)
    assert (ours.water.m3, ours.sewage.m3, ours.gross, ours.exceptions) == (
        other.water.m3, other.sewage.m3, other.gross, other.exceptions)
    if change >= last:   # no reading of their own after the contract's start: nothing estimated for them
        assert ours.water.m3 == 0 and any(e.kind == ExceptionKind.NO_HISTORY for e in ours.exceptions)
    early, undated = bill(date(2024, 1, 1), D(1)), bill(None, D(1))
    assert (early.water, early.sewage, early.exceptions) == (undated.water, undated.sewage, undated.exceptions)


@settings(max_examples=150, deadline=None)
@given(readings=history(), lag_days=st.integers(0, 10), last_month=st.integers(1, 5), last_day=st.integers(1, 28))
def test_a_change_of_customer_bills_both_exactly_the_register_once_the_change_is_valued(readings, lag_days,
                                                                                         last_month, last_day):
    """The service point changes customer at midnight after `last_day` of month `last_month`, when nobody read the
    meter. Both customers are billed month by month as the readings arrive (each run `lag_days` after its month,
    seeing only what was read by then), and each later run settles the leaving customer's end and the arriving
    one's start. Once a reading after the change arrives (1 Aug at the latest, seen by July's run) the leaving
    customer has been billed exactly the register's advance from 1 Jan to the change, the arriving one from the
    change to 1 Aug, both valued with all readings: together the whole advance, nothing twice."""
    change = at_midnight(date(2026, last_month, last_day) + timedelta(days=1))
    final = Period.month(2026, 8).start_at
    readings = [RegisterReading(START, D(0), due_date=True), *(r for r in readings if r.at != change),
                RegisterReading(final, (readings[-1].value if readings else D(0)) + D(1), due_date=True)]
    inst = Installation("M", Role.MAIN, datetime(2025, 1, 1, tzinfo=UTC), readings=[])
    leaving = ServicePoint("SP", "A", installations=[inst], active_to=date(2026, last_month, last_day))
    arriving = ServicePoint("SP", "B", installations=[inst], active_from=change.date())
    opening: dict = {}
    end: dict = {}
    start: dict = {}
    billed = {"A": D(0), "B": D(0)}
    period = Period.month(2026, 1)
    while period.start < date(2026, 8, 1):
        inst.readings = [r for r in readings if r.at <= period.end_at + timedelta(days=lag_days)]
        bills = []
        if period.start <= leaving.active_to:
            bills.append(a := bill_service_point(leaving, period, opening=opening))
            end = {p.meter_id: p for p in a.final} or end
        elif (a := settle_contract_end(leaving, period, end)) is not None:
            bills.append(a)
            end = {p.meter_id: p for p in a.final}
        if start and (b := settle_contract_start(arriving, period, start)) is not None:
            assert b.water.m3 == 0 and not any(ln.net for ln in b.lines if ln.kind == "subscription")
            bills.append(b)
            start = {p.meter_id: p for p in b.final}
        if arriving.active_from < period.end:
            bills.append(b := bill_service_point(arriving, period, opening=opening))
            start = {p.meter_id: p for p in b.initial} or start
        for bill in bills:
            billed[bill.account] += bill.water.total
        opening = {p.meter_id: p for bill in bills for p in bill.closing}
        period = period.next()
    assert end["M"].source != Source.ESTIMATE and start["M"].source != Source.ESTIMATE
    inst.readings = readings
    at_change, _ = Register(inst).value_at(change)
    assert at_change.source != Source.ESTIMATE
    assert billed == {"A": at_change.value, "B": readings[-1].value - at_change.value}
    assert billed["A"] + billed["B"] == readings[-1].value   # the register's advance from 0 on 1 Jan
