"""The crew view: JSON endpoints over real HTTP, and the page rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request

import pytest

from collector.pipeline import Pipeline
from collector.route import RouteProgress
from collector.simdrive import SimDrive
from collector.web import CrewServer, CrewState, parse_hostport
from sync.outbox import Outbox

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(url, profile_dir):
    """The page as headless Chromium leaves it after 5 s of virtual time (its scripts have run)."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile_dir}",
         "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90).stdout


@pytest.fixture(scope="module")
def crew(tmp_path_factory):
    d = tmp_path_factory.mktemp("web")
    sim = SimDrive(n_route=80, n_foreign=30, n_missing=6, seed=11)
    ob = Outbox(d / "o.db")
    p = Pipeline([], outbox=ob, route=RouteProgress(sim.route_sheet()))
    for f in sim.frames():
        p.process(f)
    p.stop()
    b = ob.lease(7)
    ob.ack(b.batch_id)
    srv = CrewServer(CrewState(p.route, outbox=ob, pipeline_stats=p.stats), "127.0.0.1", 0).start()
    yield srv, p, ob
    srv.stop()
    ob.close()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers["Content-Type"], r.read()


def test_json_endpoints(crew):
    srv, p, ob = crew
    _, ctype, body = get(srv.url + "api/summary")
    s = json.loads(body)
    assert ctype == "application/json"
    c = p.route.counts()
    for k in ("read", "unread", "heard", "alarmed", "implausible", "out_of_route", "total"):
        assert s["counts"][k] == c[k]
    assert s["sync"]["pending"] == ob.pending() and s["sync"]["last_ack_at"]
    assert s["sync"]["state"] == "offline"  # no publisher has run on this outbox
    meters = json.loads(get(srv.url + "api/meters")[2])
    assert len(meters) == 80 and {"status", "last_heard", "best_rssi", "at_risk"} <= set(meters[0])
    assert len(json.loads(get(srv.url + "api/out_of_route")[2])) == c["out_of_route"]
    assert json.loads(get(srv.url + "api/alarms")[2])
    with pytest.raises(urllib.error.HTTPError) as e:
        get(srv.url + "api/nope")
    assert e.value.code == 404


def test_hostport():
    assert parse_hostport("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_hostport("9000") == ("0.0.0.0", 9000)
    with pytest.raises(ValueError):
        parse_hostport("host:xx")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_page_renders_counts_in_headless_chromium(crew, tmp_path):
    srv, p, ob = crew
    dom = dump_dom(srv.url, tmp_path)
    assert 'data-loaded="1"' in dom, dom[:500]

    def shown(elem_id):
        m = re.search(rf'id="{elem_id}">([^<]*)<', dom)
        assert m, elem_id
        return m.group(1)

    c = p.route.counts()
    for k in ("read", "unread", "heard", "alarmed", "implausible", "out_of_route", "total"):
        assert shown(f"count-{k}") == str(c[k]), k
    assert shown("count-at_risk") == str(len(p.route.at_risk()))
    assert shown("sync-pending") == str(ob.pending())
    assert shown("sync-last-ack") != "never"
    assert shown("sync-state") == "offline"
    # one table row per route meter, with its status; one plotted point per positioned meter
    statuses = re.findall(r'<tr class="(\w+)" data-meter="(\d+)" data-status="(\w+)"', dom)
    assert len(statuses) == 80
    assert sum(s == "read" for _, _, s in statuses) == c["read"]
    assert len(re.findall(r'<circle class="pt-', dom)) >= c["read"]
    assert "above_max" in dom or "below_previous" in dom  # an implausible reading is flagged


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_long_route_shows_missing_meters_first(tmp_path):
    sim = SimDrive(n_route=600, n_foreign=0, n_missing=50, seed=12)
    p = Pipeline([], route=RouteProgress(sim.route_sheet()))
    for f in sim.frames():
        p.process(f)
    p.stop()
    srv = CrewServer(CrewState(p.route, pipeline_stats=p.stats), "127.0.0.1", 0).start()
    try:
        dom = dump_dom(srv.url, tmp_path)
    finally:
        srv.stop()
    statuses = [s for _, s in re.findall(r'data-meter="(\d+)" data-status="(\w+)"', dom)]
    c = p.route.counts()
    assert len(statuses) == 400 and "of 600" in dom
    not_read = c["unread"] + c["heard"]
    assert 0 < not_read < 400
    assert sum(s != "read" for s in statuses) == not_read  # every missing meter is on screen
    flagged = c["alarmed"] + c["implausible"]  # (upper bound: a meter may be both)
    assert all(s == "read" for s in statuses[not_read + flagged:])  # ...and on top, with the flagged ones
    assert shown_count(dom, "count-unread") == c["unread"]


def shown_count(dom, elem_id):
    return int(re.search(rf'id="{elem_id}">(\d+)<', dom).group(1))


def test_sync_state_comes_from_the_publisher_record(tmp_path):
    from sync.publisher import STATUS_META_KEY

    ob = Outbox(tmp_path / "o.db")
    st = CrewState(RouteProgress(), outbox=ob)
    assert st.summary()["sync"]["state"] == "offline"
    ob.set_meta(STATUS_META_KEY, json.dumps({"state": "online", "van_id": "van-1"}))
    assert st.summary()["sync"]["state"] == "online"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_page_shows_what_the_server_said_about_the_vans_data(tmp_path):
    from sync.publisher import STATUS_META_KEY

    ob = Outbox(tmp_path / "o.db")
    srv = CrewServer(CrewState(RouteProgress(), outbox=ob), "127.0.0.1", 0).start()

    def problem_text():
        dom = dump_dom(srv.url, tmp_path)
        assert 'data-loaded="1"' in dom, dom[:500]
        return re.search(r'id="sync-problem"[^>]*>([^<]*)<', dom).group(1)

    try:
        ob.set_meta(STATUS_META_KEY, json.dumps({"state": "online", "rejected": 0, "rows_dead_lettered": 0,
                                                 "last_error": None}))
        assert problem_text() == ""
        ob.set_meta(STATUS_META_KEY, json.dumps({"state": "offline", "rejected": 2, "rows_dead_lettered": 3,
                                                 "last_error": "server rejected batch: unknown_van"}))
        shown = problem_text()
        assert "2 batch(es) refused" in shown and "3 frame(s) kept by the server" in shown
        assert "unknown_van" in shown
    finally:
        srv.stop()
        ob.close()
