"""Dedup rules (domain.md §4.3) as properties."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.dedup import Dedup, header_access_number, link_header
from collector.simdrive import telegram
from decoders import decode
from decoders.frame import Frame

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def fr(meter: int, acc: int, vol: int, t: float, rssi: float | None = -80.0, source: str = "a") -> Frame:
    return Frame(telegram("APA", f"{meter:08d}", 0x14, 7, acc, vol), T0 + dt.timedelta(seconds=t), source,
                 rssi_dbm=rssi)


def test_header_parsing():
    tg = telegram("KAM", "12345678", 0x1B, 0x16, 0x42, 5)
    assert link_header(tg) == ("KAM", "12345678", 0x1B, 0x16)
    assert header_access_number(tg) == 0x42
    assert header_access_number(tg[:10]) is None and link_header(tg[:5]) is None


def test_identical_bytes_are_one_frame_with_best_rssi_and_count():
    d = Dedup()
    a = d.observe(fr(1, 5, 100, 0, -90.0))
    b = d.observe(fr(1, 5, 100, 0.1, -70.0))
    c = d.observe(fr(1, 5, 100, 0.2, -85.0))
    assert a.first and not b.first and not c.first
    assert a.key == b.key == c.key
    assert c.count == 3 and c.best_rssi == -70.0 and b.improved_rssi and not c.improved_rssi


def test_same_acc_via_another_path_is_a_duplicate_even_with_different_bytes():
    d = Dedup()
    f1 = fr(1, 5, 100, 0)
    # a repeater path: the same transmission with the link layer's C field changed
    f2 = dataclasses.replace(f1, telegram=f1.telegram[:1] + b"\x46" + f1.telegram[2:], source="b")
    r1, r2 = decode(f1.telegram), decode(f2.telegram)
    assert d.observe(f1, r1).first
    o = d.observe(f2, r2)
    assert not o.first and o.key == d.observe(f1, r1).key


def test_new_access_number_is_new_evidence_even_if_payload_repeats():
    d = Dedup()
    assert d.observe(fr(1, 5, 100, 0)).first
    assert d.observe(fr(1, 6, 100, 16)).first  # same reading, next transmission
    assert d.observe(fr(1, 7, 100, 32)).first


def test_window_expiry_bounds_memory_and_later_repeat_is_new():
    d = Dedup(window_s=30)
    for i in range(1000):
        d.observe(fr(i, 1, 1, i * 1.0))
    assert len(d) <= 31
    assert d.observe(fr(0, 1, 1, 2000)).first  # long gone: counted as new evidence


def test_max_entries_bound():
    d = Dedup(window_s=1e6, max_entries=50)
    for i in range(500):
        d.observe(fr(i, 1, 1, i * 0.01))
    assert len(d) == 50 and d.evicted == 450


hearing = st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(0, 2),
                    st.floats(-110, -40, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(hearing, max_size=60))
def test_unique_count_equals_distinct_transmissions_within_window(hs):
    """Within one window: first hearings == distinct (meter, acc); counts add up; best RSSI is the max."""
    d = Dedup(window_s=3600)
    firsts: dict[tuple, bytes] = {}
    best: dict[tuple, float] = {}
    n: dict[tuple, int] = {}
    for k, (meter, acc, _vol, rssi) in enumerate(hs):
        # vol varies per meter+acc only, so identical (meter, acc) means identical bytes here
        o = d.observe(fr(meter, acc, meter * 10 + acc, k * 0.5, rssi))
        tx = (meter, acc)
        assert o.first == (tx not in firsts)
        firsts.setdefault(tx, o.key)
        assert o.key == firsts[tx]
        n[tx] = n.get(tx, 0) + 1
        best[tx] = max(best.get(tx, -1e9), rssi)
        assert o.count == n[tx] and o.best_rssi == best[tx]
    assert d.unique == len(firsts) and d.unique + d.duplicates == len(hs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 255), st.floats(0, 5)), min_size=1, max_size=40))
def test_different_acc_never_merged(txs):
    d = Dedup()
    seen: set[tuple] = set()
    t = 0.0
    for meter, acc, dt_s in txs:
        t += dt_s
        o = d.observe(fr(meter, acc, 7, t))  # identical payload value: only the ACC differs
        assert o.first == ((meter, acc) not in seen)
        seen.add((meter, acc))
