"""A whole billing run: load through the store, bill every service point, write files, record the run.

The run row is written first (status running) and finished last (done, with totals), so a crashed run is
visible as such and never becomes the opening of the next period.

Contracts that ended in an earlier period with an estimate at their end (see engine.settle_contract_end) get a
settlement-only bill in the first run whose readings value that end: it is written to the run's bills file
after the service points' bills, its `contract_end_settlement` exception to the exceptions report, and its
amounts count in the run's totals; what the run settled at each end it looked at is recorded
(billing_final_positions, settled_m3: 0 when nothing was owed or the meter is still unread), so a later run or
a rerun of any period settles only what is still owed (see load._contract_boundaries), and a run with nothing owed
writes no settlement bill. It is not a
row of billing_bills, which holds one bill per service point and run: the same service point may already be
billed there to the next customer. Contracts that started at an estimate are settled the same way, the other
way round (engine.settle_contract_start: the arriving customer was billed from the estimate the leaving one is
settled against), with their own records (billing_start_positions): the same run settles both sides of a change
of customer, so the two are billed exactly the register's advance.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, update

from server.billing.engine import (
    ZERO,
    BillingConfig,
    bill_service_point,
    settle_contract_end,
    settle_contract_start,
)
from server.billing.export import decimal_default, write_bills, write_exceptions
from server.billing.load import load_inputs
from server.billing.model import Bill, BillingException, ExceptionKind, Position
from server.billing.period import Period
from server.billing.records import (
    BillingRun,
    BillRecord,
    ClosingPosition,
    FinalPosition,
    StartPosition,
    records_engine,
)
from server.store import Store

log = logging.getLogger(__name__)
FORMATS = ("csv", "json")


class BillingRunError(RuntimeError):
    """The run could not complete; it is recorded as failed."""


@dataclass(slots=True)
class RunResult:
    run_id: int | None
    period: Period
    service_points: int
    billed: int
    exceptions: int
    net: Decimal
    gross: Decimal
    files: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    bills: list[Bill] = field(default_factory=list)
    settlements: int = 0                                        # contract-end and -start settlement bills
    settlement_bills: list[Bill] = field(default_factory=list)  # kept like `bills`


def run_billing(store: Store, period: Period, *, config: BillingConfig | None = None,
                out_dir: str | Path = "billing", fmt: str = "csv", as_of: datetime | None = None,
                service_points: list[str] | None = None, record: bool = True, keep_bills: bool = False,
                per_service_point: bool = False) -> RunResult:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    config = config or BillingConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = records_engine(store)
    started = datetime.now(UTC)
    run_id = None
    if record:
        with records.begin() as conn:
            run_id = conn.execute(insert(BillingRun).values(
                period_start=period.start, period_end=period.end, started_at=started, status="running",
                tariff=config.tariff.name, files={}).returning(BillingRun.id)).scalar_one()
    try:
        return _run(store, period, config, out, fmt, as_of, service_points, run_id, keep_bills,
                    per_service_point)
    except Exception as e:
        if run_id is not None:
            with records.begin() as conn:
                conn.execute(update(BillingRun).where(BillingRun.id == run_id).values(
                    status="failed", finished_at=datetime.now(UTC)))
        raise BillingRunError(f"billing run for {period.label} failed: {e!r}") from e


def _run(store: Store, period: Period, config: BillingConfig, out: Path, fmt: str, as_of: datetime | None,
         service_points: list[str] | None, run_id: int | None, keep_bills: bool,
         per_service_point: bool) -> RunResult:
    t0 = time.perf_counter()
    inputs = load_inputs(store, period, as_of=as_of, service_points=service_points)
    t1 = time.perf_counter()
    bills: list[tuple[int, int | None, Bill]] = []
    errors: list[BillingException] = []
    for sp_id, account_id, sp in inputs.points:
        try:
            bills.append((sp_id, account_id, bill_service_point(sp, period, config, inputs.opening)))
        except (ValueError, ArithmeticError, KeyError) as e:   # bad data at one point must not stop the town
            log.warning("service point %s not billed: %r", sp.id, e)
            errors.append(BillingException(sp.id, ExceptionKind.BILLING_ERROR, repr(e)))
    settled: list[tuple[int, int | None, Bill]] = []
    outcomes: list[tuple[int, int | None, Position, Decimal]] = []   # every end looked at: this period's settlement
    start_outcomes: list[tuple[int, int | None, Position, Decimal]] = []   # every start looked at, the same
    for found, settle, into, edge in ((inputs.settlements, settle_contract_end, outcomes, "end"),
                                      (inputs.start_settlements, settle_contract_start, start_outcomes, "start")):
        for sp_id, account_id, sp, billed, done in found:
            try:
                extra = settle(sp, period, billed, config, done)
            except (ValueError, ArithmeticError, KeyError) as e:
                log.warning("contract %s of service point %s not settled: %r", edge, sp.id, e)
                errors.append(BillingException(sp.id, ExceptionKind.BILLING_ERROR,
                                               f"contract-{edge} settlement: {e!r}"))
                continue
            valued = {p.meter_id: p for p in extra.final} if extra is not None else {}
            owed = {x.meter_id: x.settlement for x in extra.water.parts + extra.sewage.parts} if extra else {}
            # a meter still unread, or nothing owed, is recorded as 0 settled by this period (replacing its earlier
            # run)
            into += [(sp_id, account_id, valued.get(m, p), owed.get(m, ZERO)) for m, p in billed.items()]
            if extra is not None and any(owed.values()):
                settled.append((sp_id, account_id, extra))
    t2 = time.perf_counter()

    stem = f"{period.label}" + (f"-run{run_id}" if run_id is not None else "")
    bills_path, exc_path = out / f"bills-{stem}.{fmt}", out / f"exceptions-{stem}.{fmt}"
    write_bills((b for _, _, b in bills + settled), bills_path, fmt)
    if per_service_point:   # also one file per service point, for billing systems that import one by one
        folder = out / f"bills-{stem}"
        folder.mkdir(exist_ok=True)
        for _, _, b in bills:
            write_bills([b], folder / f"{_safe_name(b.service_point)}.{fmt}", fmt)
    all_exceptions = [e for _, _, b in bills + settled for e in b.exceptions] + errors
    write_exceptions(all_exceptions, exc_path, fmt)
    net = sum((b.net for _, _, b in bills + settled), Decimal(0))
    gross = sum((b.gross for _, _, b in bills + settled), Decimal(0))
    files = {"bills": str(bills_path), "exceptions": str(exc_path)}
    manifest = out / f"run-{stem}.json"
    manifest.write_text(json.dumps({
        "run_id": run_id, "period": period.label, "tariff": config.tariff.name, "format": fmt,
        "service_points": len(inputs.points), "billed": len(bills), "settlements": len(settled),
        "exceptions": len(all_exceptions),
        "net": net, "gross": gross, "previous_run": inputs.previous_run, "files": files,
    }, default=decimal_default, indent=1))
    files["manifest"] = str(manifest)
    t3 = time.perf_counter()

    if run_id is not None:
        _record(store, run_id, inputs.meter_ids, bills, outcomes, start_outcomes, len(all_exceptions), net, gross,
                files)
    t4 = time.perf_counter()
    return RunResult(run_id, period, len(inputs.points), len(bills), len(all_exceptions), net, gross, files,
                     {"load": t1 - t0, "bill": t2 - t1, "write": t3 - t2, "record": t4 - t3},
                     [b for _, _, b in bills] if keep_bills else [], len(settled),
                     [b for _, _, b in settled] if keep_bills else [])


def _safe_name(code: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in code) or "_"


def _record(store: Store, run_id: int, meter_ids: dict[str, int], bills: list[tuple[int, int | None, Bill]],
            outcomes: list[tuple[int, int | None, Position, Decimal]],
            start_outcomes: list[tuple[int, int | None, Position, Decimal]], n_exceptions: int, net: Decimal,
            gross: Decimal, files: dict[str, str]) -> None:
    bill_rows, pos_rows = [], []

    def boundary_rows(own: list[tuple[int, int | None, Position]],
                      looked_at: list[tuple[int, int | None, Position, Decimal]]) -> list[dict]:
        # a bill's own positions (settled_m3 NULL), then what this run settled at each boundary it looked at
        return [{"run_id": run_id, "service_point_id": sp_id, "account_id": account_id,
                 "meter_id": meter_ids[p.meter_id], "at": p.at, "value": p.value, "source": str(p.source),
                 "method": p.method, "settled_m3": owed}
                for sp_id, account_id, p, owed in [(s, a, p, None) for s, a, p in own] + looked_at
                if p.meter_id in meter_ids]

    final_rows = boundary_rows([(s, a, p) for s, a, b in bills for p in b.final], outcomes)
    start_rows = boundary_rows([(s, a, p) for s, a, b in bills for p in b.initial], start_outcomes)
    for sp_id, account_id, b in bills:
        bill_rows.append({
            "run_id": run_id, "service_point_id": sp_id, "service_point": b.service_point,
            "account_id": account_id, "water_m3": b.water.m3, "water_settlement_m3": b.water.settlement_m3,
            "water_source": str(b.water.source), "sewage_m3": b.sewage.m3,
            "sewage_settlement_m3": b.sewage.settlement_m3, "sewage_source": str(b.sewage.source),
            "net": b.net, "vat": b.vat, "gross": b.gross, "exceptions": len(b.exceptions)})
        for p in b.closing:
            if p.meter_id in meter_ids:
                pos_rows.append({"run_id": run_id, "meter_id": meter_ids[p.meter_id], "at": p.at,
                                 "value": p.value, "source": str(p.source), "method": p.method})
    with records_engine(store).begin() as conn:
        if bill_rows:
            conn.execute(insert(BillRecord), bill_rows)
        if pos_rows:
            conn.execute(insert(ClosingPosition), pos_rows)
        if final_rows:
            conn.execute(insert(FinalPosition), final_rows)
        if start_rows:
            conn.execute(insert(StartPosition), start_rows)
        conn.execute(update(BillingRun).where(BillingRun.id == run_id).values(
            status="done", finished_at=datetime.now(UTC), service_points=len(bills), exceptions=n_exceptions,
            net=net, gross=gross, files=files))
