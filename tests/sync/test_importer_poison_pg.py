"""The same poison against PostgreSQL: before the wire checks, the store refused these inside ingest, the
importer took that for its own bug (three attempts, then `rejected`) and the van re-sent them for ever."""

from __future__ import annotations

import json
import uuid

import pytest

from server.importer import Importer, Incoming, Outcome, StoreSink
from sync import messages as m

pytestmark = [pytest.mark.postgres]

GOOD = {"telegram": "2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae018201fb1aa9012f",
        "source": "virtual:test", "received_at": "2026-05-04T08:30:00+00:00"}
OTHER = ("5744b40988227711101b7ab20800000265a00842658f088201659f08226589081265a0086265510852652b0902fb1aba0142fb1ab00182"
         "01fb1abd0122fb1aa90112fb1aba0162fb1aa60152fb1af501066d3b3bb36b2a00")  # its own row: no natural-key overlap


@pytest.mark.parametrize("bad, reason", [
    ({"source": "virtual:\x00test"}, "bad_frame"),
    ({"link_mode": "T\x001"}, "bad_frame"),
    ({"received_at": "9999-12-31T23:59:59-14:00"}, "bad_received_at"),
    ({"received_at": "0001-01-01T00:00:00+14:00"}, "bad_received_at"),
])
def test_frame_the_store_refuses_is_a_dead_letter_at_once(store, bad, reason):
    doc = {"schema": "amr.batch", "v": 1, "batch_id": str(uuid.uuid4()), "van_id": "van01", "seq_from": 1,
           "seq_to": 2, "items": [{"seq": 1, "frame": GOOD}, {"seq": 2, "frame": dict(GOOD, telegram=OTHER, **bad)}]}
    payload = json.dumps(doc).encode()
    imp = Importer(StoreSink(store), broker=None)  # type: ignore[arg-type]
    outcome, ack = imp.handle(Incoming(1, 1, m.batch_topic("van01"), payload))
    # the bad frame alone is the dead letter; its good neighbour is stored
    assert outcome is Outcome.STORED
    assert ack is not None and ack.status is m.AckStatus.STORED and (ack.frames, ack.dead_letters) == (1, 1)
    assert [(d.reason, d.van_code, json.loads(d.payload)["item"]) for d in store.dead_letters()] == [
        (reason, "van01", doc["items"][1])]


def _trusted_decode(**kw) -> dict:
    ident = {"manufacturer": "KAM", "id": "12345678", "version": 27, "device_type": 22}
    dec = {"ok": True, "identity": ident, "access_number": 7,
           "readings": [{"quantity": "volume", "value": 1.5, "unit": "m3"}]}
    for k, v in kw.items():
        if k in ident:
            dec["identity"] = dict(ident, **{k: v})
        elif k in ("storage", "tariff", "subunit"):
            dec["readings"] = [dict(dec["readings"][0], **{k: v})]
        else:
            dec[k] = v
    return dec


@pytest.mark.parametrize("bad", [{"version": 2**70}, {"device_type": 2**16}, {"manufacturer": "\x00"},
                                 {"access_number": 2**70}, {"storage": 2**63}, {"tariff": 2**20}])
def test_van_decode_the_store_cannot_hold_is_decoded_again_on_the_server(store, bad):
    """--trust-van-decode: a van decode out of the store's column ranges used to fail the whole ingest."""
    doc = {"schema": "amr.batch", "v": 1, "batch_id": str(uuid.uuid4()), "van_id": "van01", "seq_from": 1,
           "seq_to": 2, "items": [{"seq": 1, "frame": GOOD},
                                  {"seq": 2, "frame": dict(GOOD, telegram=OTHER), "decode": _trusted_decode(**bad)}]}
    imp = Importer(StoreSink(store, trust_van_decode=True), broker=None)  # type: ignore[arg-type]
    outcome, ack = imp.handle(Incoming(1, 1, m.batch_topic("van01"), json.dumps(doc).encode()))
    assert outcome is Outcome.STORED and ack.frames == 2
    assert store.dead_letters() == []


@pytest.mark.parametrize("bad", [{"version": float("inf")}, {"version": -1}, {"access_number": "7"},
                                 {"subunit": 1.5}, {"storage": -1}])
def test_van_decode_out_of_range_is_a_typed_bad_decode(bad):
    with pytest.raises(m.MessageError) as e:
        m.decoded_from_dict(_trusted_decode(**bad), bytes.fromhex(OTHER))
    assert e.value.reason == "bad_decode"
    assert m.decoded_from_dict(_trusted_decode(), bytes.fromhex(OTHER)).access_number == 7
