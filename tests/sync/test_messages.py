"""Wire schema: round trips, the van's fast path, and poison messages always yield a typed error."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.frame import Frame, Position
from decoders.model import Decoded, Identity, Reading, Reject, Rejection
from sync import messages as m
from sync.outbox import Outbox, OutboxItem

T0 = dt.datetime(2026, 5, 4, 8, 30, tzinfo=dt.UTC)


def frames_from(corpus: list[dict], n: int) -> list[Frame]:
    out = []
    for i, rec in enumerate(corpus[:n]):
        tel = bytes.fromhex(rec["telegram"])
        out.append(Frame(tel, T0 + dt.timedelta(seconds=i), "virtual:test", "T1", "A", -71.5,
                         position=Position(52.2, 21.0, 31.0, T0)))
    return out


def decoded(tel: bytes) -> Decoded:
    return Decoded(raw=tel, identity=Identity("KAM", "12345678", 0x1B, 0x16), c_field=0x44, access_number=7,
                   readings=[Reading("volume", 123.456, "m3"), Reading("date", dt.date(2026, 4, 30), "", storage=1)])


def test_batch_round_trip(corpus):
    frames = frames_from(corpus, 20)
    rows = [(10 + i, f, decoded(f.telegram) if i % 2 else Rejection(Reject.NO_KEY, "no key", f.telegram))
            for i, f in enumerate(frames)]
    b = m.BatchMessage.build("van01", rows)
    assert (b.seq_from, b.seq_to, len(b.items)) == (10, 29, 20)
    for compress in (False, True):
        back = m.BatchMessage.parse(b.encode(compress=compress), topic_van="van01")
        assert back.batch_id == b.batch_id and back.seqs == b.seqs
        assert [i.to_frame() for i in back.items] == frames
        assert back.items[1].decode["readings"][1]["value"] == "2026-04-30"
        assert back.items[0].decode == {"ok": False, "reason": "NO_KEY", "detail": "no key", "identity": None}


def test_fast_path_equals_parsed_outbox_rows(tmp_path, corpus):
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    frames = frames_from(corpus, 30)
    ob.append([OutboxItem.from_result(f, decoded(f.telegram), times_heard=3) for f in frames])
    bid, rows = ob.lease_raw(100)
    payload, lo, hi = m.encode_raw_batch("van01", bid, rows)
    b = m.BatchMessage.parse(payload, topic_van="van01")
    assert b.batch_id == str(uuid.UUID(bid)) and (lo, hi) == (b.seq_from, b.seq_to) == (1, 30)
    assert [i.to_frame() for i in b.items] == frames
    assert {i.times_heard for i in b.items} == {3} and b.items[0].best_rssi == -71.5
    assert b.items[0].decode["readings"][0]["value"] == 123.456
    lean, _, _ = m.encode_raw_batch("van01", bid, rows, with_decode=False)
    assert len(lean) < len(payload) / 2
    assert all(i.decode is None for i in m.BatchMessage.parse(lean).items)


def test_non_finite_numbers_from_the_outbox_still_parse(tmp_path, corpus):
    """The outbox stores frames with json.dumps, which writes -Infinity for an SDR's SNR of log10(0); orjson
    refuses that literal, so the importer falls back to json for such a batch instead of dead-lettering it."""
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    f = frames_from(corpus, 1)[0]
    odd = Frame(f.telegram, f.received_at, f.source, "T1", "A", -70.0, float("-inf"), float("nan"))
    ob.append([OutboxItem.from_result(odd, None), OutboxItem.from_result(frames_from(corpus, 2)[1], None)])
    bid, rows = ob.lease_raw(10)
    payload, _, _ = m.encode_raw_batch("van01", bid, rows, with_decode=False)
    assert b"-Infinity" in payload
    got = m.BatchMessage.parse(payload, topic_van="van01").items[0].to_frame()
    assert got.snr_db == float("-inf") and got.freq_offset_hz != got.freq_offset_hz
    with pytest.raises(m.MessageError) as e:
        m.decode(payload.replace(b"-Infinity", b"-Infinit"))
    assert e.value.reason == "not_json"


def test_batch_id_is_time_ordered_uuid7():
    ids = [m.new_batch_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # millisecond prefix never goes back


def _good() -> dict:
    tel = "0B44" + "2D2C" + "78563412" + "1B16" + "7A00"
    return {"schema": "amr.batch", "v": 1, "batch_id": str(uuid.uuid4()), "van_id": "van01", "seq_from": 5,
            "seq_to": 6, "count": 1,
            "items": [{"seq": 5, "frame": {"telegram": tel, "received_at": T0.isoformat(), "source": "x"},
                       "decode": None}]}


def _mut(path: str, value) -> dict:
    d = _good()
    target = d
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return d


@pytest.mark.parametrize(("doc", "reason"), [
    (_mut("schema", "amr.ack"), "wrong_schema"),
    (_mut("v", 2), "unsupported_version"),
    (_mut("v", "1"), "bad_version"),
    (_mut("batch_id", "nope"), "bad_batch_id"),
    (_mut("van_id", "van/01"), "bad_van_id"),
    (_mut("van_id", "#"), "bad_van_id"),
    (_mut("seq_from", 0), "bad_seq_from"),
    (_mut("seq_to", 4), "bad_seq_range"),
    (_mut("items", []), "bad_items"),
    (_mut("count", 3), "count_mismatch"),
    (_mut("items.0.seq", 9), "bad_item_seq"),
    (_mut("items.0.frame", KeyError), "bad_frame"),
    (_mut("items.0.frame.telegram", "0B44ZZ"), "bad_telegram"),
    (_mut("items.0.frame.telegram", "0B4"), "bad_telegram"),
    (_mut("items.0.frame.received_at", "yesterday"), "bad_received_at"),
    (_mut("items.0.frame.rssi_dbm", "loud"), "bad_frame"),
    (_mut("items.0.decode", {"readings": []}), "bad_decode"),
    (_mut("items.0.times_heard", 0), "bad_item"),
])
def test_poison_batches_raise_typed_reason(doc, reason):
    m.BatchMessage.parse(_good())  # the unmutated document is fine
    with pytest.raises(m.MessageError) as e:
        m.BatchMessage.parse(json.dumps(doc).encode())
    assert e.value.reason == reason


def test_van_in_topic_must_match_payload():
    with pytest.raises(m.MessageError) as e:
        m.BatchMessage.parse(_good(), topic_van="van02")
    assert e.value.reason == "van_mismatch"
    assert m.van_from_topic("amr/v1/van02/batches") == "van02"
    with pytest.raises(m.MessageError):
        m.van_from_topic("other/v1/van02/batches")


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "empty_payload"), (b"{", "not_json"), (b"[1]", "not_an_object"), (b"\x78\x01garbage", "bad_compression"),
    (b"\xff\xfe", "not_json"), (zlib.compress(b"[]"), "not_an_object"),
])
def test_undecodable_payloads(payload, reason):
    with pytest.raises(m.MessageError) as e:
        m.BatchMessage.parse(payload)
    assert e.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(list(_good())), c, max_size=6),
    max_leaves=20).map(lambda o: json.dumps(o).encode())))
def test_arbitrary_bytes_only_ever_raise_message_error(payload):
    for parse in (m.BatchMessage.parse, m.AckMessage.parse, m.RouteMessage.parse, m.KeysMessage.parse):
        with contextlib.suppress(m.MessageError):
            parse(payload)


def test_ack_round_trip_and_semantics():
    b = m.BatchMessage.parse(_good())
    a = m.AckMessage.for_batch(b, m.AckStatus.STORED, frames=1, importer="imp-1")
    back = m.AckMessage.parse(a.encode())
    assert (back.batch_id, back.seq_from, back.seq_to, back.status, back.frames) == (b.batch_id, 5, 6, "stored", 1)
    assert m.AckStatus.DEAD_LETTER.releases_rows and not m.AckStatus.REJECTED.releases_rows
    bad = a.to_dict() | {"status": "maybe"}
    with pytest.raises(m.MessageError) as e:
        m.AckMessage.parse(bad)
    assert e.value.reason == "bad_status"


def test_downlink_round_trip():
    r = m.RouteMessage("van01", "R-2026-05-04", {"meters": [{"id": "12345678"}]})
    assert m.parse_downlink(m.downlink_topic("van01", "route"), r.encode()).sheet == r.sheet
    k = m.KeysMessage("van01", (m.KeyEntry("12345678", "00" * 16, "KAM"),))
    back = m.parse_downlink(m.downlink_topic("van01", "keys"), k.encode())
    assert back.keys == k.keys and back.to_csv().splitlines()[1] == "12345678," + "00" * 16 + ",KAM"
    with pytest.raises(m.MessageError):
        m.KeysMessage.parse({"schema": "amr.keys", "v": 1, "van_id": "van01", "keys": [{"id": "1", "key": "12"}]})
    with pytest.raises(m.MessageError):
        m.parse_downlink("amr/v1/van01/downlink/firmware", b"{}")


def test_van_decode_survives_the_wire_for_trusted_ingest(tmp_path):
    """outbox outcome dict -> wire -> Decoded gives the store the same reading rows as decoding anew."""
    from decoders import decode
    from server import derive

    from .conftest import make_frames

    f = make_frames(1)[0]
    direct = decode(f.telegram)
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    ob.append([OutboxItem.from_result(f, direct)])
    bid, rows = ob.lease_raw(10)
    item = m.BatchMessage.parse(m.encode_raw_batch("van01", bid, rows)[0]).items[0]
    back = m.decoded_from_dict(item.decode, item.telegram)
    assert back.meter == direct.meter and back.access_number == direct.access_number
    assert derive.reading_rows(back, f.received_at, 1, b"x", "v") == derive.reading_rows(direct, f.received_at, 1, b"x", "v")
    with pytest.raises(m.MessageError):
        m.decoded_from_dict({"ok": False, "reason": "NO_KEY"}, item.telegram)
    with pytest.raises(m.MessageError):
        m.decoded_from_dict({"ok": True, "identity": {"id": 1}}, item.telegram)


def test_keys_csv_quotes_what_the_back_office_sends(tmp_path):
    """The back office's text reaches the van's key file: a comma or a line break in it must not shift or
    add rows (the key store then refuses the odd id by name instead of reading a wrong key)."""
    import csv
    import io

    from decoders.keys import KeyError_, KeyStore

    k = m.KeysMessage("van01", (m.KeyEntry("12345678", "00" * 16, "KAM"),
                                m.KeyEntry("1234,5678", "11" * 16, "A\nB")))
    text = k.to_csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["id", "key", "manufacturer"], ["12345678", "00" * 16, "KAM"], ["1234,5678", "11" * 16, "A\nB"]]
    p = tmp_path / "keys.csv"
    p.write_text(text)
    with pytest.raises(KeyError_, match="entry 2"):
        KeyStore.from_csv(p)
    p.write_text(m.KeysMessage("van01", k.keys[:1]).to_csv())
    assert len(KeyStore.from_csv(p)) == 1
