"""Fixtures for the collector area: frames, telegrams and outboxes."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.simdrive import telegram
from decoders.frame import Frame

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def frame(i: int = 0, *, acc: int | None = None, meter: str = "12345678", rssi: float | None = -80.0,
          at: dt.datetime | None = None, source: str = "test", volume_l: int = 1000) -> Frame:
    tg = telegram("APA", meter, 0x14, 0x07, acc if acc is not None else i & 0xFF, volume_l + i)
    return Frame(tg, at or T0 + dt.timedelta(seconds=i), source, link_mode="T1", rssi_dbm=rssi)


@pytest.fixture
def make_frame():
    return frame
