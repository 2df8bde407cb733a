"""Engines and schema migrations for the reading store.

`database_url()` picks the URL: an explicit argument, else `$AMR_DB_URL`, else the embedded SQLite file
`var/amr.sqlite` (relative to the working directory). PostgreSQL URLs use psycopg 3
(`postgresql+psycopg://user@host/db`); a plain `postgresql://` is rewritten to that driver.

`make_engine(url)` sets SQLite up for a server (WAL, foreign keys on, a busy timeout) and leaves
PostgreSQL alone. `upgrade(url)`, `downgrade(url, rev)` and `check(url)` run Alembic programmatically
from the migrations shipped inside the package, so `amr db upgrade` works from an installed wheel with no
alembic.ini around.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

DEFAULT_SQLITE = Path("var") / "amr.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get("AMR_DB_URL") or f"sqlite:///{DEFAULT_SQLITE}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL plus NORMAL survives process crashes; the vans' outbox keeps anything a power cut could lose.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def alembic_config(url: str | None = None, engine: Engine | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    cfg.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
    )
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(url: str | None = None, revision: str = "head", engine: Engine | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(url, engine), revision)


def downgrade(url: str | None = None, revision: str = "base", engine: Engine | None = None) -> None:
    from alembic import command

    command.downgrade(alembic_config(url, engine), revision)


def current(url: str | None = None, engine: Engine | None = None) -> str | None:
    from alembic.migration import MigrationContext

    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if own:
            engine.dispose()


def diff(url: str | None = None, engine: Engine | None = None) -> list:
    """Differences between the models and the migrated database (empty: they match)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.migrations.env_support import context_options
    from server.models import Base

    own = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts=context_options(conn))
            return compare_metadata(ctx, Base.metadata)
    finally:
        if own:
            engine.dispose()
