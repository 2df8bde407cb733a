"""The one module with dialect-specific SQL: idempotent bulk writes.

`insert_ignore(conn, table, rows, key)` inserts rows and silently skips any whose natural key `key` is
already present, so replaying a batch changes nothing. It picks the path by dialect and size:

- SQLite: `INSERT … ON CONFLICT (key) DO NOTHING` as one Core executemany;
- PostgreSQL, fewer than `COPY_THRESHOLD` rows: one multi-row `INSERT … VALUES … ON CONFLICT DO NOTHING
  RETURNING`;
- PostgreSQL, more: binary COPY into a session-local temp staging table, then
  `INSERT … SELECT … ON CONFLICT (key) DO NOTHING` (engineering.md §5.2 measured this ~2.4x faster than
  executemany; still idempotent).

Both return how many rows were new. Everything runs on the caller's connection, inside the caller's
transaction: a batch is all or nothing.

`update_by_id(conn, table, rows)` updates many rows by primary key (PostgreSQL: COPY into staging and one
UPDATE … FROM above the threshold). `upsert(...)` is INSERT … ON CONFLICT DO UPDATE for registry rows.

`resolve_meters(conn, identities)` maps (manufacturer, address, version, device_type) tuples to meter ids,
creating rows for devices heard for the first time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from server.models import Meter, Micro, UTCDateTime, to_micro

_UTC = dt.UTC

# Rows per statement above which PostgreSQL goes through COPY: the staging round trips cost about as much
# as a few dozen rows of VALUES.
COPY_THRESHOLD = 64
SELECT_CHUNK = 500

Row = Mapping[str, Any]


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Row] | Sequence[tuple], key: Sequence[str], *,
                  columns: Sequence[str] | None = None) -> int:
    """`columns`: the rows are tuples in that column order (the importer's bulk path, no dict per row)."""
    if not rows:
        return 0
    name = conn.dialect.name
    if columns is not None:
        if name == "postgresql" and len(rows) >= COPY_THRESHOLD:
            return _copy_merge(conn, table, rows, key, list(columns))
        cols = tuple(columns)
        rows = [dict(zip(cols, r, strict=True)) for r in rows]
    index = list(key)
    if name == "sqlite":
        # sqlite3 sums executemany rowcounts exactly, so no RETURNING is needed to count what was new.
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=index)
        return max(conn.execute(stmt, [dict(r) for r in rows]).rowcount, 0)
    if name == "postgresql":
        if len(rows) >= COPY_THRESHOLD:
            return _copy_merge(conn, table, rows, key)
        # psycopg reports rowcount -1 for executemany, and RETURNING under executemany runs row by row:
        # one multi-row VALUES statement is a single round trip and RETURNING counts it exactly.
        stmt = (postgresql.insert(table).values(_in_key_order(rows, index))
                .on_conflict_do_nothing(index_elements=index).returning(table.c[next(iter(rows[0]))]))
        return len(conn.execute(stmt).all())
    raise NotImplementedError(f"no idempotent insert for dialect {name!r}")


def _in_key_order(rows: Sequence[Row], key: Sequence[str]) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    # Key order = lock order: concurrent importers inserting overlapping rows wait, never deadlock.
    with contextlib.suppress(TypeError):  # a NULL in a key column: keep the given order
        out.sort(key=lambda r: tuple(r[k] for k in key))
    return out


def upsert(
    conn: Connection, table: Table, rows: Sequence[Row], key: Sequence[str], overwrite: Sequence[str] | None = None
) -> None:
    """Insert rows; where the natural key exists, overwrite the `overwrite` columns (default: all non-key)."""
    if not rows:
        return
    name = conn.dialect.name
    if name == "postgresql":
        stmt = postgresql.insert(table)
    elif name == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise NotImplementedError(f"no upsert for dialect {name!r}")
    cols = overwrite if overwrite is not None else [c for c in rows[0] if c not in key]
    if cols:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in cols})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, [dict(r) for r in rows])


def _python_defaults(table: Table, present: Sequence[str]) -> dict[str, Any]:
    """COPY bypasses SQLAlchemy's Python-side column defaults (created_at …): evaluate them once."""
    extra: dict[str, Any] = {}
    for c in table.c:
        d = c.default
        if c.name in present or c.primary_key or d is None:
            continue
        if d.is_callable:
            extra[c.name] = d.arg(None)  # type: ignore[attr-defined]
        elif d.is_scalar:
            extra[c.name] = d.arg  # type: ignore[attr-defined]
    return extra


_STAGE_TYPES: dict[tuple[str, str], dict[str, int]] = {}


def _copy_to_stage(conn: Connection, cursor: Any, table: Table, rows: Sequence[Row] | Sequence[tuple],
                   cols: list[str], tail: dict[str, Any], *, tuples: bool = False) -> tuple[str, str]:
    """Binary-COPY rows (dicts, or tuples in `cols` order) into a session-local staging table shaped like
    `table`'s columns; returns its name and the quoted column list."""
    all_cols = cols + list(tail)
    # One staging table per column set: callers may offer different subsets of a table's columns.
    stage = f"_stage_{table.name}_{zlib.crc32(','.join(all_cols).encode()):08x}"
    col_sql = ", ".join(f'"{c}"' for c in all_cols)
    # Emptied at commit, so one CREATE per pooled connection rather than one per batch.
    # One round trip; DELETE because the table is only emptied at COMMIT (a second use in one transaction).
    cursor.execute(
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS '
        f'AS SELECT {col_sql} FROM "{table.name}" WITH NO DATA; DELETE FROM "{stage}"'
    )
    # Binary COPY costs the client about a third of text COPY; it needs every column's type up front. Type
    # OIDs (int8, varchar, …) do not change with the session, so they are looked up once per column set.
    cache_key = (str(conn.engine.url), stage)
    oids = _STAGE_TYPES.get(cache_key)
    if oids is None:
        cursor.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                       (f'"{stage}"',))
        oids = _STAGE_TYPES[cache_key] = dict(cursor.fetchall())
    write = _row_writer(table, cols, conn.dialect, tuples=tuples)
    tail_values = list(tail.values())
    with cursor.copy(f'COPY "{stage}" ({col_sql}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types([oids[c] for c in all_cols])
        write_row = copy.write_row
        for r in rows:
            write_row(write(r, tail_values))
    return stage, col_sql


def _row_writer(table: Table, cols: list[str], dialect: Any, *, tuples: bool = False
                ) -> Callable[[Any, list[Any]], list[Any]]:
    """row dict -> COPY values in `cols` order (+ tail), with the columns' TypeDecorator conversions. This runs
    once per row of every bulk write (five rows per frame at ingest), so the common cases skip the generic
    call: an aware UTC datetime is already what UTCDateTime would bind on PostgreSQL, and Micro is to_micro."""
    if tuples:
        def get(r: tuple) -> tuple:
            return r
    else:
        get = itemgetter(*cols) if len(cols) > 1 else (lambda r, _c=cols[0]: (r[_c],))
    utc: list[tuple[int, Any]] = []
    micro: list[int] = []
    other: list[tuple[int, Any]] = []
    for i, c in enumerate(cols):
        typ = table.c[c].type
        if not isinstance(typ, TypeDecorator):
            continue
        if isinstance(typ, UTCDateTime) and dialect.name == "postgresql":
            utc.append((i, typ))
        elif isinstance(typ, Micro):
            micro.append(i)
        else:
            other.append((i, typ))
    if not (utc or micro or other):
        return lambda r, tail: [*get(r), *tail]

    def write(r: Row, tail: list[Any]) -> list[Any]:
        values = [*get(r), *tail]
        for i, typ in utc:
            v = values[i]
            if v is not None and v.tzinfo is not _UTC:  # naive or another zone: the type's own rules
                values[i] = typ.process_bind_param(v, dialect)
        for i in micro:
            v = values[i]
            if v is not None:
                values[i] = to_micro(v)
        for i, typ in other:
            values[i] = typ.process_bind_param(values[i], dialect)
        return values

    return write


def _copy_merge(conn: Connection, table: Table, rows: Sequence[Row] | Sequence[tuple], key: Sequence[str],
                columns: list[str] | None = None) -> int:
    cols = list(rows[0]) if columns is None else columns
    cursor = conn.connection.driver_connection.cursor()
    try:
        stage, col_sql = _copy_to_stage(conn, cursor, table, rows, cols, _python_defaults(table, cols),
                                        tuples=columns is not None)
        key_sql = ", ".join(f'"{k}"' for k in key)
        # Key order = lock order: concurrent importers inserting overlapping rows wait, never deadlock.
        cursor.execute(
            f'INSERT INTO "{table.name}" ({col_sql}) SELECT {col_sql} FROM "{stage}" ORDER BY {key_sql} '
            f"ON CONFLICT ({key_sql}) DO NOTHING"
        )
        return max(cursor.rowcount, 0)
    finally:
        cursor.close()


def update_by_id(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """UPDATE … WHERE id = :id for many rows; every row carries `id` and the same other keys. PostgreSQL
    takes COPY into staging plus one UPDATE … FROM above COPY_THRESHOLD rows."""
    if not rows:
        return
    cols = [c for c in rows[0] if c != "id"]
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        cursor = conn.connection.driver_connection.cursor()
        try:
            stage, _ = _copy_to_stage(conn, cursor, table, rows, ["id", *cols], {})
            sets = ", ".join(f'"{c}" = s."{c}"' for c in cols)
            cursor.execute(f'UPDATE "{table.name}" t SET {sets} FROM "{stage}" s WHERE t.id = s.id')
        finally:
            cursor.close()
        return
    stmt = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({c: bindparam(c) for c in cols})
    )
    conn.execute(stmt, [{"_id": r["id"], **{c: r[c] for c in cols}} for r in rows])


IdentityKey = tuple[str, str, int, int]


def resolve_meters(conn: Connection, identities: Iterable[IdentityKey], first_heard_at=None) -> dict[IdentityKey, int]:
    wanted = sorted(set(identities))
    if not wanted:
        return {}
    meters: Table = Meter.__table__  # type: ignore[assignment]
    rows = [
        {"manufacturer": m, "address": a, "version": v, "device_type": t, "first_heard_at": first_heard_at}
        for m, a, v, t in wanted
    ]
    insert_ignore(conn, meters, rows, ("manufacturer", "address", "version", "device_type"))
    found: dict[IdentityKey, int] = {}
    ident = tuple_(meters.c.manufacturer, meters.c.address, meters.c.version, meters.c.device_type)
    for i in range(0, len(wanted), SELECT_CHUNK):
        chunk = wanted[i : i + SELECT_CHUNK]
        stmt = select(
            meters.c.id, meters.c.manufacturer, meters.c.address, meters.c.version, meters.c.device_type
        ).where(ident.in_(chunk))
        for mid, m, a, v, t in conn.execute(stmt):
            found[(m, a, v, t)] = mid
    return found
