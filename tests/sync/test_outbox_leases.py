"""Outbox leases as runs in a side table (the rows are not rewritten on lease): what other processes see, runs
across a gap, and files leased by an older version that marked every row."""

from __future__ import annotations

import sqlite3

from sync.outbox import Outbox, OutboxItem

from .conftest import make_frames


def test_a_lease_spanning_a_gap_and_what_another_opener_sees(tmp_path):
    path = tmp_path / "o.db"
    ob = Outbox(path, van_id="van01")
    ob.append([OutboxItem.from_result(f, None) for f in make_frames(20)])
    a = ob.lease(5)
    b = ob.lease(5)
    assert (a.seqs, b.seqs) == ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert ob.release(a.batch_id) == 5
    c = ob.lease(8)  # the released run, then past the live lease
    assert c.seqs == [1, 2, 3, 4, 5, 11, 12, 13]
    assert [r.attempts for r in c.rows] == [2] * 5 + [1] * 3
    # the crew view and tools open the same file without releasing anything
    viewer = Outbox(path, release_stale=False)
    assert viewer.stats().in_flight == 13
    assert {x.batch_id: x.seqs for x in viewer.in_flight()} == {b.batch_id: b.seqs, c.batch_id: c.seqs}
    viewer.close()
    assert ob.ack(c.batch_id) == 8
    assert ob.seqs() == [6, 7, 8, 9, 10, *range(14, 21)]
    assert ob.lease_raw(100)[1][0][0] == 14  # b's run stays leased
    ob.close()
    again = Outbox(path)  # a restart releases every lease
    assert again.stats().in_flight == 0 and again.lease(100).seqs == again.seqs()
    again.close()


def test_rows_marked_by_an_older_version_are_released_on_open(tmp_path):
    path = tmp_path / "o.db"
    with Outbox(path, van_id="van01") as ob:
        ob.append([OutboxItem.from_result(f, None) for f in make_frames(6)])
    with sqlite3.connect(path) as db:  # what the per-row lease of earlier versions left behind
        db.execute("UPDATE outbox SET batch_id='old', attempts=1 WHERE seq <= 3")
    ob = Outbox(path)
    assert ob.stats().in_flight == 0
    b = ob.lease(10)
    assert b.seqs == [1, 2, 3, 4, 5, 6] and [r.attempts for r in b.rows] == [2, 2, 2, 1, 1, 1]
    assert ob.ack(b.batch_id) == 6 and ob.pending() == 0
    ob.close()
