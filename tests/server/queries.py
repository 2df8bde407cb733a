"""Small read-only looks into a store for the server tests (a plain module, imported by name)."""

from __future__ import annotations

from sqlalchemy import func, select

from server.models import RawTelegram
from server.store import Store


def count(store: Store, table) -> int:
    with store.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def telegrams(store: Store) -> list[bytes]:
    """Every stored raw telegram, sorted."""
    with store.engine.connect() as c:
        return sorted(bytes(r[0]) for r in c.execute(select(RawTelegram.telegram)))
