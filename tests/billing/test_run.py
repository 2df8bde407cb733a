"""`amr bill` end to end on a real store (SQLite file, and PostgreSQL in its own schema)."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from amr.cli import main as amr
from server import db
from server.billing.engine import BillingConfig, bill_service_point
from server.billing.load import load_inputs, load_service_point
from server.billing.period import Period
from server.billing.run import run_billing
from server.billing.sample import seed_sample, t
from server.store import NewReading, Store


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path}/store.sqlite")
    s.upgrade()
    yield s
    s.close()


def _rows(path):
    with open(path, newline="") as f:
        return {r["service_point"]: r for r in csv.DictReader(f)}


def check_october(res, store):
    bills = _rows(res.files["bills"])
    assert set(bills) == {"SP-001", "SP-002", "SP-003", "SP-004"}
    sp1 = bills["SP-001"]
    assert (sp1["water_m3"], sp1["sewage_m3"], sp1["net"], sp1["gross"]) == ("10.000", "8.000", "100.65", "108.70")
    assert (sp1["water_source"], sp1["sewage_source"]) == ("radio", "self_reading")
    assert (bills["SP-002"]["water_m3"], bills["SP-002"]["water_source"]) == ("9.600", "norm")
    assert bills["SP-003"]["water_source"] == "estimate"
    assert bills["SP-004"]["water_m3"] == "7.500"          # 4.5 on the old meter + 3.0 on the new one
    with open(res.files["exceptions"], newline="") as f:
        exc = [(r["service_point"], r["kind"]) for r in csv.DictReader(f)]
    assert ("SP-003", "unread") in exc and all(sp != "SP-001" for sp, _ in exc)


def test_run_writes_files_and_records_the_run(store, tmp_path):
    seed_sample(store)
    res = run_billing(store, Period.parse("2026-10"), out_dir=tmp_path / "out", keep_bills=True)
    check_october(res, store)
    assert db.diff(store.url) == []   # billing's own tables live beside the store, not in its schema
    assert Path(store.url.split("///")[1]).with_suffix(".billing.sqlite").exists()
    manifest = json.loads(Path(res.files["manifest"]).read_text())
    assert manifest["run_id"] == res.run_id and manifest["billed"] == 4
    assert D(manifest["gross"]) == res.gross

    # November: SP-003 is read on Nov 20, which settles October's estimate exactly
    m3 = store.meter(identity=("KAM", "30000003", 0x1B, 0x16)).id
    store.add_readings([NewReading(m3, D(95), t(2026, 11, 20), "radio")])
    nov = run_billing(store, Period.parse("2026-11"), out_dir=tmp_path / "out", fmt="json", keep_bills=True)
    sp3 = {b.service_point: b for b in nov.bills}["SP-003"]
    assert sp3.water.settlement_m3 != 0
    oct3 = {b.service_point: b for b in res.bills}["SP-003"]
    # October's estimate + November's settlement and consumption = exactly the register's advance from
    # October's opening to November's closing: nothing billed twice, nothing lost
    assert oct3.water.total + sp3.water.total == sp3.water.parts[0].end.value - oct3.water.parts[0].start.value
    assert sp3.water.parts[0].start.method == "interpolated"   # Nov 1 now lies between two real readings
    data = json.loads(Path(nov.files["bills"]).read_text())
    assert {d["service_point"] for d in data} == {"SP-001", "SP-002", "SP-003", "SP-004"}


def test_contract_end_from_the_store_pro_rates_the_subscription(store, tmp_path):
    seed_sample(store)
    store.upsert_service_point("SP-001", active_to=date(2026, 10, 10))   # last active day
    sp1 = _rows(run_billing(store, Period.parse("2026-10"), out_dir=tmp_path / "out").files["bills"])["SP-001"]
    # 10/31 month x 4.35 = 1.4032 -> 1.40. The meters count up to 11 Oct 00:00 too, interpolated between the
    # 1 Oct and 1 Nov readings: main 100 + 10 x 10/31 = 103.226 -> 3.226 m3; garden 5 + 2 x 10/31 = 5.645 ->
    # 0.645 m3; sewage 3.226 - 0.645 = 2.581 m3. Water 3.226 x 3.83 = 12.356 -> 12.36; sewage 2.581 x 7.25 =
    # 18.712 -> 18.71; net 12.36 + 18.71 + 1.40 = 32.47, VAT 2.5976 -> 2.60, gross 35.07
    assert (sp1["subscription_months"], sp1["subscription_net"]) == ("0.3226", "1.40")
    assert (sp1["water_m3"], sp1["sewage_m3"]) == ("3.226", "2.581")
    assert (sp1["net"], sp1["vat"], sp1["gross"]) == ("32.47", "2.60", "35.07")


def test_load_service_point_carries_the_contract_dates(store):
    """The API's consumption history loads one service point by itself (`load_service_point`): the contract
    dates reach the engine there as they do through a run's `load_inputs`."""
    seed_sample(store)
    store.upsert_service_point("SP-001", active_from=date(2026, 10, 21), active_to=date(2027, 3, 31))
    oct_ = Period.parse("2026-10")
    _, _, sp = load_service_point(store, "SP-001", oct_.start_at, oct_.end_at)
    assert (sp.active_from, sp.active_to) == (date(2026, 10, 21), date(2027, 3, 31))
    [(_, _, via_run)] = [p for p in load_inputs(store, oct_).points if p[2].id == "SP-001"]
    assert (via_run.active_from, via_run.active_to) == (sp.active_from, sp.active_to)
    # and they take effect: subscription 11/31 x 4.35 = 1.5435... -> 1.54
    [sub] = [ln for ln in bill_service_point(sp, oct_).lines if ln.kind == "subscription"]
    assert (sub.quantity, sub.net) == (D("0.3548"), D("1.54"))
    _, _, undated = load_service_point(store, "SP-003", oct_.start_at, oct_.end_at)
    assert (undated.active_from, undated.active_to) == (None, None)


def test_cli_bill(store, tmp_path):
    seed_sample(store)
    out = tmp_path / "cli"
    r = CliRunner().invoke(amr, ["bill", "--period", "2026-10", "--db", store.url, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "4/4 service points billed" in r.output
    bills = next(out.glob("bills-2026-10-run*.csv"))
    assert _rows(bills)["SP-001"]["gross"] == "108.70"
    assert next(out.glob("exceptions-2026-10-run*.csv")).exists()
    r = CliRunner().invoke(amr, ["bill", "--period", "2026-10", "--db", store.url, "--out", str(out), "--format",
                                 "json", "--per-service-point", "--no-record"])
    assert r.exit_code == 0, r.output
    one = json.loads((out / "bills-2026-10" / "SP-001.json").read_text())
    assert [b["gross"] for b in one] == ["108.70"]
    bad = CliRunner().invoke(amr, ["bill", "--period", "2026-13", "--db", store.url, "--out", str(out)])
    assert bad.exit_code == 2 and "period" in bad.output


@pytest.mark.postgres
def test_run_on_postgres(pg_store, tmp_path):
    s, engine, schema = pg_store
    seed_sample(s)
    res = run_billing(s, Period.parse("2026-10"), config=BillingConfig(), out_dir=tmp_path)
    check_october(res, s)
    assert db.diff(engine=s.engine) == []          # billing's tables stay out of the store's schema
    with engine.connect() as c:
        assert c.execute(text(f"SELECT count(*) FROM {schema}_billing.billing_runs")).scalar() == 1


def test_radio_reading_and_alarm_from_an_ingested_telegram_reach_the_bill(store, tmp_path):
    """A telegram stored by the importer's path (Store.ingest) feeds billing: its volume is a radio
    reading, its leak alarm lands in the exceptions report of the period."""
    from decoders.frame import Frame
    from decoders.model import Alarm, Decoded, Identity, Reading

    seed_sample(store)
    telegram = bytes([11, 0x44, 0x01, 0x06, 0x01, 0x00, 0x00, 0x10, 0x01, 0x07, 0x7A, 0x21])
    decoded = Decoded(raw=telegram, identity=Identity("APA", "10000001", 1, 7), c_field=0x44,
                      readings=[Reading("volume", D("104.25"), "m3")], alarms=frozenset({Alarm.LEAK}))
    store.ingest([(Frame(telegram, t(2026, 10, 16, 9), "test"), decoded)])
    res = run_billing(store, Period.parse("2026-10"), out_dir=tmp_path, keep_bills=True)
    sp1 = {b.service_point: b for b in res.bills}["SP-001"]
    assert sp1.water.m3 == D(10) and sp1.gross == D("108.70")
    assert [(e.kind, e.detail) for e in sp1.exceptions] == [("alarm", "leak")]
    main = store.meter(identity=("APA", "10000001", 1, 7)).id
    assert any(r.value == D("104.25") and r.source == "radio" for r in store.readings(meter_id=main))


def test_an_estimate_at_a_contract_end_is_settled_by_the_run_with_the_reading(store, tmp_path):
    check_contract_end_settlement(store, tmp_path)


@pytest.mark.postgres
def test_contract_end_settlement_on_postgres(pg_store, tmp_path):
    s, engine, schema = pg_store
    check_contract_end_settlement(s, tmp_path)
    with engine.connect() as c:   # the new table lives in billing's schema, beside the others: October's
        # bill row, then one settlement row per run that looked at the end (November unread: 0, November,
        # its rerun, December: 0)
        rows = c.execute(text(f"SELECT settled_m3 FROM {schema}_billing.billing_final_positions ORDER BY id"))
        assert [r for (r,) in rows] == [None, 0, 3042000, 3042000, 0]   # micro-m3


def check_contract_end_settlement(store, tmp_path):
    """SP-003's customer (A-002) leaves on 20 Oct (last day); its meter was last read on 20 Sep, so October bills
    an estimate up to 21 Oct. November's run has no bill for the contract; when the meter is read, the run of
    that period settles the estimate to A-002 on a bill of its own, once."""
    seed_sample(store)
    store.upsert_service_point("SP-003", active_to=date(2026, 10, 20))
    oct_ = run_billing(store, Period.parse("2026-10"), out_dir=tmp_path / "oct", keep_bills=True)
    sp3 = {b.service_point: b for b in oct_.bills}["SP-003"]
    # 30 m3 over 1 Mar..20 Sep (203 days): 1 Oct = 80 + 11 x 30/203 = 81.626, 21 Oct = 80 + 31 x 30/203 = 84.581
    assert (sp3.water.m3, sp3.water.source) == (D("2.955"), "estimate")
    assert [(p.at, p.value) for p in sp3.final] == [(t(2026, 10, 21), D("84.581"))]

    nov = Period.parse("2026-11")
    unread = run_billing(store, nov, out_dir=tmp_path / "nov0", keep_bills=True)
    assert unread.settlements == 0 and "SP-003" not in {b.service_point for b in unread.bills}

    m3 = store.meter(identity=("KAM", "30000003", 0x1B, 0x16)).id
    store.add_readings([NewReading(m3, D(95), t(2026, 11, 20), "radio")])
    res = run_billing(store, nov, out_dir=tmp_path / "nov", keep_bills=True)
    # 21 Oct now lies between 20 Sep (80) and 20 Nov (95): 80 + 15 x 31/61 = 87.623, so A-002 owes 3.042 m3:
    # water 3.042 x 3.83 = 11.651 -> 11.65, sewage 3.042 x 7.25 = 22.054 -> 22.05, net 33.70, VAT 2.696 -> 2.70,
    # gross 36.40
    assert res.settlements == 1 and res.billed == 3
    [settle] = res.settlement_bills
    assert (settle.service_point, settle.account) == ("SP-003", "A-002")
    assert (settle.water.settlement_m3, settle.sewage.settlement_m3, settle.gross) == (D("3.042"), D("3.042"),
                                                                                       D("36.40"))
    assert res.gross == sum((b.gross for b in res.bills), D(0)) + D("36.40")
    row = _rows(res.files["bills"])["SP-003"]
    assert (row["account"], row["water_m3"], row["water_settlement_m3"], row["gross"]) == (
        "A-002", "0.000", "3.042", "36.40")
    with open(res.files["exceptions"], newline="") as f:
        [exc] = [r for r in csv.DictReader(f) if r["kind"] == "contract_end_settlement"]
    assert exc["service_point"] == "SP-003" and "account A-002" in exc["detail"] and "+36.40 zł" in exc["detail"]
    assert json.loads(Path(res.files["manifest"]).read_text())["settlements"] == 1
    # rerunning November settles it again, the same (a rerun replaces the run, like an opening); December does not
    again = run_billing(store, nov, out_dir=tmp_path / "nov2", keep_bills=True)
    assert [b.gross for b in again.settlement_bills] == [D("36.40")]
    dec = run_billing(store, Period.parse("2026-12"), out_dir=tmp_path / "dec", keep_bills=True)
    assert dec.settlements == 0 and dec.settlement_bills == []


def check_settled_once(store, tmp_path):
    """A contract-end difference is settled once whatever is rerun, in any order. SP-003's customer (A-002) leaves
    on 20 Oct unread (October bills 84.581 estimated at 21 Oct); November's run has no reading; the 20 Nov
    reading (95) arrives in December, whose run settles 3.042 m3 / 36.40 zł (see check_contract_end_settlement).
    A rerun of a period replaces that period's earlier run, its settlement included."""
    seed_sample(store)
    store.upsert_service_point("SP-003", active_to=date(2026, 10, 20))
    m3 = store.meter(identity=("KAM", "30000003", 0x1B, 0x16)).id
    oct_, nov, dec, jan, feb = (Period.parse(p) for p in ("2026-10", "2026-11", "2026-12", "2027-01", "2027-02"))
    n = iter(range(100))

    def run(period, **kw):
        res = run_billing(store, period, out_dir=tmp_path / f"r{next(n)}", keep_bills=True, **kw)
        return [(b.account, b.water.settlement_m3, b.gross) for b in res.settlement_bills]

    def sp3_final(period, **kw):
        res = run_billing(store, period, out_dir=tmp_path / f"r{next(n)}", keep_bills=True, **kw)
        [sp3] = [b for b in res.bills if b.service_point == "SP-003"]
        [p] = sp3.final
        return p

    assert sp3_final(oct_).value == D("84.581")
    assert run(nov) == []
    store.add_readings([NewReading(m3, D(95), t(2026, 11, 20), "radio")])
    assert run(dec) == [("A-002", D("3.042"), D("36.40"))]
    # the bug: November rerun now sees the 20 Nov reading and settled the same 3.042 m3 a second time
    assert run(nov) == []
    assert run(jan) == []
    assert run(dec) == [("A-002", D("3.042"), D("36.40"))]   # a rerun of the settling period: the same, replacing
    assert run(nov) == [] and run(jan) == []
    # October rerun as it was (readings up to 1 Nov): the same estimate, already settled: nothing more
    assert sp3_final(oct_, as_of=t(2026, 11, 1)).value == D("84.581")
    assert run(jan) == [] and run(nov) == [] and run(dec) == [("A-002", D("3.042"), D("36.40"))]
    # a reading of 1 Jan 2026 (45) turns up: the average is now 35 m3 / 262 days, so October rerun as it was
    # estimates 21 Oct at 80 + 31 x 35/262 = 84.141; 21 Oct is still 87.623 by the readings, and 3.042 m3 of it
    # is settled, so 87.623 - 84.141 - 3.042 = 0.440 m3 is left (not 3.482 again against the new estimate)
    store.add_readings([NewReading(m3, D(45), t(2026, 1, 1), "manual")])
    assert sp3_final(oct_, as_of=t(2026, 11, 1)).value == D("84.141")
    # water 0.440 x 3.83 = 1.685 -> 1.69, sewage 0.440 x 7.25 = 3.19, net 4.88, VAT 0.3904 -> 0.39, gross 5.27
    assert run(jan) == [("A-002", D("0.440"), D("5.27"))]
    assert run(jan) == [("A-002", D("0.440"), D("5.27"))] and run(feb) == [] and run(nov) == []
    assert run(dec) == [("A-002", D("3.042"), D("36.40"))] and run(feb) == []
    # October rerun with every reading: its bill now values 21 Oct by interpolation (87.623), so the customer
    # has paid the 3.482 m3 settled since on it again: the next run gives them back, once. Water -3.482 x 3.83 =
    # -13.336 -> -13.34, sewage -3.482 x 7.25 = -25.2445 -> -25.24, net -38.58, VAT -3.0864 -> -3.09, gross -41.67
    p = sp3_final(oct_)
    assert (p.value, p.method) == (D("87.623"), "interpolated")
    assert run(feb) == [("A-002", D("-3.482"), D("-41.67"))]
    assert run(feb) == [("A-002", D("-3.482"), D("-41.67"))] and run(Period.parse("2027-03")) == []
    assert run(nov) == [] and run(dec) == [("A-002", D("3.042"), D("36.40"))]


def test_a_contract_end_is_settled_once_whatever_is_rerun(store, tmp_path):
    check_settled_once(store, tmp_path)


@pytest.mark.postgres
def test_a_contract_end_is_settled_once_on_postgres(pg_store, tmp_path):
    s, _, _ = pg_store
    check_settled_once(s, tmp_path)


def check_change_of_customer(store, tmp_path):
    """SP-003 changes customer on 1 Nov, when nobody read its meter (last read 80 on 20 Sep): A-002's contract
    ends on 31 Oct and B-001's starts on 1 Nov. October bills A-002 up to 1 Nov estimated, 80 + 42 x 30/203 =
    86.207; November bills B-001 from there (no reading of their own yet: 0 m3 and no_history). The meter is then
    read 95 on 20 Nov and 110 on 1 Jan: 1 Nov = 80 + 15 x 42/61 = 90.328, so A-002 owes 4.121 m3, and B-001,
    billed from 86.207, must get the same 4.121 m3 back, or they pay it too. Returns the runs' settlement bills."""
    seed_sample(store)
    store.upsert_service_point("SP-003", active_to=date(2026, 10, 31))
    n = iter(range(100))

    def run(period, **kw):
        res = run_billing(store, Period.parse(period), out_dir=tmp_path / f"c{next(n)}", keep_bills=True, **kw)
        [sp3] = [b for b in res.bills if b.service_point == "SP-003"] or [None]
        return sp3, [(b.account, b.water.settlement_m3, b.sewage.settlement_m3, b.gross, b.exceptions[0].kind)
                     for b in res.settlement_bills]

    oct_, _ = run("2026-10")
    assert (oct_.account, oct_.water.m3, [p.value for p in oct_.final]) == ("A-002", D("4.581"), [D("86.207")])
    b001 = store.upsert_account("B-001", "Anna Nowak")
    store.upsert_service_point("SP-003", account_id=b001, active_from=date(2026, 11, 1), active_to=None)
    nov, settled = run("2026-11")
    assert (nov.account, nov.water.m3, settled) == ("B-001", 0, [])
    assert [(p.at, p.value, p.source) for p in nov.initial] == [(t(2026, 11, 1), D("86.207"), "estimate")]
    m3 = store.meter(identity=("KAM", "30000003", 0x1B, 0x16)).id
    store.add_readings([NewReading(m3, D(95), t(2026, 11, 20), "radio"), NewReading(m3, D(110), t(2027, 1, 1), "radio")])
    dec, settled = run("2026-12")
    # B-001's December settles their own November estimate at 1 Dec (95 + 15 x 11/42 = 98.929 - 86.207 = 12.722)
    # and bills 110 - 98.929 = 11.071; both sides of 1 Nov are settled: water 4.121 x 3.83 = 15.783 -> 15.78,
    # sewage 4.121 x 7.25 = 29.877 -> 29.88, net 45.66, VAT 3.6528 -> 3.65, gross 49.31 (to A-002, from B-001)
    assert (dec.water.m3, dec.water.settlement_m3) == (D("11.071"), D("12.722"))
    assert settled == [("A-002", D("4.121"), D("4.121"), D("49.31"), "contract_end_settlement"),
                       ("B-001", D("-4.121"), D("-4.121"), D("-49.31"), "contract_start_settlement")]
    # together the register's advance from 1 Oct (81.626) to 1 Jan (110), each over their own contract
    a_total = oct_.water.total + D("4.121")
    b_total = nov.water.total + dec.water.total - D("4.121")
    assert (a_total, b_total) == (D("90.328") - D("81.626"), D(110) - D("90.328"))
    # settled once: a rerun of December replaces its settlements, January settles nothing again
    assert run("2026-12")[1] == settled and run("2027-01")[1] == []
    # November rerun with the readings: B-001's bill now starts from 90.328 (8.601 m3 to 98.929); the December
    # rerun opens from there, settles nothing of 1 Nov to B-001 (its earlier credit is replaced by 0) and A-002's
    # end stays settled (its December settlement is the same)
    nov2, settled = run("2026-11")
    assert (nov2.water.m3, [p.value for p in nov2.initial], settled) == (D("8.601"), [D("90.328")], [])
    dec2, settled = run("2026-12")
    assert (dec2.water.m3, dec2.water.settlement_m3) == (D("11.071"), 0)
    assert settled == [("A-002", D("4.121"), D("4.121"), D("49.31"), "contract_end_settlement")]
    assert nov2.water.total + dec2.water.total == D(110) - D("90.328")
    assert run("2027-01")[1] == [] and run("2026-11")[1] == [] and run("2027-01")[1] == []


def test_an_estimate_at_a_change_of_customer_is_settled_to_both_customers(store, tmp_path):
    check_change_of_customer(store, tmp_path)


@pytest.mark.postgres
def test_a_change_of_customer_is_settled_to_both_on_postgres(pg_store, tmp_path):
    s, engine, schema = pg_store
    check_change_of_customer(s, tmp_path)
    with engine.connect() as c:   # B-001's start in billing's schema (micro-m3): November's bill row, what
        # each run looking at it settled (December, its rerun, January: 0), the November rerun's real bill row,
        # the December rerun's 0, the last November rerun's bill row (January no longer looks: nothing owed)
        rows = c.execute(text(f"SELECT value, settled_m3 FROM {schema}_billing.billing_start_positions "
                              "ORDER BY id"))
        assert [tuple(r) for r in rows] == [(86207000, None), (90328000, -4121000), (90328000, -4121000),
                                            (90328000, 0), (90328000, None), (90328000, 0), (90328000, None)]


def test_a_final_positions_table_from_before_settled_m3_gets_the_column(tmp_path):
    """billing_final_positions first shipped without settled_m3; a billing file created then is upgraded on use
    (its rows are bills' own positions: NULL)."""
    old = create_engine(f"sqlite:///{tmp_path}/store.billing.sqlite")
    with old.begin() as c:
        c.execute(text("CREATE TABLE billing_final_positions (id INTEGER PRIMARY KEY, run_id INTEGER, "
                       "service_point_id INTEGER, account_id INTEGER, meter_id INTEGER, at DATETIME, value BIGINT, "
                       "source VARCHAR(20), method VARCHAR(20))"))
        c.execute(text("INSERT INTO billing_final_positions VALUES (1, 1, 1, 1, 1, '2026-10-21', 1, 'estimate', "
                       "'estimate')"))
    old.dispose()
    s = Store(f"sqlite:///{tmp_path}/store.sqlite")
    s.upgrade()
    seed_sample(s)
    run_billing(s, Period.parse("2026-10"), out_dir=tmp_path / "out")
    with create_engine(f"sqlite:///{tmp_path}/store.billing.sqlite").connect() as c:
        assert c.execute(text("SELECT settled_m3 FROM billing_final_positions WHERE id = 1")).scalar_one() is None
    s.close()
