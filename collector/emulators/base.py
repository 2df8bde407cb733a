"""A receiver stick on a pseudo-terminal pair, so drivers are tested through real pyserial.

The emulator holds the pty master; the host opens `port` (a symlink to the slave, so it can point at
a new pty after an unplug). A thread answers the host's commands and, once the host has put the stick
into receive mode, sends the queued telegrams in the stick's own framing.

`unplug()` closes the pty (the host's next read fails like a yanked USB stick) and removes the
symlink; `replug()` creates a fresh pty behind the same path. The emulated stick forgets its volatile
configuration on replug, as the real one does on power-up.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import tempfile
import threading
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Transmission:
    """One telegram as the radio would hear it: normalised bytes plus conditions."""

    telegram: bytes               # normalised (starts at L, no CRCs)
    link_mode: str = "T1"
    rssi_dbm: float = -70.0
    frame_format: str = "A"       # how it was sent on air (matters for sticks that pass CRCs on)


class PtyEmulator(ABC):
    kind = "stick"

    def __init__(self, telegrams: Iterable[Transmission | bytes] = (), *, path: str | os.PathLike | None = None,
                 interval: float = 0.0, require_config: bool = True):
        self.interval = interval
        self.require_config = require_config
        self._tx: queue.Queue[Transmission | bytes | None] = queue.Queue()
        for t in telegrams:
            self.add(t)
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix=f"amr-{self.kind}-")
            path = Path(self._tmpdir.name) / f"tty{self.kind.upper()}"
        self.path = Path(path)
        self._master: int | None = None
        self._slave: int | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._plugged = threading.Event()
        self._thread: threading.Thread | None = None
        self._rx = bytearray()
        self.receiving = False   # the host has configured the stick for reception
        self.sent = 0            # telegrams written to the host
        self.dropped = 0         # bytes lost because the host did not read
        self.commands: list[Any] = []  # every host command understood, in order (for tests)
        self._last_sent = 0.0
        self._idle = threading.Condition(self._lock)

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> str:
        return str(self.path)

    def start(self) -> PtyEmulator:
        self._plug()
        self._thread = threading.Thread(target=self._run, name=f"emu-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._unplug()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    def __enter__(self) -> PtyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: a serial line is a byte pipe
        tty.setraw(master)
        os.set_blocking(master, False)
        with self._lock:
            self._master, self._slave = master, slave
            self._rx.clear()
            self.receiving = False
            self.reset_state()
        tmp = self.path.with_name(self.path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        self._plugged.set()

    def _unplug(self) -> None:
        self._plugged.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
            self.receiving = False

    def unplug(self) -> None:
        self._unplug()

    def replug(self) -> None:
        self._plug()

    # --- feeding -----------------------------------------------------------------------------------

    def add(self, item: Transmission | bytes) -> None:
        """Queue a telegram (or raw bytes to write as they are, e.g. garbage) for the host."""
        self._tx.put(item)

    def pending(self) -> int:
        return self._tx.qsize()

    def wait_sent(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def write_raw(self, data: bytes) -> None:
        with self._lock:
            if self._master is None:
                return
            view = memoryview(data)
            give_up = time.monotonic() + 2.0
            while view:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    # The host is not reading: a real stick's UART buffer would overflow and drop.
                    if time.monotonic() > give_up:
                        self.dropped += len(view)
                        return
                    time.sleep(0.001)
                    continue
                except OSError:
                    return
                view = view[n:]

    # --- the stick ------------------------------------------------------------------------------

    def reset_state(self) -> None:  # noqa: B027 - optional hook
        """Forget the volatile configuration (power-up)."""

    @abstractmethod
    def handle_input(self, buf: bytearray) -> None:
        """Consume host bytes from `buf` (framed as the stick expects) and answer via `write_raw`."""

    @abstractmethod
    def encode_telegram(self, t: Transmission) -> bytes | None:
        """A transmission in the stick's output framing, or None when its link mode is not heard."""

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._plugged.wait(0.05):
                continue
            with self._lock:
                master = self._master
            if master is None:
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.005)
            except (OSError, ValueError):
                continue
            if ready:
                try:
                    data = os.read(master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    data = b""  # EIO: the host side is not open (yet); nothing to read
                    time.sleep(0.005)
                if data:
                    with self._lock:
                        self._rx += data
                        self.handle_input(self._rx)
            self._send_due()

    def _send_due(self) -> None:
        # Without an interval, send a burst per loop turn (the host's commands still get answered
        # between bursts); with one, at most one telegram per interval.
        for _ in range(1 if self.interval else 32):
            if self.require_config and not self.receiving:
                return
            if self.interval and time.monotonic() - self._last_sent < self.interval:
                return
            try:
                item = self._tx.get_nowait()
            except queue.Empty:
                return
            if item is None:
                return
            if isinstance(item, bytes | bytearray):
                self.write_raw(bytes(item))
            else:
                data = self.encode_telegram(item)
                if data is not None:
                    self.write_raw(data)
            self.sent += 1
            self._last_sent = time.monotonic()


def load_transmissions(path: str | os.PathLike, *, link_mode: str = "T1",
                       rssi_dbm: float = -70.0) -> list[Transmission]:
    """Telegrams for an emulator from any log format the `log:` source reads (or plain hex lines)."""
    from collector.sources.logs import LogSource

    out = []
    with LogSource(str(path)) as src:
        for frame in src:
            out.append(Transmission(frame.telegram, frame.link_mode or link_mode,
                                    frame.rssi_dbm if frame.rssi_dbm is not None else rssi_dbm,
                                    frame.frame_format or "A"))
    return out
