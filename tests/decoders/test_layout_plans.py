"""Record-layout plans (decoders/records.py) give exactly what the record loop gives.

A plan is generated for a payload layout seen twice; these tests compare planned results with the loop's
own (`records._parse`, which never uses plans) on the corpus and on generated payloads, including payloads
that keep the plan's key (length, first record header) but change their layout or data.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import decoders.records as rec
from tests.drivers.golden import decode_frames


@pytest.fixture
def fresh_plans(monkeypatch):
    monkeypatch.setattr(rec, "_LAYOUTS", {})
    monkeypatch.setattr(rec, "_LAYOUT_MISSES", {})


def loop(data: bytes):
    """The record loop alone: the reference outcome (result tuple, or the error and what came before)."""
    readings: list = []
    try:
        out = rec._parse(data, 0, len(data), True, readings)
        return ("ok", repr(out))
    except rec.RecordError as e:
        return ("err", e.reason, e.detail, repr(readings))
    except (IndexError, ValueError) as e:
        return ("bad", type(e).__name__, repr(readings))


def planned(data: bytes):
    try:
        return ("ok", repr(rec.parse_records(data, 0, len(data), True)))
    except rec.RecordError as e:
        return ("err", e.reason, e.detail, repr(e.readings))


def _decode_all(corpus):
    return [repr(r) for r in decode_frames(corpus)]


def test_corpus_decodes_identical_with_and_without_plans(corpus, fresh_plans, monkeypatch):
    used = []
    real_learn = rec._learn_layout
    with_plans = [_decode_all(corpus) for _ in range(3)][-1]  # by the third pass layouts are planned
    assert rec._LAYOUTS, "no layout was planned: the comparison below would prove nothing"
    for plans in rec._LAYOUTS.values():
        for i, p in enumerate(plans):
            def counting(data, start, _p=p):
                r = _p(data, start)
                used.append(r is not None)
                return r
            plans[i] = counting
    again = _decode_all(corpus)
    assert sum(used) > 200, f"plans matched only {sum(used)} payloads"
    monkeypatch.setattr(rec, "_LAYOUT_MAX_LEN", 0)  # loop only
    monkeypatch.setattr(rec, "_learn_layout", real_learn)
    without = _decode_all(corpus)
    assert with_plans == without
    assert again == without


# --- generated payloads -------------------------------------------------------------------------------

HEADERS = [
    b"\x04\x13", b"\x0c\x13", b"\x44\x13", b"\x84\x01\x13", b"\xc4\x01\x13", b"\x84\x80\x40\x13",
    b"\x02\x5b", b"\x02\x5f", b"\x42\x6c", b"\x04\x6d", b"\x06\x6d", b"\x03\x6d", b"\x02\xfd\x74",
    b"\x04\xfd\x17", b"\x01\xfd\x0c", b"\x04\x93\x3c", b"\x04\x93\x7f", b"\x84\x10\x13", b"\x05\x2b",
    b"\x0b\x3b", b"\x0e\x06", b"\x04\x78", b"\x07\x79", b"\x01\xff\x21", b"\x04\xfb\x00", b"\x32\x6c",
    b"\x02\xfd\xba\x73", b"\x0d\xfd\x11", b"\x0d\x13", b"\x8d\x01\x16", b"\x0d\xfd\x0c",
    b"\x04\x7c\x03\x25\x52\x48", b"\x00\x13", b"\x08\x13",
    b"\x7f", b"\x2f",
]


def _record(h: bytes, data: bytes) -> bytes:
    if h in (b"\x7f", b"\x2f"):
        return h
    code = h[0] & 0x0F
    if code == 0x0D:  # text, BCD (positive, negative) and binary LVARs
        sel = data[0] if data else 0
        n = sel % 6
        lv = (n, 0xC0 + n, 0xD0 + n, 0xE0 + n)[(sel >> 4) % 4]
        return h + bytes((lv,)) + (data[1:] + bytes(8))[:n]
    n = rec.DATA_LEN[code]
    return h + (data + bytes(8))[:n]


EXAMPLES = int(os.environ.get("AMR_PLAN_EXAMPLES", "300"))  # a longer run: AMR_PLAN_EXAMPLES=5000
records = st.lists(st.tuples(st.sampled_from(HEADERS), st.binary(min_size=0, max_size=8)), min_size=1,
                   max_size=10)
tails = st.sampled_from([b"", b"\x2f\x2f", b"\x0f\x01\x02", b"\x1f", b"\x2f\x0f"])


def payload(recs, tail: bytes, filler: bool) -> bytes:
    return (b"\x2f\x2f" if filler else b"") + b"".join(_record(h, d) for h, d in recs) + tail


@settings(max_examples=EXAMPLES, deadline=None)
@given(recs=records, tail=tails, filler=st.booleans(), data2=st.lists(st.binary(min_size=8, max_size=8),
                                                                     min_size=10, max_size=10),
       swap=st.integers(0, 9), other=st.sampled_from(HEADERS), cut=st.integers(0, 3))
def test_generated_payloads_planned_equal_loop(recs, tail, filler, data2, swap, other, cut):
    rec._LAYOUTS.clear()
    rec._LAYOUT_MISSES.clear()
    first = payload(recs, tail, filler)
    for _ in range(3):  # learn the layout (when it can be planned)
        assert planned(first) == loop(first)
    # same layout, other data bytes
    same = payload([(h, d) for (h, _), d in zip(recs, data2, strict=False)], tail, filler)
    assert planned(same) == loop(same)
    # a layout change that may keep the key (same first record): one header swapped, bytes cut
    changed = list(recs)
    i = swap % len(changed)
    if i or len(changed) == 1:
        changed[i] = (other, changed[i][1])
    alt = payload(changed, tail, filler)
    alt = alt[:len(alt) - cut] if cut < len(alt) else alt
    for p in (alt, first[:len(first) - cut] if cut < len(first) else first, alt, same):
        assert planned(p) == loop(p)


def test_layout_change_with_the_same_key_falls_back(fresh_plans):
    """Same length and first record, a different second header: the plan refuses, the loop decodes."""
    a = b"\x04\x13\x01\x00\x00\x00" + b"\x02\x5b\x15\x00"
    b = b"\x04\x13\x01\x00\x00\x00" + b"\x02\x5f\x15\x00"   # return instead of flow temperature
    for _ in range(3):
        rec.parse_records(a, 0, len(a))
    assert rec._LAYOUTS, "layout a planned"
    rb = rec.parse_records(b, 0, len(b))[0]
    assert [r.quantity for r in rb] == ["volume", "return_temperature"]
    assert planned(b) == loop(b)
