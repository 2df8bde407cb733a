"""Fixtures shared by every test area. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPUS = FIXTURES / "corpus" / "wmbus_telegrams.jsonl"

PG_URL = os.environ.get("AMR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MQTT_HOST = os.environ.get("AMR_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("AMR_TEST_MQTT_PORT", "1883"))


def load_corpus() -> list[dict]:
    with CORPUS.open() as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return load_corpus()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The local PostgreSQL. In CI it must be there: a missing server fails loudly, it is not skipped."""
    if not _port_open("127.0.0.1", 5432) and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    return PG_URL


@pytest.fixture
def pg_store(pg_url, request):
    """A reading store on the local PostgreSQL in a schema of its own (`<area>_<8 hex>`: bill_..., api_...),
    upgraded to head: yields (store, engine, schema). Afterwards the store is closed and the schema dropped with
    billing's `<schema>_billing` beside it (server.billing.records), so parallel runs never see each other."""
    from sqlalchemy import create_engine, text

    from server.store import Store

    schema = f"{request.path.parent.name[:4]}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        engine = create_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
        store = Store(engine=engine)
        store.upgrade()
        try:
            yield store, engine, schema
        finally:
            store.close()
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            c.execute(text(f"DROP SCHEMA IF EXISTS {schema}_billing CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    if not _port_open(MQTT_HOST, MQTT_PORT) and not os.environ.get("CI"):
        pytest.skip("Mosquitto is not running")
    return MQTT_HOST, MQTT_PORT
