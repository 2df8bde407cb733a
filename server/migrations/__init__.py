"""Alembic migrations for the reading store, run through server.db (no alembic.ini needed)."""
