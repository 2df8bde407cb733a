"""The outbox contract (Telegraf's shared buffer suite idea): every configuration runs the same tests.

`reopen` variants close and reopen the file between steps, so everything asserted is what is on disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from sync.outbox import Batch, Outbox, OutboxFull, OutboxItem, Touch, UnknownBatch, transmission_key


def items(make_frame, n, start=0, **kw):
    return [OutboxItem.from_result(make_frame(start + i, **kw), None) for i in range(n)]


class OutboxContract:
    synchronous = "FULL"
    reopen_between = False

    @pytest.fixture
    def ob(self, tmp_path):
        self._path = tmp_path / "outbox.db"
        box = Outbox(self._path, van_id="van-7", synchronous=self.synchronous)
        self._box = box
        yield box
        self._box.close()

    def again(self, ob):
        """The outbox as the next step sees it (reopened from disk in the reopen variants)."""
        if not self.reopen_between:
            return ob
        ob.close()
        self._box = Outbox(self._path, synchronous=self.synchronous, release_stale=False)
        return self._box

    def test_append_returns_increasing_seqs(self, ob, make_frame):
        seqs = ob.append(items(make_frame, 5))
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        ob = self.again(ob)
        assert ob.seqs() == seqs
        assert ob.pending() == 5

    def test_empty_append_is_noop(self, ob):
        assert ob.append([]) == []
        assert ob.pending() == 0

    def test_rows_keep_frame_and_outcome(self, ob, make_frame):
        f = make_frame(3, rssi=-71.5)
        it = OutboxItem(f, {"ok": False, "reason": "NO_KEY", "detail": "x", "identity": None}, transmission_key(f))
        [seq] = ob.append([it])
        ob = self.again(ob)
        row = ob.get(seq)
        assert row.frame == f
        assert row.outcome["reason"] == "NO_KEY"
        assert row.kind == "rejected"
        assert row.best_rssi == -71.5
        json.dumps(row.to_dict())

    def test_same_key_merges_not_duplicates(self, ob, make_frame):
        [a] = ob.append(items(make_frame, 1, rssi=-90.0))
        [b] = ob.append(items(make_frame, 1, rssi=-60.0))
        assert a == b
        ob = self.again(ob)
        row = ob.get(a)
        assert row.times_heard == 2 and row.best_rssi == -60.0
        assert ob.pending() == 1

    def test_touch_updates_existing_never_inserts(self, ob, make_frame):
        [s] = ob.append(items(make_frame, 1, rssi=-90.0))
        f = make_frame(0)
        assert ob.touch([Touch(transmission_key(f), 3, -55.0)]) == 1
        assert ob.touch([Touch(b"\0" * 16, 1, -10.0)]) == 0
        ob = self.again(ob)
        assert ob.get(s).times_heard == 4 and ob.get(s).best_rssi == -55.0
        assert ob.pending() == 1

    def test_seqs_never_reused_after_ack(self, ob, make_frame):
        first = ob.append(items(make_frame, 3))
        b = ob.lease(10)
        ob.ack(b.batch_id)
        ob = self.again(ob)
        later = ob.append(items(make_frame, 3, start=100))
        assert min(later) > max(first)

    def test_merges_leave_no_seq_gaps(self, ob, make_frame):
        ob.append(items(make_frame, 2))
        ob.append(items(make_frame, 2))  # both merge
        [s] = ob.append(items(make_frame, 1, start=50))
        assert s == 3

    def test_lease_oldest_first_and_exclusive(self, ob, make_frame):
        seqs = ob.append(items(make_frame, 10))
        b1 = ob.lease(4)
        b2 = ob.lease(4)
        assert b1.seqs == seqs[:4] and b2.seqs == seqs[4:8]
        assert b1.batch_id != b2.batch_id
        assert ob.stats().in_flight == 8
        ob = self.again(ob)
        b3 = ob.lease(100)
        assert b3.seqs == seqs[8:]
        assert ob.lease(5) is None

    def test_lease_nothing_pending(self, ob):
        assert ob.lease(10) is None
        with pytest.raises(ValueError):
            ob.lease(0)

    def test_ack_deletes_only_that_batch(self, ob, make_frame):
        seqs = ob.append(items(make_frame, 6))
        _b1, b2 = ob.lease(3), ob.lease(3)
        assert ob.ack(b2.batch_id) == 3
        ob = self.again(ob)
        assert ob.seqs() == seqs[:3]
        st = ob.stats()
        assert st.last_acked_seq == seqs[-1] and st.acked_total == 3 and st.last_ack_at

    def test_double_ack_is_typed_error(self, ob, make_frame):
        ob.append(items(make_frame, 2))
        b = ob.lease(2)
        ob.ack(b.batch_id)
        with pytest.raises(UnknownBatch):
            ob.ack(b.batch_id)
        with pytest.raises(UnknownBatch):
            ob.release("nope")

    def test_release_makes_rows_leasable_again(self, ob, make_frame):
        seqs = ob.append(items(make_frame, 3))
        b = ob.lease(3)
        assert ob.release(b.batch_id) == 3
        ob = self.again(ob)
        b2 = ob.lease(3)
        assert b2.seqs == seqs and b2.batch_id != b.batch_id
        assert all(r.attempts == 2 for r in b2.rows)

    def test_ack_seqs(self, ob, make_frame):
        seqs = ob.append(items(make_frame, 5))
        assert ob.ack_seqs(seqs[1:3]) == 2
        ob = self.again(ob)
        assert ob.seqs() == [seqs[0], *seqs[3:]]

    def test_meta(self, ob):
        ob = self.again(ob)
        m = ob.meta()
        assert m["schema_version"] == "1" and m["van_id"] == "van-7"

    def test_concurrent_writer_and_leaser(self, ob, make_frame):
        written: list[int] = []

        def writer():
            for k in range(20):
                written.extend(ob.append(items(make_frame, 10, start=k * 10)))

        t = threading.Thread(target=writer)
        t.start()
        acked: list[int] = []
        while t.is_alive() or ob.stats().pending - ob.stats().in_flight:
            b: Batch | None = ob.lease(7)
            if b:
                ob.ack(b.batch_id)
                acked.extend(b.seqs)
        t.join()
        assert sorted(acked) == sorted(written) and len(written) == 200
        assert ob.pending() == 0


class TestOutboxFull(OutboxContract):
    pass


class TestOutboxFullReopened(OutboxContract):
    reopen_between = True


class TestOutboxNormalSync(OutboxContract):
    synchronous = "NORMAL"


def test_stale_leases_released_on_open(tmp_path, make_frame):
    p = tmp_path / "o.db"
    ob = Outbox(p)
    ob.append(items(make_frame, 4))
    ob.lease(4)
    ob.close()
    kept = Outbox(p, release_stale=False)
    assert [len(b) for b in kept.in_flight()] == [4]
    kept.close()
    ob = Outbox(p)
    assert ob.in_flight() == [] and ob.lease(10).seqs == [1, 2, 3, 4]


def test_cap_rejects_new_never_drops_old(tmp_path, make_frame, caplog):
    ob = Outbox(tmp_path / "o.db", max_bytes=200_000, warn_fraction=0.5)
    seqs: list[int] = []
    with pytest.raises(OutboxFull):
        for k in range(1000):
            seqs += ob.append(items(make_frame, 20, start=k * 20))
    assert "above" in caplog.text and "OUTBOX FULL" in caplog.text
    # every row accepted before the cap is still there, and nothing new got in
    assert ob.seqs() == seqs
    st = ob.stats()
    assert st.level == "full" and st.rejected_full == 1
    # acking frees room (pages are reused; a checkpoint folds the WAL back), no VACUUM needed
    while (b := ob.lease(500)) is not None:
        ob.ack(b.batch_id)
    ob.checkpoint()
    assert ob.level() == "ok"
    ob.append(items(make_frame, 1, start=999_999))


def test_file_is_wal_full(tmp_path):
    ob = Outbox(tmp_path / "o.db")
    assert ob._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    ob.close()
    db = sqlite3.connect(tmp_path / "o.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_newer_schema_refused(tmp_path):
    Outbox(tmp_path / "o.db").close()
    db = sqlite3.connect(tmp_path / "o.db")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    from sync.outbox import OutboxError
    with pytest.raises(OutboxError):
        Outbox(tmp_path / "o.db")


def test_lease_raw_matches_lease(tmp_path, make_frame):
    """The sync engineer's unparsed fast path hands out the same rows, JSON that parses back to the Frame."""
    ob = Outbox(tmp_path / "o.db")
    seqs = ob.append(items(make_frame, 6))
    batch_id, rows = ob.lease_raw(4)
    assert [r[0] for r in rows] == seqs[:4]
    from decoders.frame import Frame
    assert Frame.from_dict(json.loads(rows[0][4])) == make_frame(0)
    ob.release(batch_id)
    assert ob.lease(10).seqs == seqs
