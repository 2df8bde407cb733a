"""`amr demo`: the whole system on one machine, from radio waves to a billing file.

1. Back office before the drive: a synthetic town (amr/town.py) becomes meters.csv, service_points.csv
   and keys.csv, imported into an SQLite store (server.imports) with the readings of the two previous
   monthly drives; the store exports the van's route sheet (Store.route_sheet).
2. Radio: the drive through the town as one IQ capture, cu8 at 1.6 MS/s around 868.95 MHz
   (collector.radio.synth), time-compressed (see amr/town.py).
3. Van: the capture replayed through the collector's pipeline (collector.pipeline: demodulator, decoder
   with the van's keys, dedup, route progress, crash-safe outbox).
4. Sync: the publisher (sync.publisher) sends the outbox over MQTT to an importer (server.importer) that
   commits into the store and acknowledges end to end. Broker: the local Mosquitto on 127.0.0.1:1883 when
   one answers, else a private one started from deploy/mosquitto on a free loopback port when the
   `mosquitto` binary exists, else (said loudly) a direct in-process import without MQTT.
5. Billing for the month before the drive (server.billing.run), then a summary.

Running it again on the same work directory changes nothing in the store: the same frames arrive under new
batch ids and natural keys absorb them; a billing run whose inputs did not change is not recorded twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from amr.town import Town

log = logging.getLogger("amr.demo")

DEFAULT_WORKDIR = Path("var/demo")
ROUTE = "DEMO-KK-1"


class DemoError(RuntimeError):
    """The demo could not complete a step (the message says which and why)."""


# ---------------------------------------------------------------------------------------- progress

class Reporter:
    """Step lines on any stream; the collector's rich progress bar only on a terminal."""

    def __init__(self, *, tty: bool | None = None, quiet: bool = False):
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.steps: dict[str, float] = {}
        self._n = 0

    def line(self, text: str) -> None:
        if not self.quiet:
            click.echo(text)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._n += 1
        self.line(f"[{self._n}] {title} ...")
        t = time.monotonic()
        yield
        self.steps[title] = round(time.monotonic() - t, 2)
        self.line(f"    done in {self.steps[title]:.1f} s")


# ---------------------------------------------------------------------------------------- result

@dataclass
class DemoResult:
    workdir: Path
    van: str
    sync_mode: str                                 # "mqtt:<where>" or "direct (no MQTT)"
    truth: dict[str, Any]
    route: dict[str, int]                          # collector's route counts
    collector: dict[str, Any]                      # frames, unique, duplicates, CRC failures ...
    read_ids: list[str]
    unread_ids: list[str]
    heard_ids: list[str]                           # heard but no usable reading (e.g. no key)
    alarms: list[dict[str, Any]]
    outbox_pending: int
    outbox_committed: int                          # rows the collector committed in this run
    sync: dict[str, Any]
    store_counts: dict[str, int]
    store_new: dict[str, int]                      # rows this run added, per table
    billing: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["workdir"] = str(self.workdir)
        return d


# ---------------------------------------------------------------------------------------- the radio side

def _drive_source(path: Path, town: Town):
    """The IQ file source with frames re-timed to the drive: the capture is time-compressed, so receive
    times and the van's position come from the stream time, not the wall clock."""
    from collector.sources.base import Source, SourceExhausted
    from collector.sources.iq import IqFileSource
    from decoders.frame import Position

    inner = IqFileSource(path, modes="t1,c1")

    class DriveSource(Source):
        kind = "drive"

        def __init__(self) -> None:
            super().__init__(inner.name)
            self.counters = inner.counters
            self.inner = inner

        def _recv_internal(self, timeout: float):
            f = inner.recv(timeout)
            if f is None:
                if inner.exhausted:
                    raise SourceExhausted(self.name)
                return None
            at = town.sim_time(f.stream_time or 0.0)
            lat, lon = town.position((at - town.drive_start).total_seconds())
            return dataclasses.replace(f, received_at=at, position=Position(lat, lon, town.speed_kmh, at))

        def _close_internal(self) -> None:
            inner.close()

        def stats(self) -> dict[str, Any]:
            return inner.stats()

    return DriveSource()


def synthesise(town: Town, directory: Path) -> tuple[Path, dict[str, Any]]:
    """Write the capture (reused when the same town was synthesised before) and the truth."""
    from collector.radio.synth import write_scene

    bursts = town.bursts()
    truth = town.truth_dict(bursts)
    params = {k: v for k, v in dataclasses.asdict(town).items() if k not in ("meters",)}
    digest = hashlib.sha256(json.dumps([params, [(b.telegram.hex(), b.start_s, b.ecn0_db) for b in bursts]],
                                       default=str).encode()).hexdigest()[:16]
    stamp = directory / "capture.sha"
    existing = sorted(directory.glob("drive_*.cu8"))
    if existing and stamp.exists() and stamp.read_text().strip() == digest:
        path = existing[0]
    else:
        for p in directory.glob("drive_*"):
            p.unlink()
        path = write_scene(town.scene(bursts), directory, "drive", "cu8")
        stamp.write_text(digest + "\n")
    (directory / "truth.json").write_text(json.dumps(truth, indent=1))
    truth["capture"] = str(path)
    truth["capture_bytes"] = path.stat().st_size
    return path, truth


# ---------------------------------------------------------------------------------------- brokers

def _mqtt_answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when an anonymous MQTT v5 CONNECT is accepted (a port that is merely open is not enough)."""
    import paho.mqtt.client as mqtt

    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except OSError:
        return False
    ok = threading.Event()
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                    client_id=f"amr-demo-probe-{os.getpid()}")
    c.on_connect = lambda _c, _u, _f, rc, _p: ok.set() if not rc.is_failure else None
    try:
        c.connect(host, port, keepalive=10)
        c.loop_start()
        ok.wait(timeout)
    except OSError:
        return False
    finally:
        with contextlib.suppress(Exception):
            c.disconnect()
            c.loop_stop()
    return ok.is_set()


@dataclass
class BrokerChoice:
    mode: str                       # "system" | "private" | "url" | "direct"
    label: str
    importer: Any = None            # BrokerSettings
    van: Any = None
    broker: Any = None              # LocalBroker to stop

    def close(self) -> None:
        if self.broker is not None:
            self.broker.stop()


def choose_broker(spec: str, workdir: Path, van: str, reporter: Reporter) -> BrokerChoice:
    from sync.mqttconf import BrokerSettings

    expiry = 3600   # a demo session should not linger on a shared broker for a week
    if spec == "direct":
        return BrokerChoice("direct", "direct in-process import (no MQTT, as asked)")
    if spec not in ("auto", "private"):
        s = BrokerSettings.from_url(spec, session_expiry_s=expiry)
        return BrokerChoice("url", f"MQTT broker {s.host}:{s.port}", s, s)
    if spec == "auto" and _mqtt_answers("127.0.0.1", 1883):
        s = BrokerSettings("127.0.0.1", 1883, session_expiry_s=expiry)
        return BrokerChoice("system", "local Mosquitto at 127.0.0.1:1883", s, s)
    if shutil.which("mosquitto"):
        from sync.localbroker import LocalBroker

        b = LocalBroker(workdir / "broker", users=["importer", van], tls=False)
        try:
            b.start()
        except (RuntimeError, OSError, FileNotFoundError) as e:
            reporter.line(f"    could not start a private Mosquitto: {e}")
        else:
            imp = BrokerSettings("127.0.0.1", b.plain_port, "importer", b.passwords["importer"],
                                 session_expiry_s=expiry)
            vs = BrokerSettings("127.0.0.1", b.plain_port, van, b.passwords[van], session_expiry_s=expiry)
            return BrokerChoice("private", f"private Mosquitto on 127.0.0.1:{b.plain_port} "
                                           f"(deploy/mosquitto config, password + ACL)", imp, vs, b)
    why = ("no MQTT broker answers on 127.0.0.1:1883 and " if spec == "auto" else "") + \
        "a private Mosquitto could not be started (is the `mosquitto` binary installed? apt-get install mosquitto)"
    reporter.line(f"    NOTE: {why}; falling back to a DIRECT IN-PROCESS IMPORT without MQTT")
    return BrokerChoice("direct", "direct in-process import (no MQTT broker available)")


def _own_van_importer(van: str):
    """The importer subscribed to this van's batches only: on a shared broker another demo's (or a real
    van's) batches must not be answered by this store."""
    from server.importer import Importer
    from sync import messages as m

    class DemoImporter(Importer):
        @property
        def shared_filter(self) -> str:
            return f"$share/{self.cfg.group}/{m.TOPIC_ROOT}/{van}/batches"

    return DemoImporter


# ---------------------------------------------------------------------------------------- the run

def _master_key(workdir: Path):
    """Sealed AES keys in the store need a master key: the operator's when one is configured, else the
    demo's own in its work directory (never the process environment: the caller may be a test session)."""
    from server.keyvault import MasterKey

    if os.environ.get("AMR_MASTER_KEY") or os.environ.get("AMR_MASTER_KEY_FILE"):
        return MasterKey.load()
    path = workdir / "master.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    return MasterKey(bytes.fromhex(path.read_text().strip()), f"file:{path}")


def _van_id(workdir: Path) -> str:
    return "demo-" + hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:8]


def seed_store(store, town: Town, registry_dir: Path, van: str) -> dict[str, Any]:
    from server.imports import import_keys, import_meters, import_service_points
    from server.store import NewReading

    paths = town.write_registry(registry_dir, route=ROUTE, van=van)
    store.add_van(van, "demo van")
    reports = {"meters": import_meters(store, paths["meters"]),
               "service_points": import_service_points(store, paths["service_points"]),
               "keys": import_keys(store, paths["keys"])}
    ids = {m.address: m.id for m in store.meters(registered_only=True)}
    new = store.add_readings(NewReading(ids[m.meter_id], v, at, "radio", note="previous monthly drive")
                             for m, at, v in town.previous_readings())
    return {"files": {k: str(v) for k, v in paths.items()}, "previous_readings_new": new,
            "imports": {k: str(v) for k, v in reports.items()}}


def run_demo(workdir: Path = DEFAULT_WORKDIR, *, town: Town | None = None, broker: str = "auto",
             period: str | None = None, reporter: Reporter | None = None, sync_timeout_s: float = 120.0) -> DemoResult:
    from collector.pipeline import Pipeline
    from collector.route import RouteProgress
    from decoders.keys import KeyStore
    from server.billing.period import Period
    from server.store import Store
    from sync.outbox import Outbox

    rep = reporter or Reporter()
    town = town or Town()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    master = _master_key(workdir)
    van = _van_id(workdir)
    db_url = f"sqlite:///{(workdir / 'amr.sqlite').resolve()}"
    y, mo = town.drive_start.year, town.drive_start.month
    period_label = period or (f"{y}-{mo - 1:02d}" if mo > 1 else f"{y - 1}-12")   # the month before the drive
    seconds: dict[str, float] = {}

    store = Store(db_url, master_key=master)
    try:
        with rep.step(f"back office: store {db_url}, registry of {len(town.route_meters())} meters, keys, "
                      f"previous readings"):
            store.upgrade()
            before = store.counts()
            seeded = seed_store(store, town, workdir / "registry", van)
            van_dir = workdir / "van"
            van_dir.mkdir(exist_ok=True)
            sheet = store.route_sheet(ROUTE, at=town.drive_start)
            sheet_path = van_dir / "route.csv"
            sheet.dump(sheet_path, "csv")
            shutil.copy(seeded["files"]["keys"], van_dir / "keys.csv")
            rep.line(f"    route sheet {sheet_path}: {len(sheet)} meters; keys for "
                     f"{sum(1 for m in town.route_meters() if m.key is not None and m.key_in_registry)} "
                     f"encrypted meters")

        with rep.step("radio: synthesising the drive as IQ (cu8, 1.6 MS/s, 868.95 MHz)"):
            capture, truth = synthesise(town, workdir / "iq")
            rep.line(f"    {capture} ({truth['capture_bytes'] / 1e6:.0f} MB, {truth['capture_s']:.1f} s of air "
                     f"= a {truth['drive_s'] / 60:.1f} min drive at {town.speed_kmh:.0f} km/h compressed "
                     f"{town.compress:g}x): {truth['bursts']} bursts, {truth['collided_bursts']} collided, "
                     f"{len(truth['foreign_transmitted'])} foreign devices on air")

        choice = choose_broker(broker, workdir, van, rep)
        rep.line(f"    sync: {choice.label}")
        outbox_path = van_dir / "outbox.db"
        outbox = Outbox(outbox_path, van_id=van)
        importer = publisher = istore = None
        try:
            if choice.mode != "direct":
                from server.importer import ImporterConfig, StoreSink
                from sync.publisher import Publisher, PublisherConfig

                istore = Store(db_url, master_key=master)
                sink = StoreSink(istore)
                sink.warm_up()
                importer = _own_van_importer(van)(sink, choice.importer, ImporterConfig(
                    client_id=f"{van}-importer", group=f"{van}-importers", metrics_interval_s=3600)).start()
                if not importer.ready.wait(15):
                    raise DemoError(f"importer did not subscribe on {choice.label}")
                publisher = Publisher(outbox_path, choice.van, PublisherConfig(
                    van_id=van, batch_size=200, ack_timeout_s=30, backoff_min_s=0.2, backoff_max_s=2.0,
                    idle_poll_s=0.1, status_interval_s=0.5)).start()

            with rep.step("van: replaying the capture through the collector (demod, decode, dedup, route, outbox)"
                          + ("; syncing while driving" if publisher else "")):
                route = RouteProgress(sheet)
                keys = KeyStore.load(van_dir / "keys.csv")
                committed: list[int] = []
                radio = _drive_source(capture, town)
                pipeline = Pipeline([radio], outbox=outbox, route=route, keys=keys,
                                    block_sources=True, intake_size=4096, on_commit=committed.extend)
                _run_pipeline(pipeline, outbox, rep)
                pst = pipeline.stats()
                counts = route.counts()

            hop = "store (in-process ingest, no MQTT)" if choice.mode == "direct" else f"{choice.label} -> importer -> store"
            with rep.step(f"sync: outbox -> {hop}"):
                sync_info = _drain(outbox, publisher, importer, store, van, choice, rep, sync_timeout_s)
        finally:
            if publisher is not None:
                publisher.stop()
            if importer is not None:
                importer.stop()
            if istore is not None:
                istore.close()
            choice.close()
        pending = outbox.pending()
        outbox.close()

        with rep.step(f"billing: period {period_label}"):
            billing = _bill(store, Period.parse(period_label), workdir / "billing")

        after = store.counts()
        meters_by_id = {p.meter.meter_id: p for p in route.meters()}
        result = DemoResult(
            workdir=workdir, van=van, sync_mode=choice.label, truth=truth, route=counts,
            collector={"frames": pst["frames"].get("frames", 0), "unique": pst["frames"].get("unique", 0),
                       "duplicates": pst["frames"].get("duplicates", 0),
                       "decoded": pst["frames"].get("decoded", 0),
                       "rejected": {k[9:]: v for k, v in pst["frames"].items() if k.startswith("rejected_")},
                       "crc_failures": radio.inner.demod.stats.crc_failures,
                       "demod": radio.inner.demod.stats.to_dict()},
            read_ids=sorted(k for k, p in meters_by_id.items() if p.status == "read"),
            unread_ids=sorted(k for k, p in meters_by_id.items() if p.status == "unread"),
            heard_ids=sorted(k for k, p in meters_by_id.items() if p.status == "heard"),
            alarms=[a for a in route.alarms() if a["alarms"]], outbox_pending=pending, outbox_committed=len(committed), sync=sync_info,
            store_counts=after, store_new={k: after.get(k, 0) - before.get(k, 0) for k in after},
            billing=billing, seconds={**rep.steps, **seconds, "total": round(time.monotonic() - rep.t0, 2)})
        (workdir / "summary.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
        return result
    finally:
        store.close()


def _run_pipeline(pipeline, outbox, rep: Reporter) -> None:
    from collector.collect_cli import RichProgress, _status_line

    pipeline.start()
    try:
        if rep.tty and not rep.quiet:
            with RichProgress(pipeline, outbox) as view:
                while not pipeline.wait(0.25):
                    view.update()
        else:
            last = time.monotonic()
            while not pipeline.wait(0.25):
                if time.monotonic() - last >= 5:
                    last = time.monotonic()
                    rep.line("    " + _status_line(pipeline, outbox))
    finally:
        pipeline.stop()   # drains the intake and commits the outbox
    rep.line("    " + _status_line(pipeline, outbox))


def _drain(outbox, publisher, importer, store, van: str, choice: BrokerChoice, rep: Reporter,
           timeout_s: float) -> dict[str, Any]:
    """Until the outbox is empty: every committed row acknowledged after the store's commit."""
    start = time.monotonic()
    if publisher is None:
        batches = 0
        while True:
            batch = outbox.lease(500)
            if batch is None:
                break
            store.ingest_batch(van, batch.batch_id, [(r.frame, None) for r in batch.rows])
            outbox.ack(batch.batch_id)
            batches += 1
        return {"mode": "direct", "batches": batches, "seconds": round(time.monotonic() - start, 2)}
    last = 0.0
    while outbox.pending() > 0:
        if time.monotonic() - start > timeout_s:
            st = publisher.status()
            raise DemoError(f"sync did not finish within {timeout_s:.0f} s: {outbox.pending()} rows pending, "
                            f"publisher {st['state']} ({st['last_error']}), importer {importer.metrics}")
        if time.monotonic() - last >= 2:
            last = time.monotonic()
            st = publisher.status()
            rep.line(f"    publisher {st['state']}: {st['rows_acked']} rows acked in {st['batches_acked']} batches, "
                     f"{outbox.pending()} pending")
        time.sleep(0.1)
    st = publisher.status()
    return {"mode": choice.mode, "broker": choice.label, "batches_sent": st["batches_sent"],
            "batches_acked": st["batches_acked"], "rows_acked": st["rows_acked"],
            "batches_resent": st["batches_resent"], "importer": dict(importer.metrics),
            "seconds": round(time.monotonic() - start, 2)}


def _bill(store, period, out_dir: Path) -> dict[str, Any]:
    """Bill the period. A finished run with the same inputs is not recorded again: the demo's second run
    re-bills into `verify/` without recording and reports that the totals match."""
    from sqlalchemy import select

    from server.billing.records import BillingRun, records_engine
    from server.billing.run import run_billing

    with records_engine(store).connect() as conn:
        prev = conn.execute(select(BillingRun).where(
            BillingRun.period_start == period.start, BillingRun.period_end == period.end,
            BillingRun.status == "done").order_by(BillingRun.id.desc())).first()
    if prev is not None:
        res = run_billing(store, period, out_dir=out_dir / "verify", record=False)
        same = (res.billed == prev.service_points and Decimal(res.net) == Decimal(prev.net)
                and Decimal(res.gross) == Decimal(prev.gross))
        if same:
            return {"period": period.label, "run_id": prev.id, "reused": True, "service_points": res.service_points,
                    "billed": res.billed, "exceptions": res.exceptions, "net": str(res.net),
                    "gross": str(res.gross), "files": dict(prev.files or {}), "verify_files": res.files}
    res = run_billing(store, period, out_dir=out_dir)
    return {"period": period.label, "run_id": res.run_id, "reused": False, "service_points": res.service_points,
            "billed": res.billed, "exceptions": res.exceptions, "net": str(res.net), "gross": str(res.gross),
            "files": res.files}


# ---------------------------------------------------------------------------------------- summary

def summary_lines(r: DemoResult) -> list[str]:
    t, c, b = r.truth, r.route, r.billing
    col = r.collector
    out = ["", "=== amr demo: summary ===",
           f"town: {t['route_meters']} meters on the route ({len(t['route_never_in_range'])} never in range of the "
           f"van), {t['foreign_devices']} foreign devices; {t['bursts']} transmissions on air, "
           f"{t['collided_bursts']} in collisions",
           f"collector: {col['demod'].get('bursts', '?')} bursts detected, {col['frames']} frames demodulated "
           f"({col['unique']} unique, {col['duplicates']} repeats), {col['crc_failures']} failed CRC; "
           f"decoded {col['decoded']}, rejected {col['rejected'] or 0}",
           f"route {ROUTE}: read {c['read']} of {c['total']}, missed {c['unread'] + c['heard']} "
           f"({c['unread']} never heard, {c['heard']} heard without a usable reading), "
           f"implausible {c['implausible']}, out of route {c['out_of_route']}",
           f"alarms: {len(r.alarms)}" + (": " + ", ".join(
               f"{a.get('meter_id')} {'/'.join(a.get('alarms', []) or [str(a.get('alarm', ''))])}" for a in r.alarms[:8])
               if r.alarms else ""),
           f"sync: {r.sync_mode}; {r.outbox_committed} rows committed to the outbox, {r.outbox_pending} pending"
           + (f", {r.sync.get('batches_acked')} batches acked end to end" if "batches_acked" in r.sync else ""),
           f"store {r.workdir / 'amr.sqlite'}: " + ", ".join(
               f"{k} {r.store_counts.get(k, 0)} (+{r.store_new.get(k, 0)})"
               for k in ("raw_telegrams", "readings", "alarms", "ingest_batches") if k in r.store_counts),
           f"billing {b['period']}: {b['billed']}/{b['service_points']} service points, net {b['net']} zł, "
           f"gross {b['gross']} zł, {b['exceptions']} exceptions"
           + (f" (run {b['run_id']} unchanged, not recorded again)" if b.get("reused") else f" (run {b['run_id']})"),
           f"billing file: {b['files'].get('bills')}",
           f"exceptions:   {b['files'].get('exceptions')}",
           f"time: {r.seconds.get('total', 0):.1f} s; summary JSON: {r.workdir / 'summary.json'}"]
    return out


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_WORKDIR,
              show_default=True, help="store, capture, outbox and billing files go here (kept between runs)")
@click.option("--broker", default="auto", show_default=True,
              help="auto (127.0.0.1:1883 if it answers, else a private mosquitto, else direct) | private | "
                   "direct | mqtt://HOST:PORT")
@click.option("--meters", "n_main", type=click.IntRange(20, 5000), default=200, show_default=True,
              help="main water meters on the route (garden sub-meters come on top)")
@click.option("--garden", "n_garden", type=click.IntRange(0, 5000), default=30, show_default=True)
@click.option("--foreign", "n_foreign", type=click.IntRange(0, 200), default=30, show_default=True,
              help="other devices on air (heat meters, heat cost allocators, smoke detectors ...)")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--compress", type=float, default=8.0, show_default=True,
              help="time compression of the drive into the capture")
@click.option("--period", default=None, help="billing period YYYY-MM (default: the month before the drive)")
@click.option("--json", "as_json", is_flag=True, help="print the full result as JSON instead of the summary")
@click.option("-q", "--quiet", is_flag=True, help="no progress lines")
def demo(workdir: Path, broker: str, n_main: int, n_garden: int, n_foreign: int, seed: int, compress: float,
         period: str | None, as_json: bool, quiet: bool) -> None:
    """Synthesise a drive through a town as IQ, collect it, sync it over MQTT, store it and bill it."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    town = Town(n_main=n_main, n_garden=min(n_garden, n_main), n_foreign=n_foreign, seed=seed, compress=compress)
    rep = Reporter(quiet=quiet or as_json)
    try:
        result = run_demo(workdir, town=town, broker=broker, period=period, reporter=rep)
    except DemoError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
    else:
        click.echo("\n".join(summary_lines(result)))
