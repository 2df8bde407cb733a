"""A process-local broadcast channel: the test fake every other part of the collector can use.

Every `VirtualSource` on a channel receives every frame sent to that channel after it was opened
(like python-can's virtual bus). `end_channel` marks the stream finished so iteration ends.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from collector.sources.base import Source, SourceExhausted, refuse_unknown_options
from decoders.frame import Frame

_END = object()
_lock = threading.Lock()
_channels: dict[str, list[queue.Queue[Any]]] = {}


def send(channel: str, item: Frame | bytes, **meta: Any) -> int:
    """Deliver a Frame (kept as is) or raw telegram bytes (framed by each receiver with `meta`).

    Returns how many sources received it.
    """
    with _lock:
        queues = list(_channels.get(channel, ()))
    for q in queues:
        q.put((item, meta))
    return len(queues)


def end_channel(channel: str) -> None:
    """Tell every source currently on `channel` that no more frames will come."""
    with _lock:
        queues = list(_channels.get(channel, ()))
    for q in queues:
        q.put(_END)


class VirtualSource(Source):
    kind = "virtual"

    def __init__(self, channel: str = "default", **options: Any):
        refuse_unknown_options("virtual", options)
        super().__init__(f"virtual:{channel or 'default'}")
        self.channel = channel or "default"
        self._queue: queue.Queue[Any] = queue.Queue()
        with _lock:
            _channels.setdefault(self.channel, []).append(self._queue)

    def send(self, item: Frame | bytes, **meta: Any) -> int:
        return send(self.channel, item, **meta)

    def _recv_internal(self, timeout: float) -> Frame | None:
        try:
            entry = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
        if entry is _END:
            raise SourceExhausted(self.channel)
        item, meta = entry
        if isinstance(item, Frame):
            return item
        return self.make_frame(item, **meta)

    def _close_internal(self) -> None:
        with _lock:
            members = _channels.get(self.channel, [])
            if self._queue in members:
                members.remove(self._queue)
            if not members:
                _channels.pop(self.channel, None)
        self._queue.put(_END)  # wake a reader blocked in another thread
