"""End to end: the demo's drive through a (small) town, from IQ to a billing file, against its own truth.

The truth comes from the synthesised bursts (amr/town.py), the checks from the collector's route
progress, the outbox, the store the importer wrote and the billing file — independent observers of the
same drive. Runs against the real local Mosquitto when it answers (else a private one, else direct).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from amr.demo import Reporter, run_demo
from amr.town import Town
from server.store import Store

SMALL = {"n_main": 40, "n_garden": 6, "n_foreign": 8, "seed": 3}


def _town() -> Town:
    return Town(**SMALL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    first = run_demo(work, town=_town(), reporter=Reporter(quiet=True))
    second = run_demo(work, town=_town(), reporter=Reporter(quiet=True))
    return work, first, second


def _store(work: Path) -> Store:
    return Store(f"sqlite:///{work / 'amr.sqlite'}")


def test_town_is_the_asked_for_mix():
    town = Town()
    route = town.route_meters()
    assert len(route) >= 200
    assert len({m.mfct for m in route}) >= 5
    assert any(m.key for m in route) and any(m.key is None for m in route)          # mode 5 and plain
    assert {m.role for m in route} == {"main", "garden"}
    kinds = {m.family for m in town.meters if not m.on_route}
    assert {"foreign:HeatMeter", "foreign:HeatCostAllocationMeter", "foreign:SmokeDetector"} <= kinds
    truth = town.truth_dict(town.bursts())
    assert truth["collided_bursts"] > 0 and truth["route_never_in_range"]


def test_read_set_matches_the_truth(runs):
    work, r, _ = runs
    t = r.truth
    readable = set(t["route_transmitted"]) - set(t["no_key"])
    read = set(r.read_ids)
    # nothing is read that never went on air, or that the van has no key for
    assert read <= readable
    # every meter with a strong burst nobody collided with is read
    assert set(t["route_clean"]) - set(t["no_key"]) <= read
    assert set(t["route_never_in_range"]) <= set(r.unread_ids)
    # keyless meters that were heard are "heard", not read and not unread
    assert set(t["no_key"]) & set(t["route_clean"]) <= set(r.heard_ids)
    assert r.route["read"] == len(read) and r.route["total"] == t["route_meters"]
    # the demodulator's own account: every frame it passed on reached the pipeline
    demod = r.collector["demod"]
    assert demod["frames"] == r.collector["frames"] and demod["bursts"] >= demod["frames"] + demod["crc_failures"]
    # alarms: exactly the alarmed meters that were read
    assert {a["meter_id"] for a in r.alarms} == set(t["alarmed"]) & read


def test_store_agrees_with_the_collector(runs):
    work, r, _ = runs
    assert r.outbox_pending == 0
    assert r.outbox_committed == r.collector["unique"] > 0
    # the first run stored exactly the frames the collector committed (all new)
    assert r.store_new["raw_telegrams"] == r.outbox_committed
    with _store(work) as store:
        tgs = store.telegrams(since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), limit=None)
        assert len(tgs) == r.outbox_committed
        ids = {m.id: m.address for m in store.meters()}
        route = {m.meter_id for m in _town().route_meters()}
        # the server decoded with its own keys: the same route meters have readings as the van read
        server_read = {ids[t.meter_id] for t in tgs if t.decode_ok and t.meter_id in ids} & route
        assert server_read == set(r.read_ids)
        drive = store.readings(meter_ids=list(ids), since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                               sources=["radio"])
        assert {ids[x.meter_id] for x in drive if x.quantity == "volume"} & route == set(r.read_ids)
    if r.sync["mode"] != "direct":
        assert r.sync["rows_acked"] == r.outbox_committed


def test_second_run_is_exactly_once(runs):
    work, first, second = runs
    assert second.outbox_pending == 0
    assert second.outbox_committed == first.outbox_committed       # the same frames went through again ...
    for table in ("raw_telegrams", "readings", "alarms", "meters", "service_points", "meter_keys", "vans"):
        if table in second.store_new:
            assert second.store_new[table] == 0, table                # ... and changed nothing
    assert second.read_ids == first.read_ids
    assert second.billing["reused"] and second.billing["run_id"] == first.billing["run_id"]
    assert (second.billing["net"], second.billing["gross"]) == (first.billing["net"], first.billing["gross"])


def test_billing_file(runs):
    work, r, _ = runs
    b = r.billing
    path = Path(b["files"]["bills"])
    assert path.exists() and path.parent == work / "billing"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert len(rows) == b["service_points"] == b["billed"] == SMALL["n_main"]
    assert all(Decimal(x["gross"]) > 0 and Decimal(x["water_m3"]) > 0 for x in rows)
    assert sum(Decimal(x["gross"]) for x in rows) == Decimal(b["gross"]) > 0
    sources = {x["water_source"] for x in rows}
    assert "radio" in sources and "estimate" in sources       # read meters and missed ones
    gardens = [x for x in rows if "[garden]" in x["meters"]]
    # sewage = water - garden sub-meter (never more than the water; a garden meter not read deducts nothing)
    assert all(Decimal(x["sewage_m3"]) <= Decimal(x["water_m3"]) for x in rows)
    assert gardens and sum(Decimal(x["sewage_m3"]) < Decimal(x["water_m3"]) for x in gardens) >= len(gardens) // 2
    exc = list(csv.DictReader(Path(b["files"]["exceptions"]).read_text().splitlines()))
    unread_main = {m.meter_id for m in _town().route_meters() if m.role == "main"} & set(r.unread_ids)
    assert {x["meter_id"].split("-")[1] for x in exc if x["kind"] == "unread"} >= unread_main


def test_direct_fallback_is_exactly_once_too(runs, tmp_path):
    work, first, _ = runs
    copy = tmp_path / "w"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("broker"))
    r = run_demo(copy, town=_town(), broker="direct", reporter=Reporter(quiet=True))
    assert r.sync["mode"] == "direct" and r.outbox_pending == 0
    assert r.store_new["raw_telegrams"] == 0 and r.store_new["readings"] == 0
    assert r.read_ids == first.read_ids


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary")
def test_private_broker_with_the_shipped_acl(tmp_path):
    r = run_demo(tmp_path, town=Town(n_main=20, n_garden=3, n_foreign=4, seed=5), broker="private",
                 reporter=Reporter(quiet=True))
    assert r.sync["mode"] == "private" and r.outbox_pending == 0
    assert r.sync["rows_acked"] == r.outbox_committed == r.store_new["raw_telegrams"] > 0


def test_cli_json_and_summary(tmp_path):
    cmd = [sys.executable, "-m", "amr", "demo", "--workdir", str(tmp_path), "--meters", "20", "--garden", "2",
           "--foreign", "3", "--seed", "7"]
    out = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["outbox_pending"] == 0 and d["billing"]["billed"] == 20
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr
    assert "=== amr demo: summary ===" in text.stdout
    assert f"read {d['route']['read']} of {d['route']['total']}" in text.stdout
    assert str(Path(d["billing"]["files"]["bills"])) in text.stdout
