"""Alembic environment: online migrations only, against server.db's engine for the configured URL."""

from __future__ import annotations

from alembic import context

from server.db import make_engine
from server.migrations.env_support import context_options
from server.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    own = engine is None
    if own:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, **context_options(conn))
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
    finally:
        if own:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run()
