"""`amr listen SOURCE...`: hear frames from one or more sources, decode them, print them live.

JSON lines on a pipe (one object per frame: the frame's metadata plus its decode outcome), a live
table on a terminal. On exit the counters per source and per rejection reason go to stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import click

from collector.sources.base import Source, SourceError, open_source
from collector.sources.multi import MultiSource
from decoders.frame import Frame


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set | tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    return value


def outcome(result: Any) -> dict[str, Any]:
    """A decode result as plain JSON-able data (works for `Decoded` and `Rejection`)."""
    if result is None:
        return {}
    if getattr(result, "ok", False):
        ident = result.identity
        return {
            "ok": True,
            "manufacturer": ident.manufacturer, "id": ident.id, "version": ident.version,
            "device_type": ident.device_type, "driver": result.driver, "media": result.media,
            "security": result.security, "fields": _jsonable(result.fields),
            "readings": [_jsonable(r) for r in result.readings],
            "alarms": sorted(a.value for a in result.alarms),
        }
    ident = getattr(result, "identity", None)
    return {"ok": False, "reason": _jsonable(result.reason), "detail": result.detail,
            "id": ident.id if ident else None, "manufacturer": ident.manufacturer if ident else None}


class Listener:
    """Pull frames from a source, decode each, and hand (frame, outcome) to `emit`."""

    def __init__(self, source: Source, *, decode: bool = True, keys_path: Path | None = None,
                 emit: Callable[[Frame, dict[str, Any]], None] | None = None,
                 record: Callable[[Frame], None] | None = None):
        self.source = source
        self.emit = emit or (lambda f, o: None)
        self.record = record
        self.rejections: Counter[str] = Counter()
        self.decoded = 0
        self.frames = 0
        self._decode = None
        if decode:
            try:
                import decoders
                from decoders.state import DecoderState
            except ImportError:  # the decoding core is optional for a bare listen
                decoders = None  # type: ignore[assignment]
            if decoders is not None and hasattr(decoders, "decode"):
                keys = None
                if keys_path is not None:
                    keys = decoders.KeyStore.load(keys_path)
                state = DecoderState()
                self._decode = lambda t: decoders.decode(t, keys=keys, state=state)

    def handle(self, frame: Frame) -> dict[str, Any]:
        self.frames += 1
        if self.record is not None:
            self.record(frame)
        result: dict[str, Any] = {}
        if self._decode is not None:
            try:
                result = outcome(self._decode(frame.telegram))
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the van
                result = {"ok": False, "reason": "DECODER_ERROR", "detail": repr(exc)}
            if result.get("ok"):
                self.decoded += 1
            else:
                self.rejections[str(result.get("reason"))] += 1
        self.emit(frame, result)
        return result

    def run(self, *, count: int | None = None, duration: float | None = None,
            stop: Callable[[], bool] = lambda: False) -> None:
        deadline = None if duration is None else time.monotonic() + duration
        while not stop():
            if count is not None and self.frames >= count:
                return
            timeout = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if timeout <= 0:
                return
            frame = self.source.recv(timeout=timeout)
            if frame is None:
                if self.source.exhausted or self.source.closed:
                    return
                continue
            self.handle(frame)

    def summary(self) -> dict[str, Any]:
        per_source = self.source.counters_by_source() if isinstance(self.source, MultiSource) else \
            {self.source.name: self.source.counters.to_dict()}
        return {"frames": self.frames, "decoded": self.decoded,
                "decode_rejected": dict(self.rejections), "sources": per_source}


def _json_emit(out: Any) -> Callable[[Frame, dict[str, Any]], None]:
    def emit(frame: Frame, result: dict[str, Any]) -> None:
        row = frame.to_dict()
        row["decoded"] = result
        out.write(json.dumps(row, default=str) + "\n")
        out.flush()
    return emit


class _Table:
    """A live rich table of the most recent frames."""

    def __init__(self, rows: int = 25):
        from rich.console import Console
        from rich.live import Live

        self.rows: deque[tuple[str, ...]] = deque(maxlen=rows)
        self.console = Console(stderr=False)
        self.live = Live(self._render(), console=self.console, refresh_per_second=8)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title="amr listen", expand=True)
        for col in ("time (UTC)", "source", "mode", "RSSI", "CRC", "meter", "driver", "outcome"):
            table.add_column(col, overflow="fold")
        for row in self.rows:
            table.add_row(*row)
        return table

    def emit(self, frame: Frame, result: dict[str, Any]) -> None:
        if result.get("ok"):
            meter = f"{result['manufacturer']} {result['id']}"
            first = next(iter(result.get("fields", {}).items()), None)
            shown = f"{first[0]}={first[1]}" if first else "decoded"
            driver = result.get("driver") or "generic"
        else:
            meter = f"{result.get('manufacturer') or ''} {result.get('id') or ''}".strip()
            shown = str(result.get("reason", "")) if result else "-"
            driver = ""
        rssi = "" if frame.rssi_dbm is None else f"{frame.rssi_dbm:.0f}"
        crc = {True: "ok", False: "BAD", None: "?"}[frame.crc_ok]
        self.rows.append((frame.received_at.strftime("%H:%M:%S.%f")[:-3], frame.source, frame.link_mode or "",
                          rssi, crc, meter, driver, shown))
        self.live.update(self._render())


@click.command("listen")
@click.argument("specs", metavar="SOURCE...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines even on a terminal.")
@click.option("--table", "as_table", is_flag=True, help="Live table even when not on a terminal.")
@click.option("--keys", "keys_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="AES keys (CSV id,key[,manufacturer] or TOML).")
@click.option("--no-decode", is_flag=True, help="Print frames only.")
@click.option("--count", type=int, help="Stop after this many frames.")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--speed", type=float, help="Replay speed for log: sources (0 = as fast as possible).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path),
              help="Also append every frame to this raw capture file (JSON lines).")
def listen(specs: tuple[str, ...], as_json: bool, as_table: bool, keys_path: Path | None, no_decode: bool,
           count: int | None, duration: float | None, speed: float | None, record: Path | None) -> None:
    """Listen to SOURCE(s), e.g. im871a:/dev/ttyUSB0:t1,c1  log:drive.jsonl  rtltcp:localhost:1234."""
    sources: list[Source] = []
    try:
        for spec in specs:
            opts: dict[str, Any] = {}
            if speed is not None and spec.startswith("log:"):
                opts["speed"] = speed
            sources.append(open_source(spec, **opts))
    except SourceError as exc:
        for s in sources:
            s.close()
        raise click.ClickException(str(exc)) from exc
    source: Source = sources[0] if len(sources) == 1 else MultiSource(sources)
    table = None
    if as_table or (not as_json and sys.stdout.isatty()):
        table = _Table()
    emit = table.emit if table is not None else _json_emit(sys.stdout)
    writer = None
    if record is not None:
        from collector.sources.logs import CaptureWriter

        writer = CaptureWriter(record)
    listener = Listener(source, decode=not no_decode, keys_path=keys_path, emit=emit,
                        record=writer.write if writer else None)
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: Any) -> None:
        stopping["flag"] = True

    old = signal.signal(signal.SIGTERM, on_signal)
    try:
        if table is not None:
            with table.live:
                listener.run(count=count, duration=duration, stop=lambda: stopping["flag"])
        else:
            listener.run(count=count, duration=duration, stop=lambda: stopping["flag"])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        source.close()
        if writer is not None:
            writer.close()
        click.echo(json.dumps({"summary": listener.summary()}, default=str), err=True)
