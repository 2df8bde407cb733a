"""Sync fixtures: a private Mosquitto from the shipped config on free loopback ports, a PostgreSQL schema of
our own in the shared `test` database, and helpers to fill an outbox and wait for the store."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from decoders.frame import Frame, Position
from sync.localbroker import LocalBroker
from sync.mqttconf import BrokerSettings
from sync.outbox import Outbox, OutboxItem
from tests.telegrams import water_telegram

ROOT = Path(__file__).resolve().parents[2]
VANS = ["van01", "van02", "van03"]
T0 = dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session", autouse=True)
def _need_mosquitto() -> None:
    if shutil.which("mosquitto") is None and not os.environ.get("CI"):
        pytest.skip("mosquitto binary not installed")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    b = LocalBroker(tmp_path / "broker", users=["importer", *VANS]).start()
    yield b
    b.stop()


def settings_for(b: LocalBroker, user: str, *, tls: bool = False, **kw) -> BrokerSettings:
    if tls:
        return BrokerSettings("localhost", b.tls_port, user, b.passwords[user], ca_file=str(b.ca_file), **kw)
    return BrokerSettings("127.0.0.1", b.plain_port, user, b.passwords[user], **kw)


def url_for(b: LocalBroker, user: str) -> str:
    return f"mqtt://{user}:{quote(b.passwords[user], safe='')}@127.0.0.1:{b.plain_port}"


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A throw-away schema in the shared test database: other areas' tables are never touched."""
    import sqlalchemy as sa

    schema = f"sync_{uuid.uuid4().hex[:10]}"
    eng = sa.create_engine(pg_url)
    with eng.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    with eng.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture
def store(pg_schema_url: str):
    from server.store import Store

    s = Store(pg_schema_url)
    s.upgrade()
    for v in VANS[:2]:  # van03 has broker credentials but is not registered in the store
        s.add_van(v)
    yield s
    s.close()


def make_frames(n: int, *, start: int = 0) -> list[Frame]:
    return [
        Frame(water_telegram(10_000_000 + k, 100_000 + 7 * k, k), T0 + dt.timedelta(milliseconds=k), "virtual:test",
              "T1", "A", -70.0 - k % 30, position=Position(52.0 + k * 1e-6, 21.0, 30.0))
        for k in range(start, start + n)
    ]


def fill_outbox(path: Path, van: str, frames: list[Frame], chunk: int = 500) -> list[int]:
    seqs: list[int] = []
    with Outbox(path, van_id=van) as ob:
        for i in range(0, len(frames), chunk):
            seqs += ob.append([OutboxItem.from_result(f, None) for f in frames[i:i + chunk]])
    return seqs


def stored_telegrams(store) -> list[bytes]:
    """Every raw telegram row in the store (duplicates would show up as repeated values)."""
    import sqlalchemy as sa

    from server.models import RawTelegram

    with store.engine.connect() as c:
        return [bytes(r[0]) for r in c.execute(sa.select(RawTelegram.telegram))]


def stored_readings(store) -> list[tuple]:
    """Natural keys of every reading row (meter, quantity, storage, value_at)."""
    import sqlalchemy as sa

    from server.models import Reading

    with store.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.select(Reading.meter_id, Reading.quantity, Reading.storage,
                                                             Reading.value_at))]


def wait_until(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def spawn(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    f = log.open("ab")
    try:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    finally:
        f.close()
