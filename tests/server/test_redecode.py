"""Re-decoding stored telegrams after keys arrive: readings appear once, a second run adds nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from decoders import DecoderState, KeyStore, decode
from decoders.frame import Frame
from server import repository
from server.redecode import redecode
from server.store import Store

T0 = dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC)


def _frames(telegrams, start=T0):
    return [(Frame(telegram=t, received_at=start + dt.timedelta(minutes=20 * i), source="test"), None)
            for i, t in enumerate(telegrams)]


@pytest.fixture(scope="module")
def keyed(corpus):
    out = []
    for r in corpus:
        if r.get("water") and r.get("key"):
            t = bytes.fromhex(r["telegram"])
            if decode(t).ok is False and decode(t, keys=KeyStore.single(r["key"])).ok:
                out.append((t, r["key"]))
    assert len(out) >= 3
    return out


@pytest.mark.parametrize("copy_threshold", [2, 10**9], ids=["bulk", "executemany"])
def test_keys_arriving_late_turn_stored_telegrams_into_readings(store: Store, keyed, copy_threshold, monkeypatch):
    monkeypatch.setattr(repository, "COPY_THRESHOLD", copy_threshold)
    store.add_van("van-01")
    r = store.ingest_batch("van-01", "b1", _frames([t for t, _ in keyed]))
    assert r.readings_new == 0
    assert len(store.telegrams(reject_reason="NO_KEY")) == len(keyed)

    for t, key in keyed:
        dec = decode(t, keys=KeyStore.single(key))
        store.set_key(dec.meter.id, bytes.fromhex(key), dec.meter.manufacturer)
    rep = redecode(store, only_failed=True, workers=2, chunk=len(keyed))
    assert rep.telegrams == len(keyed) and rep.newly_decoded == len(keyed) and rep.readings_new > 0
    assert rep.outcome_changed == len(keyed)
    assert store.telegrams(reject_reason="NO_KEY") == []
    counts = store.counts()
    assert counts["readings"] == rep.readings_new

    # the same readings as an ingest with the keys present would have produced: same natural keys
    again = redecode(store, workers=2)
    assert again.telegrams == len(keyed) and again.readings_new == 0 and again.outcome_changed == 0
    assert store.counts() == counts
    assert redecode(store, only_failed=True).telegrams == 0


def test_compact_frames_are_retried_with_their_meters_history(store: Store, corpus):
    case = next(r for r in corpus if r.get("compact_frame") and r.get("prior_telegrams") and not r.get("key")
                and decode(bytes.fromhex(r["telegram"]), state=DecoderState()).ok is False)
    full = bytes.fromhex(case["prior_telegrams"][0])
    compact = bytes.fromhex(case["telegram"])
    raw = Store(store.url, engine=store.engine, decode=False)  # keep them undecoded, like an old import
    raw.ingest([(Frame(compact, T0 + dt.timedelta(minutes=5), "t"), None),
                (Frame(full, T0, "t"), None)])
    # one worker, one telegram per chunk, compact first (lower id): its worker has not seen the full frame
    rep = redecode(store, workers=1, chunk=1)
    assert rep.telegrams == 2 and rep.decoded == 2, rep
    assert all(t.decode_ok for t in store.telegrams())
