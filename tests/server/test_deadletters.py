"""`amr deadletters`: review dead letters and replay them through the importer's own path once the cause is
fixed (server/deadletters.py). The dead letters are made by the real importer (`Importer.handle` with its
StoreSink, no broker) wherever today's importer still writes them; every test runs on SQLite and on
PostgreSQL (conftest.db_url)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from decoders.frame import Frame
from server import deadletters as dlm
from server.cli import deadletters as cli
from server.importer import Importer, Incoming, Outcome, StoreSink
from server.models import DeadLetter, IngestBatch, Reading
from server.store import Store
from sync import messages as m
from tests.server.queries import count, telegrams
from tests.telegrams import water_telegram

T0 = dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)
VAN = "van01"
TOPIC = m.batch_topic(VAN)


def frames(n: int, start: int = 0) -> list[Frame]:
    return [Frame(water_telegram(30_000_000 + k, 200_000 + 11 * k, k), T0 + dt.timedelta(seconds=k), "virtual:test", "T1")
            for k in range(start, start + n)]


def batch_doc(n: int = 3, start: int = 0, seq0: int = 1, van: str = VAN) -> dict:
    b = m.BatchMessage.build(van, [(seq0 + i, f, None) for i, f in enumerate(frames(n, start))])
    return json.loads(b.encode())


def run(store: Store, doc: dict | bytes, sink=None) -> tuple[Outcome, m.AckMessage | None]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    imp = Importer(sink or StoreSink(store), broker=None)  # type: ignore[arg-type]
    w = Incoming(1, 1, TOPIC, payload)
    while True:
        outcome, ack = imp.handle(w)
        if outcome is not Outcome.RETRY:
            return outcome, ack


def snapshot(store: Store) -> tuple:
    with store.engine.connect() as c:
        dls = sorted(tuple(r) for r in c.execute(select(DeadLetter.__table__)))
        batches = sorted(str(r[0]) for r in c.execute(select(IngestBatch.batch_id)))
    return telegrams(store), count(store, Reading), batches, dls


def replay(store: Store, ids=None, **kw) -> list[dlm.Replay]:
    return list(dlm.replay(store, ids, **kw))


@pytest.fixture
def vstore(store: Store) -> Store:
    store.add_van(VAN)
    return store


# ------------------------------------------------------------------------------------ replays


def test_frame_dead_lettered_by_a_bug_replays_into_readings_once_fixed(vstore, monkeypatch):
    """A frame the importer set aside alone (here: a parser bug on seq 2) reaches the store by replay once the
    bug is fixed; its neighbours were stored at once and are not touched; a second replay stores nothing."""
    real = m._parse_item

    def buggy(it, n, seq):
        if seq == 2:
            raise m.MessageError("bad_frame", "simulated parser bug")
        return real(it, n, seq)

    doc = batch_doc(3)
    with monkeypatch.context() as mp:
        mp.setattr(m, "_parse_item", buggy)
        outcome, ack = run(vstore, doc)
        assert outcome is Outcome.STORED and ack.dead_letters == 1
        (r,) = replay(vstore)                     # the bug is still deployed: still bad, stays open
        assert (r.status, r.reason, r.kind) == ("still_bad", "bad_frame", "frame")
    fs = frames(3)
    assert telegrams(vstore) == sorted([fs[0].telegram, fs[2].telegram]) and count(vstore, Reading) == 4
    (dl,) = vstore.dead_letters()
    assert dl.open and dl.reason == "bad_frame" and "simulated parser bug" in dl.last_replay
    batches_before = count(vstore, IngestBatch)

    (r,) = replay(vstore)                         # fixed
    assert (r.status, r.kind) == ("stored", "frame")
    assert telegrams(vstore) == sorted(f.telegram for f in fs) and count(vstore, Reading) == 6
    (dl,) = vstore.dead_letters()
    assert not dl.open and dl.resolution == "stored" and dl.resolved_at is not None
    assert dl.last_replay.startswith("replayed: 1 frame(s)") and "2 new reading(s)" in dl.last_replay
    assert dl.reason == "bad_frame"  # why it was kept stays on the record
    assert count(vstore, IngestBatch) == batches_before + 1  # the frame's own batch, nothing for the still-bad try

    after = snapshot(vstore)
    assert replay(vstore) == []                   # nothing open
    (r,) = replay(vstore, [dl.id])                # asked for by id: skipped, already resolved
    assert r.skipped and "already resolved (stored)" in r.note
    assert snapshot(vstore) == after
    # even forced through again (a concurrent replay that read the row while open), nothing is stored twice
    r = dlm.replay_one(vstore, dataclasses.replace(dl, resolved_at=None, resolution=None))
    assert r.skipped and "resolved meanwhile" in r.note and r.status == "duplicate"
    assert snapshot(vstore) == after


def test_unsupported_version_batch_replays_after_the_upgrade(vstore, monkeypatch):
    """A whole batch kept for a schema version this server did not read (as an importer with the version check
    before the topic kept it) stays open until the server reads that version, then is stored as the batch."""
    doc = batch_doc(3) | {"v": 2}
    payload = json.dumps(doc).encode()
    assert vstore.add_dead_letter(payload, "unsupported_version", "2", van=VAN, topic=TOPIC)
    bad = json.dumps(batch_doc(2, start=10) | {"v": 3}).encode()
    assert vstore.add_dead_letter(bad, "unsupported_version", "3", van=VAN, topic=TOPIC)

    rs = replay(vstore)
    assert [(r.status, r.reason) for r in rs] == [("still_bad", "unsupported_version")] * 2
    assert telegrams(vstore) == []

    monkeypatch.setattr(m, "SCHEMA_VERSION", 2)   # the server upgrade: reads v2 now
    r = CliRunner().invoke(cli, ["replay", "--db", vstore.url])
    assert r.exit_code == 1, r.output             # one still open (v3)
    first, second = sorted(vstore.dead_letters(), key=lambda d: d.id)
    assert first.resolution == "stored" and f"as batch {doc['batch_id']}" in first.last_replay
    assert second.open and second.last_replay == "still bad: unsupported_version"
    assert telegrams(vstore) == sorted(f.telegram for f in frames(3)) and count(vstore, Reading) == 6
    with vstore.engine.connect() as c:  # stored as that batch: the van's batch id
        assert [str(b) for b in c.execute(select(IngestBatch.batch_id)).scalars()] == [doc["batch_id"]]
    assert "1 stored" in r.output and "1 still bad" in r.output


class _StaleVanCache(StoreSink):
    """An importer that still believes in a van another process deleted (the store then refuses the batch):
    the one way today's importer keeps a batch as an `unknown_van` dead letter."""

    def van_known(self, van_code: str) -> bool:
        return True


def test_unknown_van_batch_replays_after_the_van_is_registered(store):
    doc = batch_doc(3)
    outcome, ack = run(store, doc, sink=_StaleVanCache(store))
    assert outcome is Outcome.DEAD_LETTER and ack.status is m.AckStatus.DEAD_LETTER  # the van dropped its rows
    (dl,) = store.dead_letters()
    assert dl.reason == "unknown_van"

    (r,) = replay(store)
    assert (r.status, r.reason, r.kind) == ("still_bad", "unknown_van", "batch")
    assert store.dead_letter(dl.id).open and telegrams(store) == []

    store.add_van(VAN)
    (r,) = replay(store)
    assert r.status == "stored"
    assert telegrams(store) == sorted(f.telegram for f in frames(3)) and count(store, Reading) == 6
    assert store.dead_letter(dl.id).resolution == "stored"


def test_ingest_error_batch_the_van_resent_resolves_as_duplicate(vstore, monkeypatch):
    """`ingest_error` answers `rejected`: the van keeps its rows and re-sends them, under the same batch id or
    a new one. Once that re-send is stored, the replay finds everything there and stores nothing twice."""
    doc = batch_doc(3)

    def broken(*a, **k):
        raise RuntimeError("a bug in the store")

    with monkeypatch.context() as mp:
        mp.setattr(vstore, "ingest_batch", broken)
        outcome, ack = run(vstore, doc)
        assert outcome is Outcome.DEAD_LETTER and ack.status is m.AckStatus.REJECTED and ack.reason == "ingest_error"
        (r,) = replay(vstore)  # the bug not yet fixed: three tries as in `amr serve`, then still bad
        assert (r.status, r.reason) == ("still_bad", "ingest_error") and "a bug in the store" in r.note
    first = vstore.dead_letters()[0]
    assert first.open and first.last_replay.startswith("still bad: ingest_error")

    assert run(vstore, doc)[0] is Outcome.STORED   # the fixed server takes the van's re-send
    before = snapshot(vstore)
    (r,) = replay(vstore)
    assert r.status == "duplicate" and "was stored before" in r.note
    assert vstore.dead_letter(first.id).resolution == "duplicate"
    assert snapshot(vstore)[:3] == before[:3]

    # the same rows re-sent under a new batch id before the replay: a new batch row, nothing else new
    doc2 = batch_doc(2, start=5)
    with monkeypatch.context() as mp:
        mp.setattr(vstore, "ingest_batch", broken)
        run(vstore, doc2)
    assert run(vstore, doc2 | {"batch_id": m.new_batch_id()})[0] is Outcome.STORED
    tel, readings = telegrams(vstore), count(vstore, Reading)
    (r,) = replay(vstore)
    assert r.status == "duplicate" and "0 new telegram(s), 0 new reading(s)" in r.note
    assert (telegrams(vstore), count(vstore, Reading)) == (tel, readings)


def test_whole_batch_replay_keeps_its_still_bad_frames_one_by_one(vstore, monkeypatch):
    """A whole batch replayed is handled as the importer handles a batch: a bad frame in it becomes a dead
    letter of its own, the rest is stored, and the batch's row is resolved."""
    doc = batch_doc(3)
    doc["items"][1]["frame"]["telegram"] = "XYZ"
    monkeypatch.setattr(m, "SCHEMA_VERSION", 2)  # keep it first as a whole (an old importer's version check)
    assert vstore.add_dead_letter(json.dumps(doc | {"v": 3}).encode(), "unsupported_version", "3", van=VAN,
                                  topic=TOPIC)
    monkeypatch.setattr(m, "SCHEMA_VERSION", 3)
    (r,) = replay(vstore)
    assert r.status == "stored" and "1 frame(s) kept as dead letters of their own (bad_telegram)" in r.note
    assert len(telegrams(vstore)) == 2
    whole, frame = sorted(vstore.dead_letters(), key=lambda d: d.id)
    assert whole.resolution == "stored" and frame.open and frame.reason == "bad_telegram"
    assert json.loads(frame.payload)["seq"] == 2


def test_still_bad_frame_stays_open_and_writes_nothing(vstore):
    doc = batch_doc(2)
    doc["items"][0]["frame"]["telegram"] = "XYZ"
    assert run(vstore, doc)[0] is Outcome.STORED
    not_json = b"\xff\x00 not a message"
    vstore.add_dead_letter(not_json, "not_json", "x", van=None, topic="amr/v1/van01/batches")
    before = snapshot(vstore)
    rs = replay(vstore)
    assert [(r.status, r.reason, r.kind) for r in rs] == [("still_bad", "bad_telegram", "frame"),
                                                           ("still_bad", "not_json", "batch")]
    after = snapshot(vstore)
    assert after[:3] == before[:3]  # no telegram, reading or batch row (a later fix must not look like a duplicate)
    for d in vstore.dead_letters():
        assert d.open and d.last_replay.startswith("still bad: ") and d.last_replay_at is not None
    assert sorted(d.reason for d in vstore.dead_letters()) == ["bad_telegram", "not_json"]  # reasons kept


def test_dry_run_changes_nothing(vstore, monkeypatch):
    doc = batch_doc(3)
    doc["items"][2]["frame"]["telegram"] = "XYZ"
    vstore.add_dead_letter(json.dumps(doc | {"v": 2}).encode(), "unsupported_version", "2", van=VAN, topic=TOPIC)
    other = batch_doc(2, start=20, seq0=10)
    other["items"][1]["decode"] = 7
    assert run(vstore, other)[0] is Outcome.STORED
    monkeypatch.setattr(m, "SCHEMA_VERSION", 2)
    before = snapshot(vstore)
    rs = replay(vstore, dry_run=True)
    assert [(r.status, r.dry_run) for r in rs] == [("stored", True), ("still_bad", True)]
    assert "would store 2 frame(s)" in rs[0].note and "would be kept" in rs[0].note
    r = CliRunner().invoke(cli, ["replay", "--dry-run", "--db", vstore.url])
    assert r.exit_code == 1 and "would be stored" in r.output and "nothing written" in r.output
    assert snapshot(vstore) == before

    rs = replay(vstore)  # the real run does what the dry run said
    assert [r.status for r in rs] == ["stored", "still_bad"]


def test_replay_selects_by_id_reason_and_van(vstore, monkeypatch):
    monkeypatch.setattr(m, "SCHEMA_VERSION", 1)
    a = json.dumps(batch_doc(1, start=40) | {"v": 2}).encode()
    b = json.dumps(batch_doc(1, start=41) | {"v": 2}).encode()
    vstore.add_dead_letter(a, "unsupported_version", "", van=VAN, topic=TOPIC)
    vstore.add_dead_letter(b, "bad_json_in_old_importer", "", van=VAN, topic=TOPIC)
    ida, idb = sorted(d.id for d in vstore.dead_letters())
    monkeypatch.setattr(m, "SCHEMA_VERSION", 2)
    assert [r.id for r in replay(vstore, reason="bad_json_in_old_importer")] == [idb]
    assert replay(vstore, van="other") == []
    assert [r.id for r in replay(vstore, [ida, idb])] == [ida, idb]
    assert [r.skipped for r in replay(vstore, [ida, idb])] == [True, True]
    with pytest.raises(KeyError):
        replay(vstore, [ida, 999_999])
    r = CliRunner().invoke(cli, ["replay", "--db", vstore.url, "999999"])
    assert r.exit_code == 2 and "no dead letter 999999" in r.output


def test_database_down_stops_the_replay_and_changes_nothing(vstore, monkeypatch):
    from sqlalchemy import exc as sa_exc

    vstore.add_dead_letter(json.dumps(batch_doc(2)).encode(), "ingest_error", "RuntimeError", van=VAN, topic=TOPIC)
    before = snapshot(vstore)

    def down(*a, **k):
        raise sa_exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(vstore, "ingest_batch", down)
    with pytest.raises(dlm.ReplayAborted):
        replay(vstore)
    assert snapshot(vstore) == before


# ------------------------------------------------------------------------------------ list / show


def test_list_and_show(vstore):
    doc = batch_doc(2)
    doc["items"][1]["frame"]["telegram"] = "XYZ"
    run(vstore, doc)
    forged = {"schema": "amr.batch", "v": 1, "van_id": VAN, "aes_key": "00112233445566778899AABBCCDDEEFF",
              "items": [{"seq": 1, "decode": {"key": "FFEEDDCCBBAA99887766554433221100", "ok": True}}]}
    vstore.add_dead_letter(json.dumps(forged).encode(), "bad_batch_id", "None", van=VAN, topic=TOPIC)
    vstore.add_dead_letter(bytes(range(40)), "not_json", "garbage", van=None, topic="amr/v1/x/batches")
    frame_id, forged_id, raw_id = sorted(d.id for d in vstore.dead_letters())
    runner = CliRunner()

    r = runner.invoke(cli, ["list", "--db", vstore.url])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == 4 and lines[0].split()[:6] == ["id", "received_at", "van", "reason", "size", "status"]
    assert "bad_telegram" in lines[1] and "open" in lines[1] and f"batch {doc['batch_id']}" in lines[1]
    r = runner.invoke(cli, ["list", "--db", vstore.url, "--reason", "not_json", "--format", "json"])
    (row,) = json.loads(r.output)
    assert (row["id"], row["size"], row["status"], row["van"]) == (raw_id, 40, "open", None)
    r = runner.invoke(cli, ["list", "--db", vstore.url, "--van", VAN, "--format", "json"])
    assert [x["id"] for x in json.loads(r.output)] == [frame_id, forged_id]

    vstore.resolve_dead_letter(raw_id, "stored", "by hand")
    r = runner.invoke(cli, ["list", "--db", vstore.url, "--format", "json"])
    assert raw_id not in [x["id"] for x in json.loads(r.output)]
    r = runner.invoke(cli, ["list", "--db", vstore.url, "--all", "--format", "json"])
    assert [x["status"] for x in json.loads(r.output) if x["id"] == raw_id] == ["resolved"]

    r = runner.invoke(cli, ["show", "--db", vstore.url, str(frame_id)])
    assert r.exit_code == 0 and '"schema": "amr.dead_frame"' in r.output and '"telegram": "XYZ"' in r.output
    assert "json" in r.output and "status:         open" in r.output
    r = runner.invoke(cli, ["show", "--db", vstore.url, str(forged_id)])
    assert r.exit_code == 0 and r.output.count(dlm.REDACTED) == 2
    assert "00112233445566778899" not in r.output and "FFEEDDCCBBAA9988" not in r.output
    r = runner.invoke(cli, ["show", "--db", vstore.url, str(raw_id)])
    assert "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" in r.output and "resolved:stored" in r.output
    r = runner.invoke(cli, ["show", "--db", vstore.url, "424242"])
    assert r.exit_code == 2 and "no dead letter 424242" in r.output


def test_uuid5_batch_id_is_the_payload_hashs():
    """A frame's replay batch id is stable per payload (the second replay is the same batch) and differs
    between frames."""
    a = dlm._frame_message(b'{"schema":"amr.dead_frame","v":1,"van_id":"v","seq":1,"item":{}}', b"\x00" * 32)
    b = dlm._frame_message(b'{"schema":"amr.dead_frame","v":1,"van_id":"v","seq":1,"item":{}}', b"\x01" * 32)
    assert a is not None and b is not None
    ida, idb = (json.loads(x[1])["batch_id"] for x in (a, b))
    assert ida != idb and uuid.UUID(ida).version == 5
    assert dlm._frame_message(b'{"schema":"amr.batch"}', b"\x00" * 32) is None


def test_cli_says_when_the_database_is_unreachable():
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    for args in (["list"], ["show", "1"], ["replay"]):
        r = CliRunner().invoke(cli, [*args, "--db", url])
        assert r.exit_code == 2 and "error: database unavailable" in r.output, (args, r.output)


def test_frame_repaired_by_hand_is_replayed_from_the_corrected_payload(vstore, tmp_path):
    doc = batch_doc(2)
    good_hex = doc["items"][1]["frame"]["telegram"]
    doc["items"][1]["frame"]["telegram"] = good_hex[:-2] + "ZZ"   # a corrupted byte, repairable by hand
    assert run(vstore, doc)[0] is Outcome.STORED
    (dl,) = vstore.dead_letters()
    runner = CliRunner()
    r = runner.invoke(cli, ["show", "--db", vstore.url, "--raw", str(dl.id)])
    assert r.exit_code == 0 and r.stdout_bytes == dl.payload

    fixed = json.loads(r.stdout_bytes)
    forged = json.loads(r.stdout_bytes) | {"van_id": "van02"}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    r = runner.invoke(cli, ["replay", "--db", vstore.url, str(dl.id), "--payload", str(tmp_path / "forged.json")])
    assert r.exit_code == 1 and "still bad" in r.output and "van_mismatch" in r.output  # the row's van only
    assert vstore.dead_letter(dl.id).open and len(telegrams(vstore)) == 1

    fixed["item"]["frame"]["telegram"] = good_hex
    (tmp_path / "fixed.json").write_text(json.dumps(fixed))
    r = runner.invoke(cli, ["replay", "--db", vstore.url, str(dl.id), str(dl.id + 1), "--payload",
                            str(tmp_path / "fixed.json")])
    assert r.exit_code == 2 and "exactly one" in r.output
    r = runner.invoke(cli, ["replay", "--db", vstore.url, str(dl.id), "--payload", str(tmp_path / "fixed.json")])
    assert r.exit_code == 0, r.output
    assert telegrams(vstore) == sorted(f.telegram for f in frames(2)) and count(vstore, Reading) == 4
    d = vstore.dead_letter(dl.id)
    assert d.resolution == "repaired" and d.payload == dl.payload  # what the van sent is kept as it came
    assert hashlib.sha256((tmp_path / "fixed.json").read_bytes()).hexdigest() in d.last_replay
    r = runner.invoke(cli, ["replay", "--db", vstore.url, str(dl.id), "--payload", str(tmp_path / "fixed.json")])
    assert r.exit_code == 0 and "skipped" in r.output and count(vstore, Reading) == 4


def test_compressed_batch_is_shown_and_replayed(vstore, monkeypatch):
    doc = batch_doc(2, start=60) | {"v": 2}
    vstore.add_dead_letter(m.encode(doc, compress=True), "unsupported_version", "2", van=VAN, topic=TOPIC)
    (dl,) = vstore.dead_letters()
    r = CliRunner().invoke(cli, ["show", "--db", vstore.url, str(dl.id)])
    assert r.exit_code == 0 and "json (zlib)" in r.output and f'"batch_id": "{doc["batch_id"]}"' in r.output
    monkeypatch.setattr(m, "SCHEMA_VERSION", 2)
    (rep,) = replay(vstore)
    assert rep.status == "stored" and telegrams(vstore) == sorted(f.telegram for f in frames(2, start=60))


def test_discard_closes_worthless_dead_letters_and_keeps_them(vstore):
    """An operator closes junk by hand: it leaves `list` and `replay` (whose exit status no longer says
    something is open), the payload and the note stay; a second discard says it was resolved already."""
    junk = b"not json at all"
    assert vstore.add_dead_letter(junk, "not_json", "", van=VAN, topic=TOPIC)
    assert vstore.add_dead_letter(b"{}", "bad_schema", "", van=VAN, topic=TOPIC)
    first, second = sorted(vstore.dead_letters(), key=lambda d: d.id)
    runner = CliRunner()
    assert runner.invoke(cli, ["replay", "--db", vstore.url]).exit_code == 1
    r = runner.invoke(cli, ["discard", "--db", vstore.url, str(first.id), "--note", "  test van   noise - JK "])
    assert r.exit_code == 0 and "discarded" in r.output, r.output
    d = vstore.dead_letter(first.id)
    assert not d.open and d.resolution == "discarded" and d.last_replay == "discarded: test van noise - JK"
    assert d.payload == junk                                  # nothing deleted
    listed = json.loads(runner.invoke(cli, ["list", "--db", vstore.url, "--format", "json"]).output)
    assert [x["id"] for x in listed] == [second.id]
    r = runner.invoke(cli, ["discard", "--db", vstore.url, str(first.id), str(second.id), "--note", "x"])
    assert r.exit_code == 1 and "already resolved:discarded" in r.output and f"{second.id:>6}  discarded" in r.output
    assert runner.invoke(cli, ["replay", "--db", vstore.url]).exit_code == 0   # nothing open is left
    r = runner.invoke(cli, ["discard", "--db", vstore.url, "424242", "--note", "x"])
    assert r.exit_code == 2 and "no dead letter 424242" in r.output
    assert runner.invoke(cli, ["discard", "--db", vstore.url, str(second.id), "--note", "  "]).exit_code == 2
