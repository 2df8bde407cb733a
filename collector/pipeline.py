"""The collector's pipeline: sources -> decode -> dedup -> enrichment -> listeners.

Threads and queues (all bounded):

    source threads --intake--> pipeline thread --+--> OutboxWriter thread   (block: backpressure)
      (one per source)         decode, dedup,    +--> capture writer thread (drop when behind, counted)
                               GPS tag, route    +--> other listeners       (drop when behind, counted)

* The radio side never waits on a sink. Live sources hand frames to the intake queue without blocking;
  if the pipeline falls that far behind, the frame is counted as `intake_overflow` (the receiver's own
  buffer would be overrunning anyway). File sources (replay) block instead, so a replay is lossless.
* The outbox writer is the one sink that must not drop: its queue blocks the pipeline thread when the
  disk is slow, which is the backpressure the intake queue absorbs. It commits in groups (every
  `commit_rows` rows or `commit_interval_s`, whichever first) because a commit per row cannot keep up.
* Route progress runs inline in the pipeline thread: it is a few dict operations, and counts that are
  exact beat counts that lag.
* A row handed to the outbox is durable once the writer's COMMIT returned; `stop()` drains every queue
  and commits what is left, so a clean shutdown loses nothing either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.dedup import Dedup, Observation
from collector.gps import Gps
from collector.route import ForeignMeter, MeterProgress, RouteProgress
from collector.sources.base import Source
from decoders.frame import Frame
from decoders.model import Decoded, Reject, Rejection
from sync.outbox import Outbox, OutboxError, OutboxFull, OutboxItem, Touch, outcome_to_dict

log = logging.getLogger(__name__)
RECV_LOG_LEVEL = 5  # per-frame logging, below DEBUG: silent unless asked for

_STOP = object()


@dataclass(slots=True)
class Heard:
    """One reception after decode, dedup and enrichment: what every listener receives."""

    frame: Frame
    result: Decoded | Rejection
    obs: Observation
    route: MeterProgress | ForeignMeter | None = None


class Listener:
    """A sink. `on_heard` gets every reception (duplicates too: check `ev.obs.first`); `on_raw` every frame
    exactly as the source produced it. Both are called from the pipeline thread unless the listener is
    wrapped in a `QueuedListener`."""

    name = "listener"

    def on_raw(self, frame: Frame) -> None:  # noqa: B027 - optional hook
        pass

    def on_heard(self, ev: Heard) -> None:  # noqa: B027 - optional hook
        pass

    def stop(self) -> None:  # noqa: B027 - optional hook
        pass

    def stats(self) -> dict[str, Any]:
        return {}


class QueuedListener(Listener):
    """Runs a listener on its own thread behind a bounded queue. policy "drop": when the queue is full the
    event is dropped and counted (a slow console or capture disk never stalls the radio); "block": the
    caller waits (only for sinks that must not lose anything)."""

    def __init__(self, inner: Listener, *, maxsize: int = 10_000, policy: str = "drop"):
        if policy not in ("drop", "block"):
            raise ValueError("policy must be 'drop' or 'block'")
        self.inner = inner
        self.name = f"queued-{inner.name}"
        self.policy = policy
        self._q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.errors = 0
        # only queue what the inner listener handles: a capture does not want heard events, and their
        # drops would be counted against it
        self._wants_raw = type(inner).on_raw is not Listener.on_raw
        self._wants_heard = type(inner).on_heard is not Listener.on_heard
        self._t = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._t.start()

    def _put(self, item: Any) -> None:
        if self.policy == "block":
            self._q.put(item)
            return
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def on_raw(self, frame: Frame) -> None:
        if self._wants_raw:
            self._put(("raw", frame))

    def on_heard(self, ev: Heard) -> None:
        if self._wants_heard:
            self._put(("heard", ev))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            kind, payload = item
            try:
                if kind == "raw":
                    self.inner.on_raw(payload)
                else:
                    self.inner.on_heard(payload)
            except Exception:  # one bad sink must not kill the thread that feeds it
                self.errors += 1
                log.exception("listener %s failed", self.inner.name)

    def stop(self) -> None:
        self._q.put(_STOP)
        self._t.join()
        self.inner.stop()

    def stats(self) -> dict[str, Any]:
        return {"queued": self._q.qsize(), "dropped": self.dropped, "errors": self.errors, **self.inner.stats()}


class CaptureListener(Listener):
    """The raw capture: every frame as the source gave it, JSON lines `log:` replays (a last-resort
    record independent of the outbox database)."""

    name = "capture"

    def __init__(self, path: str | Path):
        from collector.sources.logs import CaptureWriter

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._w = CaptureWriter(self.path)

    def on_raw(self, frame: Frame) -> None:
        self._w.write(frame)

    def stop(self) -> None:
        self._w.close()

    def stats(self) -> dict[str, Any]:
        return {"written": self._w.count, "path": str(self.path)}


class OutboxWriter(Listener):
    """The single writer of the outbox: group commits from its own thread.

    First hearings become rows; repeats become touches (count, best RSSI) of the row their first hearing
    made, merged in memory while that row is still waiting for its commit."""

    name = "outbox"

    def __init__(self, outbox: Outbox, *, commit_rows: int = 200, commit_interval_s: float = 0.25,
                 maxsize: int = 4096, on_commit: Callable[[list[int]], None] | None = None,
                 retry_s: float = 2.0, idle_checkpoint_s: float = 30.0):
        self.outbox = outbox
        self.commit_rows = commit_rows
        self.commit_interval_s = commit_interval_s
        self.on_commit = on_commit
        self.retry_s = retry_s
        self.idle_checkpoint_s = idle_checkpoint_s
        self._checkpointed = True
        self._q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self.counters = Counter[str]()
        self.full = False
        self.last_error: str | None = None
        self.last_commit_at: float | None = None
        self._t = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._t.start()

    def on_heard(self, ev: Heard) -> None:
        self._q.put(ev)  # blocks when the disk is behind: backpressure, never loss

    def _run(self) -> None:
        items: dict[bytes, OutboxItem] = {}
        touches: dict[bytes, Touch] = {}
        deadline = 0.0
        stopping = False
        while True:
            pending = bool(items or touches)
            timeout = max(deadline - time.monotonic(), 0.0) if pending else 0.5
            try:
                ev = self._q.get(timeout=timeout) if timeout > 0 else self._q.get_nowait()
            except queue.Empty:
                ev = None
                if not pending:
                    self._maybe_checkpoint()
            if ev is _STOP:
                stopping = True
            elif ev is not None:
                if not pending:
                    deadline = time.monotonic() + self.commit_interval_s
                self._add(ev, items, touches)
                # take whatever else is already queued before deciding to commit
                if len(items) + len(touches) < self.commit_rows and time.monotonic() < deadline:
                    continue
            if (items or touches) and (stopping or len(items) + len(touches) >= self.commit_rows
                                       or time.monotonic() >= deadline):
                self._commit(items, touches, stopping)
            if stopping and self._q.empty():
                if items or touches:
                    self._commit(items, touches, True)
                return

    def _maybe_checkpoint(self) -> None:
        """When the radio has been quiet for a while, fold the WAL back into the database (keeps the -wal
        file, and the next reader's startup, small)."""
        if self._checkpointed or self.last_commit_at is None:
            return
        if time.time() - self.last_commit_at < self.idle_checkpoint_s:
            return
        try:
            self.outbox.checkpoint()
            self.counters["checkpoints"] += 1
        except Exception as e:  # busy with a reader: try again at the next idle moment
            log.debug("idle checkpoint skipped: %s", e)
            return
        self._checkpointed = True

    def _add(self, ev: Heard, items: dict[bytes, OutboxItem], touches: dict[bytes, Touch]) -> None:
        key, f = ev.obs.key, ev.frame
        if ev.obs.first:
            items[key] = OutboxItem(f, outcome_to_dict(ev.result), key, 1, f.rssi_dbm)
            self.counters["rows"] += 1
            return
        self.counters["repeats"] += 1
        it = items.get(key)
        if it is not None:
            it.times_heard += 1
            if f.rssi_dbm is not None and (it.best_rssi is None or f.rssi_dbm > it.best_rssi):
                it.best_rssi = f.rssi_dbm
            if it.last_heard_at is None or f.received_at > it.last_heard_at:
                it.last_heard_at = f.received_at
            return
        t = touches.get(key)
        if t is None:
            touches[key] = Touch(key, 1, f.rssi_dbm, f.received_at)
        else:
            t.count += 1
            if f.rssi_dbm is not None and (t.rssi_dbm is None or f.rssi_dbm > t.rssi_dbm):
                t.rssi_dbm = f.rssi_dbm
            if t.heard_at is None or f.received_at > t.heard_at:
                t.heard_at = f.received_at

    def _commit(self, items: dict[bytes, OutboxItem], touches: dict[bytes, Touch], stopping: bool) -> None:
        while True:
            try:
                seqs, _ = self.outbox.write(items.values(), touches.values())
                break
            except OutboxFull as e:
                # reject-new-and-alarm: keep these in memory and retry; the queue behind us fills and
                # the pipeline slows to the outbox's pace instead of dropping old billing data
                if not self.full:
                    log.error("%s; holding %d rows, collection continues into the raw capture", e, len(items))
                self.full = True
                self.last_error = str(e)
                self.counters["full_retries"] += 1
            except (OutboxError, OSError, Exception) as e:  # sqlite3 errors: disk I/O, locked
                self.last_error = f"{type(e).__name__}: {e}"
                self.counters["write_errors"] += 1
                log.error("outbox write failed (%s); retrying in %.0fs", self.last_error, self.retry_s)
            if stopping and self.counters["full_retries"] + self.counters["write_errors"] > 3:
                log.error("outbox: giving up on %d rows at shutdown; they are in the raw capture", len(items))
                self.counters["lost_at_shutdown"] += len(items)
                items.clear()
                touches.clear()
                return
            time.sleep(self.retry_s)
        self.full = False
        self._checkpointed = False
        self.counters["committed"] += len(seqs)
        self.counters["commits"] += 1
        self.last_commit_at = time.time()
        items.clear()
        touches.clear()
        if self.on_commit is not None:
            self.on_commit(seqs)

    def stop(self) -> None:
        self._q.put(_STOP)
        self._t.join()

    def stats(self) -> dict[str, Any]:
        return {"queued": self._q.qsize(), "full": self.full, "last_error": self.last_error, **self.counters}


def _default_decoder(keys: Any, state: Any) -> Callable[[bytes], Decoded | Rejection]:
    try:
        from decoders import decode
    except ImportError as e:  # the decoder package is broken: still keep every frame (raw) in the outbox
        detail = f"decoder unavailable: {e}"
        return lambda tg: Rejection(Reject.MALFORMED, detail, tg)

    def run(tg: bytes) -> Decoded | Rejection:
        try:
            return decode(tg, keys=keys, state=state)
        except Exception as e:  # the contract says decode never raises; if it does, the frame survives
            return Rejection(Reject.MALFORMED, f"decoder raised {type(e).__name__}: {e}", tg)

    return run


class Pipeline:
    def __init__(self, sources: Iterable[Source], *, outbox: Outbox | None = None,
                 route: RouteProgress | None = None, gps: Gps | None = None, keys: Any = None,
                 dedup: Dedup | None = None, listeners: Iterable[Listener] = (),
                 capture: str | Path | None = None, block_sources: bool = False, intake_size: int = 20_000,
                 decoder: Callable[[bytes], Decoded | Rejection] | None = None,
                 on_commit: Callable[[list[int]], None] | None = None, writer_opts: dict | None = None):
        self.sources = list(sources)
        self.route = route or RouteProgress()
        self.gps = gps
        self.dedup = dedup or Dedup()
        self.block_sources = block_sources
        if decoder is None:
            from decoders.state import DecoderState

            decoder = _default_decoder(keys, DecoderState())
        self.decode = decoder
        self.outbox = outbox
        self.writer = OutboxWriter(outbox, on_commit=on_commit, **(writer_opts or {})) if outbox else None
        self.listeners: list[Listener] = []
        if self.writer is not None:
            self.listeners.append(self.writer)
        if capture is not None:
            self.listeners.append(QueuedListener(CaptureListener(capture), maxsize=50_000))
        self.listeners.extend(listeners)
        self._intake: queue.Queue[Any] = queue.Queue(maxsize=intake_size)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._main: threading.Thread | None = None
        self.counters = Counter[str]()
        self.started_at: float | None = None
        self.last_frame_at: float | None = None
        self.heartbeat: Callable[[], None] | None = None   # e.g. systemd watchdog, called from the loop
        self._done = threading.Event()

    # -- running --

    def start(self) -> Pipeline:
        self.started_at = time.time()
        for src in self.sources:
            t = threading.Thread(target=self._pump, args=(src,), name=f"radio-{src.name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._main = threading.Thread(target=self._loop, name="pipeline", daemon=True)
        self._main.start()
        return self

    def _pump(self, src: Source) -> None:
        try:
            while not self._stop.is_set():
                frame = src.recv(timeout=0.25)
                if frame is None:
                    if src.exhausted or src.closed:
                        break
                    continue
                if self.block_sources:
                    while not self._stop.is_set():
                        try:
                            self._intake.put(frame, timeout=0.25)
                            break
                        except queue.Full:
                            continue
                else:
                    try:
                        self._intake.put_nowait(frame)
                    except queue.Full:
                        self.counters["intake_overflow"] += 1
        except Exception as e:  # a failing source ends only itself
            self.counters["source_errors"] += 1
            log.error("source %s failed: %s", src.name, e)
        finally:
            self._intake.put(_STOP)

    def _loop(self) -> None:
        running = len(self.sources)
        while running > 0:
            try:
                item = self._intake.get(timeout=1.0)
            except queue.Empty:
                if self.heartbeat:
                    self.heartbeat()
                continue
            if item is _STOP:
                running -= 1
                continue
            try:
                self.process(item)
            except Exception as e:  # a bug must not stop collection, nor lose the frame that hit it
                self.counters["pipeline_errors"] += 1
                log.exception("pipeline failed on a frame; storing it raw")
                self._store_raw(item, e)
            if self.heartbeat and self.counters["frames"] % 256 == 0:
                self.heartbeat()
        self._done.set()

    def process(self, frame: Frame) -> Heard:
        """One frame through decode, dedup, enrichment and the listeners (the pipeline thread's job;
        public so tests and benchmarks can drive it synchronously)."""
        self.counters["frames"] += 1
        self.last_frame_at = time.time()
        for lst in self.listeners:
            try:
                lst.on_raw(frame)
            except Exception:
                self.counters["listener_errors"] += 1
                log.exception("listener %s failed", lst.name)
        if frame.position is None and self.gps is not None:
            pos = self.gps.position_at(frame.received_at)
            if pos is not None:
                frame = dataclasses.replace(frame, position=pos)
        result = self.decode(frame.telegram)
        self.counters["decoded" if result.ok else f"rejected_{result.reason}"] += 1  # type: ignore[union-attr]
        obs = self.dedup.observe(frame, result)
        self.counters["unique" if obs.first else "duplicates"] += 1
        match = self.route.observe(frame, result, first=obs.first)
        ev = Heard(frame, result, obs, match)
        if log.isEnabledFor(RECV_LOG_LEVEL):
            log.log(RECV_LOG_LEVEL, "heard %s %s first=%s", frame.telegram[:10].hex(), frame.rssi_dbm, obs.first)
        for lst in self.listeners:
            try:
                lst.on_heard(ev)
            except Exception:  # one broken sink must not starve the others (the outbox first of all)
                self.counters["listener_errors"] += 1
                log.exception("listener %s failed", lst.name)
        return ev

    def _store_raw(self, frame: Frame, err: Exception) -> None:
        if self.writer is None:
            return
        from sync.outbox import telegram_key

        key = telegram_key(frame.telegram)
        rej = Rejection(Reject.MALFORMED, f"collector error: {type(err).__name__}: {err}", frame.telegram)
        self.writer.on_heard(Heard(frame, rej, Observation(key, True, 1, frame.rssi_dbm, False)))

    def wait(self, timeout: float | None = None) -> bool:
        """Until every source is exhausted and the intake is processed (replays); True when done."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stop the sources, process what was already received, flush every listener (final commit)."""
        self._stop.set()
        for src in self.sources:
            with contextlib.suppress(Exception):
                src.close()
        for t in self._threads:
            t.join(timeout=5)
        if self._main is not None:
            self._main.join()
        for lst in self.listeners:
            lst.stop()

    def run(self) -> None:
        """Start, wait for the sources to end (or KeyboardInterrupt), stop cleanly."""
        self.start()
        try:
            while not self.wait(0.5):
                pass
        finally:
            self.stop()

    # -- reading --

    def stats(self) -> dict[str, Any]:
        srcs = {}
        for s in self.sources:
            with contextlib.suppress(Exception):
                srcs[s.name] = s.counters.to_dict()
        return {"frames": dict(self.counters), "intake_queued": self._intake.qsize(), "dedup": self.dedup.stats(),
                "listeners": {lst.name: lst.stats() for lst in self.listeners}, "sources": srcs,
                "started_at": self.started_at, "last_frame_at": self.last_frame_at,
                "gps": self.gps.status() if self.gps is not None else None}
