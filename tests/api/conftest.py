"""API fixtures: a sample town in a real store, a fixed clock, staff and account tokens."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from server.api import ApiSettings, create_app
from server.api.auth import hash_password
from server.billing.sample import seed_sample
from server.store import Store

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
from fastapi.testclient import TestClient  # noqa: E402

STAFF = "staff-token-for-tests"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def make_client(store: Store) -> tuple[TestClient, ApiSettings]:
    seed_sample(store)
    store.set_account_password_hash("jan", hash_password("jan-pass"))
    store.set_account_password_hash("ewa", hash_password("ewa-pass"))
    settings = ApiSettings(secret=b"k" * 32, staff_tokens=frozenset({STAFF}))
    return TestClient(create_app(store, settings, clock=lambda: NOW)), settings


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path}/api.sqlite")
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def client(store):
    c, _ = make_client(store)
    return c


@pytest.fixture
def staff() -> dict[str, str]:
    return {"Authorization": f"Bearer {STAFF}"}


def login(client, user: str, password: str) -> dict[str, str]:
    r = client.post("/auth/token", json={"login": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def jan(client) -> dict[str, str]:
    return login(client, "jan", "jan-pass")


@pytest.fixture
def ewa(client) -> dict[str, str]:
    return login(client, "ewa", "ewa-pass")
