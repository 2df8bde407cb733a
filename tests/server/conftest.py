"""Reading-store fixtures: every `store` test runs once on SQLite and once on PostgreSQL.

PostgreSQL isolation: each test gets its own schema (CREATE SCHEMA … ; search_path via the connection's
`options`), dropped afterwards, so engineers running suites in parallel on the shared `test` database
never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.keyvault import MasterKey
from server.store import Store


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey(os.urandom(32), "test")


class PgSchema:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.name = f"amr_store_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)

    @property
    def url(self) -> str:
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}options=-csearch_path%3D{self.name}"

    def __enter__(self) -> PgSchema:
        with self.admin.begin() as c:
            c.exec_driver_sql(f'CREATE SCHEMA "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        with self.admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        self.admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    pg_url = request.getfixturevalue("pg_url")
    with PgSchema(pg_url) as schema:
        yield schema.url


@pytest.fixture
def store(db_url: str, master_key: MasterKey) -> Iterator[Store]:
    s = Store(db_url, master_key=master_key)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()
