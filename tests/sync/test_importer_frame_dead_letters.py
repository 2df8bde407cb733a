"""A van whose outbox holds one damaged frame, through real Mosquitto and PostgreSQL: the van's own publisher
gets a `stored` ack (and drops every row: nothing is lost), the good frames reach the store, the damaged one is
one dead letter, and a redelivery of the same batch adds nothing."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from server.importer import Importer, ImporterConfig, StoreSink
from sync import messages as m
from sync.mqttconf import make_client
from sync.outbox import Outbox
from sync.publisher import Publisher, PublisherConfig

from .conftest import fill_outbox, make_frames, settings_for, stored_readings, stored_telegrams, wait_until
from .test_importer import RawVan

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]


def test_van_with_one_damaged_frame_loses_nothing(broker, store, tmp_path):
    frames = make_frames(40)
    path = tmp_path / "van01.outbox"
    seqs = fill_outbox(path, "van01", frames)
    bad_seq = seqs[17]
    with sqlite3.connect(path) as db:  # the damage: a frame whose time is off the calendar
        fr = json.loads(db.execute("SELECT frame FROM outbox WHERE seq=?", (bad_seq,)).fetchone()[0])
        fr["received_at"] = "9999-12-31T23:59:59-14:00"
        db.execute("UPDATE outbox SET frame=? WHERE seq=?", (json.dumps(fr), bad_seq))

    acks: list[m.AckMessage] = []
    imp = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-f"),
                   on_ack=acks.append).start()
    assert imp.ready.wait(10)
    sent: list[bytes] = []  # a copy of every batch as the van published it
    sniffer = make_client(settings_for(broker, "importer"), "sniffer")
    sniffer.on_message = lambda _c, _u, msg: sent.append(msg.payload)
    sniffer.connect("127.0.0.1", broker.plain_port)
    sniffer.loop_start()
    sniffer.subscribe(m.batch_topic("van01"), qos=1)
    time.sleep(0.3)
    ob = Outbox(path, van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01"), PublisherConfig("van01", batch_size=20)).start()
    try:
        wait_until(lambda: ob.pending() == 0, 30, "outbox drained")
        st = pub.status()
        assert st["rows_acked"] == 40 and st["batches_acked"] == 2 and st["rejected"] == 0
        assert st["rows_dead_lettered"] == 1 and "dead letters" in st["last_error"]
    finally:
        pub.stop()
        ob.close()

    good = [f.telegram for i, f in enumerate(frames) if seqs[i] != bad_seq]
    assert sorted(stored_telegrams(store)) == sorted(good)
    assert len(set(stored_readings(store))) == 2 * 39
    (dl,) = store.dead_letters()
    kept = json.loads(dl.payload)
    assert (dl.reason, kept["seq"], kept["item"]["frame"]) == ("bad_received_at", bad_seq, fr)
    assert sorted((a.status.value, a.dead_letters, a.frames) for a in acks) == [("stored", 0, 20), ("stored", 1, 19)]
    assert imp.metrics["frames_dead_lettered"] == 1 and imp.metrics["dead_letters"] == 0
    assert imp.metrics["frames"] == 40

    # The broker (or a van that missed the ack) delivers the damaged batch again: a duplicate, nothing new.
    wait_until(lambda: len(sent) == 2, 5, "the sniffed batches")
    sniffer.loop_stop()
    sniffer.disconnect()
    bad_ack = next(a for a in acks if a.dead_letters)
    (payload,) = [p for p in sent if m.BatchMessage.parse(p, isolate_bad_items=True).batch_id == bad_ack.batch_id]
    van = RawVan(broker, "van01")
    try:
        van.send(payload)
        wait_until(lambda: imp.metrics["duplicates"] == 1, 10, "the redelivery handled")
        wait_until(lambda: len(van.acks) == 1, 10, "its ack")
    finally:
        van.close()
        imp.stop()
    assert van.acks[0].status is m.AckStatus.DUPLICATE
    assert len(store.dead_letters()) == 1 and sorted(stored_telegrams(store)) == sorted(good)
