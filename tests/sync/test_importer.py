"""Importer behaviour with real Mosquitto and PostgreSQL: poison messages, unknown vans, scale-out."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import pytest

from server.importer import Importer, ImporterConfig, StoreSink
from sync import messages as m
from sync.mqttconf import make_client
from sync.outbox import Outbox
from sync.publisher import Publisher, PublisherConfig, read_status

from .conftest import fill_outbox, make_frames, settings_for, stored_telegrams, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]


class RawVan:
    """A van client that publishes whatever bytes the test wants and records its acks."""

    def __init__(self, broker, van: str):
        self.acks: list[m.AckMessage] = []
        self.c = make_client(settings_for(broker, van), f"raw-{van}-{uuid.uuid4().hex[:6]}")
        self.c.on_message = lambda _c, _u, msg: self.acks.append(m.AckMessage.parse(msg.payload))
        self.c.connect("127.0.0.1", broker.plain_port)
        self.c.loop_start()
        self.c.subscribe(m.ack_topic(van), qos=1)
        time.sleep(0.3)
        self.van = van

    def send(self, payload: bytes) -> None:
        self.c.publish(m.batch_topic(self.van), payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def dead_letters(store):
    return store.dead_letters(limit=1000)


def test_poison_goes_to_dead_letters_once_and_is_never_redelivered(broker, store):
    imp = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-p")).start()
    assert imp.ready.wait(10)
    van = RawVan(broker, "van01")
    good = m.BatchMessage.build("van01", [(i + 1, f, None) for i, f in enumerate(make_frames(3))])
    bad_frame = json.loads(good.encode())  # a deep copy, under its own batch id (a van never reuses one)
    bad_frame["items"][1]["frame"]["telegram"] = "XYZ"
    bad_frame["batch_id"] = m.new_batch_id()
    try:
        van.send(b"\x00 definitely not json")
        van.send(b"\x00 definitely not json")  # the same poison twice: one dead letter row
        van.send(json.dumps(bad_frame).encode())
        van.send(json.dumps(good.to_dict() | {"van_id": "van02"}).encode())  # forged van in the payload
        van.send(good.encode())
        wait_until(lambda: imp.metrics["received"] == 5, 15, "five messages handled")
        wait_until(lambda: len(van.acks) == 2, 10, "acks for the readable batches")
    finally:
        van.close()
        imp.stop()
    reasons = Counter(d.reason for d in dead_letters(store))
    assert reasons == {"not_json": 1, "bad_telegram": 1, "van_mismatch": 1}
    # the batch with a bad frame is stored with that frame dead-lettered on its own (the ack says so)
    assert sorted((a.status.value, a.dead_letters) for a in van.acks) == [("stored", 0), ("stored", 1)]
    assert len(stored_telegrams(store)) == 3
    # Everything was PUBACKed: a restarted importer with the same session gets nothing redelivered.
    again = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-p")).start()
    assert again.ready.wait(10)
    time.sleep(1.5)
    again.stop()
    assert again.metrics["received"] == 0
    assert len(dead_letters(store)) == 3


def test_unknown_van_is_rejected_and_keeps_its_rows(broker, store, tmp_path):
    # van03 has broker credentials but is not registered in the store
    fill_outbox(tmp_path / "v3.db", "van03", make_frames(120))
    imp = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-u")).start()
    assert imp.ready.wait(10)
    ob = Outbox(tmp_path / "v3.db", van_id="van03")
    pub = Publisher(ob, settings_for(broker, "van03"), PublisherConfig("van03", batch_size=50,
                                                                       rejected_backoff_s=60)).start()
    try:
        wait_until(lambda: pub.status()["rejected"] >= 1, 15, "a rejection")
    finally:
        pub.stop()
        imp.stop()
    assert ob.pending() == 120  # nothing deleted: the server did not keep it
    assert "unknown_van" in read_status(ob)["publisher"]["last_error"] or pub.status()["rejected"] >= 1
    assert imp.metrics["unknown_van"] >= 1 and stored_telegrams(store) == []
    ob.close()


def test_several_importers_split_the_load(broker, store, tmp_path):
    vans = {"van01": make_frames(2000), "van02": make_frames(2000, start=2000)}
    imps = [Importer(StoreSink(store), settings_for(broker, "importer"),
                     ImporterConfig(client_id=f"imp-{i}", delay_before_commit_s=0.005)).start() for i in range(3)]
    assert all(i.ready.wait(10) for i in imps)
    pubs = []
    for v, fr in vans.items():
        fill_outbox(tmp_path / f"{v}.db", v, fr)
        ob = Outbox(tmp_path / f"{v}.db", van_id=v)
        pubs.append((ob, Publisher(ob, settings_for(broker, v), PublisherConfig(v, batch_size=50, max_inflight=6)).start()))
    try:
        wait_until(lambda: all(ob.pending() == 0 for ob, _ in pubs), 60, "vans drained")
    finally:
        for _, p in pubs:
            p.stop()
        for i in imps:
            i.stop()
    stored = [i.metrics["stored"] for i in imps]
    assert sum(stored) >= 80 and all(s > 0 for s in stored), stored  # every importer took a share
    assert Counter(stored_telegrams(store)) == Counter(f.telegram for fr in vans.values() for f in fr)


def test_importer_bug_is_not_blamed_on_the_data(broker, store, tmp_path):
    """An exception we do not understand: retried, then a dead letter for the operators, and the van is
    told to keep its rows (rejected) instead of deleting them."""

    class Broken(StoreSink):
        def ingest(self, batch):
            raise RuntimeError("a bug in a new release")

    fill_outbox(tmp_path / "o.db", "van01", make_frames(50))
    imp = Importer(Broken(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-b")).start()
    assert imp.ready.wait(10)
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01"), PublisherConfig("van01", rejected_backoff_s=60)).start()
    try:
        wait_until(lambda: pub.status()["rejected"] == 1, 20, "the rejection")
    finally:
        pub.stop()
        imp.stop()
    assert ob.pending() == 50
    assert [d.reason for d in dead_letters(store)] == ["ingest_error"]
    assert "a bug in a new release" in dead_letters(store)[0].detail
    ob.close()


def test_importer_preloads_the_meter_registry(store):
    store.resolve_meters([("KAM", f"{10_000_000 + k:08d}", 0x1B, 7) for k in range(30)])
    fresh = type(store)(engine=store.engine)  # a new importer process: empty cache
    assert StoreSink(fresh).warm_up() == 30
