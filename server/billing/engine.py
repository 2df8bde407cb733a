"""The billing engine: one service point, one period -> quantities with sources, amounts, exceptions.

Pure: no database, no clock. The rules (domain notes §3):
- water = main meter delta over [start, end) (art. 27 ust. 1), summed over replacements; where no main
  meter is installed, the norm table (unmetered / temporary connections), both only for the days inside the
  contract (active_from .. active_to) when the store has its dates: every meter (main, sewage, own intake,
  garden) is valued at the contract's boundaries as at the period's (due-date register, reading,
  interpolation, estimate), so a customer pays for what went through the meters during their contract and
  a change of customer inside a period splits its consumption exactly; what a main or own-intake meter
  measured in the period outside the contract is billed to nobody and reported (consumption_outside_contract);
- a faulty main meter bills the average of the 3 months before the fault, else the same span last year,
  else last year's monthly average x the months of malfunction (taryfy reg. 2018), each from this customer's
  consumption only: a reference window not inside the contract is passed over (see `_Run.faulty_rule`);
- sewage = sewage meter delta where one is fitted (ust. 4), else water + own intakes - legalised garden
  sub-meter (ust. 5-6), never negative; a sub-meter above the main meter is reported, not billed negative;
- an unread meter is estimated from its average daily consumption over the last year (`history_days`), and
  where the store has the contract's start only from this customer's consumption (see `Register.value_at`:
  none of their own yet -> 0 m3/day and a no_history exception); the next period starts from the
  position billed before (`opening`), so the first real reading settles the estimate exactly, as a
  separate signed settlement quantity; an opening only settles a contract that was already running before
  the period (one starting on its first day did not pay for the position before it);
- an estimate at the END of a contract is not settled by the next period (that bill is the next customer's,
  or nobody's): the bill keeps the position the leaving customer was billed to (`Bill.final`), and a later
  run whose readings value that instant for real issues a settlement-only bill to that customer
  (`settle_contract_end`: the signed difference as water/sewage settlement, no consumption, no
  subscription) with a `contract_end_settlement` exception naming the account and the amounts;
- the same estimate is where the NEXT customer's contract starts, so it is settled to them too, the other way
  round: their bill keeps the position they were billed from (`Bill.initial`), and a later run whose readings
  value that instant for real issues them a settlement-only bill of (estimate - real value)
  (`settle_contract_start`, `contract_start_settlement` exception); without it the arriving customer's own
  readings, which telescope back to the estimate, would charge them the difference the leaving one settled.
  Once the change is valued for real the two are billed exactly the register's advance, each over their own
  contract (leaving: real value - their start; arriving: their end - real value);
- the subscription is charged for the part of the period the service point was active: its contract dates
  (active_from .. active_to inclusive) where the store has either, else the span from its first installation
  to its last removal (any role), else the whole period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from server.billing.model import (
    REAL_SOURCES,
    Bill,
    BillingException,
    Boundary,
    Connection,
    ExceptionKind,
    Fault,
    Installation,
    MeterQuantity,
    Position,
    Quantity,
    Role,
    ServicePoint,
    Source,
    weakest,
)
from server.billing.norms import NormTable
from server.billing.period import ONE_DAY, Period, add_months, at_midnight, days_between
from server.billing.register import Register, q3
from server.billing.tariff import MWIK_KK_2019, Tariff, charge_lines, totals

FAR = datetime(9999, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)
HELD = "held"   # a closing position kept above the register after reverse flow: not a settlement later


@dataclass(slots=True)
class BillingConfig:
    tariff: Tariff = MWIK_KK_2019
    norms: NormTable = field(default_factory=NormTable)
    max_daily_m3: Decimal = Decimal("5")   # plausibility default for a household connection
    history_days: int = 365                 # window of the average used for estimates


def uncovered(intervals: Iterable[tuple[datetime, datetime]], a: datetime, b: datetime,
              ) -> list[tuple[datetime, datetime]]:
    """The parts of [a, b) not covered by any of the half-open intervals."""
    gaps, cursor = [], a
    for s, e in sorted(intervals):
        if e <= cursor or s >= b:
            continue
        if s > cursor:
            gaps.append((cursor, min(s, b)))
        cursor = max(cursor, e)
        if cursor >= b:
            break
    if cursor < b:
        gaps.append((cursor, b))
    return gaps


def _span(inst: Installation) -> tuple[datetime, datetime]:
    return inst.installed_at, inst.removed_at or FAR


def _fault_pieces(faults: list[Fault], s: datetime, e: datetime) -> list[tuple[datetime, datetime, Fault | None]]:
    pieces: list[tuple[datetime, datetime, Fault | None]] = []
    cursor = s
    for f in sorted(faults, key=lambda f: f.start):
        fs, fe = max(f.start, s), min(f.end or FAR, e)
        if fe <= fs:
            continue
        if fs > cursor:
            pieces.append((cursor, fs, None))
        pieces.append((max(fs, cursor), fe, f))
        cursor = max(cursor, fe)
    if cursor < e:
        pieces.append((cursor, e, None))
    return pieces


def _shift_months(t: datetime, n: int) -> datetime:
    d = add_months(t.date(), n)
    return t.replace(year=d.year, month=d.month, day=d.day)


class _Run:
    """State of billing one service point for one period."""

    def __init__(self, sp: ServicePoint, period: Period, config: BillingConfig,
                 opening: Mapping[str, Position]) -> None:
        self.sp, self.period, self.config, self.opening = sp, period, config, opening
        self.a, self.b = period.start_at, period.end_at
        self.cs, self.ce = self.contract_span()
        # the whole contract, not cut to the period: the faulty-meter rule looks back before the period
        self.contract_start = at_midnight(sp.active_from) if sp.active_from else datetime.min.replace(tzinfo=UTC)
        self.contract_end = at_midnight(sp.active_to) + ONE_DAY if sp.active_to else FAR
        self.contract_label = f"{sp.active_from or 'open'}..{sp.active_to or 'open'}"
        self.exceptions: list[BillingException] = []
        self.closing: list[Position] = []
        self.final: list[Position] = []
        self.initial: list[Position] = []
        # estimates inside the contract average this customer's consumption only (see Register.value_at)
        since = at_midnight(sp.active_from) if sp.active_from else None
        self.regs = {id(i): Register(i, history_days=config.history_days, since=since) for i in sp.installations}

    def flag(self, kind: ExceptionKind, detail: str, meter_id: str | None = None,
             at: datetime | None = None) -> None:
        self.exceptions.append(BillingException(self.sp.id, kind, detail, meter_id, at))

    def role(self, role: Role) -> list[Installation]:
        return [i for i in self.sp.installations if i.role == role]

    def in_contract(self, inst: Installation) -> bool:
        """Whether the installation was in place during the contract's part of the period: a meter there only
        before or after it (the previous or next customer's) is no part of this bill, nor of its checks."""
        return self.cs < self.ce and inst.installed_at < self.ce and (inst.removed_at or FAR) > self.cs

    # -- one installation ---------------------------------------------------------------------------
    def meter_part(self, inst: Installation, *, allow_estimate: bool = True,
                   clip_end: datetime | None = None) -> MeterQuantity | None:
        a, b = self.a, self.b
        reg = self.regs[id(inst)]
        s = max(self.cs, inst.installed_at)
        e = min(self.ce, inst.removed_at or FAR, clip_end or FAR)
        if e <= s:
            return None
        cons = settle = ZERO
        sources: list[Source] = []
        first = last = None
        notes: list[str] = []
        for ps, pe, fault in _fault_pieces(inst.faults, s, e):
            if fault is not None:
                q, note = self.faulty_rule(inst, fault, ps, pe)
                cons += q
                sources.append(Source.FAULTY_METER_RULE)
                notes.append(note)
                last = None
                continue
            bs, nohist_s = reg.value_at(ps, allow_estimate=allow_estimate)
            be, nohist_e = reg.value_at(pe, allow_estimate=allow_estimate)
            if nohist_s or nohist_e:
                self.flag(ExceptionKind.NO_HISTORY, "estimate without a consumption history: 0 m3/day",
                          inst.meter_id, pe)
            start_value = bs.value
            op = self.opening.get(inst.meter_id)
            if ps == a and op is not None and op.at == a and self.contract_start < a:
                if op.method == HELD:
                    start_value = op.value   # the register is still catching up after reverse flow
                else:
                    settle += bs.value - op.value
            q = be.value - start_value
            end_value, end_method = be.value, be.method
            if q < 0:   # reverse consumption: bill nothing and hold the billed position where it was
                q, end_value, end_method = ZERO, start_value, HELD
            cons += q
            sources.append(weakest(bs.source, be.source))
            first = first or bs
            last = be
            if ps == self.contract_start:   # the contract starts here: the position this customer is billed from
                self.initial.append(Position(inst.meter_id, ps, start_value, bs.source, bs.method))
            if pe == b and inst.removed_at != b:
                self.closing.append(Position(inst.meter_id, b, end_value, be.source, end_method))
            if pe == self.contract_end:   # the contract ends here (inside the period or at its end)
                self.final.append(Position(inst.meter_id, pe, end_value, be.source, end_method))
            if be.method == "estimate" and inst.role != Role.GARDEN:
                self.flag(ExceptionKind.UNREAD, f"no reading since {reg.points[-1].at.isoformat()}; "
                          f"{inst.role} meter estimated", inst.meter_id, pe)
        self.plausible(inst, cons, s, e, sources)
        return MeterQuantity(inst.meter_id, inst.role, cons, settle, weakest(*sources), first, last,
                             "; ".join(notes))

    def plausible(self, inst: Installation, cons: Decimal, s: datetime, e: datetime,
                  sources: list[Source]) -> None:
        """The meter's own monthly limits (the route sheet's), pro rata; estimates are not judged."""
        if not any(src in REAL_SOURCES for src in sources):
            return
        months = self.period.month_fraction(s, e)
        if inst.plausible_max_m3 is not None and cons > inst.plausible_max_m3 * months:
            self.flag(ExceptionKind.IMPLAUSIBLE, f"{cons} m3 above the meter's limit of {inst.plausible_max_m3}"
                      " m3/month", inst.meter_id)
        if inst.plausible_min_m3 is not None and cons < inst.plausible_min_m3 * months:
            self.flag(ExceptionKind.IMPLAUSIBLE, f"{cons} m3 below the meter's minimum of "
                      f"{inst.plausible_min_m3} m3/month", inst.meter_id)

    def faulty_rule(self, inst: Installation, fault: Fault, ps: datetime, pe: datetime) -> tuple[Decimal, str]:
        """Taryfy reg. 2018 (domain notes §3.1), in order: the average of the 3 months before the fault; else
        the same span a year earlier; else last year's monthly average x the months of malfunction in
        [ps, pe). "Last year" is the calendar year before the fault was found; its average is taken over
        the part of that year the role's meters covered (the full year would always allow the first rule).

        Whose consumption: the regulation's wording ("średnie zużycie wody w okresie 3 miesięcy przed
        stwierdzeniem niesprawności...") does not name the customer, but it is one of the regulation's
        conditions of settlement with the odbiorca usług, the party to the written contract (art. 6 of the
        act): the average stands in for what this customer would have taken, and a previous customer's use of
        the same connection (another household) is no evidence of that. So where the store has contract
        dates every reference window must lie inside this customer's contract (active_from .. active_to): a
        window reaching before it is "not possible" and the next rule is tried, and last year's average is
        taken over the part of that year inside the contract (and metered). The exception names each rule
        passed over for that reason. Without contract dates nothing changes."""
        skipped: list[str] = []
        q, note = self._faulty_quantity(inst, fault, ps, pe, skipped)
        why = f"; passed over: {'; '.join(skipped)}" if skipped else ""
        self.flag(ExceptionKind.FAULTY_METER, f"faulty since {fault.start.isoformat()}: billed by the "
                  f"faulty-meter rule in the quantity's note{why}", inst.meter_id, fault.start)
        if q is None:
            self.flag(ExceptionKind.NO_HISTORY, "faulty meter without 3 months, the same span or any of last "
                      f"year metered{' inside the contract' if skipped else ''}: 0 m3{why}", inst.meter_id,
                      fault.start)
            return ZERO, "no history"
        return q, note

    def _faulty_quantity(self, inst: Installation, fault: Fault, ps: datetime, pe: datetime,
                         skipped: list[str]) -> tuple[Decimal | None, str]:
        ref_start = _shift_months(fault.start, -3)
        q = self.customers_reference(inst.role, ref_start, fault.start, "the 3 months before the fault", skipped)
        if q is not None:
            daily = q / days_between(ref_start, fault.start)
            return q3(daily * days_between(ps, pe)), f"3 months before {fault.start.date()}: {q} m3"
        q = self.customers_reference(inst.role, _shift_months(ps, -12), _shift_months(pe, -12),
                                     "the same span last year", skipped)
        if q is not None:
            return q, "same span last year"
        y = fault.start.year - 1
        year = Period(date(y, 1, 1), date(y + 1, 1, 1))
        ys, ye = max(year.start_at, self.contract_start), min(year.end_at, self.contract_end)
        if ye <= ys:
            skipped.append(f"last year's average: no day of {y} is inside the contract ({self.contract_label})")
            return None, ""
        gaps = uncovered([_span(i) for i in self.role(inst.role)], ys, ye)
        covered = year.month_fraction(ys, ye) - sum((year.month_fraction(s, e) for s, e in gaps), ZERO)
        if covered > 0:
            q = self.reference(inst.role, ys, ye, partial=True) or ZERO
            months = self.period.month_fraction(ps, pe)
            return q3(q / covered * months), (
                f"last year's monthly average: {q} m3 / {covered.quantize(Decimal('0.0001'))} months of {y}"
                f" x {months.quantize(Decimal('0.0001'))} months")
        return None, ""

    def customers_reference(self, role: Role, ws: datetime, we: datetime, rule: str,
                            skipped: list[str]) -> Decimal | None:
        """`reference` over a window that must lie inside this customer's contract; a window reaching outside
        it is recorded in `skipped` (and None returned) without looking at the meters."""
        if ws < self.contract_start or we > self.contract_end:
            skipped.append(f"{rule}, {ws.date()}..{we.date()}, not all inside the contract ({self.contract_label})")
            return None
        return self.reference(role, ws, we)

    def reference(self, role: Role, ws: datetime, we: datetime, partial: bool = False) -> Decimal | None:
        """Metered quantity of a role over a past window, or None if meters did not cover it all (unless
        `partial`: then the quantity over the covered part)."""
        insts = self.role(role)
        if not partial and uncovered([_span(i) for i in insts], ws, we):
            return None
        total = ZERO
        for inst in insts:
            s, e = max(ws, inst.installed_at), min(we, inst.removed_at or FAR)
            if e <= s:
                continue
            reg = self.regs[id(inst)]
            bs, _ = reg.value_at(s)
            be, _ = reg.value_at(e)
            total += max(ZERO, be.value - bs.value)
        return total

    # -- quantities -----------------------------------------------------------------------------------
    def sum_parts(self, parts: list[MeterQuantity], default: Source) -> Quantity:
        return Quantity(
            m3=sum((p.consumption for p in parts), ZERO),
            settlement_m3=sum((p.settlement for p in parts), ZERO),
            source=weakest(*(p.source for p in parts)) if parts else default,
            parts=parts,
        )

    def water(self) -> Quantity:
        mains = self.role(Role.MAIN)
        parts = [p for i in mains if (p := self.meter_part(i)) is not None]
        # a missing main meter (norm days, or the exception) counts only inside the contract, not the
        # installation span: a temporary connection is billed by norm until its meter is fitted
        gaps = uncovered([_span(i) for i in mains], self.cs, self.ce) if self.ce > self.cs else []
        if gaps:
            entry = self.config.norms.get(self.sp.norm_category)
            if entry is not None:
                months = sum((self.period.month_fraction(s, e) for s, e in gaps), ZERO)
                q = q3(entry.value * self.sp.norm_units * months)
                parts.append(MeterQuantity(f"norm:{entry.category}", Role.MAIN, q, ZERO, Source.NORM,
                                           note=f"{entry.value} m3/{entry.unit}/month x {self.sp.norm_units}"
                                                f" x {months.quantize(Decimal('0.0001'))} months"))
            elif self.sp.connection == Connection.METERED:
                self.flag(ExceptionKind.NO_MAIN_METER, f"no main meter for {len(gaps)} span(s) from "
                          f"{gaps[0][0].isoformat()}", at=gaps[0][0])
            else:
                self.flag(ExceptionKind.NO_NORM, f"{self.sp.connection} connection without a known norm "
                          f"category ({self.sp.norm_category!r})")
        return self.sum_parts(parts, Source.NORM if self.sp.connection != Connection.METERED
                              else Source.ESTIMATE)

    def garden(self) -> Quantity:
        parts = []
        for inst in self.role(Role.GARDEN):
            if inst.legalised_until is None:
                self.flag(ExceptionKind.LEGALISATION_EXPIRED, "garden sub-meter without a legalisation date:"
                          " not deducted", inst.meter_id)
                continue
            legal_end = at_midnight(inst.legalised_until + timedelta(days=1))
            if legal_end < self.ce and self.in_contract(inst):
                self.flag(ExceptionKind.LEGALISATION_EXPIRED, f"legalisation ended {inst.legalised_until}: "
                          "deducted only up to then", inst.meter_id, legal_end)
            p = self.meter_part(inst, allow_estimate=False, clip_end=legal_end)
            if p is not None:
                parts.append(p)
        return self.sum_parts(parts, Source.SELF_READING)

    def sewage(self, water: Quantity) -> Quantity:
        if not self.sp.sewered:
            return Quantity(ZERO, ZERO, water.source)
        meters = self.role(Role.SEWAGE)
        if any(self.in_contract(i) for i in meters):
            parts = [p for i in meters if (p := self.meter_part(i)) is not None]
            if uncovered([_span(i) for i in meters], self.cs, self.ce):
                self.flag(ExceptionKind.PARTIAL_SEWAGE_METER, "sewage meter covers only part of the contract's "
                          "part of the period")
            return self.sum_parts(parts, Source.ESTIMATE)
        intake = self.sum_parts([p for i in self.role(Role.OWN_INTAKE) if (p := self.meter_part(i))],
                                water.source)
        garden = self.garden()
        deduct = garden.m3
        if garden.m3 > water.m3:
            self.flag(ExceptionKind.SUBMETER_ABOVE_MAIN, f"garden sub-meter {garden.m3} m3 > main meter "
                      f"{water.m3} m3: deduction capped at the main meter")
            deduct = water.m3
        m3 = max(ZERO, water.m3 + intake.m3 - deduct)
        settle = water.settlement_m3 + intake.settlement_m3 - garden.settlement_m3
        used = [water.source] + ([intake.source] if intake.parts else []) + \
               ([garden.source] if garden.parts and deduct else [])
        return Quantity(m3, settle, weakest(*used),
                        parts=[*water.parts, *intake.parts, *garden.parts])

    def contract_span(self) -> tuple[datetime, datetime]:
        """The part of the period inside the contract (active_from .. active_to inclusive, either open), as
        [start, end); empty (end <= start) when the contract does not overlap the period."""
        sp = self.sp
        s = at_midnight(sp.active_from) if sp.active_from else self.a
        e = at_midnight(sp.active_to) + ONE_DAY if sp.active_to else self.b
        return max(s, self.a), min(e, self.b)

    def active_months(self) -> Fraction:
        """Months of the period the service point was active, exactly (for the subscription)."""
        sp = self.sp
        if sp.active_from is not None or sp.active_to is not None:
            s, e = self.contract_span()
        elif sp.installations:
            s = min(i.installed_at for i in sp.installations)
            e = max(i.removed_at or FAR for i in sp.installations)
        else:
            return Fraction(self.period.months)
        return self.period.month_ratio(max(s, self.a), min(e, self.b))

    # -- report-only checks ---------------------------------------------------------------------------
    def checks(self, water: Quantity) -> None:
        limit = self.sp.max_daily_m3 or self.config.max_daily_m3
        for inst in self.sp.installations:
            reg = self.regs[id(inst)]
            for r in reg.reverses:
                if self.a <= r.at < self.b:
                    self.flag(ExceptionKind.REVERSE, f"register fell from {r.previous} to {r.value}",
                              inst.meter_id, r.at)
            if inst.role != Role.GARDEN and self.in_contract(inst) \
                    and not reg.real_points(self.cs, self.ce) \
                    and not any(e.kind == ExceptionKind.UNREAD and e.meter_id == inst.meter_id
                                for e in self.exceptions):
                # a fitter's installation or removal reading counts: it is a real reading
                self.flag(ExceptionKind.UNREAD, "no reading inside the contract's part of the period: "
                          "boundaries interpolated", inst.meter_id)
            if inst.role != Role.MAIN:
                continue
            pts = reg.points
            for prev, cur in zip(pts, pts[1:], strict=False):
                if not (self.a <= cur.at < self.b) or cur.source not in REAL_SOURCES:
                    continue
                rate = (cur.value - prev.value) / max(Decimal(1), days_between(prev.at, cur.at))
                if rate > limit:
                    self.flag(ExceptionKind.IMPLAUSIBLE, f"{rate.quantize(Decimal('0.01'))} m3/day since "
                              f"{prev.at.isoformat()} exceeds {limit}", inst.meter_id, cur.at)
        for al in self.sp.alarms:
            if self.a <= al.at < self.b:
                self.flag(ExceptionKind.ALARM, al.kind, al.meter_id, al.at)
        self.outside_contract()

    def outside_contract(self) -> None:
        """Water a main or own-intake meter measured in the period before the contract began or after it ended
        is billed to nobody since quantities are cut to the contract: the back office must see it (a vacant
        flat between tenants, use before signing, use after termination).

        Estimates do not count: each piece is valued from readings only (interpolation between them, else the
        last reading), so the figure is what the register is known to have advanced, a lower bound. An
        estimate extrapolates the customer's own average into days nobody was there and would flag every
        contract ending before a later reading; and a fault's readings are no evidence, so its days are left
        out."""
        sp = self.sp
        if sp.active_from is None and sp.active_to is None:
            return
        # a contract that does not reach into the period leaves all of it outside
        outside = [(self.a, self.cs), (self.ce, self.b)] if self.cs < self.ce else [(self.a, self.b)]
        contract = self.contract_label
        for inst in self.sp.installations:
            if inst.role not in (Role.MAIN, Role.OWN_INTAKE):
                continue
            reg = self.regs[id(inst)]
            for os_, oe in outside:
                s, e = max(os_, inst.installed_at), min(oe, inst.removed_at or FAR)
                if e <= s:
                    continue
                q, known_to = ZERO, s
                for ps, pe, fault in _fault_pieces(inst.faults, s, e):
                    if fault is not None:
                        continue
                    bs, _ = reg.value_at(ps, allow_estimate=False)
                    be, _ = reg.value_at(pe, allow_estimate=False)
                    if be.value > bs.value:
                        q += be.value - bs.value
                        known_to = pe if be.method != "last_reading" else reg.real_points(ps, pe)[-1].at
                if q > 0:
                    self.flag(ExceptionKind.OUTSIDE_CONTRACT, f"{q} m3 through the {inst.role} meter from "
                              f"{s.isoformat()} to {known_to.isoformat()}, outside the contract ({contract}): "
                              "billed to nobody", inst.meter_id, s)


def bill_service_point(sp: ServicePoint, period: Period, config: BillingConfig | None = None,
                       opening: Mapping[str, Position] | None = None) -> Bill:
    """Bill one service point. `opening`: the previous run's closing positions, by meter id."""
    config = config or BillingConfig()
    run = _Run(sp, period, config, opening or {})
    water = run.water()
    sewage = run.sewage(water)
    run.checks(water)
    lines = charge_lines(water, sewage, run.active_months(), config.tariff)
    net, vat, gross = totals(lines, config.tariff)
    return Bill(sp.id, sp.account, period.start, period.end, sp.connection, water, sewage, lines,
                net, vat, gross, run.closing, run.exceptions, run.final, run.initial)


def settle_contract_end(sp: ServicePoint, period: Period, billed: Mapping[str, Position],
                        config: BillingConfig | None = None, settled: Mapping[str, Decimal] | None = None,
                        ) -> Bill | None:
    """Settle a departed customer's estimate at the end of their contract, in a later run (`period`).

    `sp` is the ended contract (its account and `active_to`; installations with the readings known now) and
    `billed` the positions its last bill left at the contract's end (`Bill.final`, by meter id). Each one
    valued by an estimate is valued again; where readings now give the instant a real value (a reading there,
    or interpolation between real readings) the signed difference is settled to this customer: a bill with
    only the settlement quantities (water; sewage by the rule in force at the contract's end: the sewage meter
    in place then, else water + own intake; a garden sub-meter is never estimated) and their money, no
    consumption and no subscription, plus a `contract_end_settlement` exception naming the account and the
    amounts. A position held above the register after reverse flow settles only what goes beyond it. `final`
    of that bill holds the real positions, so a later run does not settle them again. None while no
    estimate has a real value yet (still unread: settled by a later run).

    Settled once, whatever is rerun: `settled` is what other runs have already settled at this end, by meter id
    (signed m3; the run's loader gives the sum over the other periods, each period's latest run counting, so
    a rerun of the settling period replaces its own settlement instead of adding to it). Only what is still
    owed is settled: (the real value now - the position billed) - already settled. So when the period with the
    contract's end is rerun after a later run settled it, its record of what was settled stands and the
    customer is not charged the same difference again: a rerun estimating the same position settles nothing;
    one estimating it differently leaves the difference between the two estimates to settle (not the whole
    difference from the new estimate); one whose bill now values the end for real (the reading has arrived)
    already charges that difference, so what was settled before is given back, once. A real billed position
    with nothing settled needs no settlement. Meters with a real value now get a part (and a final position)
    even when nothing is owed, so the run can record that its period settled 0.

    Why a bill of its own, in the run that has the reading: the contract is over, so no later period bill of
    this customer exists to carry the settlement the way `opening` carries it for a running contract, and
    the next customer's bill must not (a different odbiorca). Re-billing the last period instead would
    need its opening and would re-issue the whole invoice; the difference at one instant is all that
    changed, exactly as an opening settles a running contract's estimate.
    """
    return _settle_boundary(sp, period, billed, config or BillingConfig(), settled or {}, start=False)


def settle_contract_start(sp: ServicePoint, period: Period, billed: Mapping[str, Position],
                          config: BillingConfig | None = None, settled: Mapping[str, Decimal] | None = None,
                          ) -> Bill | None:
    """Settle an arriving customer's estimate at the START of their contract, in a later run (`period`).

    A change of customer at an instant nobody read the meter values the register there by an estimate E, and
    both contracts meet at that position: the leaving customer is billed up to E and the arriving one from E.
    Once readings value the instant for real (V), `settle_contract_end` charges the leaving customer V - E; the
    arriving customer, billed from E, would pay the same V - E again in their next readings (their later
    periods open from their own positions, which telescope back to E). So the arriving customer's start is
    settled the same way, with the opposite sign: (E - V) - already settled, a credit when the estimate was
    below the register, a charge when above. Once the readings around the instant are real the two customers
    together are billed exactly the register's advance, each for their own contract: the leaving one V - their
    start, the arriving one their end (or current position) - V.

    `sp` is the arriving contract (its account and `active_from`; installations with the readings known now),
    `billed` the positions its first bill started each meter from (`Bill.initial`), `settled` what other
    periods have settled at this start, by meter id: everything else is as in `settle_contract_end` (a
    settlement-only bill with a `contract_start_settlement` exception; a rerun of the start's period with a real
    start gives back what was settled on top of it, once; sewage by the rule in force at the contract's start).
    A settlement-only bill of its own rather than a line on the customer's next period bill: the contract may
    have ended since, and the run keeps one settlement record per contract boundary whatever bills it writes.
    """
    return _settle_boundary(sp, period, billed, config or BillingConfig(), settled or {}, start=True)


def _fitted_at(inst: Installation, at: datetime, start: bool) -> bool:
    """Whether the meter measures for the contract at its boundary `at`: from `at` on (a start) or up to `at`
    (an end)."""
    removed = inst.removed_at or FAR
    return inst.installed_at <= at < removed if start else inst.installed_at < at <= removed


def _settle_boundary(sp: ServicePoint, period: Period, billed: Mapping[str, Position], config: BillingConfig,
                     settled: Mapping[str, Decimal], *, start: bool) -> Bill | None:
    """`settle_contract_end` (start False) or `settle_contract_start` (start True)."""
    parts: list[MeterQuantity] = []
    final: list[Position] = []
    edge = "start" if start else "end"
    for inst in sp.installations:
        p = billed.get(inst.meter_id)
        if p is None:
            continue
        if not _fitted_at(inst, p.at, start):
            continue
        done = settled.get(inst.meter_id, ZERO)
        if p.source != Source.ESTIMATE:
            if not done:
                continue
            # the bill itself now charges the real position: whatever was settled on top of it goes back
            be = Boundary(p.at, p.value, p.source, p.method)
            delta = -done
        else:
            be, _ = Register(inst, history_days=config.history_days).value_at(p.at)
            if be.source == Source.ESTIMATE:
                continue
            if start:   # billed from the estimate: the difference to the real start goes back (or is owed)
                delta = p.value - be.value - done
            else:   # a held position (reverse flow) was billed above the register: only what goes beyond it
                delta = (max(ZERO, be.value - p.value) if p.method == HELD else be.value - p.value) - done
        parts.append(MeterQuantity(inst.meter_id, inst.role, ZERO, delta, be.source,
                                   Boundary(p.at, p.value, p.source, p.method), be,
                                   f"contract {edge} {p.at.date()}: billed {p.value} ({p.method}), now {be.value}"
                                   f" ({be.method})" + (f", {done:+} m3 settled before" if done else "")))
        final.append(Position(inst.meter_id, p.at, be.value, be.source, be.method))
    if not parts:
        return None
    end = final[0].at

    def quantity(ps: list[MeterQuantity], default: Source) -> Quantity:
        return Quantity(ZERO, sum((x.settlement for x in ps), ZERO),
                        weakest(*(x.source for x in ps)) if ps else default, ps)

    water = quantity([x for x in parts if x.role == Role.MAIN], weakest(*(x.source for x in parts)))
    sewer_meter = any(i.role == Role.SEWAGE and _fitted_at(i, end, start) for i in sp.installations)
    if not sp.sewered:
        sewage = Quantity(ZERO, ZERO, water.source)
    elif sewer_meter:
        sewage = quantity([x for x in parts if x.role == Role.SEWAGE], water.source)
    else:
        sewage = quantity([x for x in parts if x.role in (Role.MAIN, Role.OWN_INTAKE)], water.source)
    lines = charge_lines(water, sewage, 0, config.tariff)
    net, vat, gross = totals(lines, config.tariff)
    contract = (f"contract from {sp.active_from or end.date()}" if start
                else f"contract to {sp.active_to or (end - ONE_DAY).date()}")
    exc = BillingException(sp.id, ExceptionKind.CONTRACT_START_SETTLEMENT if start
                           else ExceptionKind.CONTRACT_END_SETTLEMENT,
                           f"account {sp.account or '(none)'}, {contract}: the estimate at its {edge}"
                           f" ({end.isoformat()}) is now read: water {water.settlement_m3:+}"
                           f" m3, sewage {sewage.settlement_m3:+} m3, {gross:+} zł gross to settle with this customer",
                           None, end)
    return Bill(sp.id, sp.account, period.start, period.end, sp.connection, water, sewage, lines,
                net, vat, gross, [], [exc], final)

