"""One bad frame in a van's batch is dead-lettered on its own; its neighbours reach the reading store in the
same transaction. The importer's `handle` against the real store, no broker: every test runs on SQLite and
on PostgreSQL (conftest.db_url)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from decoders.frame import Frame
from server.importer import Importer, Incoming, Outcome, StoreSink
from server.models import IngestBatch, Reading
from server.store import InvalidItem, NewDeadLetter, Store
from sync import messages as m
from tests.server.queries import count, telegrams
from tests.telegrams import water_telegram

T0 = dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)
VAN = "van01"


def frames(n: int, start: int = 0) -> list[Frame]:
    return [Frame(water_telegram(20_000_000 + k, 100_000 + 7 * k, k), T0 + dt.timedelta(seconds=k), "virtual:test", "T1")
            for k in range(start, start + n)]


def batch_doc(n: int = 3, start: int = 0, seq0: int = 1) -> dict:
    b = m.BatchMessage.build(VAN, [(seq0 + i, f, None) for i, f in enumerate(frames(n, start))])
    return json.loads(b.encode())


@pytest.fixture
def vstore(store: Store) -> Store:
    store.add_van(VAN)
    return store


def run(imp: Importer, doc: dict | bytes) -> tuple[Outcome, m.AckMessage | None]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return imp.handle(Incoming(1, 1, m.batch_topic(VAN), payload))


def test_one_bad_frame_is_dead_lettered_alone_and_its_neighbours_are_stored(vstore):
    doc = batch_doc(3)
    doc["items"][1]["frame"]["telegram"] = "XYZ"
    bad_item = copy.deepcopy(doc["items"][1])
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    outcome, ack = run(imp, doc)

    assert outcome is Outcome.STORED
    assert ack.status is m.AckStatus.STORED and ack.status.releases_rows
    assert (ack.frames, ack.dead_letters, ack.reason) == (2, 1, "bad_telegram")
    assert (ack.seq_from, ack.seq_to) == (1, 3)
    good = [f.telegram for f in frames(3)]
    assert telegrams(vstore) == sorted([good[0], good[2]])
    assert count(vstore, Reading) == 4  # two readings for each good frame: billing sees them now
    (dl,) = vstore.dead_letters()
    assert (dl.reason, dl.van_code, dl.topic) == ("bad_telegram", VAN, m.batch_topic(VAN))
    kept = json.loads(dl.payload)
    assert kept == {"schema": "amr.dead_frame", "v": 1, "van_id": VAN, "seq": 2, "item": bad_item}
    assert f"batch {doc['batch_id']} seq 2 item 1" in dl.detail
    assert imp.metrics["frames_dead_lettered"] == 1 and imp.metrics["dead_letters"] == 0
    assert imp.metrics["frames"] == 3 and imp.metrics["stored"] == 1


def test_redelivered_batch_adds_no_dead_letter_and_no_reading(vstore):
    doc = batch_doc(3)
    doc["items"][0]["frame"]["received_at"] = "9999-12-31T23:59:59-14:00"
    doc["items"][2]["frame"]["source"] = "virtual:\x00test"
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    assert run(imp, doc)[0] is Outcome.STORED
    before = (telegrams(vstore), count(vstore, Reading), sorted(d.payload for d in vstore.dead_letters()))
    assert len(before[2]) == 2  # two bad frames: two rows, never folded into one by the payload hash

    outcome, ack = run(imp, doc)  # the broker redelivers, or the van re-sends the same batch id
    assert outcome is Outcome.DUPLICATE and ack.status is m.AckStatus.DUPLICATE
    assert (telegrams(vstore), count(vstore, Reading), sorted(d.payload for d in vstore.dead_letters())) == before

    # the ack was lost and the van leased the same rows again: a new batch id, the same outbox rows
    again = copy.deepcopy(doc) | {"batch_id": m.new_batch_id()}
    outcome, ack = run(imp, again)
    assert outcome is Outcome.STORED and ack.dead_letters == 2 and ack.frames == 0
    assert (telegrams(vstore), count(vstore, Reading), sorted(d.payload for d in vstore.dead_letters())) == before
    assert sorted(d.reason for d in vstore.dead_letters()) == ["bad_frame", "bad_received_at"]


def test_batch_of_bad_frames_only_is_kept_frame_by_frame(vstore):
    doc = batch_doc(2)
    doc["items"][0]["frame"]["telegram"] = "0"
    doc["items"][1]["decode"] = {"readings": []}  # a van decode without ok: bad_decode
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    outcome, ack = run(imp, doc)
    assert outcome is Outcome.STORED and (ack.frames, ack.dead_letters) == (0, 2)
    assert ack.reason == "bad_decode,bad_telegram"
    assert telegrams(vstore) == [] and count(vstore, IngestBatch) == 1
    assert sorted((json.loads(d.payload)["seq"], d.reason) for d in vstore.dead_letters()) == [
        (1, "bad_telegram"), (2, "bad_decode")]
    assert run(imp, doc)[0] is Outcome.DUPLICATE and len(vstore.dead_letters()) == 2


def test_number_no_float_column_holds_is_a_bad_frame_not_an_importer_error(vstore):
    """A JSON integer past a double (1 followed by 400 zeros) used to fail the INSERT of the whole batch:
    three attempts, `rejected`, and the van re-sent it for ever."""
    doc = batch_doc(3)
    doc["items"][0]["frame"]["rssi_dbm"] = 10**400
    doc["items"][2]["frame"]["position"] = {"lat": 10**400, "lon": 21.0}
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    outcome, ack = run(imp, doc)
    assert outcome is Outcome.STORED and (ack.frames, ack.dead_letters, ack.reason) == (1, 2, "bad_frame")
    assert telegrams(vstore) == [frames(3)[1].telegram]


def test_frame_the_store_refuses_alone_is_dead_lettered_alone(vstore):
    """The store's own per-item refusal (InvalidItem) for a batch that did not come through the wire parser."""
    fs = frames(3)
    odd = Frame(fs[1].telegram, fs[1].received_at, fs[1].source, rssi_dbm=10**400)  # type: ignore[arg-type]
    batch = m.BatchMessage.build(VAN, [(1, fs[0], None), (2, fs[1], None), (3, fs[2], None)])
    items = list(batch.items)
    items[1] = m.BatchItem(2, items[1].frame, None, parsed=odd)
    batch = m.BatchMessage(VAN, batch.batch_id, 1, 3, tuple(items))
    res = StoreSink(vstore).ingest(batch)
    assert not res.duplicate and res.telegrams_new == 2 and res.dead_frames == ((2, "invalid_input"),)
    (dl,) = vstore.dead_letters()
    assert dl.reason == "invalid_input" and "rssi_dbm" in dl.detail and "seq 2 item 1" in dl.detail
    assert json.loads(dl.payload)["item"]["seq"] == 2
    assert telegrams(vstore) == sorted([fs[0].telegram, fs[2].telegram])


def test_store_writes_a_batch_and_its_dead_letters_together_or_not_at_all(vstore, monkeypatch):
    letter = NewDeadLetter(b'{"seq":2}', "bad_telegram", "batch x seq 2", VAN, m.batch_topic(VAN))
    bid = str(uuid.uuid4())

    def broken(*a, **k):
        raise sa_exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as mp:
        mp.setattr(vstore, "_ingest", broken)
        with pytest.raises(sa_exc.OperationalError):
            vstore.ingest_batch(VAN, bid, [(frames(1)[0], None)], dead_letters=[letter])
    assert vstore.dead_letters() == [] and count(vstore, IngestBatch) == 0  # rolled back together

    r = vstore.ingest_batch(VAN, bid, [(frames(1)[0], None)], dead_letters=[letter])
    assert (r.replayed, r.telegrams_new, r.dead_letters_new) == (False, 1, 1)
    r = vstore.ingest_batch(VAN, bid, [(frames(1)[0], None)], dead_letters=[letter])
    assert r.replayed and r.dead_letters_new == 0 and len(vstore.dead_letters()) == 1
    with vstore.engine.connect() as c:
        assert c.execute(select(IngestBatch.frames)).scalar_one() == 2  # one stored, one dead-lettered


def test_store_names_the_item_it_cannot_hold(vstore):
    fs = frames(3)
    odd = Frame(fs[2].telegram, fs[2].received_at, fs[2].source, rssi_dbm=10**400)  # type: ignore[arg-type]
    with pytest.raises(InvalidItem) as e:
        vstore.ingest_batch(VAN, str(uuid.uuid4()), [(fs[0], None), (fs[1], None), (odd, None)])
    assert e.value.index == 2
    assert count(vstore, IngestBatch) == 0 and telegrams(vstore) == []


def test_transient_failure_retries_the_whole_batch_then_stores_it(vstore, monkeypatch):
    doc = batch_doc(3)
    doc["items"][1]["frame"]["telegram"] = "XYZ"
    real = vstore.ingest_batch
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise sa_exc.OperationalError("COMMIT", {}, Exception("the database system is shutting down"))
        return real(*a, **k)

    monkeypatch.setattr(vstore, "ingest_batch", flaky)
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    w = Incoming(1, 1, m.batch_topic(VAN), json.dumps(doc).encode())
    assert imp.handle(w) == (Outcome.RETRY, None)
    assert vstore.dead_letters() == [] and telegrams(vstore) == []  # nothing kept from the failed attempt
    outcome, ack = imp.handle(w)
    assert outcome is Outcome.STORED and (ack.frames, ack.dead_letters) == (2, 1)
    assert len(vstore.dead_letters()) == 1 and imp.metrics["db_retries"] == 1


def test_unexpected_error_keeps_todays_whole_batch_behaviour(vstore):
    class Broken(StoreSink):
        def ingest(self, batch):
            raise RuntimeError("a bug in a new release")

    doc = batch_doc(3)
    doc["items"][1]["frame"]["telegram"] = "XYZ"
    payload = json.dumps(doc).encode()
    imp = Importer(Broken(vstore), broker=None)  # type: ignore[arg-type]
    w = Incoming(1, 1, m.batch_topic(VAN), payload)
    assert imp.handle(w)[0] is Outcome.RETRY and imp.handle(w)[0] is Outcome.RETRY
    outcome, ack = imp.handle(w)
    assert outcome is Outcome.DEAD_LETTER and ack.status is m.AckStatus.REJECTED
    assert [(d.reason, d.payload) for d in vstore.dead_letters()] == [("ingest_error", payload)]


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d["items"][1].__setitem__("seq", 99), "bad_item_seq"),
    (lambda d: d["items"].__setitem__(1, "not an item"), "bad_item"),
    (lambda d: d.__setitem__("count", 5), "count_mismatch"),
    (lambda d: d.__setitem__("batch_id", "nope"), "bad_batch_id"),
])
def test_bad_envelope_is_still_one_whole_dead_letter(vstore, mutate, reason):
    doc = batch_doc(3)
    mutate(doc)
    payload = json.dumps(doc).encode()
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    outcome, _ = run(imp, payload)
    assert outcome is Outcome.DEAD_LETTER
    assert [(d.reason, d.payload) for d in vstore.dead_letters()] == [(reason, payload)]
    assert telegrams(vstore) == [] and count(vstore, IngestBatch) == 0


def test_item_too_deep_to_keep_alone_keeps_the_whole_batch(vstore):
    doc = batch_doc(2)
    payload = json.dumps(doc, separators=(",", ":")).encode()
    assert payload.count(b'"decode":null}]') == 1
    # the parser reads it (a bad_decode item), but its wrapper is past json's nesting limit to write out again
    deep = b"[" * 1000 + b"]" * 1000
    payload = payload.replace(b'"decode":null}]', b'"decode":' + deep + b"}]")
    assert m.decode(payload)
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    outcome, ack = run(imp, payload)
    assert outcome is Outcome.DEAD_LETTER and ack.status is m.AckStatus.DEAD_LETTER
    assert [(d.reason, d.payload) for d in vstore.dead_letters()] == [("bad_item", payload)]


def test_many_bad_frames_in_one_batch_are_each_kept_once(vstore):
    """More bad frames than the store's COPY threshold (PostgreSQL bulk path) in one batch: a van bug that
    damages every frame must still leave one row per frame, and the good ones stored."""
    doc = batch_doc(150)
    for k, it in enumerate(doc["items"]):
        if k % 10:
            it["frame"]["received_at"] = f"0001-01-01T00:00:{k % 60:02d}+14:00"
    imp = Importer(StoreSink(vstore), broker=None)  # type: ignore[arg-type]
    outcome, ack = run(imp, doc)
    assert outcome is Outcome.STORED and (ack.frames, ack.dead_letters) == (15, 135)
    dead = vstore.dead_letters(limit=1000)
    assert sorted(json.loads(d.payload)["seq"] for d in dead) == [k + 1 for k in range(150) if k % 10]
    assert {d.reason for d in dead} == {"bad_received_at"}
    assert run(imp, doc)[0] is Outcome.DUPLICATE and len(vstore.dead_letters(limit=1000)) == 135
    assert len(telegrams(vstore)) == 15
