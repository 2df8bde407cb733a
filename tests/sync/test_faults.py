"""Fault injection against real Mosquitto (private, shipped config) and PostgreSQL (own schema).

Every test ends with the same proof: the store holds every frame the outbox committed exactly once (no
telegram missing, none twice; every reading once), and the outbox is empty.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from server.importer import Importer, ImporterConfig, StoreSink
from sync.mqttconf import BrokerSettings
from sync.outbox import Outbox
from sync.publisher import Publisher, PublisherConfig

from .conftest import (
    fill_outbox,
    make_frames,
    settings_for,
    spawn,
    stored_readings,
    stored_telegrams,
    url_for,
    wait_until,
)
from .tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mqtt]

FAST = {"backoff_min_s": 0.1, "backoff_max_s": 1.0}


def assert_exactly_once(store, frames) -> None:
    tels = stored_telegrams(store)
    want = Counter(f.telegram for f in frames)
    got = Counter(tels)
    lost = sum((want - got).values())
    assert not lost, f"{lost} frames lost; dead letters: {[(d.reason, d.detail[:80]) for d in store.dead_letters(5)]}"
    assert got == want, "duplicates or strangers in the store"
    readings = stored_readings(store)
    assert len(readings) == len(set(readings)) == 2 * len(frames)


def outbox_rows(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT count(*) FROM outbox").fetchone()[0]


def outbox_ok(path: Path) -> bool:
    with sqlite3.connect(path) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def importer(store, broker, cid: str = "imp-1", **kw) -> Importer:
    imp = Importer(StoreSink(store), settings_for(broker, "importer"),
                   ImporterConfig(client_id=cid, backoff_min_s=0.1, backoff_max_s=1.0, **kw)).start()
    assert imp.ready.wait(10), "importer did not subscribe"
    return imp


def publisher(path: Path, broker_settings, van: str = "van01", **kw) -> tuple[Outbox, Publisher]:
    ob = Outbox(path, van_id=van)
    cfg = PublisherConfig(van, **{"batch_size": 100, "ack_timeout_s": 5.0, **FAST, **kw})
    return ob, Publisher(ob, broker_settings, cfg).start()


def test_kill9_collector_mid_sync(broker, store, tmp_path):
    frames = make_frames(5000)
    ob_path = tmp_path / "van01.outbox"
    fill_outbox(ob_path, "van01", frames)
    imp = importer(store, broker, delay_before_commit_s=0.01)
    args = ["-m", "amr", "sync", "run", "--outbox", str(ob_path), "--van", "van01", "--broker",
            url_for(broker, "van01"), "--batch-size", "100", "--ack-timeout", "5", "--backoff-max", "1"]
    try:
        for threshold in (1000, 2500):
            proc = spawn(args, tmp_path / "publisher.log")
            wait_until(lambda t=threshold: outbox_rows(ob_path) <= 5000 - t, 60, f"{threshold} rows acked")
            proc.send_signal(signal.SIGKILL)  # mid-sync: batches in flight, acks on the way
            proc.wait()
            assert outbox_ok(ob_path)
            assert 0 < outbox_rows(ob_path) < 5000
        proc = spawn([*args, "--exit-when-empty"], tmp_path / "publisher.log")
        assert proc.wait(90) == 0
    finally:
        imp.stop()
    assert outbox_rows(ob_path) == 0
    assert_exactly_once(store, frames)


def test_kill9_and_restart_broker(broker, store, tmp_path):
    frames = make_frames(4000)
    fill_outbox(tmp_path / "o.db", "van01", frames)
    imp = importer(store, broker, delay_before_commit_s=0.01)
    ob, pub = publisher(tmp_path / "o.db", settings_for(broker, "van01"))
    try:
        for threshold in (800, 2000):
            wait_until(lambda t=threshold: ob.pending() <= 4000 - t, 60, f"{threshold} rows acked")
            broker.restart(kill=True)  # kill -9, then start again on the same ports and data dir
        wait_until(lambda: ob.pending() == 0, 90, "outbox drained after broker restarts")
        assert pub.status()["connects"] >= 3 and imp.metrics["connects"] >= 3
    finally:
        pub.stop()
        imp.stop()
    assert_exactly_once(store, frames)


def test_kill9_importer_between_receive_and_commit(broker, store, pg_schema_url, tmp_path):
    frames = make_frames(1500)
    fill_outbox(tmp_path / "o.db", "van01", frames)
    log = tmp_path / "importer.log"
    args = ["-m", "amr", "serve", "--db", pg_schema_url, "--broker", url_for(broker, "importer"),
            "--client-id", "imp-crash", "--metrics-interval", "1"]
    slow = spawn([*args, "--delay-before-commit", "3"], log)
    try:
        wait_until(lambda: "connected (session_present" in log.read_text(), 30, "importer up")
        ob, pub = publisher(tmp_path / "o.db", settings_for(broker, "van01"), ack_timeout_s=30.0)
        wait_until(lambda: "received batch" in log.read_text(), 30, "a batch received")
        slow.send_signal(signal.SIGKILL)  # received, not committed, not acked
        slow.wait()
        assert "committing" in log.read_text() and stored_telegrams(store) == []
        # Same client id, persistent session: the broker hands the unacked messages back to it. The van's
        # ack timeout (30 s) is longer than the test, so the broker's redelivery is what completes it.
        fast = spawn(args, log)
        wait_until(lambda: ob.pending() == 0, 60, "outbox drained after importer restart")
        assert pub.status()["batches_resent"] == 0
        pub.stop()
    finally:
        for p in ("slow", "fast"):
            proc = locals().get(p)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    assert_exactly_once(store, frames)


def test_network_cut_blackhole_then_refused(broker, store, tmp_path):
    frames = make_frames(3000)
    fill_outbox(tmp_path / "o.db", "van01", frames)
    proxy = TcpProxy(broker.plain_port)
    imp = importer(store, broker, delay_before_commit_s=0.01)
    ob, pub = publisher(tmp_path / "o.db", BrokerSettings("127.0.0.1", proxy.port, "van01", broker.passwords["van01"],
                                                         keepalive=2))
    try:
        wait_until(lambda: ob.pending() <= 2500, 60, "some rows acked")
        proxy.blackhole()  # packets vanish: only the keepalive can tell
        wait_until(lambda: pub.state.value == "offline", 20, "publisher notices the dead link")
        proxy.refuse()  # no coverage at all for a while
        time.sleep(2)
        assert ob.pending() > 0
        proxy.restore()
        wait_until(lambda: ob.pending() == 0, 90, "outbox drained after the outage")
    finally:
        pub.stop()
        imp.stop()
        proxy.close()
    assert_exactly_once(store, frames)


def test_redelivered_messages_change_nothing(broker, store, tmp_path):
    from sync import messages as m

    frames = make_frames(600)
    acks: list[m.AckMessage] = []
    imp = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-r"),
                   on_ack=acks.append).start()
    assert imp.ready.wait(10)
    import paho.mqtt.client as mqtt

    from sync.mqttconf import make_client

    van = make_client(settings_for(broker, "van01"), "van01-raw")
    van.connect("127.0.0.1", broker.plain_port)
    van.loop_start()
    try:
        b1 = m.BatchMessage.build("van01", [(i + 1, f, None) for i, f in enumerate(frames[:400])])
        b2 = m.BatchMessage.build("van01", [(i + 1, f, None) for i, f in enumerate(frames[200:])])  # overlaps b1
        for payload in (b1.encode(), b1.encode(), b1.encode(compress=True), b2.encode(), b2.encode()):
            assert van.publish(m.batch_topic("van01"), payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS
        wait_until(lambda: len(acks) == 5, 30, "five acks")
    finally:
        van.loop_stop()
        van.disconnect()
        imp.stop()
    # ... and the same frames again from another van (two vans heard the same transmissions)
    fill_outbox(tmp_path / "v2.db", "van02", frames[100:300])
    imp = importer(store, broker, cid="imp-r")
    ob, pub = publisher(tmp_path / "v2.db", settings_for(broker, "van02"), van="van02")
    try:
        wait_until(lambda: ob.pending() == 0, 30, "van02 drained")
    finally:
        pub.stop()
        imp.stop()
    assert [a.status for a in acks] == ["stored", "duplicate", "duplicate", "stored", "duplicate"]
    assert_exactly_once(store, frames)


def test_slow_importer_growing_backlog(broker, store, tmp_path):
    vans = {"van01": make_frames(1500), "van02": make_frames(1500, start=1500)}
    for v, fr in vans.items():
        fill_outbox(tmp_path / f"{v}.db", v, fr)
    imp = importer(store, broker, delay_before_commit_s=0.08)  # ~60 batches x 80 ms: the queue grows
    pubs = [publisher(tmp_path / f"{v}.db", settings_for(broker, v), van=v, batch_size=50, max_inflight=8,
                      ack_timeout_s=1.0) for v in vans]
    try:
        wait_until(lambda: all(ob.pending() == 0 for ob, _ in pubs), 120, "both vans drained")
        resent = sum(p.status()["batches_resent"] for _, p in pubs)
    finally:
        for _, p in pubs:
            p.stop()
        imp.stop()
    # The backlog outlived the vans' first ack timeout: they re-sent, and the importer absorbed it.
    assert resent > 0
    assert imp.metrics["received"] > 60
    assert_exactly_once(store, vans["van01"] + vans["van02"])
