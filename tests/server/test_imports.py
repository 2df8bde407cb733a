"""CSV imports: registry, service points with installations and routes; all-or-nothing with line numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner

from server.imports import ImportFileError, import_meters, import_service_points
from server.store import Store

METERS = """manufacturer,id,version,device_type,role,model,legalised_until,register_digits,transmit_interval_s,transmit_window,plausible_max_m3
APA,11111111,1,7,main,AT-WMBUS-16-2,2031-12-31,5,16,Mon-Fri 08:00-18:00,"40,5"
APA,22222222,1,0x07,garden,JS-1.6,2029-06-30,5,16,,
DME,33333333,0x1B,0x07,sewage,,,,,always,
"""

POINTS = """code;account;account_name;login;address;connection;norm_category;norm_units;sewered;lat;lon;meter_id;meter_manufacturer;role;installed_at;initial_reading;route;van
SP-1;A-1;Jan Kowalski;jan;ul. Długa 1;metered;;;yes;50,35;18,21;11111111;APA;main;2020-01-01;0,5;north;van-01
SP-1;;;;;;;;;;;22222222;;garden;2021-05-01T10:00:00+02:00;0;north;van-01
SP-2;A-2;Anna Nowak;;ul. Polna 2;unmetered;household_bath_central_hw;3;no;;;;;;;;;
SP-3;A-2;;;ul. Polna 4;metered;;;;;;33333333;DME;sewage;2022-01-01;;south;
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_registry_and_service_points(store: Store, tmp_path):
    r = import_meters(store, _write(tmp_path, "meters.csv", METERS))
    assert r.meters == 3
    m = store.meter(identity=("APA", "11111111", 1, 7))
    assert (m.role, m.model, m.legalised_until, m.register_digits, m.plausible_max_m3) == (
        "main", "AT-WMBUS-16-2", dt.date(2031, 12, 31), 5, Decimal("40.5"))
    assert store.meter(identity=("DME", "33333333", 0x1B, 7)).role == "sewage"

    pts = _write(tmp_path, "points.csv", POINTS)
    r = import_service_points(store, pts)
    assert (r.accounts, r.service_points, r.installations, r.routes) == (2, 3, 3, 2)
    sp1 = store.service_point(code="SP-1")
    assert (sp1.lat, sp1.address, sp1.sewered) == (50.35, "ul. Długa 1", True)
    sp2 = store.service_point(code="SP-2")
    assert (sp2.connection, sp2.norm_units, sp2.sewered) == ("unmetered", Decimal(3), False)
    inst = store.installations(service_point_id=sp1.id)
    assert [(i.role, i.installed_at, i.initial_reading) for i in inst] == [
        ("main", dt.datetime(2020, 1, 1, tzinfo=dt.UTC), Decimal("0.5")),
        ("garden", dt.datetime(2021, 5, 1, 8, tzinfo=dt.UTC), Decimal(0))]
    assert store.account(login="jan").name == "Jan Kowalski"
    routes = {x.name: x for x in store.routes()}
    assert routes["north"].meters == 2 and routes["south"].meters == 1
    assert [v.code for v in store.vans()] == ["van-01"]

    before = store.counts()
    import_meters(store, _write(tmp_path, "meters.csv", METERS))
    import_service_points(store, pts)
    assert store.counts() == before  # idempotent


def test_bad_files_report_every_line_and_import_nothing(store: Store, tmp_path):
    bad = METERS + "APA,1234567X,1,7,main\nXY,1,1,7,kitchen\nAPA,11111111,1,7,main\n"
    with pytest.raises(ImportFileError) as ei:
        import_meters(store, _write(tmp_path, "m.csv", bad))
    msg = str(ei.value)
    assert "line 5: id" in msg and "line 6: manufacturer" in msg and "line 6: role" in msg
    assert "line 7: meter APA 11111111 v1 t7 is listed twice" in msg
    assert store.counts()["meters"] == 0

    import_meters(store, _write(tmp_path, "meters.csv", METERS))
    pts = POINTS + "SP-9;A-9;;;;metered;;;;;;99999999;APA;main;2020-01-01;;;\n"
    with pytest.raises(ImportFileError) as ei:
        import_service_points(store, _write(tmp_path, "p.csv", pts))
    assert "line 6: meter_id: meter APA 99999999 is not in the registry" in str(ei.value)
    assert store.counts()["service_points"] == 0 and store.counts()["accounts"] == 0  # rolled back
    with pytest.raises(ImportFileError):
        import_meters(store, _write(tmp_path, "empty.csv", ""))


def test_cli_import_and_export(db_url: str, tmp_path, monkeypatch, master_key):
    from server.cli import import_, routes
    from server.db import upgrade

    monkeypatch.setenv("AMR_MASTER_KEY", "00" * 32)
    upgrade(db_url)
    run = CliRunner().invoke
    r = run(import_, ["meters", "--db", db_url, str(_write(tmp_path, "meters.csv", METERS))])
    assert r.exit_code == 0 and "meters=3" in r.output, r.output
    r = run(import_, ["service-points", "--db", db_url, str(_write(tmp_path, "points.csv", POINTS))])
    assert r.exit_code == 0 and "installations=3" in r.output, r.output
    keys = _write(tmp_path, "keys.csv", "id,key\n11111111,000102030405060708090A0B0C0D0E0F\n")
    r = run(import_, ["keys", "--db", db_url, str(keys)])
    assert r.exit_code == 0 and "keys=1" in r.output and "0001020304" not in r.output
    r = run(import_, ["meters", "--db", db_url, str(_write(tmp_path, "bad.csv", "manufacturer,id\nAPA,1\n"))])
    assert r.exit_code == 2 and "line 2: version: missing" in r.output
    out = tmp_path / "sheets"
    r = run(routes, ["export", "--db", db_url, "--van", "van-01", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "north.csv").exists() and not (out / "south.csv").exists()
    r = run(routes, ["list", "--db", db_url])
    assert r.exit_code == 0 and "north" in r.output and "van-01" in r.output


def test_cli_redecode_and_stats(store: Store, corpus, monkeypatch):
    import datetime as dt

    from decoders.frame import Frame
    from server.cli import db, redecode

    raw = Store(store.url, engine=store.engine, decode=False)
    telegrams = [bytes.fromhex(r["telegram"]) for r in corpus if r.get("water") and not r.get("key")][:5]
    raw.ingest([(Frame(t, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "t"), None) for t in telegrams])
    monkeypatch.setenv("AMR_MASTER_KEY", "11" * 32)
    r = CliRunner().invoke(redecode, ["--db", store.url, "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "5 telegrams" in r.output and "new readings" in r.output
    r = CliRunner().invoke(db, ["stats", "--db", store.url])
    assert r.exit_code == 0 and "raw_telegrams" in r.output
