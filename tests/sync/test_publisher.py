"""The van's publisher: rows leave only on the end-to-end ack; backoff; long offline; downlink; status."""

from __future__ import annotations

import json
import random
import time

import pytest

from server.importer import Importer, ImporterConfig, StoreSink
from sync import downlink
from sync import messages as m
from sync.localbroker import LocalBroker, free_port
from sync.mqttconf import make_client
from sync.outbox import Outbox
from sync.publisher import Backoff, Publisher, PublisherConfig, read_status
from sync.routesheet import RouteSheet

from .conftest import VANS, fill_outbox, make_frames, settings_for, stored_telegrams, wait_until

pytestmark = pytest.mark.mqtt


def test_backoff_is_bounded_exponential_with_jitter():
    b = Backoff(0.5, 8.0, random.Random(1))
    caps = []
    for n in range(10):
        d = b.next()
        cap = min(8.0, 0.5 * 2**n)
        assert 0.5 <= d <= cap
        caps.append(cap)
    assert caps[-1] == 8.0
    b.reset()
    assert b.next() == 0.5 and b.attempt == 1  # back to the minimum after a successful CONNACK
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_an_idle_publisher_waits_on_the_socket(broker, tmp_path):
    """Online with nothing to send, the publisher blocks in the network loop between idle polls. It used to
    call loop(timeout=0) back to back: 99 % of a core on an empty outbox (and during every drain's last acks)."""
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01"), PublisherConfig("van01", idle_poll_s=0.5))
    non_blocking: list[float] = []
    real_new_client = pub._new_client

    def counting_client():
        c = real_new_client()
        real_loop = c.loop

        def loop(timeout: float = 1.0, *a, **kw):
            if timeout == 0:
                non_blocking.append(timeout)
            return real_loop(timeout, *a, **kw)

        c.loop = loop
        return c

    pub._new_client = counting_client
    pub.start()
    try:
        wait_until(lambda: pub.status()["state"] == "online", 10, "publisher online")
        time.sleep(0.2)
        before = len(non_blocking)
        time.sleep(1.0)
        turns = len(non_blocking) - before
    finally:
        pub.stop()
        ob.close()
    assert turns <= 4  # about one per idle poll (0.5 s); the spinning loop made thousands


def test_puback_alone_never_deletes_a_row(broker, tmp_path):
    """A subscriber that takes the messages (the broker PUBACKs the van) but never acks end to end."""
    fill_outbox(tmp_path / "o.db", "van01", make_frames(1000))
    got: list[bytes] = []
    sink = make_client(settings_for(broker, "importer"), "not-an-importer")
    sink.on_message = lambda _c, _u, msg: got.append(msg.payload)
    sink.connect("127.0.0.1", broker.plain_port)
    sink.loop_start()
    sink.subscribe(m.SHARED_BATCH_FILTER, qos=1)
    time.sleep(0.3)
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01"),
                    PublisherConfig("van01", batch_size=100, max_inflight=3, ack_timeout_s=0.5)).start()
    try:
        wait_until(lambda: pub.status()["batches_resent"] >= 3, 20, "timed-out batches re-sent")
        st = pub.status()
    finally:
        pub.stop()
        sink.loop_stop()
        sink.disconnect()
    assert len(got) >= 6 and st["batches_acked"] == 0
    assert ob.pending() == 1000 and ob.stats().in_flight == 0  # leases released on stop, nothing deleted
    ob.close()


def test_ack_must_name_the_batch_and_its_range(broker, tmp_path):
    fill_outbox(tmp_path / "o.db", "van01", make_frames(100))
    seen: list[m.BatchMessage] = []
    imp = make_client(settings_for(broker, "importer"), "fake-importer")
    imp.on_message = lambda _c, _u, msg: seen.append(m.BatchMessage.parse(msg.payload))
    imp.connect("127.0.0.1", broker.plain_port)
    imp.loop_start()
    imp.subscribe(m.SHARED_BATCH_FILTER, qos=1)
    time.sleep(0.3)
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01"), PublisherConfig("van01", batch_size=100, ack_timeout_s=30)).start()
    try:
        wait_until(lambda: len(seen) == 1, 10, "the batch")
        b = seen[0]
        wrong = [m.AckMessage(b.van_id, b.batch_id, b.seq_from, b.seq_to - 1, m.AckStatus.STORED),
                 m.AckMessage(b.van_id, m.new_batch_id(), b.seq_from, b.seq_to, m.AckStatus.STORED)]
        for a in wrong:
            imp.publish(m.ack_topic("van01"), a.encode(), qos=1)
        imp.publish(m.ack_topic("van01"), b"garbage", qos=1)
        wait_until(lambda: pub.status()["acks_ignored"] == 3, 10, "acks ignored")
        assert ob.pending() == 100
        imp.publish(m.ack_topic("van01"), m.AckMessage.for_batch(b, m.AckStatus.STORED).encode(), qos=1)
        wait_until(lambda: ob.pending() == 0, 10, "the right ack deletes")
    finally:
        pub.stop()
        imp.loop_stop()
        imp.disconnect()
    ob.close()


def test_long_offline_then_broker_appears(store, tmp_path):
    """The van starts with no broker at all (a shift out of coverage), retries with backoff, and drains
    once the network is there."""
    frames = make_frames(800)
    fill_outbox(tmp_path / "o.db", "van01", frames)
    b = LocalBroker(tmp_path / "broker", users=["importer", *VANS])
    b.plain_port = free_port()
    b.prepare()
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(b, "van01"),
                    # the van may publish before the importer has subscribed: the broker then drops the
                    # batch ("no matching subscribers") and only the ack timeout brings it back
                    PublisherConfig("van01", batch_size=100, backoff_min_s=0.05, backoff_max_s=0.4,
                                    ack_timeout_s=3.0)).start()
    try:
        time.sleep(2.0)
        st = read_status(ob)
        assert st["state"] in ("offline", "connecting") and st["pending"] == 800
        assert "connect" in (pub.status()["last_error"] or "")
        b.start()
        imp = Importer(StoreSink(store), settings_for(b, "importer"), ImporterConfig(client_id="imp-o")).start()
        try:
            wait_until(lambda: ob.pending() == 0, 30, "drained once online")
            wait_until(lambda: read_status(ob)["state"] == "online", 5, "status written")
        finally:
            imp.stop()
    finally:
        pub.stop()
        b.stop()
    assert len(stored_telegrams(store)) == 800
    st = read_status(ob)
    assert st["last_ack_at"] and st["acked_total"] == 800 and st["publisher"]["state"] == "stopped"
    ob.close()


def test_downlink_waits_retained_until_the_van_connects(broker, tmp_path):
    sheet = RouteSheet.from_json(json.dumps({"route_id": "R-0504", "meters": [
        {"meter_id": "12345678", "manufacturer": "KAM", "address": "Main St 1"}]}))
    imp_settings = settings_for(broker, "importer")
    downlink.push_route(imp_settings, "van01", sheet.route_id, sheet.to_json_dict())
    downlink.push_keys(imp_settings, "van01", downlink.parse_key_csv("id,key,manufacturer\n12345678," + "AB" * 16 + ",KAM\n"))
    downlink.push_route(imp_settings, "van02", "R-other", sheet.to_json_dict() | {"route_id": "R-other"})
    received: list = []
    fill_outbox(tmp_path / "o.db", "van01", make_frames(1))
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01", tls=True),
                    PublisherConfig("van01", downlink_dir=tmp_path / "down"), on_downlink=received.append).start()
    try:
        wait_until(lambda: len(received) == 2, 10, "route and keys")
    finally:
        pub.stop()
    assert RouteSheet.load(tmp_path / "down" / "route.json").route_id == "R-0504"
    keys = (tmp_path / "down" / "keys.csv").read_text().splitlines()
    assert keys == ["id,key,manufacturer", "12345678," + "AB" * 16 + ",KAM"]
    assert (tmp_path / "down" / "keys.csv").stat().st_mode & 0o777 == 0o600
    assert {type(r).__name__ for r in received} == {"RouteMessage", "KeysMessage"}
    assert all(r.van_id == "van01" for r in received)  # van02's route never reached van01
    ob.close()


def test_publisher_survives_outbox_errors(broker, store, tmp_path):
    import sqlite3

    class Flaky(Outbox):
        fails = 3

        def lease_raw(self, n):
            if Flaky.fails:
                Flaky.fails -= 1
                raise sqlite3.OperationalError("database is locked")
            return super().lease_raw(n)

    fill_outbox(tmp_path / "o.db", "van01", make_frames(100))
    imp = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-f")).start()
    assert imp.ready.wait(10)
    ob = Flaky(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01"), PublisherConfig("van01")).start()
    try:
        wait_until(lambda: ob.pending() == 0, 30, "drained despite the errors")
    finally:
        pub.stop()
        imp.stop()
    assert Flaky.fails == 0 and len(stored_telegrams(store)) == 100
    ob.close()
