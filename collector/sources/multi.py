"""Several sources as one: a thread per source feeds one queue (a stick and the SDR at once)."""

from __future__ import annotations

import queue
import threading
from typing import Any

from collector.sources.base import Source, SourceError, SourceExhausted
from decoders.frame import Frame

_DONE = object()


class MultiSource(Source):
    """Frames of every member in arrival order; each member's own order is kept.

    Exhausted when every member is. A member that fails (e.g. a port that cannot be opened without
    reconnect) ends only itself; the error is kept in `errors` and counted as "SOURCE_FAILED".
    """

    kind = "multi"

    def __init__(self, sources: list[Source], *, name: str | None = None, maxsize: int = 10000):
        super().__init__(name or "+".join(s.name for s in sources))
        self.sources = list(sources)
        self.errors: dict[str, BaseException] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._running = len(self.sources)
        self._threads = [threading.Thread(target=self._pump, args=(s,), name=f"src-{s.name}", daemon=True)
                         for s in self.sources]
        for t in self._threads:
            t.start()

    def _pump(self, source: Source) -> None:
        try:
            while not self.closed:
                frame = source.recv(timeout=0.25)
                if frame is not None:
                    while not self.closed:
                        try:
                            self._queue.put(frame, timeout=0.25)
                            break
                        except queue.Full:
                            continue
                elif source.exhausted or source.closed:
                    break
        except (SourceError, OSError, ValueError) as exc:
            self.errors[source.name] = exc
            self.reject("SOURCE_FAILED", f"{source.name}: {exc}")
        finally:
            self._queue.put(_DONE)

    def _recv_internal(self, timeout: float) -> Frame | None:
        while True:
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                return None
            if item is _DONE:
                self._running -= 1
                if self._running <= 0:
                    raise SourceExhausted(self.name)
                continue
            return item

    def _close_internal(self) -> None:
        for s in self.sources:
            s.close()
        for t in self._threads:
            t.join(timeout=2)

    def counters_by_source(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.counters.to_dict() for s in self.sources}
