"""`amr collect` (a whole shift, live) and `amr replay` (recorded IQ or telegram logs, same pipeline).

Only argument parsing and presentation live here; the work is in collector.pipeline.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click

from amr.config import config_option

log = logging.getLogger("amr.collect")

IQ_SUFFIXES = (".cu8", ".cs8", ".cs16", ".cf32", ".sigmf-data", ".sigmf-meta")


# --- systemd --------------------------------------------------------------------------------------

def sd_notify(message: str) -> bool:
    """sd_notify(3) without a dependency: a datagram to $NOTIFY_SOCKET ('@' = abstract namespace)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(message.encode())
        return True
    except OSError:
        return False


class Watchdog:
    """Pings systemd from the pipeline loop (not a side thread), so a stuck radio loop gets restarted."""

    def __init__(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC")
        self.every = int(usec) / 2e6 if usec and usec.isdigit() else None
        self._last = 0.0

    def __call__(self) -> None:
        if self.every is None:
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            sd_notify("WATCHDOG=1")


# --- shared setup ---------------------------------------------------------------------------------

def _setup_logging(level: str, rich_ok: bool) -> None:
    handler: logging.Handler
    if rich_ok:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(name)s: %(message)s"  # journald adds the time
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], format=fmt,
                        force=True)


def _load_route(path: str | None):
    from collector.route import RouteProgress
    from sync.routesheet import RouteSheet, RouteSheetError

    if not path:
        return RouteProgress()
    try:
        return RouteProgress(RouteSheet.load(path))
    except RouteSheetError as e:
        raise click.ClickException(f"route sheet: {e}") from None


def _load_keys(path: str | None):
    if not path:
        return None
    from decoders.keys import KeyStore

    try:
        return KeyStore.load(path)
    except (OSError, ValueError) as e:
        raise click.ClickException(f"keys: {e}") from None


def _open_outbox(path: str | None, van_id: str | None, max_mb: float):
    if not path:
        return None
    from sync.outbox import Outbox, OutboxError

    try:
        return Outbox(path, van_id=van_id, max_bytes=int(max_mb * 1024 * 1024))
    except (OutboxError, OSError) as e:
        raise click.ClickException(f"outbox {path}: {e}") from None
    except Exception as e:  # sqlite3.DatabaseError: not a database, corrupt header
        raise click.ClickException(f"outbox {path}: {type(e).__name__}: {e}") from None


def _open_sources(specs: list[str], **options: Any):
    from collector.sources.base import SourceError, open_source

    out = []
    try:
        for spec in specs:
            out.append(open_source(spec, **options.get(spec, {})))
    except (SourceError, OSError, ValueError) as e:
        for s in out:
            s.close()
        raise click.ClickException(f"source {spec!r}: {e}") from None
    return out


def _start_web(web: str | None, route, outbox, pipeline):
    if not web:
        return None
    from collector.web import CrewServer, CrewState, parse_hostport

    try:
        host, port = parse_hostport(web)
        srv = CrewServer(CrewState(route, outbox=outbox, pipeline_stats=pipeline.stats), host, port).start()
    except (OSError, ValueError) as e:
        raise click.ClickException(f"crew view on {web}: {e}") from None
    log.info("crew view on %s", srv.url)
    return srv


def _summary(pipeline, outbox, elapsed: float) -> dict[str, Any]:
    st = pipeline.stats()
    counts = pipeline.route.counts()
    counts["at_risk"] = len(pipeline.route.at_risk())
    frames = st["frames"].get("frames", 0)
    return {"route_id": pipeline.route.sheet.route_id, "counts": counts, "frames": st["frames"],
            "dedup": st["dedup"], "listeners": st["listeners"], "elapsed_s": round(elapsed, 3),
            "frames_per_s": round(frames / elapsed, 1) if elapsed > 0 else None,
            "outbox": outbox.stats().to_dict() if outbox is not None else None}


def _status_line(pipeline, outbox) -> str:
    c = pipeline.route.counts()
    f = pipeline.counters
    sync = ""
    if outbox is not None:
        s = outbox.stats()
        sync = f" | outbox {s.pending} pending ({s.level}), last ack {s.last_ack_at or 'never'}"
    return (f"read {c['read']}/{c['total']} unread {c['unread']} heard {c['heard']} alarms {c['alarmed']} "
            f"implausible {c['implausible']} out-of-route {c['out_of_route']} | frames {f['frames']} "
            f"unique {f['unique']} dup {f['duplicates']}{sync}")


class RichProgress:
    """Terminal view for a shift: a progress bar for read/total and a line of counts."""

    def __init__(self, pipeline, outbox):
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.pipeline, self.outbox = pipeline, outbox
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn())
        total = max(len(pipeline.route.sheet), 1)
        self.task = self.progress.add_task(f"route {pipeline.route.sheet.route_id} read", total=total)
        self._Group = Group
        self.live = Live(self._render(), refresh_per_second=2, transient=False)

    def _render(self):
        from rich.text import Text

        c = self.pipeline.route.counts()
        self.progress.update(self.task, completed=c["read"])
        return self._Group(self.progress, Text(_status_line(self.pipeline, self.outbox)))

    def __enter__(self):
        self.live.__enter__()
        return self

    def update(self) -> None:
        self.live.update(self._render())

    def __exit__(self, *exc):
        self.update()
        self.live.__exit__(*exc)


# --- amr collect ----------------------------------------------------------------------------------

@click.command()
@config_option("collect")
@click.option("--source", "sources", multiple=True, required=True, metavar="SPEC",
              help="receiver spec, repeatable: im871a:/dev/ttyUSB0:t1,c1  rtlsdr:0  rtltcp:HOST:PORT  "
                   "virtual:CH  log:FILE  auto")
@click.option("--route", "route_path", type=click.Path(dir_okay=False), help="route sheet (CSV or JSON)")
@click.option("--keys", "keys_path", type=click.Path(dir_okay=False), help="AES keys (CSV or TOML)")
@click.option("--gps", "gps_spec", default="none", show_default=True,
              help="none | nmea:PORT[:BAUD] | gpsd[:HOST[:PORT]]")
@click.option("--outbox", "outbox_path", default="var/outbox.db", show_default=True, type=click.Path())
@click.option("--capture", "capture_path", type=click.Path(), default=None,
              help="raw capture (JSON lines) of every frame; default beside the outbox, '-' for none")
@click.option("--web", default=None, metavar="HOST:PORT", help="serve the crew view, e.g. 0.0.0.0:8080")
@click.option("--van-id", default=None, help="stored in the outbox (default: host name)")
@click.option("--max-outbox-mb", default=2048.0, show_default=True, type=float)
@click.option("--duration", type=float, default=None, help="stop after this many seconds (default: run until stopped)")
@click.option("--status-every", type=float, default=60.0, show_default=True,
              help="seconds between status log lines when not on a terminal")
@click.option("--log-level", default="INFO", show_default=True)
def collect(sources, route_path, keys_path, gps_spec, outbox_path, capture_path, web, van_id, max_outbox_mb,
            duration, status_every, log_level):
    """Collect a whole shift: receivers -> decode -> dedup -> GPS/route -> outbox (+ crew view).

    Stops cleanly on SIGTERM or Ctrl-C: what was received is processed and committed first."""
    from collector.gps import GpsError, open_gps
    from collector.pipeline import Pipeline

    tty = sys.stderr.isatty() and not os.environ.get("INVOCATION_ID")  # INVOCATION_ID: under systemd
    _setup_logging(log_level, tty)
    route = _load_route(route_path)
    keys = _load_keys(keys_path)
    try:
        gps = open_gps(gps_spec).start()
    except GpsError as e:
        raise click.ClickException(str(e)) from None
    outbox = _open_outbox(outbox_path, van_id or socket.gethostname(), max_outbox_mb)
    if capture_path is None and outbox_path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        capture_path = str(Path(outbox_path).with_name(f"capture-{stamp}.jsonl"))
    if capture_path == "-":
        capture_path = None
    srcs = _open_sources(list(sources))
    pipeline = Pipeline(srcs, outbox=outbox, route=route, gps=gps, keys=keys, capture=capture_path,
                        block_sources=False)
    pipeline.heartbeat = Watchdog()
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d: stopping after the frames already received", signum)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    web_srv = _start_web(web, route, outbox, pipeline)
    started = time.monotonic()
    pipeline.start()
    sd_notify("READY=1")
    log.info("collecting from %s into %s (route %s, %d meters)", ", ".join(s.name for s in srcs), outbox_path,
             route.sheet.route_id, len(route.sheet))
    try:
        view = RichProgress(pipeline, outbox) if tty else contextlib.nullcontext()
        with view:
            last_status = time.monotonic()
            while not stop.is_set() and not pipeline.wait(0.5):
                if duration is not None and time.monotonic() - started >= duration:
                    break
                if tty:
                    view.update()
                elif time.monotonic() - last_status >= status_every:
                    last_status = time.monotonic()
                    line = _status_line(pipeline, outbox)
                    log.info("%s", line)
                    sd_notify(f"STATUS={line}")
    finally:
        sd_notify("STOPPING=1")
        pipeline.stop()
        gps.stop()
        if web_srv is not None:
            web_srv.stop()
        for s, h in old.items():
            signal.signal(s, h)
    summary = _summary(pipeline, outbox, time.monotonic() - started)
    log.info("shift ended: %s", _status_line(pipeline, outbox))
    if outbox is not None:
        outbox.close()
    click.echo(json.dumps(summary["counts"]))


# --- amr replay -----------------------------------------------------------------------------------

def replay_spec(path: str, speed: float) -> str:
    """FILE -> a source spec: IQ recordings go to the demodulator, anything else is a telegram log."""
    if ":" in path.split("/")[0] and not Path(path).exists():
        return path  # already a spec, e.g. log:drive.jsonl?format=rtlwmbus
    lower = path.lower()
    if lower.endswith(IQ_SUFFIXES):
        return f"iq:{path}" + ("?realtime=1" if speed else "")
    return f"log:{path}" + (f"?speed={speed:g}" if speed else "")


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--route", "route_path", type=click.Path(dir_okay=False))
@click.option("--keys", "keys_path", type=click.Path(dir_okay=False))
@click.option("--outbox", "outbox_path", type=click.Path(), default=None,
              help="write into this outbox (default: a temporary one, discarded)")
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="0 = as fast as possible; 1 = the recorded timing; 10 = ten times faster")
@click.option("--web", default=None, metavar="HOST:PORT")
@click.option("--hold", is_flag=True, help="keep the crew view up after the replay until Ctrl-C")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.option("--log-level", default="WARNING", show_default=True)
def replay(files, route_path, keys_path, outbox_path, speed, web, hold, as_json, log_level):
    """Replay recorded IQ (.cu8/.cs16/...) or telegram logs (capture, rtl_wmbus, rtl_433, ...) through the
    same pipeline as `amr collect`."""
    from collector.pipeline import Pipeline

    if speed < 0:
        raise click.BadParameter("speed must be >= 0", param_hint="--speed")
    _setup_logging(log_level, False)
    route = _load_route(route_path)
    keys = _load_keys(keys_path)
    tmp = None
    if outbox_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="amr-replay-")
        outbox_path = str(Path(tmp.name) / "outbox.db")
    outbox = _open_outbox(outbox_path, "replay", 1e9)
    for f in files:
        spec = replay_spec(f, speed)
        if spec.startswith(("log:", "iq:")) and not Path(spec.split(":", 1)[1].split("?")[0]).exists():
            raise click.ClickException(f"{f}: no such file")
    srcs = _open_sources([replay_spec(f, speed) for f in files])
    # a replay blocks on a full intake instead of dropping: keep that queue short, it is only a buffer
    pipeline = Pipeline(srcs, outbox=outbox, route=route, keys=keys, block_sources=True, intake_size=4096)
    web_srv = _start_web(web, route, outbox, pipeline)
    started = time.monotonic()
    try:
        pipeline.run()
    except KeyboardInterrupt:
        pipeline.stop()
    elapsed = time.monotonic() - started
    summary = _summary(pipeline, outbox, elapsed)
    summary["sources"] = pipeline.stats()["sources"]
    if as_json:
        click.echo(json.dumps(summary, default=str))
    else:
        c = summary["counts"]
        click.echo(f"{summary['frames'].get('frames', 0)} frames in {elapsed:.2f} s "
                   f"({summary['frames_per_s']} frames/s); unique {summary['frames'].get('unique', 0)}, "
                   f"duplicates {summary['frames'].get('duplicates', 0)}")
        click.echo(f"route {summary['route_id']}: read {c['read']}/{c['total']}, unread {c['unread']}, "
                   f"heard without reading {c['heard']}, alarms {c['alarmed']}, implausible {c['implausible']}, "
                   f"at risk {c['at_risk']}, out of route {c['out_of_route']}")
        if tmp is None:
            click.echo(f"outbox {outbox_path}: {summary['outbox']['pending']} rows pending")
    if web_srv is not None and hold:
        click.echo(f"crew view on {web_srv.url} (Ctrl-C to quit)")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
    if web_srv is not None:
        web_srv.stop()
    outbox.close()
    if tmp is not None:
        tmp.cleanup()
