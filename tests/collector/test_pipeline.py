"""The pipeline end to end: a replayed synthetic drive reproduces the known counts, nothing is lost."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from click.testing import CliRunner

from collector.collect_cli import replay, replay_spec
from collector.gps import Gps
from collector.pipeline import Listener, Pipeline, QueuedListener
from collector.route import RouteProgress
from collector.simdrive import SimDrive
from collector.sources.virtual import VirtualSource, end_channel
from decoders.frame import Frame, Position
from sync.outbox import Outbox

DRIVE = dict(n_route=300, n_foreign=150, n_missing=20, seed=5)


@pytest.fixture(scope="module")
def sim():
    s = SimDrive(**DRIVE)
    truth = s.truth()
    assert truth["unread"] and truth["out_of_route"] and truth["read"]  # the drive exercises all three
    return s, truth, list(s.frames())


def run_virtual(frames, tmp_path, channel, **kw):
    src = VirtualSource(channel)
    ob = Outbox(tmp_path / "outbox.db")
    p = Pipeline([src], outbox=ob, block_sources=True, **kw).start()
    for f in frames:
        src.send(f)
    end_channel(channel)
    assert p.wait(60)
    p.stop()
    return p, ob


def test_replayed_drive_reproduces_known_counts(sim, tmp_path):
    s, truth, frames = sim
    p, ob = run_virtual(frames, tmp_path, "drive", route=RouteProgress(s.route_sheet()))
    c = p.route.counts()
    assert c["read"] == len(truth["read"])
    assert c["unread"] == len(truth["unread"])
    assert c["out_of_route"] == len(truth["out_of_route"])
    assert {m.meter.meter_id for m in p.route.meters() if m.status == "unread"} == truth["unread"]
    assert {f.meter_id for f in p.route.out_of_route()} == truth["out_of_route"]
    # every reception accounted for: one row per transmission, times_heard adds up to the frames
    rows = ob.rows()
    assert len(rows) == p.counters["unique"] == len({f.telegram for f in frames})
    assert sum(r.times_heard for r in rows) == len(frames)
    assert all(r.frame.position is not None for r in rows)  # positions recorded at receive time kept
    assert ob.integrity_check() == "ok"


def test_replay_cli_through_log_source(sim, tmp_path):
    s, truth, frames = sim
    cap = tmp_path / "drive.jsonl"
    s.write_capture(cap)
    s.route_sheet().dump(tmp_path / "route.json")
    res = CliRunner().invoke(replay, [str(cap), "--route", str(tmp_path / "route.json"), "--json",
                                      "--outbox", str(tmp_path / "o.db")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["counts"]["read"] == len(truth["read"])
    assert out["counts"]["unread"] == len(truth["unread"])
    assert out["counts"]["out_of_route"] == len(truth["out_of_route"])
    assert out["frames"]["frames"] == len(frames)
    assert Outbox(tmp_path / "o.db").pending() == out["frames"]["unique"]


def test_replay_cli_errors_are_typed(tmp_path):
    r = CliRunner().invoke(replay, [str(tmp_path / "missing.jsonl")])
    assert r.exit_code != 0 and "no such file" in r.output
    bad = tmp_path / "route.csv"
    bad.write_text("meter_id\nxyz\n")
    (tmp_path / "x.jsonl").write_text("")
    r = CliRunner().invoke(replay, [str(tmp_path / "x.jsonl"), "--route", str(bad)])
    assert r.exit_code != 0 and "route sheet" in r.output
    assert replay_spec("a.cu8", 0) == "iq:a.cu8" and replay_spec("a.log", 2) == "log:a.log?speed=2"


def test_undecodable_and_garbage_frames_are_kept(tmp_path):
    at = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    frames = [
        Frame(bytes.fromhex("0B4401060100000014077A"), at, "t"),                  # truncated TPL
        Frame(bytes([5, 1, 2, 3, 4, 5]), at, "t", crc_ok=False),                  # garbage
        Frame(bytes.fromhex("1E44AE4C9956341268077A36001025") + bytes(16), at, "t"),  # encrypted, no key
    ]
    p, ob = run_virtual(frames, tmp_path, "junk")
    rows = ob.rows()
    assert len(rows) == 3 and all(r.kind == "rejected" for r in rows)
    assert {r.frame.telegram for r in rows} == {f.telegram for f in frames}
    assert all(r.outcome["reason"] for r in rows)


class Slow(Listener):
    name = "slow"

    def __init__(self):
        self.seen = 0

    def on_heard(self, ev):
        time.sleep(0.005)
        self.seen += 1


def test_slow_sink_never_stalls_and_outbox_loses_nothing(sim, tmp_path):
    s, truth, frames = sim
    slow = QueuedListener(Slow(), maxsize=10, policy="drop")
    p, ob = run_virtual(frames, tmp_path, "slow", listeners=[slow])
    assert slow.dropped > 0 and slow.inner.seen + slow.dropped == len(frames)
    assert ob.pending() == p.counters["unique"]


def test_live_source_never_blocks_on_full_intake(tmp_path):
    """A live receiver thread hands frames over without waiting: overflow is counted, not blocked."""
    gate = threading.Event()

    def stuck_decoder(tg):
        gate.wait()
        from decoders import decode
        return decode(tg)

    src = VirtualSource("live")
    ob = Outbox(tmp_path / "o.db")
    p = Pipeline([src], outbox=ob, block_sources=False, intake_size=5, decoder=stuck_decoder).start()
    s = SimDrive(n_route=50, n_foreign=0, seed=2)
    frames = list(s.frames())
    for f in frames:
        src.send(f)
    deadline = time.monotonic() + 5
    while p.counters["intake_overflow"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.counters["intake_overflow"] > 0
    gate.set()
    end_channel("live")
    assert p.wait(10)
    p.stop()
    assert p.counters["frames"] + p.counters["intake_overflow"] == len(frames)
    assert ob.pending() == p.counters["unique"]


def test_gps_tags_frames_at_receive_time(tmp_path):
    at = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    gps = Gps(max_age_s=2)
    gps.add_fix(Position(50.0, 18.0, 20.0), at=at)
    gps.add_fix(Position(50.1, 18.1, 25.0), at=at + dt.timedelta(seconds=10))
    s = SimDrive(n_route=40, n_foreign=0, seed=3)
    base = list({f.telegram: f for f in s.frames()}.values())[:3]
    from dataclasses import replace
    frames = [replace(base[0], position=None, received_at=at + dt.timedelta(seconds=0.5)),
              replace(base[1], position=None, received_at=at + dt.timedelta(seconds=9.5)),
              replace(base[2], position=None, received_at=at + dt.timedelta(seconds=5))]
    p, ob = run_virtual(frames, tmp_path, "gps", gps=gps)
    pos = {r.frame.received_at: r.frame.position for r in ob.rows()}
    assert pos[frames[0].received_at].lat == 50.0
    assert pos[frames[1].received_at].lat == 50.1
    assert pos[frames[2].received_at] is None  # 5 s from either fix: no position rather than a wrong one


def test_capture_listener_writes_every_raw_frame(sim, tmp_path):
    s, truth, frames = sim
    p, ob = run_virtual(frames[:200], tmp_path, "cap", capture=tmp_path / "cap.jsonl")
    lines = (tmp_path / "cap.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert Frame.from_dict(json.loads(lines[0])) == frames[0]


@pytest.mark.timeout(90)
def test_full_outbox_holds_rows_until_acks_make_room(sim, tmp_path):
    """Reject-new-and-alarm: at the cap nothing is dropped; the writer holds its rows (and the pipeline
    slows behind it), and they land once the server's acks free pages."""
    s, truth, frames = sim
    ob = Outbox(tmp_path / "o.db", max_bytes=150_000, warn_fraction=0.5)
    src = VirtualSource("full")
    p = Pipeline([src], outbox=ob, block_sources=True, writer_opts={"retry_s": 0.05}).start()
    for f in frames:
        src.send(f)
    end_channel("full")
    deadline = time.monotonic() + 30
    while not p.writer.full and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.writer.full and ob.stats().level == "full"
    time.sleep(0.3)
    assert p.writer.full  # still refusing: nothing was dropped to make room
    acked = 0
    while not (p.wait(0) and ob.pending() + acked == p.counters["unique"]) and time.monotonic() < deadline:
        b = ob.lease(100)  # the server acks what it has: room comes back
        if b:
            acked += ob.ack(b.batch_id)
        else:
            time.sleep(0.05)
    p.stop()
    assert not p.writer.full and p.writer.counters["full_retries"] > 0
    assert ob.pending() + acked == p.counters["unique"] == len({f.telegram for f in frames})
    assert p.writer.counters.get("lost_at_shutdown", 0) == 0


def test_idle_writer_checkpoints_the_wal(tmp_path):
    from collector.pipeline import OutboxWriter

    ob = Outbox(tmp_path / "o.db")
    p = Pipeline([], outbox=ob, writer_opts={"idle_checkpoint_s": 0.1})
    for f in list(SimDrive(n_route=30, n_foreign=0, seed=1).frames())[:20]:
        p.process(f)
    assert isinstance(p.writer, OutboxWriter)
    deadline = time.monotonic() + 10
    while p.writer.counters["checkpoints"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    p.stop()
    assert p.writer.counters["checkpoints"] >= 1
    assert (tmp_path / "o.db-wal").stat().st_size == 0


class Broken(Listener):
    name = "broken"

    def on_heard(self, ev):
        raise RuntimeError("sink bug")


def test_a_bug_in_the_pipeline_or_a_sink_loses_no_frame(sim, tmp_path, monkeypatch):
    s, truth, frames = sim
    route = RouteProgress(s.route_sheet())
    real = route.observe
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] % 50 == 0:
            raise KeyError("route bug")
        return real(*a, **kw)

    monkeypatch.setattr(route, "observe", flaky)
    p, ob = run_virtual(frames, tmp_path, "bugs", route=route, listeners=[Broken()])
    assert p.counters["pipeline_errors"] == len(frames) // 50
    assert p.counters["listener_errors"] == len(frames) - len(frames) // 50
    stored = {r.frame.telegram for r in ob.rows()}
    assert stored == {f.telegram for f in frames}  # every telegram is in the outbox, bug or not
    assert any(r.outcome.get("detail", "").startswith("collector error") for r in ob.rows())
