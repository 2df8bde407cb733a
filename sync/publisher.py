"""Outbox -> MQTT. One thread owns the paho client; rows leave the outbox only on the importer's ack.

State machine (one thread, `Publisher.run`):

    OFFLINE --connect ok--> CONNECTING --CONNACK ok--> ONLINE --socket error / DISCONNECT--> OFFLINE
       ^        |                |                                                         |
       |     refused          CONNACK refused                                              |
       +-- wait backoff(n) <-----+---------------------------------------------------------+

- ONLINE: keep up to `max_inflight` batches published and unacknowledged. A batch is leased from the
  outbox, spliced into one `amr.batch` message (sync/messages.py) and published QoS 1.
- A PUBACK only means the broker has it (and Mosquitto may still lose it, engineering.md §3.2). The rows
  are deleted when an `amr.ack` naming the batch id AND its sequence range arrives on
  `amr/v1/<van>/acks`, which the importer sends after its database commit.
- A batch with no ack within `ack_timeout_s` of being sent (or of the last reconnect) is released and
  leased again under a new batch id; the importer is idempotent on natural keys, so a late duplicate
  costs bandwidth, never a double reading.
- Backoff is exponential with full jitter (min..max), reset by a successful CONNACK. While offline
  nothing is published (paho would queue it in memory), so a ten-hour shift without coverage costs no
  RAM: the backlog stays in SQLite.
- Downlink (route sheets, key updates) arrives retained on `amr/v1/<van>/downlink/#` at every connect
  and is written atomically into `downlink_dir`.

Other threads never touch the client: they call `stop()` (an Event) and read `status()` (a snapshot).
The crew view reads the same status from the outbox's meta table with `read_status(outbox)`, so it
works from another process too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync import messages as m
from sync.mqttconf import BrokerSettings, connect_properties, make_client
from sync.outbox import Outbox, UnknownBatch

log = logging.getLogger(__name__)

STATUS_META_KEY = "sync_status"
CONNACK_TIMEOUT_S = 15.0


class State(StrEnum):
    OFFLINE = "offline"        # no connection; waiting for the next attempt
    CONNECTING = "connecting"  # TCP/TLS up, CONNECT sent, waiting for CONNACK
    ONLINE = "online"
    STOPPED = "stopped"


@dataclass
class PublisherConfig:
    van_id: str
    batch_size: int = 500             # rows per MQTT message (~0.5 MB of JSON)
    max_inflight: int = 4             # batches published and not yet acked end to end
    ack_timeout_s: float = 60.0
    ack_timeout_max_s: float = 900.0  # a slow importer doubles our patience up to this (no resend storm)
    backoff_min_s: float = 1.0
    backoff_max_s: float = 300.0
    rejected_backoff_s: float = 600.0  # the server refused to keep our data: do not hammer it
    compress: bool = False            # zlib the payload (cellular links); the importer detects it
    # The van's decode rides along for the crew and for debugging; the server decodes the raw telegram
    # itself by default, so a van on a thin link can leave it out (about half the bytes).
    send_decode: bool = True
    downlink_dir: Path | None = None
    status_interval_s: float = 2.0
    idle_poll_s: float = 0.5          # how often an idle, online publisher looks for new rows
    client_id: str | None = None


class Backoff:
    """Exponential backoff with full jitter: delay n is uniform in [min, min(max, min * 2**n)]."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None):
        if min_s <= 0 or max_s < min_s:
            raise ValueError("need 0 < min_s <= max_s")
        self.min_s, self.max_s = min_s, max_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        cap = min(self.max_s, self.min_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self._rng.uniform(self.min_s, cap)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class InFlight:
    outbox_id: str          # the outbox's own spelling of the batch id
    seq_from: int
    seq_to: int
    rows: int
    mid: int
    sent_at: float
    deadline: float
    puback: bool = False


@dataclass
class SyncStatus:
    state: str = State.OFFLINE.value
    van_id: str = ""
    broker: str = ""
    connected_since: str | None = None
    last_error: str | None = None
    last_ack_at: str | None = None
    inflight_batches: int = 0
    inflight_rows: int = 0
    batches_sent: int = 0
    batches_acked: int = 0
    rows_acked: int = 0
    rows_dead_lettered: int = 0    # acked rows the server kept as dead letters (bad frames, raw)
    batches_resent: int = 0
    acks_ignored: int = 0
    rejected: int = 0
    publish_failures: int = 0
    connects: int = 0
    downlinks: int = 0
    updated_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Publisher:
    def __init__(
        self,
        outbox: Outbox | str | os.PathLike[str],
        broker: BrokerSettings,
        config: PublisherConfig,
        *,
        on_downlink: Callable[[m.RouteMessage | m.KeysMessage], None] | None = None,
    ):
        m.check_van_id(config.van_id)
        self._outbox_arg = outbox
        self.broker = broker
        self.cfg = config
        self.on_downlink = on_downlink
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events: deque[tuple[str, Any]] = deque()  # filled by paho callbacks, drained by run()
        self._inflight: dict[str, InFlight] = {}
        self._by_mid: dict[int, str] = {}
        self._status = SyncStatus(van_id=config.van_id, broker=f"{broker.host}:{broker.port}")
        self._status_lock = threading.Lock()
        self._state = State.OFFLINE
        self._backoff = Backoff(config.backoff_min_s, config.backoff_max_s)
        self._next_attempt = 0.0
        self._pause_until = 0.0
        self._batch_size = config.batch_size
        self._ack_timeout = config.ack_timeout_s
        self._client: mqtt.Client | None = None
        self._outbox: Outbox | None = None
        self._last_status_write = 0.0
        self._status_dirty = True
        self._connect_started = 0.0
        self._idle_until = 0.0

    # ------------------------------------------------------------------ public API (any thread)
    def start(self) -> Publisher:
        self._thread = threading.Thread(target=self.run, name=f"publisher-{self.cfg.van_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        with self._status_lock:
            return asdict(self._status)

    @property
    def state(self) -> State:
        return self._state

    # ------------------------------------------------------------------ the owning thread
    def run(self) -> None:
        own_outbox = not isinstance(self._outbox_arg, Outbox)
        self._outbox = Outbox(self._outbox_arg, van_id=self.cfg.van_id) if own_outbox else self._outbox_arg
        self._client = self._new_client()
        try:
            while not self._stop.is_set():
                try:
                    self._step()
                except Exception as e:  # noqa: BLE001 - e.g. the outbox disk is full or locked: keep trying
                    log.exception("sync step failed; retrying")
                    with self._status_lock:
                        self._status.last_error = f"{type(e).__name__}: {e}"[:300]
                    self._stop.wait(1.0)
        finally:
            self._shutdown(own_outbox)

    def _step(self) -> None:
        now = time.monotonic()
        if self._state is State.OFFLINE:
            if now >= self._next_attempt:
                self._try_connect()
            else:
                self._stop.wait(min(0.2, self._next_attempt - now))
            return
        # Only a turn that can lease something may skip waiting on the socket: with the window open but the
        # outbox found empty (idle poll pending), a zero timeout spun a whole core until the next poll -- on
        # an idle van, and during the last acks of every drain.
        busy = self._state is State.ONLINE and self._can_send() and now >= self._idle_until
        rc = self._client.loop(timeout=0.0 if busy else 0.05)
        self._drain_events()
        if rc != mqtt.MQTT_ERR_SUCCESS and self._state is not State.OFFLINE:
            self._lost(f"network: {mqtt.error_string(rc)}")
            return
        if self._state is State.CONNECTING and now - self._connect_started > CONNACK_TIMEOUT_S:
            # a black-holed link (TCP up, nothing comes back) would otherwise wait forever
            self._lost("no CONNACK")
            return
        if self._state is State.ONLINE:
            self._expire(now)
            self._fill_window(now)
        self._write_status()

    def _new_client(self) -> mqtt.Client:
        cid = self.cfg.client_id or f"van-{self.cfg.van_id}"
        c = make_client(self.broker, cid)
        # paho's own window must not be the bottleneck nor exceed Mosquitto's default receive maximum
        c.max_inflight_messages_set(min(20, max(self.cfg.max_inflight, 1) + 4))
        c.will_set(m.status_topic(self.cfg.van_id), json.dumps({"state": "offline", "van_id": self.cfg.van_id}),
                   qos=1, retain=True)
        c.on_connect = lambda _c, _u, flags, rc, props: self._events.append(("connack", (flags, rc)))
        c.on_disconnect = lambda _c, _u, flags, rc, props: self._events.append(("disconnect", rc))
        c.on_publish = lambda _c, _u, mid, rc, props: self._events.append(("puback", (mid, rc)))
        c.on_message = lambda _c, _u, msg: self._events.append(("message", (msg.topic, msg.payload)))
        return c

    def _try_connect(self) -> None:
        self._set_state(State.CONNECTING)
        try:
            self._client.connect(self.broker.host, self.broker.port, keepalive=self.broker.keepalive,
                                 clean_start=False, properties=connect_properties(self.broker))
        except (OSError, ValueError) as e:  # refused, unreachable, TLS failure, DNS
            self._lost(f"connect: {e}")
            return
        self._connect_started = time.monotonic()

    def _lost(self, why: str) -> None:
        delay = self._backoff.next()
        if self._pause_until > time.monotonic():
            delay = max(delay, self._pause_until - time.monotonic())
        self._next_attempt = time.monotonic() + delay
        if self._state is not State.OFFLINE:
            log.info("van %s offline (%s); next attempt in %.1fs", self.cfg.van_id, why, delay)
        with self._status_lock:
            self._status.last_error = why
            self._status.connected_since = None
        # the socket may already be gone; we only want it closed
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._set_state(State.OFFLINE)

    def _drain_events(self) -> None:
        while self._events:
            kind, data = self._events.popleft()
            if kind == "connack":
                self._on_connack(*data)
            elif kind == "disconnect":
                if self._state is not State.OFFLINE:
                    self._lost(f"disconnected: {data}")
            elif kind == "puback":
                self._on_puback(*data)
            elif kind == "message":
                self._on_message(*data)

    def _on_connack(self, flags: Any, rc: Any) -> None:
        if rc.is_failure:
            # Bad credentials stay bad: keep retrying, but slowly, and say why.
            self._lost(f"refused: {rc}")
            return
        self._backoff.reset()
        now = time.monotonic()
        self._set_state(State.ONLINE)
        with self._status_lock:
            self._status.connects += 1
            self._status.connected_since = m.utcnow_iso()
            self._status.last_error = None
        van = self.cfg.van_id
        # Subscriptions survive in the session, but re-subscribing is cheap and re-delivers the retained
        # downlink, which is how a van that was off for a week learns its new route.
        self._client.subscribe([(m.ack_topic(van), 1), (m.downlink_topic(van, "#"), 1)])
        self._client.publish(m.status_topic(van), json.dumps({"state": "online", "van_id": van}), qos=1, retain=True)
        # acks for batches sent before the outage may still come (from our session); give them time
        for f in self._inflight.values():
            f.deadline = now + self._ack_timeout
        log.info("van %s online (session_present=%s)", van, getattr(flags, "session_present", None))

    def _on_puback(self, mid: int, rc: Any) -> None:
        bid = self._by_mid.pop(mid, None)
        if bid is None or bid not in self._inflight:
            return
        if rc is not None and getattr(rc, "is_failure", False):
            # The broker refused the message (too large, quota, ACL): it will never be delivered.
            f = self._inflight.pop(bid)
            self._release(f)
            self._batch_size = max(1, self._batch_size // 2)
            with self._status_lock:
                self._status.publish_failures += 1
                self._status.last_error = f"broker refused batch: {rc}"
            log.warning("broker refused batch %s (%s); batch size now %d", bid, rc, self._batch_size)
            return
        self._inflight[bid].puback = True

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == m.ack_topic(self.cfg.van_id):
            self._on_ack(payload)
        elif topic.startswith(m.downlink_topic(self.cfg.van_id, "")):
            self._on_downlink(topic, payload)

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = m.AckMessage.parse(payload)
        except m.MessageError as e:
            log.warning("ignoring malformed ack: %s", e)
            self._count("acks_ignored")
            return
        f = self._inflight.get(ack.batch_id)
        if f is None or ack.van_id != self.cfg.van_id or (ack.seq_from, ack.seq_to) != (f.seq_from, f.seq_to):
            # A late ack for a batch already released and re-leased, or not ours: the rows are re-sent
            # under another batch id and the importer recognises them.
            self._count("acks_ignored")
            return
        del self._inflight[ack.batch_id]
        # acks flow again: drift back towards the configured timeout
        self._ack_timeout = max(self.cfg.ack_timeout_s, self._ack_timeout * 0.9)
        if not ack.status.releases_rows:
            self._release(f)
            self._pause_until = time.monotonic() + self.cfg.rejected_backoff_s
            with self._status_lock:
                self._status.rejected += 1
                self._status.last_error = f"server rejected batch: {ack.reason}"
            log.error("server rejected batch %s (%s); keeping the rows, pausing %.0fs",
                      ack.batch_id, ack.reason, self.cfg.rejected_backoff_s)
            return
        try:
            n = self._outbox.ack(f.outbox_id)
        except UnknownBatch:
            n = 0  # another opener released our lease; those rows will be re-sent and deduplicated
        if ack.dead_letters:
            # The rows go (the server keeps those frames raw with the reason), but the crew and the
            # back office should know the van sent something the server could not read.
            log.warning("server kept %d frame(s) of batch %s as dead letters: %s", ack.dead_letters,
                        ack.batch_id, ack.reason)
        with self._status_lock:
            self._status.batches_acked += 1
            self._status.rows_acked += n
            self._status.rows_dead_lettered += ack.dead_letters
            if ack.dead_letters:
                self._status.last_error = f"server kept {ack.dead_letters} bad frame(s) as dead letters"
            self._status.last_ack_at = m.utcnow_iso()
        self._status_dirty = True

    def _on_downlink(self, topic: str, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message
        try:
            msg = m.parse_downlink(topic, payload)
            if msg.van_id != self.cfg.van_id:
                raise m.MessageError("van_mismatch", msg.van_id)
        except m.MessageError as e:
            log.warning("ignoring bad downlink on %s: %s", topic, e)
            return
        if self.cfg.downlink_dir is not None:
            write_downlink(self.cfg.downlink_dir, msg)
        self._count("downlinks")
        if self.on_downlink is not None:
            try:
                self.on_downlink(msg)
            except Exception:  # a consumer bug must not take the sync thread down
                log.exception("downlink handler failed")

    # ------------------------------------------------------------------ sending
    def _can_send(self) -> bool:
        return len(self._inflight) < self.cfg.max_inflight and time.monotonic() >= self._pause_until

    def _fill_window(self, now: float) -> None:
        while self._can_send():
            if now < self._idle_until:
                return
            leased = self._outbox.lease_raw(self._batch_size)
            if leased is None:
                self._idle_until = now + self.cfg.idle_poll_s
                return
            outbox_id, rows = leased
            bid = str(uuid.UUID(outbox_id))
            payload, lo, hi = m.encode_raw_batch(self.cfg.van_id, bid, rows, with_decode=self.cfg.send_decode)
            if self.cfg.compress:
                payload = zlib.compress(payload, 1)
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = m.CONTENT_TYPE_ZJSON if self.cfg.compress else m.CONTENT_TYPE_JSON
            props.UserProperty = [("schema", str(m.SCHEMA_VERSION)), ("batch_id", bid)]
            info = self._client.publish(m.batch_topic(self.cfg.van_id), payload, qos=1, properties=props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._outbox.release(outbox_id)
                self._lost(f"publish: {mqtt.error_string(info.rc)}")
                return
            self._inflight[bid] = InFlight(outbox_id, lo, hi, len(rows), info.mid, now, now + self._ack_timeout)
            self._by_mid[info.mid] = bid
            with self._status_lock:
                self._status.batches_sent += 1

    def _expire(self, now: float) -> None:
        expired = [b for b, f in self._inflight.items() if f.deadline <= now]
        for bid in expired:
            f = self._inflight.pop(bid)
            self._release(f)
            self._count("batches_resent")
            log.info("no ack for batch %s (%d..%d) in %.0fs: re-sending", bid, f.seq_from, f.seq_to,
                     self._ack_timeout)
        if expired:
            # The importer is slow (a backlog), not gone: re-sending faster would only grow its queue.
            self._ack_timeout = min(self.cfg.ack_timeout_max_s, self._ack_timeout * 2)

    def _release(self, f: InFlight) -> None:
        with contextlib.suppress(UnknownBatch):
            self._outbox.release(f.outbox_id)
        self._idle_until = 0.0

    # ------------------------------------------------------------------ status
    def _count(self, name: str) -> None:
        with self._status_lock:
            setattr(self._status, name, getattr(self._status, name) + 1)
        self._status_dirty = True

    def _set_state(self, state: State) -> None:
        self._state = state
        with self._status_lock:
            self._status.state = state.value
        self._status_dirty = True
        self._write_status(force=True)

    def _write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._outbox is None or not (force or (self._status_dirty and now - self._last_status_write
                                                  >= self.cfg.status_interval_s)):
            return
        with self._status_lock:
            self._status.inflight_batches = len(self._inflight)
            self._status.inflight_rows = sum(f.rows for f in self._inflight.values())
            self._status.updated_at = m.utcnow_iso()
            doc = json.dumps(asdict(self._status))
        try:
            self._outbox.set_meta(STATUS_META_KEY, doc)
        except Exception as e:  # noqa: BLE001 - status is advisory; a busy database must not stop sync
            log.debug("status not written: %s", e)
            return
        self._last_status_write = now
        self._status_dirty = False

    def _shutdown(self, own_outbox: bool) -> None:
        try:
            if self._state is not State.OFFLINE:
                info = self._client.publish(m.status_topic(self.cfg.van_id),
                                            json.dumps({"state": "offline", "van_id": self.cfg.van_id}),
                                            qos=1, retain=True)
                deadline = time.monotonic() + 2
                while not info.is_published() and time.monotonic() < deadline:
                    if self._client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                        break
                self._client.disconnect()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        # Leases of unacked batches go back to pending now, so the next run does not wait for a timeout.
        for f in list(self._inflight.values()):
            self._release(f)
        self._inflight.clear()
        self._set_state(State.STOPPED)
        if own_outbox:
            self._outbox.close()


def write_downlink(directory: Path, msg: m.RouteMessage | m.KeysMessage) -> Path:
    """Atomically replace the van's current route sheet or key file (write, fsync, rename)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(msg, m.RouteMessage):
        target, data, mode = directory / "route.json", json.dumps(msg.sheet, indent=1).encode(), 0o644
        meta = {"route_id": msg.route_id, "issued_at": msg.issued_at}
        (directory / "route.meta.json").write_text(json.dumps(meta))
    else:
        target, data, mode = directory / "keys.csv", msg.to_csv().encode(), 0o600
    tmp = target.with_suffix(target.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    return target


def read_status(outbox: Outbox) -> dict[str, Any]:
    """What the crew view shows: rows waiting, last end-to-end ack, and the publisher's state (which may
    be another process). `publisher` is None when no publisher has run on this outbox yet."""
    st = outbox.stats()
    raw = outbox.meta().get(STATUS_META_KEY)
    pub = json.loads(raw) if raw else None
    return {
        "pending": st.pending,
        "in_flight": st.in_flight,
        "oldest_pending_received_at": st.oldest_received_at,
        "last_ack_at": st.last_ack_at,
        "last_acked_seq": st.last_acked_seq,
        "acked_total": st.acked_total,
        "outbox_level": st.level,
        "state": pub["state"] if pub else State.OFFLINE.value,
        "publisher": pub,
    }
