"""Options shared by env.py and server.db.diff, so `amr db check` compares exactly as autogenerate does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import types
from sqlalchemy.engine import Connection


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations must not import server.models: render our TypeDecorators as the column type they store.
    if type_ == "type" and isinstance(obj, types.TypeDecorator):
        impl = obj.impl_instance if hasattr(obj, "impl_instance") else obj.impl
        if isinstance(impl, types.DateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(impl, types.BigInteger):
            return "sa.BigInteger()"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Other components keep their own tables in the same database (billing's runs and bills): they are not
    # the store's to create, compare or drop.
    if type_ == "table":
        from server.models import Base

        return name in Base.metadata.tables or name == "alembic_version"
    return True


def context_options(conn: Connection) -> dict[str, Any]:
    return {
        "compare_type": True,
        "include_name": include_name,
        "render_item": render_item,
        # SQLite can barely ALTER: let Alembic's batch mode copy and move tables.
        "render_as_batch": conn.dialect.name == "sqlite",
    }
