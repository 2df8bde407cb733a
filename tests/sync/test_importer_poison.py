"""Payloads a mutation campaign (2026-11-25) found escaping `Importer.handle` as exceptions: the network
loop then dropped the connection without PUBACK and the broker redelivered the same poison for ever.
Each must end as one dead letter with a typed reason. No broker or database: a recording sink."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from server.importer import Importer, Incoming, IngestResult, Outcome
from sync import messages as m


class RecordingSink:
    def __init__(self) -> None:
        self.dead: list[tuple[bytes, str]] = []
        self.dead_frames: list[tuple[int, str]] = []  # frames the sink keeps one by one (batch.bad_items)
        self.ingested: list[m.BatchMessage] = []

    def van_known(self, van_code: str) -> bool:
        return True

    def ingest(self, batch: m.BatchMessage) -> IngestResult:
        self.ingested.append(batch)
        dead = tuple((b.seq, b.reason) for b in batch.bad_items)
        self.dead_frames += dead
        return IngestResult(duplicate=False, telegrams_new=len(batch.items), dead_frames=dead)

    def dead_letter(self, payload: bytes, reason: str, detail: str, van_code: str | None, topic: str) -> None:
        self.dead.append((payload, reason))


def envelope(**kw) -> dict:
    doc = {"schema": "amr.batch", "v": 1, "batch_id": str(uuid.uuid4()), "van_id": "van01", "seq_from": 10,
           "seq_to": 10, "count": 1, "items": [{"seq": 10, "frame": {"telegram": "0a44", "source": "x",
                                                                      "received_at": "2026-05-04T08:30:00+00:00"}}]}
    doc.update(kw)
    return doc


def handle(payload: bytes) -> tuple[Outcome, m.AckMessage | None, RecordingSink]:
    sink = RecordingSink()
    imp = Importer(sink, broker=None)  # type: ignore[arg-type]
    outcome, ack = imp.handle(Incoming(1, 1, m.batch_topic("van01"), payload))
    return outcome, ack, sink


def test_json_nested_deeper_than_the_parsers_go_is_a_dead_letter():
    payload = json.dumps(envelope()).encode()[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    outcome, _, sink = handle(payload)
    assert outcome is Outcome.DEAD_LETTER
    assert sink.dead == [(payload, "not_json")]


def test_infinite_sequence_number_is_a_dead_letter_without_an_ack():
    payload = json.dumps(envelope(seq_from=float("inf"))).encode()   # json writes it as Infinity
    assert b"Infinity" in payload
    outcome, ack, sink = handle(payload)
    assert outcome is Outcome.DEAD_LETTER and ack is None
    assert sink.dead == [(payload, "bad_seq_from")]


def test_the_batch_that_used_to_be_acked_still_is():
    payload = json.dumps(envelope(seq_from="x")).encode()
    outcome, ack, sink = handle(payload)
    assert outcome is Outcome.DEAD_LETTER and ack is None and [r for _, r in sink.dead] == ["bad_seq_from"]
    payload = json.dumps(envelope(items=[])).encode()
    outcome, ack, sink = handle(payload)
    assert outcome is Outcome.DEAD_LETTER and ack is not None and (ack.seq_from, ack.seq_to) == (10, 10)


_VALUE = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.just([]) | st.just({})


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["v", "van_id", "batch_id", "seq_from", "seq_to", "count", "items", "created_at"]),
       value=_VALUE)
def test_any_envelope_value_ends_as_an_outcome(key, value):
    outcome, _, sink = handle(json.dumps(envelope(**{key: value})).encode())
    assert outcome in (Outcome.DEAD_LETTER, Outcome.REJECTED, Outcome.STORED)
    assert len(sink.dead) == (outcome is Outcome.DEAD_LETTER)
    assert len(sink.ingested) == (outcome is Outcome.STORED)


def frame_with(**kw) -> dict:
    return dict(envelope()["items"][0]["frame"], **kw)


def test_frame_times_at_the_ends_of_the_calendar_are_bad_frames():
    """The store works in UTC and a day past a frame's time: these overflowed datetime inside ingest. The
    frame is dead-lettered on its own (the batch's envelope is fine), and the van is told so."""
    for received in ("9999-12-31T23:59:59", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        item = {"seq": 10, "frame": frame_with(received_at=received)}
        outcome, ack, sink = handle(json.dumps(envelope(items=[item])).encode())
        assert outcome is Outcome.STORED and sink.dead == [], received
        assert sink.dead_frames == [(10, "bad_received_at")], received
        assert ack is not None and ack.status is m.AckStatus.STORED and ack.dead_letters == 1
    item = {"seq": 10, "frame": frame_with(received_at="1970-01-01T00:00:00")}  # a board without an RTC
    assert handle(json.dumps(envelope(items=[item])).encode())[0] is Outcome.STORED


def test_nul_in_a_frame_string_is_a_bad_frame():
    for field in ("source", "link_mode", "frame_format"):
        item = {"seq": 10, "frame": frame_with(**{field: "T\x001"})}
        outcome, _, sink = handle(json.dumps(envelope(items=[item])).encode())
        assert outcome is Outcome.STORED and sink.dead_frames == [(10, "bad_frame")], field
