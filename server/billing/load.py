"""Billing inputs from the reading store, through its Python API (`server.store.Store`).

A run over 25,000 service points uses the store's set-wise calls (all service points, installations
overlapping the window, meters and faults by id, alarms in the period), never one call per meter; the
readings come from `queries.billing_readings` (one streamed statement on the store's model, see there).

Which readings count: quantity "volume", instantaneous, tariff 0, subunit 0, numeric, from a real source
(radio, manual, self-reading). Storage 0 is a spot reading at `value_at`. Storage >= 1 with a meter clock is
the meter's own stored value (due-date register, monthly history) at the date it carries; storage >= 1
without one has no trustworthy instant and is skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from server.billing import model as bm
from server.billing.period import Period
from server.billing.queries import billing_readings
from server.billing.records import BillingRun, ClosingPosition, FinalPosition, StartPosition, records_engine
from server.store import MeterInfo, Store

HISTORY = timedelta(days=400)     # a year of average plus the reading before it
LOOKAHEAD = timedelta(days=92)    # a late reading up to a quarter after the period still interpolates
REAL = frozenset({"radio", "manual", "self_reading"})


@dataclass(slots=True)
class Inputs:
    period: Period
    points: list[tuple[int, int | None, bm.ServicePoint]] = field(default_factory=list)  # (sp id, account id, sp)
    meter_ids: dict[str, int] = field(default_factory=dict)      # engine label -> meters.id
    opening: dict[str, bm.Position] = field(default_factory=dict)
    previous_run: int | None = None
    # ended contracts whose end may still have something to settle: (sp id, account id, the contract as a
    # ServicePoint with today's readings, the billed positions and the m3 other periods settled, by meter label),
    # see engine.settle_contract_end and _contract_boundaries
    settlements: list[tuple[int, int | None, bm.ServicePoint, dict[str, bm.Position], dict[str, Decimal]]] = \
        field(default_factory=list)
    # started contracts whose start may still have something to settle, the same way (engine.settle_contract_start):
    # the contract as a ServicePoint from its start (active_from), its first bill's positions there
    start_settlements: list[tuple[int, int | None, bm.ServicePoint, dict[str, bm.Position], dict[str, Decimal]]] = \
        field(default_factory=list)


def meter_label(m: MeterInfo) -> str:
    return f"{m.manufacturer}-{m.address}-{m.version:02X}-{m.device_type:02X}"


def load_inputs(store: Store, period: Period, *, as_of: datetime | None = None,
                service_points: Sequence[str] | None = None) -> Inputs:
    a, b = period.start_at, period.end_at
    history_start = a - HISTORY
    horizon = min(as_of, b + LOOKAHEAD) if as_of else b + LOOKAHEAD
    out = Inputs(period)

    wanted = set(service_points) if service_points is not None else None
    every = store.service_points()
    sps = [sp for sp in every
           if (sp.active_from is None or sp.active_from < period.end)
           and (sp.active_to is None or sp.active_to >= period.start)
           and (wanted is None or sp.code in wanted)]
    by_id = {sp.id: sp for sp in every if wanted is None or sp.code in wanted}
    ends = {k: v for k, v in _contract_boundaries(store, period, history_start, FinalPosition).items() if k[0] in by_id}
    starts = {k: v for k, v in _contract_boundaries(store, period, history_start, StartPosition).items()
              if k[0] in by_id}
    if not sps and not ends and not starts:
        return out
    accounts = {acc.id: acc.number for acc in store.accounts()}
    sp_ids = {sp.id for sp in sps} | {k[0] for k in ends} | {k[0] for k in starts}
    insts = [i for i in store.installations(since=history_start, until=b) if i.service_point_id in sp_ids]
    meters = {m.id: m for m in store.meters(ids=sorted({i.meter_id for i in insts}))}

    readings: dict[int, list[bm.RegisterReading]] = defaultdict(list)
    sources = {s.value: s for s in bm.Source}
    for mid, at, value, source, due in billing_readings(store, history_start, horizon):
        if mid in meters:
            readings[mid].append(bm.RegisterReading(at, value, sources[source], due))
    faults: dict[int, list[bm.Fault]] = defaultdict(list)
    for f in store.faults(meter_ids=sorted(meters)) if meters else []:
        faults[f.meter_id].append(bm.Fault(f.start, f.end))
    alarms: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for al in store.alarms(since=a, until=b):
        if al.meter_id in meters:
            alarms[al.meter_id].append((al.observed_at, al.alarm))

    by_sp: dict[int, list] = defaultdict(list)
    for inst in insts:
        by_sp[inst.service_point_id].append(inst)
    for m in meters.values():
        out.meter_ids[meter_label(m)] = m.id

    def installations(sp_id: int) -> list[bm.Installation]:
        return [bm.Installation(
            meter_id=meter_label(meters[inst.meter_id]),
            role=bm.Role(inst.role),
            installed_at=inst.installed_at,
            initial_value=inst.initial_reading or Decimal(0),
            removed_at=inst.removed_at,
            final_value=inst.final_reading,
            readings=readings.get(inst.meter_id, []),
            register_modulus=meters[inst.meter_id].register_modulus,
            legalised_until=meters[inst.meter_id].legalised_until,
            faults=faults.get(inst.meter_id, []),
            plausible_min_m3=meters[inst.meter_id].plausible_min_m3,
            plausible_max_m3=meters[inst.meter_id].plausible_max_m3,
        ) for inst in by_sp.get(sp_id, [])]

    for sp in sps:
        installs, sp_alarms = installations(sp.id), []
        for inst in by_sp.get(sp.id, []):
            label = meter_label(meters[inst.meter_id])
            sp_alarms.extend(bm.AlarmEvent(label, at, kind) for at, kind in alarms.get(inst.meter_id, [])
                             if inst.installed_at <= at and (inst.removed_at is None or at <= inst.removed_at))
        out.points.append((sp.id, sp.account_id, bm.ServicePoint(
            id=sp.code, account=accounts.get(sp.account_id) if sp.account_id else None,
            connection=bm.Connection(sp.connection), installations=installs, norm_category=sp.norm_category,
            norm_units=sp.norm_units or Decimal(0), sewered=sp.sewered, max_daily_m3=sp.max_daily_m3,
            alarms=sp_alarms, address=sp.address, active_from=sp.active_from, active_to=sp.active_to)))

    labels = {v: k for k, v in out.meter_ids.items()}
    for found, into, start in ((ends, out.settlements, False), (starts, out.start_settlements, True)):
        for (sp_id, account_id, at), rows in sorted(found.items(), key=lambda kv: (by_id[kv[0][0]].code, kv[0][2])):
            sp = by_id[sp_id]
            billed = {labels[mid]: bm.Position(labels[mid], at, value, bm.Source(source), method)
                      for mid, value, source, method, _ in rows if mid in labels}
            done = {labels[mid]: settled for mid, _, _, _, settled in rows if mid in labels}
            into.append((sp_id, account_id, bm.ServicePoint(
                id=sp.code, account=accounts.get(account_id) if account_id else None,
                connection=bm.Connection(sp.connection), installations=installations(sp_id), sewered=sp.sewered,
                address=sp.address, active_from=at.date() if start else None,
                active_to=None if start else (at - timedelta(days=1)).date()), billed, done))
    out.previous_run, out.opening = _opening(store, period, labels)
    return out


def _contract_boundaries(store: Store, period: Period, since: datetime, table: type,
                         ) -> dict[tuple[int, int | None, datetime], list[tuple[int, Decimal, str, str, Decimal]]]:
    """Contract boundaries recorded by finished runs that this run must look at, by (service point, account
    billed, instant): (meter, value, source, method, m3 already settled by other periods) for each meter.
    `table` FinalPosition: contract ends (engine.settle_contract_end); StartPosition: contract starts, by the
    same rules (engine.settle_contract_start).

    For one (service point, meter, end): the position billed is the bill row (settled_m3 NULL) of the latest
    earlier period's run (then the latest run); what is settled already is the sum, over the periods other
    than this one, of the settlement row of each period's latest run that has one (a rerun replaces its own
    period's settlement, whichever order periods are rerun in; a run limited to other service points leaves it
    alone). An end is looked at while its billed position is an estimate, or something settled must be
    re-checked (settled by another period with a real billed position now, or by this period's previous run):
    see engine.settle_contract_end. Ends before `since` are left: the readings around them are not loaded."""
    with records_engine(store).connect() as conn:
        rows = conn.execute(
            select(table.service_point_id, table.account_id, table.meter_id,
                   table.at, table.value, table.source, table.method,
                   table.settled_m3, BillingRun.period_start, BillingRun.period_end)
            .join(BillingRun, BillingRun.id == table.run_id)
            .where(BillingRun.status == "done", table.at >= since)
            .order_by(BillingRun.period_end, BillingRun.id)).all()
    this = (period.start, period.end)
    billed: dict[tuple[int, int, datetime], tuple[int | None, Decimal, str, str]] = {}
    settled: dict[tuple[int, int, datetime], dict[tuple, Decimal]] = defaultdict(dict)
    for sp_id, account_id, mid, at, value, source, method, settled_m3, p_start, p_end in rows:
        if settled_m3 is None:
            if p_end <= period.start:
                billed[(sp_id, mid, at)] = (account_id, value, source, method)
        else:   # rows come by run id within a period: the period's latest run overwrites
            settled[(sp_id, mid, at)][(p_start, p_end)] = settled_m3
    out: dict[tuple[int, int | None, datetime], list[tuple[int, Decimal, str, str, Decimal]]] = defaultdict(list)
    for (sp_id, mid, at), (account_id, value, source, method) in billed.items():
        by_period = settled.get((sp_id, mid, at), {})
        done = sum((v for k, v in by_period.items() if k != this), Decimal(0))
        if source == bm.Source.ESTIMATE or done or by_period.get(this):
            out[(sp_id, account_id, at)].append((mid, value, source, method, done))
    return out


def _opening(store: Store, period: Period, labels: dict[int, str]) -> tuple[int | None, dict[str, bm.Position]]:
    """Closing positions of the latest finished run that ended where this period starts."""
    with records_engine(store).connect() as conn:
        run_id = conn.execute(
            select(BillingRun.id).where(BillingRun.period_end == period.start, BillingRun.status == "done")
            .order_by(BillingRun.id.desc()).limit(1)).scalar_one_or_none()
        if run_id is None:
            return None, {}
        rows = conn.execute(select(ClosingPosition.meter_id, ClosingPosition.at, ClosingPosition.value,
                                   ClosingPosition.source, ClosingPosition.method)
                            .where(ClosingPosition.run_id == run_id)).all()
    opening = {}
    for mid, at, value, source, method in rows:
        label = labels.get(mid)
        if label is not None:
            opening[label] = bm.Position(label, at, value, bm.Source(source), method)
    return run_id, opening


def load_service_point(store: Store, code: str, since: datetime, until: datetime,
                       ) -> tuple[int, int | None, bm.ServicePoint] | None:
    """One service point with everything billing needs over [since, until), via per-entity store calls
    (the API's consumption history; a run uses `load_inputs`)."""
    sp = store.service_point(code=code)
    if sp is None:
        return None
    history_start = since - HISTORY
    insts = store.installations(service_point_id=sp.id, since=history_start, until=until)
    meters = {m.id: m for m in store.meters(ids=sorted({i.meter_id for i in insts}))} if insts else {}
    readings: dict[int, list[bm.RegisterReading]] = defaultdict(list)
    if meters:
        for r in store.readings(meter_ids=sorted(meters), since=history_start, until=until + LOOKAHEAD,
                                quantity="volume", sources=sorted(REAL)):
            if r.value is None or r.function != "instantaneous" or r.tariff or r.subunit or \
                    (r.storage and not r.meter_clock):
                continue
            readings[r.meter_id].append(bm.RegisterReading(r.value_at, r.value, bm.Source(r.source), r.due_date))
    faults: dict[int, list[bm.Fault]] = defaultdict(list)
    for f in store.faults(meter_ids=sorted(meters)) if meters else []:
        faults[f.meter_id].append(bm.Fault(f.start, f.end))
    account = store.account(id=sp.account_id) if sp.account_id else None
    installs = []
    for inst in insts:
        m = meters[inst.meter_id]
        installs.append(bm.Installation(
            meter_id=meter_label(m), role=bm.Role(inst.role), installed_at=inst.installed_at,
            initial_value=inst.initial_reading or Decimal(0), removed_at=inst.removed_at,
            final_value=inst.final_reading, readings=readings.get(m.id, []),
            register_modulus=m.register_modulus, legalised_until=m.legalised_until,
            faults=faults.get(m.id, []), plausible_min_m3=m.plausible_min_m3,
            plausible_max_m3=m.plausible_max_m3))
    alarms = [bm.AlarmEvent(meter_label(meters[a.meter_id]), a.observed_at, a.alarm)
              for a in store.alarms(since=since, until=until, service_point_id=sp.id) if a.meter_id in meters]
    return sp.id, sp.account_id, bm.ServicePoint(
        id=sp.code, account=account.number if account else None, connection=bm.Connection(sp.connection),
        installations=installs, norm_category=sp.norm_category, norm_units=sp.norm_units or Decimal(0),
        sewered=sp.sewered, max_daily_m3=sp.max_daily_m3, alarms=alarms, address=sp.address,
        active_from=sp.active_from, active_to=sp.active_to)
