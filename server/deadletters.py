"""Dead letters for operators: review them and replay them into the store once the cause is fixed.

The importer (server/importer.py) keeps what it cannot use in `dead_letters`: whole messages (a bad
envelope, a schema version it did not know, an ingest error it did not understand, a van unknown when
the batch was written) and single bad frames of a stored batch (payload `amr.dead_frame`). Nothing in
that table is lost, and `replay` brings a row back once the server can use it: after an upgrade that reads
a newer van schema, a fix of the bug behind `ingest_error`, a van registered, a frame repaired by hand.

Replay goes through the importer's OWN per-message path, `Importer.handle`, with its `StoreSink`: the same
parse (`BatchMessage.parse(isolate_bad_items=True)` with the topic's van), the same van check, the same
ingest transaction and per-frame dead letters, with the current code, keys and registry. No broker is
involved and no ack is sent (the importer object is never connected). The sink in between only
- writes no new dead letter for a row that is still bad (the row is in the table already), and
- for a single frame, stores it as a batch of its own under a batch id derived from the dead letter's
  payload hash (uuid5), and refuses to commit that batch if the frame is still bad (so a still-bad frame
  leaves no batch row behind that would make a later replay look like a duplicate).

Outcome per dead letter (`Replay.status`):
- `stored`: the importer stored it (new telegrams or readings; frames of a whole batch that are still bad
  became dead letters of their own in the same transaction). The row is resolved: `resolved_at`,
  `resolution='stored'`, and `last_replay` says what was written.
- `duplicate`: everything in it was in the store already (its batch id was committed, or every frame came in
  by another batch: a van told `rejected` re-sends its rows under a new batch id). Resolved,
  `resolution='duplicate'`.
- `repaired`: stored from a payload an operator corrected by hand (`replay ID --payload FILE`); the stored
  payload stays as it came, `last_replay` names the repair's SHA-256.
- `still_bad`: the importer would keep it again. The row stays open and its `reason` stays what the
  importer said when it was received; `last_replay_at` / `last_replay` record the latest attempt's reason
  and detail (so an operator sees whether the cause changed).
Idempotent: only open rows are replayed, batch ids and natural keys absorb what was stored before (a crash
between the ingest commit and the resolution is a `duplicate` on the next run). A database that is down
stops the replay (`ReplayAborted`) without touching the row.

`dry_run` parses and checks (envelope, frames, van, whether the batch id is known) but writes nothing at all;
what only the store decides (an item the database refuses) shows on the real run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from server.derive import sha256
from server.importer import (
    FRAME_DEAD_LETTER_SCHEMA,
    MAX_UNEXPECTED_ATTEMPTS,
    Importer,
    ImporterConfig,
    Incoming,
    IngestResult,
    Outcome,
    PoisonData,
    StoreSink,
    is_transient,
)
from sync import messages as m

# Batch ids of replayed single frames: uuid5(this, payload sha256 hex). Stable, so a second replay of the same
# frame is recognised as the same batch.
REPLAY_NAMESPACE = uuid.UUID("6f1d3c52-8f4e-4c8e-9a51-0d6a2f1b7e33")

STORED, DUPLICATE, STILL_BAD, REPAIRED = "stored", "duplicate", "still_bad", "repaired"


class ReplayAborted(Exception):
    """The database failed in a way a retry may cure: the replay stopped, the dead letter is unchanged."""


@dataclass(frozen=True, slots=True)
class Replay:
    id: int
    status: str          # stored | duplicate | repaired | still_bad (dry_run: what a real run would do)
    reason: str          # still_bad: the importer's reason now; else ""
    note: str            # one line for the operator (and the row's last_replay)
    kind: str            # batch | frame
    dry_run: bool = False
    skipped: bool = False  # already resolved: not replayed


class _ReplayStore:
    """The store as a single-frame replay's StoreSink sees it: a frame the importer would dead-letter again
    is refused before anything is written (PoisonData with the frame's own reason)."""

    def __init__(self, store: Any):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def ingest_batch(self, van: str, batch_id: str, items: Any, *, dead_letters: Any = ()) -> Any:
        if dead_letters:
            d = dead_letters[0]
            # without StoreSink's "batch <id> seq <n> item <i>: " prefix: that batch id exists only in this replay
            raise PoisonData(d.reason, d.detail.partition(": ")[2] or d.detail)
        return self._store.ingest_batch(van, batch_id, items)


class _ReplaySink:
    """The importer's StoreSink, plus what the replay needs to know about the outcome."""

    def __init__(self, store: Any, *, single_frame: bool, dry_run: bool, trust_van_decode: bool = False):
        self.store = store
        self.single_frame = single_frame
        self.dry_run = dry_run
        self.inner = StoreSink(_ReplayStore(store) if single_frame else store, trust_van_decode=trust_van_decode)
        self.result: IngestResult | None = None
        self.kept: tuple[str, str] | None = None   # (reason, detail) the importer would dead-letter it for
        self.error: BaseException | None = None
        self.batch: m.BatchMessage | None = None

    def van_known(self, van_code: str) -> bool:
        try:
            return self.inner.van_known(van_code)
        except Exception as e:
            self.error = e
            raise

    def ingest(self, batch: m.BatchMessage) -> IngestResult:
        self.batch = batch
        self.error = None
        if self.dry_run:
            if self.single_frame and batch.bad_items:
                b = batch.bad_items[0]
                raise PoisonData(b.reason, b.detail)
            self.result = IngestResult(duplicate=self.store.batch_seen(batch.van_id, batch.batch_id),
                                       dead_frames=tuple((b.seq, b.reason) for b in batch.bad_items))
            return self.result
        try:
            self.result = self.inner.ingest(batch)
        except Exception as e:
            self.error = e
            raise
        return self.result

    def dead_letter(self, payload: bytes, reason: str, detail: str, van_code: str | None, topic: str) -> None:
        self.kept = (reason, detail)  # the dead letter being replayed is that row: nothing to write


def _frame_message(payload: bytes, sha256: bytes) -> tuple[str, bytes] | None:
    """An `amr.dead_frame` payload as the one-item batch the van would have sent; None if it is none."""
    try:
        doc = json.loads(payload)  # json, not orjson: the item may hold NaN/Infinity as the van wrote it
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != FRAME_DEAD_LETTER_SCHEMA:
        return None
    van, seq = doc.get("van_id"), doc.get("seq")
    batch = {"schema": "amr.batch", "v": doc.get("v"), "batch_id": str(uuid.uuid5(REPLAY_NAMESPACE, sha256.hex())),
             "van_id": van, "seq_from": seq, "seq_to": seq, "count": 1, "items": [doc.get("item")]}
    topic = m.batch_topic(van) if isinstance(van, str) else ""
    return topic, json.dumps(batch, separators=(",", ":")).encode()


def replay_one(store: Any, dl: Any, *, dry_run: bool = False, trust_van_decode: bool = False,
               now: dt.datetime | None = None, repaired: bytes | None = None) -> Replay:
    """Replay one dead letter (a `DeadLetterInfo`) through the importer's path and record the outcome.

    `repaired`: a payload an operator corrected by hand (same shape: an `amr.dead_frame` document or a whole
    batch), replayed in place of the stored one under the dead letter's own topic, so it must still name
    the same van. The stored payload is never changed; once the repair is stored the row is resolved
    `repaired` and `last_replay` names the repair's SHA-256."""
    if dl.resolved_at is not None:
        return Replay(dl.id, dl.resolution or DUPLICATE, "", f"already resolved ({dl.resolution}) at "
                      f"{dl.resolved_at.isoformat()}", "-", dry_run, skipped=True)
    source = dl.payload if repaired is None else repaired
    frame = _frame_message(source, sha256(source))
    kind = "frame" if frame is not None else "batch"
    own_topic = dl.topic or (m.batch_topic(dl.van_code) if dl.van_code else "")
    if frame is not None:
        topic, payload = own_topic or frame[0], frame[1]
    else:
        topic, payload = own_topic, source
    sink = _ReplaySink(store, single_frame=frame is not None, dry_run=dry_run, trust_van_decode=trust_van_decode)
    imp = Importer(sink, broker=None, config=ImporterConfig(client_id="deadletters-replay"))  # type: ignore[arg-type]
    w = Incoming(0, 1, topic, payload)
    for _ in range(MAX_UNEXPECTED_ATTEMPTS + 1):
        sink.error = None
        outcome, ack = imp.handle(w)  # an unexpected error is retried as in `amr serve`, then kept as ingest_error
        if outcome is not Outcome.RETRY:
            break
        if sink.error is not None and is_transient(sink.error):
            raise ReplayAborted(f"dead letter {dl.id}: database unavailable ({type(sink.error).__name__}); "
                                f"nothing changed") from sink.error
    else:
        raise ReplayAborted(f"dead letter {dl.id}: the importer kept asking for a retry; nothing changed")
    result = sink.result
    if outcome is Outcome.DUPLICATE:
        status, reason = DUPLICATE, ""
        note = f"batch {sink.batch.batch_id} was stored before: nothing new"
    elif outcome is Outcome.STORED:
        assert result is not None and sink.batch is not None
        reason = ""
        n = len(sink.batch.items)
        if dry_run:
            status = STORED
            note = f"would store {n} frame(s) as batch {sink.batch.batch_id}"
        else:
            status = STORED if (result.telegrams_new or result.readings_new or result.dead_frames) else DUPLICATE
            note = (f"{n} frame(s) as batch {sink.batch.batch_id}: {result.telegrams_new} new telegram(s), "
                    f"{result.readings_new} new reading(s)")
        if result.dead_frames:
            note += (f"; {len(result.dead_frames)} frame(s) {'would be kept' if dry_run else 'kept'} as dead "
                     f"letters of their own ({','.join(sorted({r for _, r in result.dead_frames}))})")
    elif outcome is Outcome.DEAD_LETTER:
        status = STILL_BAD
        reason, detail = sink.kept or ("dead_letter", "")
        note = f"still bad: {reason}: {detail}"
    else:  # REJECTED: a version this server does not read, or a van unknown or inactive
        status = STILL_BAD
        reason = ack.reason if ack is not None and ack.reason else _parse_reason(payload, topic)
        note = f"still bad: {reason}"
    if repaired is not None:
        note = f"repaired payload (sha256 {sha256(repaired).hex()}, {len(repaired)} bytes) {note}"
        if status == STORED:
            status = REPAIRED
    if dry_run:
        return Replay(dl.id, status, reason, note, kind, True)
    at = now or dt.datetime.now(dt.UTC)
    if status == STILL_BAD:
        store.note_dead_letter_replay(dl.id, note, at)
    elif not store.resolve_dead_letter(dl.id, status, f"replayed: {note}", at):
        # resolved by a concurrent replay between our read and now; what we wrote was absorbed by natural keys
        return Replay(dl.id, status, "", f"resolved meanwhile by another replay; {note}", kind, skipped=True)
    return Replay(dl.id, status, reason, note, kind)


def _parse_reason(payload: bytes, topic: str) -> str:
    try:
        m.BatchMessage.parse(payload, topic_van=m.van_from_topic(topic))
    except m.MessageError as e:
        return e.reason
    return "rejected"


def replay(store: Any, ids: list[int] | None = None, *, reason: str | None = None, van: str | None = None,
           dry_run: bool = False, trust_van_decode: bool = False, repaired: bytes | None = None):
    """Replay open dead letters (these ids, else every open one matching reason/van), oldest first; yields a
    Replay per dead letter. Ids that do not exist raise KeyError before anything is replayed. `repaired`
    (see replay_one) needs exactly one id."""
    if repaired is not None and (not ids or len(ids) != 1):
        raise ValueError("a repaired payload replaces exactly one dead letter: give one id")
    if ids:
        found = {s.id: s for s in store.dead_letter_summaries(ids=ids)}
        missing = sorted(set(ids) - set(found))
        if missing:
            raise KeyError(", ".join(map(str, missing)))
        todo = [s.id for s in sorted(found.values(), key=lambda s: s.id)
                if (reason is None or s.reason == reason) and (van is None or s.van_code == van)]
    else:
        todo = [s.id for s in store.dead_letter_summaries(reason=reason, van=van, open_only=True)]
    for i in todo:
        dl = store.dead_letter(i)  # one payload in memory at a time
        if dl is not None:
            yield replay_one(store, dl, dry_run=dry_run, trust_van_decode=trust_van_decode, repaired=repaired)


# ---------------------------------------------------------------------- showing

_SECRET_NAME = re.compile(r"(?i)(key|secret|passw|token|credential)")
REDACTED = "<redacted>"


def redact(obj: Any) -> Any:
    """A JSON value with every member whose name looks like key material replaced. Van payloads carry
    telegrams (encrypted as received) and decodes, never keys; this keeps `show` safe on a forged one."""
    if isinstance(obj, dict):
        return {k: (REDACTED if _SECRET_NAME.search(str(k)) and v not in (None, "", [], {}) else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def render_payload(payload: bytes) -> tuple[str, str]:
    """(kind, text): pretty JSON (zlib-compressed batches opened, key-like members redacted), else hex with
    16 bytes a line."""
    data = payload
    if payload[:1] == b"\x78":
        try:
            data = zlib.decompress(payload)
        except zlib.error:
            data = payload
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "hex", "\n".join(payload[i:i + 16].hex(" ") for i in range(0, len(payload), 16))
    kind = "json (zlib)" if data is not payload else "json"
    return kind, json.dumps(redact(obj), indent=2, ensure_ascii=True)
