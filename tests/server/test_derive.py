"""derive's fast paths against their plain definitions (ingest and `amr redecode` must derive identical rows)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from decoders.model import Decoded, Identity, Reading
from server import derive
from server.models import Reading as ReadingModel

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1)),
       st.sampled_from([0, 60, 120, 330, 345, -570, -600]))
def test_bucket_is_the_epoch_floor(t: dt.datetime, offset_min: int):
    aware = t.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset_min)))
    want = EPOCH + ((aware - EPOCH) // derive.BUCKET) * derive.BUCKET
    assert derive.bucket(aware) == want and derive.bucket(aware).tzinfo is dt.UTC


def test_reading_tuples_are_reading_rows_in_column_order():
    at = dt.datetime(2026, 5, 4, 6, 7, 8, tzinfo=dt.UTC)
    d = Decoded(raw=b"", identity=Identity("KAM", "12345678", 0x1B, 7), c_field=0x44, readings=[
        Reading("volume", 12.345, "m3"), Reading("volume", 11.0, "m3", storage=1),
        Reading("date", dt.date(2026, 4, 30), "", storage=1), Reading("volume", 13.0, "m3"),  # a repeat: dropped
        Reading("error_flags", b"\x01\x02", ""), Reading("volume", None, "m3", storage=2)])
    tuples = derive.reading_tuples(d, at, 7, b"s" * 32, "v1")
    rows = derive.reading_rows(d, at, 7, b"s" * 32, "v1")
    assert rows == [dict(zip(derive.READING_COLUMNS, t, strict=True)) for t in tuples]
    assert set(derive.READING_COLUMNS) <= set(ReadingModel.__table__.c.keys())
    assert [(r["quantity"], r["storage"], r["meter_clock"]) for r in rows] == [
        ("volume", 0, False), ("volume", 1, True), ("date", 1, True), ("error_flags", 0, False)]
    assert rows[1]["value_at"] == dt.datetime(2026, 4, 30, tzinfo=dt.UTC)
    assert rows[0]["value_at"] == dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)
