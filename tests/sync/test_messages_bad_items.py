"""The wire side of per-frame dead letters: parse(isolate_bad_items=True) sets a bad item aside (raw, typed
reason, seq) while the envelope stays checked as a whole; the ack's `dead_letters` count is optional on the
wire in both directions."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from sync import messages as m

TEL = "0B442D2C785634121B167A00"


def doc(n: int = 3) -> dict:
    return {"schema": "amr.batch", "v": 1, "batch_id": str(uuid.uuid4()), "van_id": "van01", "seq_from": 5,
            "seq_to": 4 + n, "count": n,
            "items": [{"seq": 5 + k, "frame": {"telegram": TEL, "received_at": "2026-05-04T08:30:00+00:00",
                                              "source": "x"}, "decode": None} for k in range(n)]}


@pytest.mark.parametrize("path, value, reason", [
    ("frame.telegram", "0B44ZZ", "bad_telegram"),
    ("frame.received_at", "yesterday", "bad_received_at"),
    ("frame.received_at", "9999-12-31T23:59:59-14:00", "bad_received_at"),
    ("frame.source", "x\x00", "bad_frame"),
    pytest.param("frame.rssi_dbm", 10**400, "bad_frame", id="rssi-past-a-double"),
    pytest.param("frame.position", {"lat": 52.0, "lon": -(10**309)}, "bad_frame", id="lon-past-a-double"),
    ("frame.position", {"lat": 52.0, "lon": 21.0, "fix_time": 0}, "bad_fix_time"),
    ("frame", None, "bad_frame"),
    ("decode", {"readings": []}, "bad_decode"),
    ("times_heard", 0, "bad_item"),
    ("best_rssi", "loud", "bad_frame"),
    ("last_heard_at", "never", "bad_last_heard_at"),
])
def test_bad_item_is_set_aside_with_its_reason(path, value, reason):
    d = doc()
    target = d["items"][1]
    *head, last = path.split(".")
    for k in head:
        target = target[k]
    target[last] = value
    raw = copy.deepcopy(d["items"][1])
    payload = json.dumps(d).encode()
    with pytest.raises(m.MessageError) as e:  # strict (the default) is unchanged
        m.BatchMessage.parse(payload)
    assert e.value.reason == reason
    b = m.BatchMessage.parse(payload, isolate_bad_items=True)
    assert [i.seq for i in b.items] == [5, 7] and (b.seq_from, b.seq_to) == (5, 7)
    (bad,) = b.bad_items
    assert (bad.index, bad.seq, bad.reason) == (1, 6, reason)
    assert json.loads(json.dumps(bad.raw)) == json.loads(json.dumps(raw))


def test_numbers_a_double_holds_still_pass():
    d = doc(1)
    d["items"][0]["frame"] |= {"rssi_dbm": -(10**300), "position": {"lat": 52, "lon": 21, "speed_kmh": 0}}
    (it,) = m.BatchMessage.parse(json.dumps(d).encode()).items
    assert float(it.parsed.rssi_dbm) == -1e300 and it.parsed.position.lat == 52


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d["items"][1].__setitem__("seq", 4), "bad_item_seq"),       # outside the range
    (lambda d: d["items"][2].__setitem__("seq", 6), "bad_item_seq"),       # not increasing
    (lambda d: d["items"][1].pop("seq"), "bad_item_seq"),
    (lambda d: d["items"].__setitem__(1, [1]), "bad_item"),
    (lambda d: d.__setitem__("count", 2), "count_mismatch"),
    (lambda d: d.__setitem__("seq_to", 6), "bad_seq_range"),
])
def test_envelope_and_item_sequence_errors_still_fail_the_batch(mutate, reason):
    d = doc()
    mutate(d)
    with pytest.raises(m.MessageError) as e:
        m.BatchMessage.parse(json.dumps(d).encode(), isolate_bad_items=True)
    assert e.value.reason == reason


def test_a_bad_item_does_not_hide_a_bad_sequence_after_it():
    d = doc()
    d["items"][0]["frame"]["telegram"] = "zz"
    d["items"][2]["seq"] = 5
    with pytest.raises(m.MessageError) as e:
        m.BatchMessage.parse(json.dumps(d).encode(), isolate_bad_items=True)
    assert e.value.reason == "bad_item_seq"


def test_ack_dead_letters_round_trip_and_older_acks_still_parse():
    b = m.BatchMessage.parse(doc())
    a = m.AckMessage.for_batch(b, m.AckStatus.STORED, frames=2, reason="bad_telegram", dead_letters=1)
    back = m.AckMessage.parse(a.encode())
    assert (back.status, back.frames, back.dead_letters, back.reason) == ("stored", 2, 1, "bad_telegram")
    assert back.status.releases_rows
    old = a.to_dict()
    del old["dead_letters"]  # an importer from before the field
    assert m.AckMessage.parse(old).dead_letters == 0
    # every key an older van reads is still there with its meaning; the new one is only added
    assert set(a.to_dict()) - {"dead_letters"} == {"schema", "v", "van_id", "batch_id", "seq_from", "seq_to",
                                                   "status", "frames", "reason", "acked_at", "importer"}
    for bad in (-1, "1", True):
        with pytest.raises(m.MessageError):
            m.AckMessage.parse(a.to_dict() | {"dead_letters": bad})
