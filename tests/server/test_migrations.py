"""Alembic on both databases: upgrade from empty, downgrade to base and up again, models == migrations."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from server import db
from server.models import Base, DeadLetter
from server.store import Store


def _tables(url: str) -> set[str]:
    e = db.make_engine(url)
    try:
        return set(sa.inspect(e).get_table_names()) - {"alembic_version"}
    finally:
        e.dispose()


def test_upgrade_downgrade_upgrade_and_check(db_url: str):
    assert _tables(db_url) == set()
    db.upgrade(db_url)
    head = ScriptDirectory.from_config(db.alembic_config(db_url)).get_current_head()
    assert db.current(db_url) == head
    assert _tables(db_url) == set(Base.metadata.tables)
    assert db.diff(db_url) == []

    db.downgrade(db_url, "base")
    assert db.current(db_url) is None
    assert _tables(db_url) == set()

    db.upgrade(db_url)
    assert db.diff(db_url) == []


def test_check_notices_drift(db_url: str):
    """The models-vs-migrations check is not vacuous: a schema change the migrations lack is reported."""
    db.upgrade(db_url)
    e = db.make_engine(db_url)
    with e.begin() as c:
        c.exec_driver_sql("CREATE INDEX ix_drift ON readings (unit)")
    e.dispose()
    diffs = db.diff(db_url)
    assert any("ix_drift" in str(d) for d in diffs)


def test_check_ignores_other_components_tables(db_url: str):
    """Billing keeps its own tables in the same database; the store's check must not call them drift."""
    db.upgrade(db_url)
    e = db.make_engine(db_url)
    with e.begin() as c:
        c.exec_driver_sql("CREATE TABLE billing_runs (id INTEGER PRIMARY KEY)")
    e.dispose()
    assert db.diff(db_url) == []


def test_cli_upgrade_and_check(db_url: str):
    from server.cli import db as db_group

    r = CliRunner().invoke(db_group, ["upgrade", "--db", db_url])
    assert r.exit_code == 0, r.output
    assert "at revision" in r.output
    r = CliRunner().invoke(db_group, ["check", "--db", db_url])
    assert r.exit_code == 0 and "match" in r.output
    r = CliRunner().invoke(db_group, ["downgrade", "--db", db_url, "base"])
    assert r.exit_code == 0, r.output
    assert _tables(db_url) == set()


def test_migrations_ship_inside_the_package():
    """`amr db upgrade` must work from an installed package: no alembic.ini, scripts beside the code."""
    cfg = db.alembic_config("sqlite://")
    assert cfg.config_file_name is None
    script = ScriptDirectory.from_config(cfg)
    assert script.dir.startswith(str(db.MIGRATIONS))
    assert list(script.walk_revisions())


def test_each_step_down_and_up_keeps_the_data(db_url: str, master_key):
    """Walk every revision down to the first and back up with rows in the tables: data survives the
    batch-mode table copies on SQLite and the constraint changes on PostgreSQL."""
    import datetime as dt
    from decimal import Decimal

    from server.store import Store

    db.upgrade(db_url)
    s = Store(db_url, master_key=master_key)
    m = s.upsert_meter("APA", "00000001", 1, 7, role="main")
    t0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    s.add_reading(m, "12.5", t0, "manual")
    s.close()
    revs = [r.revision for r in ScriptDirectory.from_config(db.alembic_config(db_url)).walk_revisions()]
    for _ in revs[:-1]:
        db.downgrade(db_url, "-1")
    assert db.current(db_url) == revs[-1]
    db.upgrade(db_url)
    assert db.diff(db_url) == []
    s = Store(db_url, master_key=master_key)
    assert [(r.value, r.value_at) for r in s.readings(meter_id=m)] == [(Decimal("12.5"), t0)]
    assert not s.add_reading(m, "12.5", t0, "manual")  # the natural key is back in force
    s.close()


def _index_defs(url: str) -> dict[str, str]:
    e = db.make_engine(url)
    try:
        with e.connect() as c:
            if e.dialect.name == "postgresql":
                rows = c.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
            else:
                rows = c.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            return {n: d for n, d in rows}
    finally:
        e.dispose()


def test_index_methods_and_predicates(db_url: str):
    """What compare_metadata cannot see: BRIN time indexes on PostgreSQL and the partial reason index, after
    an upgrade from empty and after a down-and-up over the revision that made them."""
    db.upgrade(db_url)
    for step in ("check", "0003", "head"):
        if step != "check":
            (db.downgrade if step == "0003" else db.upgrade)(db_url, step)
        if step == "0003":
            assert "ix_raw_telegrams_meter_id" in _index_defs(db_url)
        defs = _index_defs(db_url)
        reason = defs["ix_raw_telegrams_reject_reason"]
        if step == "0003":
            assert "WHERE" not in reason.upper()
            continue
        assert "WHERE" in reason.upper() and "decode_ok" in reason
        if db_url.startswith("postgresql"):
            assert "USING brin" in defs["ix_raw_telegrams_received_at"]
            assert "USING brin" in defs["ix_readings_value_at"]
            assert "ix_raw_telegrams_meter_id" not in defs


def _columns(url: str) -> set[str]:
    e = db.make_engine(url)
    try:
        return {c["name"] for c in sa.inspect(e).get_columns("dead_letters")}
    finally:
        e.dispose()


def test_migration_0007_up_and_down_keeps_the_dead_letters(db_url: str):
    """0007 adds the dead letters' resolution columns: existing rows come out open, a downgrade drops the
    columns and keeps the rows."""
    new = {"resolved_at", "resolution", "last_replay_at", "last_replay"}
    db.upgrade(db_url, "0006")
    assert not new & _columns(db_url)
    e = db.make_engine(db_url)
    row = {"payload_sha256": b"\x01" * 32, "payload": b"{}", "reason": "not_json", "detail": "",
           "van_code": "van01", "topic": "amr/v1/van01/batches",
           "received_at": dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.UTC)}
    with e.begin() as c:
        c.execute(DeadLetter.__table__.insert().values(**row))
    e.dispose()

    db.upgrade(db_url, "0007")
    assert new <= _columns(db_url) and db.diff(db_url) == []
    s = Store(db_url)
    (d,) = s.dead_letters()
    assert d.open and d.payload == b"{}" and d.resolution is None
    assert s.resolve_dead_letter(d.id, "duplicate", "test") and not s.resolve_dead_letter(d.id, "stored", "again")
    assert s.dead_letter(d.id).resolution == "duplicate"
    s.close()

    db.downgrade(db_url, "0006")
    assert not new & _columns(db_url)
    e = db.make_engine(db_url)
    with e.connect() as c:
        assert c.exec_driver_sql("SELECT reason, van_code FROM dead_letters").all() == [("not_json", "van01")]
    e.dispose()
    db.upgrade(db_url)
    s = Store(db_url)
    assert [x.open for x in s.dead_letters()] == [True]  # a downgrade forgets resolutions: the row is open again
    s.close()
