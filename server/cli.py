"""Reading-store commands: `amr db`, `amr import`, `amr routes`, `amr redecode`, `amr deadletters`.

Every command takes `--db URL` (default: $AMR_DB_URL, else sqlite:///var/amr.sqlite). Bad input files
end with a message naming file, line and field, and exit status 2; nothing is half-imported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from pathlib import Path

import click

DB_OPTION = click.option("--db", "db_url", envvar="AMR_DB_URL", default=None,
                         help="Database URL (default $AMR_DB_URL, else sqlite:///var/amr.sqlite).")


def _store(db_url: str | None):
    from server.store import Store

    return Store(db_url)


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(2)


# --------------------------------------------------------------------------------------- db


@click.group()
def db() -> None:
    """Schema migrations of the reading store."""


@db.command()
@DB_OPTION
@click.argument("revision", default="head")
def upgrade(db_url: str | None, revision: str) -> None:
    """Migrate the database to REVISION (default: head). Creates an empty database from scratch."""
    from server import db as dbm

    url = dbm.database_url(db_url)
    dbm.upgrade(url, revision)
    click.echo(f"{_safe(url)} at revision {dbm.current(url)}")


@db.command()
@DB_OPTION
@click.argument("revision", default="-1")
def downgrade(db_url: str | None, revision: str) -> None:
    """Migrate down to REVISION (default: one step; 'base' drops everything)."""
    from server import db as dbm

    url = dbm.database_url(db_url)
    dbm.downgrade(url, revision)
    click.echo(f"{_safe(url)} at revision {dbm.current(url)}")


@db.command()
@DB_OPTION
def check(db_url: str | None) -> None:
    """Fail (exit 1) if the database schema differs from the models."""
    from server import db as dbm

    diffs = dbm.diff(db_url)
    if diffs:
        for d in diffs:
            click.echo(f"  {d}")
        click.echo(f"{len(diffs)} difference(s) between models and database", err=True)
        sys.exit(1)
    click.echo("models match the database")


@db.command()
@DB_OPTION
def stats(db_url: str | None) -> None:
    """Row counts per table."""
    with _store(db_url) as store:
        for name, n in store.counts().items():
            click.echo(f"{name:22} {n:>12,}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --------------------------------------------------------------------------------------- import


@click.group("import")
def import_() -> None:
    """Import the meter registry, service points or keys from CSV (see server/imports.py for columns)."""


def _run_import(fn, db_url: str | None, path: Path) -> None:
    from server.imports import ImportFileError
    from server.keyvault import KeyVaultError
    from server.store import StoreError

    with _store(db_url) as store:
        try:
            report = fn(store, path)
        except (ImportFileError, StoreError, KeyVaultError) as e:
            _fail(str(e))
    parts = [f"{k}={v}" for k, v in vars(report).items() if v and k not in ("notes",)]
    click.echo(f"{path}: " + ", ".join(parts))
    for note in report.notes:
        click.echo(f"  {note}")


@import_.command("meters")
@DB_OPTION
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_meters(db_url: str | None, path: Path) -> None:
    """Meter registry: manufacturer,id,version,device_type[,role,model,legalised_until,...]."""
    from server.imports import import_meters as fn

    _run_import(fn, db_url, path)


@import_.command("service-points")
@DB_OPTION
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_service_points(db_url: str | None, path: Path) -> None:
    """Service points, accounts, installations and route membership: code[,account,...,meter_id,role,...]."""
    from server.imports import import_service_points as fn

    _run_import(fn, db_url, path)


@import_.command("keys")
@DB_OPTION
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_keys(db_url: str | None, path: Path) -> None:
    """AES keys: id,key[,manufacturer] (the decoders KeyStore CSV). Stored encrypted with the master key."""
    from server.imports import import_keys as fn

    _run_import(fn, db_url, path)


# --------------------------------------------------------------------------------------- routes


@click.group()
def routes() -> None:
    """Routes: which meters each van reads."""


@routes.command("list")
@DB_OPTION
def routes_list(db_url: str | None) -> None:
    """Routes with their van and number of meters."""
    with _store(db_url) as store:
        vans = {v.id: v.code for v in store.vans()}
        for r in store.routes():
            click.echo(f"{r.name:30} van={vans.get(r.van_id, '-'):12} meters={r.meters}")


@routes.command("export")
@DB_OPTION
@click.option("--van", help="Only this van's routes.")
@click.option("--route", help="Only this route.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("routes"),
              show_default=True, help="Directory for the sheets (<route>.<format>).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
def routes_export(db_url: str | None, van: str | None, route: str | None, out_dir: Path, fmt: str) -> None:
    """Write route sheets in the collector's format, with each meter's latest reading."""
    from server.imports import export_routes
    from server.store import StoreError

    with _store(db_url) as store:
        try:
            paths = export_routes(store, out_dir, van=van, route=route, fmt=fmt)
        except StoreError as e:
            _fail(str(e))
    if not paths:
        click.echo("no routes matched", err=True)
    for p in paths:
        click.echo(str(p))


# --------------------------------------------------------------------------------------- redecode


@click.command()
@DB_OPTION
@click.option("--failed", "only_failed", is_flag=True, help="Only telegrams that did not decode before.")
@click.option("--reason", "reasons", multiple=True, help="Only telegrams rejected for this reason (repeatable).")
@click.option("--since", type=click.DateTime(), help="Received at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Received before (UTC).")
@click.option("--workers", type=int, default=None, help="Decoder processes (default: all cores).")
def redecode(db_url: str | None, only_failed: bool, reasons: tuple[str, ...], since, until,
             workers: int | None) -> None:
    """Decode stored raw telegrams again (after a key or driver update) and add the readings that appear."""
    from server.redecode import redecode as run

    def utc(t: dt.datetime | None) -> dt.datetime | None:
        return t.replace(tzinfo=dt.UTC) if t is not None else None

    last = [0.0]

    def progress(r) -> None:
        import time

        if sys.stderr.isatty() and time.monotonic() - last[0] > 1:
            last[0] = time.monotonic()
            click.echo(f"\r{r.telegrams:,} telegrams, {r.readings_new:,} new readings", nl=False, err=True)

    with _store(db_url) as store:
        report = run(store, only_failed=only_failed, reasons=reasons or None, since=utc(since), until=utc(until),
                     workers=workers, progress=progress)
    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(f"{report.telegrams:,} telegrams in {report.seconds:.1f} s ({report.rate:,.0f}/s, "
               f"{report.workers} workers): {report.decoded:,} decoded ({report.newly_decoded:,} newly), "
               f"{report.readings_new:,} new readings, {report.alarms_new:,} new alarms, "
               f"{report.outcome_changed:,} outcomes changed")
    for reason, n in sorted(report.rejected.items(), key=lambda kv: -kv[1]):
        click.echo(f"  rejected {reason}: {n:,}")


# --------------------------------------------------------------------------------------- dead letters


@click.group()
def deadletters() -> None:
    """Review what the importer kept as dead letters and replay it once the cause is fixed
    (server/deadletters.py)."""


def _status(d) -> str:
    return "open" if d.resolved_at is None else f"resolved:{d.resolution}"


def _short(text: str, n: int = 60) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= n else line[:n - 1] + "…"


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds")


@deadletters.command("list")
@DB_OPTION
@click.option("--reason", help="Only this reason (as kept by the importer).")
@click.option("--van", help="Only this van.")
@click.option("--open/--all", "open_only", default=True, show_default=True,
              help="Only dead letters not yet resolved, or all of them.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most this many, oldest first (0: all).")
def deadletters_list(db_url: str | None, reason: str | None, van: str | None, open_only: bool, fmt: str,
                     limit: int) -> None:
    """Dead letters, oldest first: id, received_at, van, reason, detail, payload size, status."""
    import json

    with _database_errors(), _store(db_url) as store:
        rows = store.dead_letter_summaries(reason=reason, van=van, open_only=open_only, limit=limit or None)
    if fmt == "json":
        click.echo(json.dumps([{
            "id": d.id, "received_at": _iso(d.received_at), "van": d.van_code, "reason": d.reason,
            "detail": d.detail, "size": d.size, "status": "open" if d.resolved_at is None else "resolved",
            "resolution": d.resolution, "resolved_at": _iso(d.resolved_at), "last_replay_at": _iso(d.last_replay_at),
            "last_replay": d.last_replay, "topic": d.topic} for d in rows], indent=2))
        return
    if not rows:
        click.echo("no dead letters" + (" open" if open_only else ""), err=True)
        return
    click.echo(f"{'id':>6}  {'received_at':25}  {'van':12}  {'reason':22}  {'size':>8}  {'status':20}  detail")
    for d in rows:
        click.echo(f"{d.id:>6}  {_iso(d.received_at):25}  {d.van_code or '-':12}  {d.reason:22}  {d.size:>8}  "
                   f"{_status(d):20}  {_short(d.detail)}")


@deadletters.command("show")
@DB_OPTION
@click.argument("dead_letter_id", metavar="ID", type=int)
@click.option("--raw", is_flag=True, help="Only the payload's bytes as stored (to correct one by hand and "
                                          "`replay ID --payload FILE`).")
def deadletters_show(db_url: str | None, dead_letter_id: int, raw: bool) -> None:
    """One dead letter in full: its record, and its payload as pretty JSON (hex when it is not JSON)."""
    from server.deadletters import render_payload
    from server.derive import sha256

    with _database_errors(), _store(db_url) as store:
        d = store.dead_letter(dead_letter_id)
    if d is None:
        _fail(f"no dead letter {dead_letter_id}")
    if raw:
        click.echo(d.payload, nl=False)  # bytes: written as they are
        return
    kind, text = render_payload(d.payload)
    for name, value in (("id", d.id), ("received_at", _iso(d.received_at)), ("van", d.van_code or "-"),
                        ("topic", d.topic or "-"), ("reason", d.reason), ("status", _status(d)),
                        ("resolved_at", _iso(d.resolved_at) or "-"), ("last_replay_at", _iso(d.last_replay_at) or "-"),
                        ("last_replay", d.last_replay or "-"),
                        ("payload", f"{len(d.payload)} bytes, {kind}, sha256 {sha256(d.payload).hex()}")):
        click.echo(f"{name + ':':16}{value}")
    click.echo("detail:")
    for line in (d.detail or "-").splitlines() or ["-"]:
        click.echo(f"  {line}")
    click.echo(text)


@deadletters.command("discard")
@DB_OPTION
@click.argument("ids", metavar="ID...", nargs=-1, type=int, required=True)
@click.option("--note", required=True, help="Why (and who): kept with the row, e.g. 'test van, bench data - JK'.")
def deadletters_discard(db_url: str | None, ids: tuple[int, ...], note: str) -> None:
    """Close open dead letters an operator judged worthless (a test van's noise, a payload nobody can repair):
    resolved as `discarded` with the note, so `list` and `replay` stop showing them. The payload stays in the
    table; nothing is deleted. Exit status 1 if any ID was resolved already, 2 if one does not exist."""
    note = " ".join(note.split())
    if not note:
        _fail("--note must say why")
    already = 0
    with _database_errors(), _store(db_url) as store:
        found = {d.id: d for d in store.dead_letter_summaries(ids=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            _fail(f"no dead letter {', '.join(map(str, missing))}")
        for i in dict.fromkeys(ids):
            if found[i].resolved_at is None and store.resolve_dead_letter(i, "discarded", f"discarded: {note}"):
                click.echo(f"{i:>6}  discarded")
            else:
                already += 1
                click.echo(f"{i:>6}  already {_status(store.dead_letter(i))}")
    if already:
        sys.exit(1)


@contextlib.contextmanager
def _database_errors():
    """The database down or unreachable: a message and exit status 2, not a traceback."""
    from sqlalchemy import exc as sa_exc

    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as e:
        _fail(f"database unavailable: {str(e.orig or e).strip().splitlines()[0][:300]}")


@contextlib.contextmanager
def _restore_level(logger, level: int):
    try:
        yield
    finally:
        logger.setLevel(level)


@deadletters.command("replay")
@DB_OPTION
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--reason", help="Only dead letters kept for this reason.")
@click.option("--van", help="Only this van's dead letters.")
@click.option("--dry-run", is_flag=True, help="Check what a replay would do; write nothing.")
@click.option("--trust-van-decode/--decode-on-server", default=False, show_default=True,
              help="As for `amr serve`: use the van's own decodes or decode every raw telegram here.")
@click.option("--payload", "payload_file", type=click.File("rb"),
              help="Replay ONE dead letter (one ID) from this corrected payload instead of the stored one "
                   "(start from `amr deadletters show ID --raw`; '-' reads stdin). The stored payload is kept.")
@click.option("-v", "--verbose", is_flag=True, help="Also show the importer's own log (warnings, tracebacks).")
def deadletters_replay(db_url: str | None, ids: tuple[int, ...], reason: str | None, van: str | None, dry_run: bool,
                       trust_van_decode: bool, payload_file, verbose: bool) -> None:
    """Feed open dead letters (these IDs, else every open one) through the importer again, with the current
    code, keys and registry: stored or duplicate -> resolved; still bad -> stays open with the latest reason
    in last_replay. No MQTT acks are sent. Exit status 1 if any stayed open, 2 on an error."""
    import logging

    from server.deadletters import ReplayAborted, replay

    importer_log = logging.getLogger("server.importer")
    level = importer_log.level
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:  # the outcome line per dead letter says it; the importer's warnings would repeat it
        importer_log.setLevel(logging.CRITICAL)
    repaired = None
    if payload_file is not None:
        if len(ids) != 1:
            _fail("--payload replaces exactly one dead letter: give one ID")
        repaired = payload_file.read()
        if not repaired:
            _fail("--payload: the file is empty")
    counts = {"stored": 0, "repaired": 0, "duplicate": 0, "still_bad": 0, "skipped": 0}
    with _database_errors(), _store(db_url) as store, _restore_level(importer_log, level):
        try:
            for r in replay(store, list(ids) or None, reason=reason, van=van, dry_run=dry_run,
                            trust_van_decode=trust_van_decode, repaired=repaired):
                if r.skipped:
                    counts["skipped"] += 1
                    click.echo(f"{r.id:>6}  skipped    {r.note}")
                    continue
                counts[r.status] += 1
                verb = {"still_bad": "still bad"}.get(r.status, r.status)
                click.echo(f"{r.id:>6}  {('would be ' + verb) if dry_run else verb:{19 if dry_run else 10}} "
                           f"{r.kind:5}  {r.note}")
        except KeyError as e:
            _fail(f"no dead letter {e.args[0]}")
        except ReplayAborted as e:
            _fail(str(e))
    summary = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
    click.echo(("dry run, nothing written: " if dry_run else "") + summary, err=True)
    if counts["still_bad"]:
        sys.exit(1)
