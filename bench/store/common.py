"""Shared set-up for the store benchmarks: a throw-away PostgreSQL schema, migrated to head."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from server.store import Store

PG_URL = os.environ.get("AMR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def pg_store(base_url: str = PG_URL, **kw) -> Iterator[Store]:
    schema = f"bench_store_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    store = Store(f"{base_url}{sep}options=-csearch_path%3D{schema}", **kw)
    try:
        store.upgrade()
        yield store
    finally:
        store.close()
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
