"""Routes of the back-office and customer-portal API.

Staff (back office): service points, meters, readings and consumption history, route progress across vans,
alarms, billing runs. Accounts (customer portal): their own account, consumption history, readings and
bills, and the garden sub-meter self-reading. An account token that asks for anything else gets 403 (and a
service point that is not its own is 404, so the portal cannot probe for other customers' codes).
"""


import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api import schemas as s
from server.api.auth import ApiSettings, Principal, verify_password
from server.api.history import months_of
from server.billing.engine import BillingConfig
from server.billing.load import load_service_point, meter_label
from server.billing.period import Period, PeriodError, add_months
from server.billing.records import BillingRun, BillRecord, records_engine
from server.store import AccountInfo, InvalidInput, MeterInfo, NotFound, ServicePointInfo, Store, StoreError

CODE = r"^[A-Za-z0-9._/-]{1,32}$"
MONTH = r"^\d{4}-\d{2}$"
MAX_MONTHS = 36
MAX_ID = 2**53
REAL = ("radio", "manual", "self_reading")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": s.Problem, "description": "the request body is not parseable JSON"},
    401: {"model": s.Problem, "description": "missing or invalid bearer token"},
    403: {"model": s.Problem, "description": "not allowed for this token"},
    404: {"model": s.Problem, "description": "not found"},
}

Code = Annotated[str, Path(pattern=CODE)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Month = Annotated[str | None, Query(pattern=MONTH, description="YYYY-MM")]
Limit = Annotated[int, Query(ge=1, le=10_000)]


def unprocessable(msg: str, *loc: str) -> HTTPException:
    """A domain validation failure, shaped like FastAPI's own 422 so one schema describes both."""
    return HTTPException(422, detail=[{"loc": list(loc) or ["body"], "msg": msg, "type": "value_error"}])


def _utc(t: dt.datetime | None, *loc: str) -> dt.datetime | None:
    if t is None:
        return None
    try:
        return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is a valid ISO time that has no UTC datetime
        raise unprocessable(f"{t.isoformat()} has no UTC time", *loc) from None


def _q(x: Decimal | None) -> str | None:
    return None if x is None else str(x.quantize(Decimal("0.001")))


def _money(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.01")))


def create_app(store: Store, settings: ApiSettings | None = None, *, billing: BillingConfig | None = None,
               clock: Callable[[], dt.datetime] | None = None) -> FastAPI:
    settings = settings or ApiSettings.from_env()
    billing = billing or BillingConfig()
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    records = records_engine(store)
    app = FastAPI(title="amr back office and customer portal", version="1", responses=ERRORS)
    bearer = HTTPBearer(auto_error=False, description="staff token or account token from POST /auth/token")

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, e: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, e: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["query"], "msg": str(e), "type": "value_error"}]}, status_code=422)

    # ---------------------------------------------------------------- who is calling
    def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        p = settings.verify(creds.credentials) if creds is not None else None
        if p is None:
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        return p

    def staff(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.staff:
            raise HTTPException(403, "staff only")
        return p

    def account_of(number: Code, p: Annotated[Principal, Depends(principal)]) -> AccountInfo:
        acc = store.account(number=number)
        if p.staff:
            if acc is None:
                raise HTTPException(404, f"no account {number}")
            return acc
        if acc is None or acc.id != p.account_id:
            raise HTTPException(403, "an account sees only its own data")
        return acc

    Staff = Annotated[Principal, Depends(staff)]
    Account = Annotated[AccountInfo, Depends(account_of)]

    # ---------------------------------------------------------------- helpers
    def sp_or_404(code: str) -> ServicePointInfo:
        sp = store.service_point(code=code)
        if sp is None:
            raise HTTPException(404, f"no service point {code}")
        return sp

    def meter_out(m: MeterInfo) -> s.MeterOut:
        return s.MeterOut(id=m.id, label=meter_label(m), manufacturer=m.manufacturer, address=m.address,
                          version=m.version, device_type=m.device_type, role=m.role, model=m.model,
                          legalised_until=m.legalised_until, register_digits=m.register_digits)

    def sp_detail(sp: ServicePointInfo, account: str | None) -> s.ServicePointDetail:
        insts = store.installations(service_point_id=sp.id)
        meters = {m.id: m for m in store.meters(ids=[i.meter_id for i in insts])} if insts else {}
        return s.ServicePointDetail(
            code=sp.code, account=account, address=sp.address, connection=sp.connection, sewered=sp.sewered,
            norm_category=sp.norm_category,
            installations=[s.InstallationOut(
                meter=meter_out(meters[i.meter_id]), role=i.role, installed_at=i.installed_at,
                removed_at=i.removed_at, initial_reading=_q(i.initial_reading) or "0.000",
                final_reading=_q(i.final_reading)) for i in insts])

    def account_number(account_id: int | None) -> str | None:
        acc = store.account(id=account_id) if account_id else None
        return acc.number if acc else None

    def span(start: str | None, end: str | None) -> Period:
        try:
            last = Period.parse(end) if end else None
            first = Period.parse(start) if start else None
        except PeriodError as e:
            raise unprocessable(str(e), "query", "start") from None
        today = now().date()
        last_start = last.start if last else dt.date(today.year, today.month, 1)
        first_start = first.start if first else add_months(last_start, -11)
        if first_start > last_start:
            raise unprocessable("start is after end", "query", "start")
        p = Period(first_start, add_months(last_start, 1))
        if p.months > MAX_MONTHS:
            raise unprocessable(f"at most {MAX_MONTHS} months", "query", "start")
        return p

    def history(code: str, p: Period, meter: str | None = None) -> s.ConsumptionHistory:
        loaded = load_service_point(store, code, p.start_at, p.end_at)
        if loaded is None:
            raise HTTPException(404, f"no service point {code}")
        return s.ConsumptionHistory(service_point=code, months=months_of(loaded[2], p, billing, meter))

    def readings_out(rows: list, labels: dict[int, str]) -> list[s.ReadingOut]:
        return [s.ReadingOut(meter_id=r.meter_id, meter=labels.get(r.meter_id, str(r.meter_id)), value_at=r.value_at,
                             value=_q(r.value) or "0.000", unit=r.unit, source=r.source, storage=r.storage,
                             due_date=r.due_date) for r in rows if r.value is not None]

    def sp_readings(sp: ServicePointInfo, since: dt.datetime | None, until: dt.datetime | None,
                    limit: int) -> list[s.ReadingOut]:
        rows = store.readings(service_point_id=sp.id, since=_utc(since, "query", "since"),
                              until=_utc(until, "query", "until"), quantity="volume", limit=limit)
        labels = {m.id: meter_label(m) for m in store.meters(ids={r.meter_id for r in rows})} if rows else {}
        return readings_out(rows, labels)

    def run_out(r: BillingRun) -> dict[str, Any]:
        return {"id": r.id, "period_start": r.period_start, "period_end": r.period_end, "status": r.status,
                "started_at": r.started_at, "finished_at": r.finished_at, "tariff": r.tariff,
                "service_points": r.service_points, "exceptions": r.exceptions, "net": _money(r.net),
                "gross": _money(r.gross)}

    def bill_out(b: BillRecord, run: BillingRun) -> s.BillOut:
        return s.BillOut(run_id=run.id, period_start=run.period_start, period_end=run.period_end,
                         service_point=b.service_point, water_m3=_q(b.water_m3) or "0.000",
                         water_settlement_m3=_q(b.water_settlement_m3) or "0.000", water_source=b.water_source,
                         sewage_m3=_q(b.sewage_m3) or "0.000",
                         sewage_settlement_m3=_q(b.sewage_settlement_m3) or "0.000",
                         sewage_source=b.sewage_source, net=_money(b.net), vat=_money(b.vat),
                         gross=_money(b.gross), exceptions=b.exceptions)

    # ---------------------------------------------------------------- public
    @app.get("/health", tags=["public"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/auth/token", tags=["public"], response_model=s.TokenOut)
    def token(body: s.TokenRequest) -> s.TokenOut:
        """Customer-portal login: an account token for the account whose login and password match."""
        acc = store.account(login=body.login)
        if acc is None or not verify_password(body.password, store.account_password_hash(body.login)):
            raise HTTPException(401, "wrong login or password", headers={"WWW-Authenticate": "Bearer"})
        tok, exp = settings.issue_account_token(acc.id)
        return s.TokenOut(access_token=tok, expires_at=dt.datetime.fromtimestamp(exp, dt.UTC))

    # ---------------------------------------------------------------- back office
    @app.get("/service-points", tags=["back office"], response_model=list[s.ServicePointOut])
    def service_points(_: Staff, account: Annotated[str | None, Query(pattern=CODE)] = None,
                       limit: Limit = 1000, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                       ) -> list[s.ServicePointOut]:
        account_id = None
        if account is not None:
            acc = store.account(number=account)
            if acc is None:
                return []
            account_id = acc.id
        numbers = {a.id: a.number for a in store.accounts()}
        sps = store.service_points(account_id=account_id)[offset:offset + limit]
        return [s.ServicePointOut(code=sp.code, account=numbers.get(sp.account_id) if sp.account_id else None,
                                  address=sp.address, connection=sp.connection, sewered=sp.sewered,
                                  norm_category=sp.norm_category) for sp in sps]

    @app.get("/service-points/{code}", tags=["back office"], response_model=s.ServicePointDetail)
    def service_point(code: Code, _: Staff) -> s.ServicePointDetail:
        sp = sp_or_404(code)
        return sp_detail(sp, account_number(sp.account_id))

    @app.get("/service-points/{code}/readings", tags=["back office"], response_model=list[s.ReadingOut])
    def service_point_readings(code: Code, _: Staff, since: dt.datetime | None = None,
                               until: dt.datetime | None = None, limit: Limit = 1000) -> list[s.ReadingOut]:
        return sp_readings(sp_or_404(code), since, until, limit)

    @app.get("/service-points/{code}/consumption", tags=["back office"], response_model=s.ConsumptionHistory)
    def service_point_consumption(code: Code, _: Staff, start: Month = None, end: Month = None,
                                  ) -> s.ConsumptionHistory:
        return history(code, span(start, end))

    def meter_or_404(meter_id: int) -> MeterInfo:
        m = store.meter(meter_id)
        if m is None:
            raise HTTPException(404, f"no meter {meter_id}")
        return m

    @app.get("/meters/{meter_id}", tags=["back office"], response_model=s.MeterOut)
    def meter(meter_id: Id, _: Staff) -> s.MeterOut:
        return meter_out(meter_or_404(meter_id))

    @app.get("/meters/{meter_id}/readings", tags=["back office"], response_model=list[s.ReadingOut])
    def meter_readings(meter_id: Id, _: Staff, since: dt.datetime | None = None, until: dt.datetime | None = None,
                       limit: Limit = 1000) -> list[s.ReadingOut]:
        m = meter_or_404(meter_id)
        rows = store.readings(meter_id=m.id, since=_utc(since, "query", "since"), until=_utc(until, "query", "until"),
                              quantity="volume", limit=limit)
        return readings_out(rows, {m.id: meter_label(m)})

    @app.get("/meters/{meter_id}/consumption", tags=["back office"], response_model=list[s.ConsumptionHistory])
    def meter_consumption(meter_id: Id, _: Staff, start: Month = None, end: Month = None,
                          ) -> list[s.ConsumptionHistory]:
        """Per service point the meter was installed at within the span (replacements move meters)."""
        m = meter_or_404(meter_id)
        p = span(start, end)
        sp_ids = {i.service_point_id for i in store.installations(meter_id=m.id, since=p.start_at, until=p.end_at)}
        out = []
        for sp_id in sorted(sp_ids):
            sp = store.service_point(id=sp_id)
            if sp is not None:
                out.append(history(sp.code, p, meter_label(m)))
        return out

    @app.get("/routes/progress", tags=["back office"], response_model=list[s.RouteProgressOut])
    def route_progress(_: Staff, since: dt.datetime | None = None) -> list[s.RouteProgressOut]:
        """Read / heard / unread meters per route and van since `since` (default: the 1st of this month)."""
        today = now()
        since = _utc(since, "query", "since") or dt.datetime(today.year, today.month, 1, tzinfo=dt.UTC)
        return [s.RouteProgressOut(route=r.route, van=r.van, total=r.total, heard=r.heard, read=r.read,
                                   unread=r.total - r.read) for r in store.route_progress(since)]

    @app.get("/alarms", tags=["back office"], response_model=list[s.AlarmOut])
    def alarms(_: Staff, since: dt.datetime | None = None, until: dt.datetime | None = None,
               service_point: Annotated[str | None, Query(pattern=CODE)] = None, limit: Limit = 1000,
               ) -> list[s.AlarmOut]:
        sp_id = sp_or_404(service_point).id if service_point else None
        rows = store.alarms(since=_utc(since, "query", "since"), until=_utc(until, "query", "until"),
                            service_point_id=sp_id)[-limit:]
        labels = {m.id: meter_label(m) for m in store.meters(ids={a.meter_id for a in rows})} if rows else {}
        return [s.AlarmOut(meter_id=a.meter_id, meter=labels.get(a.meter_id), alarm=a.alarm,
                           observed_at=a.observed_at) for a in rows]

    @app.get("/billing/runs", tags=["back office"], response_model=list[s.BillingRunOut])
    def billing_runs(_: Staff, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        with Session(records) as session:
            runs = session.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(limit)).all()
            return [run_out(r) for r in runs]

    @app.get("/billing/runs/{run_id}", tags=["back office"], response_model=s.BillingRunDetail)
    def billing_run(run_id: Id, _: Staff, limit: Limit = 1000,
                    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> dict[str, Any]:
        with Session(records) as session:
            run = session.get(BillingRun, run_id)
            if run is None:
                raise HTTPException(404, f"no billing run {run_id}")
            bills = session.scalars(select(BillRecord).where(BillRecord.run_id == run_id)
                                    .order_by(BillRecord.service_point).offset(offset).limit(limit)).all()
            return {**run_out(run), "bills": [bill_out(b, run) for b in bills]}

    # ---------------------------------------------------------------- customer portal (and staff)
    def own_sp(acc: AccountInfo, code: str) -> ServicePointInfo:
        sp = store.service_point(code=code)
        if sp is None or sp.account_id != acc.id:
            raise HTTPException(404, f"no service point {code} on account {acc.number}")
        return sp

    @app.get("/accounts/{number}", tags=["customer portal"], response_model=s.AccountOut)
    def account(acc: Account) -> s.AccountOut:
        return s.AccountOut(number=acc.number, name=acc.name,
                            service_points=[sp_detail(sp, acc.number) for sp in store.service_points(account_id=acc.id)])

    @app.get("/accounts/{number}/consumption", tags=["customer portal"], response_model=list[s.ConsumptionHistory])
    def account_consumption(acc: Account, start: Month = None, end: Month = None) -> list[s.ConsumptionHistory]:
        p = span(start, end)
        return [history(sp.code, p) for sp in store.service_points(account_id=acc.id)]

    @app.get("/accounts/{number}/readings", tags=["customer portal"], response_model=list[s.ReadingOut])
    def account_readings(acc: Account, since: dt.datetime | None = None, until: dt.datetime | None = None,
                         limit: Limit = 1000) -> list[s.ReadingOut]:
        out: list[s.ReadingOut] = []
        for sp in store.service_points(account_id=acc.id):
            out.extend(sp_readings(sp, since, until, limit))
        return out[:limit]

    @app.get("/accounts/{number}/bills", tags=["customer portal"], response_model=list[s.BillOut])
    def account_bills(acc: Account, limit: Annotated[int, Query(ge=1, le=1000)] = 24) -> list[s.BillOut]:
        with Session(records) as session:
            rows = session.execute(
                select(BillRecord, BillingRun).join(BillingRun, BillingRun.id == BillRecord.run_id)
                .where(BillRecord.account_id == acc.id, BillingRun.status == "done")
                .order_by(BillingRun.period_start.desc(), BillingRun.id.desc()).limit(limit)).all()
            return [bill_out(b, r) for b, r in rows]

    @app.post("/accounts/{number}/garden-readings", tags=["customer portal"], status_code=201,
              response_model=s.GardenReadingOut,
              responses={200: {"model": s.GardenReadingOut, "description": "the same reading was already there"}})
    def garden_reading(acc: Account, body: s.GardenReadingIn, p: Annotated[Principal, Depends(principal)],
                       ) -> JSONResponse:
        """Report the garden sub-meter. Checked against the meter's legalisation date and the readings
        before and after it; only a legalised sub-meter's water is deducted from sewage."""
        if not _code_ok(body.service_point):
            raise unprocessable("bad service point code", "body", "service_point")
        sp = own_sp(acc, body.service_point)
        at = _utc(body.read_at, "body", "read_at") or now()
        if at > now() + dt.timedelta(minutes=10):
            raise unprocessable("read_at is in the future", "body", "read_at")
        inst, m = _garden_at(sp, body.meter_address, at)
        if m.legalised_until is None or m.legalised_until < at.date():
            raise unprocessable(f"the sub-meter's legalisation is not valid on {at.date()} "
                                f"(until {m.legalised_until}): have it re-legalised", "body", "meter_address")
        value = body.value
        prev = store.latest_reading(m.id, before=at + dt.timedelta(microseconds=1), sources=REAL)
        prev_at, prev_value = (prev.value_at, prev.value) if prev and prev.value is not None else \
            (inst.installed_at, inst.initial_reading)
        if prev_at == at and prev_value == value and prev is not None and prev.source == "self_reading":
            return JSONResponse(_garden_out(False, sp, m, value, at, prev_value, prev_at), status_code=200)
        if value < prev_value:
            raise unprocessable(f"lower than the reading of {prev_at.isoformat()} ({_q(prev_value)} m3)",
                                "body", "value")
        later = [r for r in store.readings(meter_id=m.id, since=at + dt.timedelta(microseconds=1),
                                           quantity="volume", storage=0, sources=REAL, limit=1)]
        if later and later[0].value is not None and value > later[0].value:
            raise unprocessable(f"higher than the later reading of {later[0].value_at.isoformat()} "
                                f"({_q(later[0].value)} m3)", "body", "value")
        days = max(Decimal(1), Decimal((at - prev_at).total_seconds()) / 86400)
        if (value - prev_value) / days > Decimal(str(settings.max_garden_m3_per_day)):
            raise unprocessable(f"{_q(value - prev_value)} m3 since {prev_at.date()} is implausible for a "
                                "garden sub-meter", "body", "value")
        who = "staff" if p.staff else f"portal:{acc.number}"
        created = store.add_reading(m.id, value, at, "self_reading", entered_by=who)
        return JSONResponse(_garden_out(created, sp, m, value, at, prev_value, prev_at),
                            status_code=201 if created else 200)

    def _garden_at(sp: ServicePointInfo, address: str, at: dt.datetime):
        for inst in store.installations(service_point_id=sp.id):
            if inst.role != "garden" or inst.installed_at > at or (inst.removed_at and inst.removed_at < at):
                continue
            m = store.meter(inst.meter_id)
            if m is not None and m.address.upper() == address.strip().upper():
                return inst, m
        raise unprocessable(f"no garden sub-meter {address} at {sp.code} on {at.date()}", "body", "meter_address")

    def _garden_out(created: bool, sp: ServicePointInfo, m: MeterInfo, value: Decimal, at: dt.datetime,
                    prev_value: Decimal | None, prev_at: dt.datetime | None) -> dict[str, Any]:
        return s.GardenReadingOut(created=created, service_point=sp.code, meter=meter_label(m), value=_q(value),
                                  read_at=at, previous_value=_q(prev_value),
                                  previous_at=prev_at).model_dump(mode="json")

    return app


def _code_ok(code: str) -> bool:
    import re

    return re.fullmatch(CODE, code) is not None


__all__ = ["StoreError", "create_app"]
