"""Reading-store commands: `amr db`, `amr import`, `amr routes`, `amr redecode`.

Every command takes `--db URL` (default: $AMR_DB_URL, else sqlite:///var/amr.sqlite). Bad input files
end with a message naming file, line and field, and exit status 2; nothing is half-imported.
"""

from __future__ import annotations

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
