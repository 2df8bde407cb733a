"""The outbox against a plain-Python model, driven by hypothesis through random operation sequences
(append with repeats, lease, ack, release, reopen)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from decoders.frame import Frame
from sync.outbox import Outbox, OutboxItem, UnknownBatch

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def item(k: int) -> OutboxItem:
    tg = bytes([14, 0x44, 0x01, 0x06]) + k.to_bytes(4, "little") + bytes([1, 7, 0x7A, 0, 0, 0, 0])
    return OutboxItem.from_result(Frame(tg, T0, "model", rssi_dbm=-float(k % 100)), None)


class OutboxModel(RuleBasedStateMachine):
    batches = Bundle("batches")

    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "o.db"
        self.ob = Outbox(self.path)
        self.rows: dict[int, int] = {}        # seq -> payload key k, rows not acked
        self.by_k: dict[int, int] = {}        # k -> seq while the row exists
        self.heard: dict[int, int] = {}       # seq -> times_heard
        self.leased: dict[str, set[int]] = {}
        self.max_seq = 0

    @rule(ks=st.lists(st.integers(0, 40), min_size=1, max_size=12))
    def append(self, ks):
        seqs = self.ob.append([item(k) for k in ks])
        for k, s in zip(ks, seqs, strict=True):
            if k in self.by_k:
                assert s == self.by_k[k]          # a repeat merges into its row
                self.heard[s] += 1
            else:
                assert s > self.max_seq            # new rows get fresh, increasing seqs, never reused
                self.max_seq = s
                self.rows[s], self.by_k[k], self.heard[s] = k, s, 1

    @rule(target=batches, n=st.integers(1, 15))
    def lease(self, n):
        b = self.ob.lease(n)
        free = sorted(s for s in self.rows if not any(s in v for v in self.leased.values()))
        if b is None:
            assert not free
            return "none"
        assert b.seqs == free[:n]
        assert all(r.times_heard == self.heard[r.seq] for r in b.rows)
        self.leased[b.batch_id] = set(b.seqs)
        return b.batch_id

    @rule(batch=batches)
    def ack(self, batch):
        if batch in self.leased:
            assert self.ob.ack(batch) == len(self.leased[batch])
            for s in self.leased.pop(batch):
                del self.by_k[self.rows.pop(s)]
        else:
            try:
                self.ob.ack(batch)
                raise AssertionError("ack of an unknown batch must fail")
            except UnknownBatch:
                pass

    @rule(batch=batches)
    def release(self, batch):
        if batch in self.leased:
            assert self.ob.release(batch) == len(self.leased.pop(batch))

    @rule()
    def reopen(self):
        # a restart: leases of the old process are released, everything else is as committed
        self.ob.close()
        self.ob = Outbox(self.path)
        self.leased.clear()

    @invariant()
    def matches_model(self):
        assert self.ob.seqs() == sorted(self.rows)
        st_ = self.ob.stats()
        assert st_.pending == len(self.rows)
        assert st_.in_flight == sum(len(v) for v in self.leased.values())

    def teardown(self):
        self.ob.close()
        self.dir.cleanup()


TestOutboxModel = OutboxModel.TestCase
TestOutboxModel.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
