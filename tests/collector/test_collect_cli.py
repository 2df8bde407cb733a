"""`amr collect` as a process: a finite log source, then a paced one stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from collector.simdrive import SimDrive
from sync.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]


def drive(tmp_path, **kw):
    s = SimDrive(n_route=120, n_foreign=40, n_missing=10, seed=21, **kw)
    s.write_capture(tmp_path / "drive.jsonl")
    s.route_sheet().dump(tmp_path / "route.csv")
    return s


def amr(*args):
    return [sys.executable, "-m", "amr", *args]


def test_collect_whole_log_then_exit(tmp_path):
    s = drive(tmp_path)
    truth = s.truth()
    r = subprocess.run(amr("collect", "--source", f"log:{tmp_path / 'drive.jsonl'}", "--route",
                           str(tmp_path / "route.csv"), "--outbox", str(tmp_path / "o.db"), "--van-id", "van-3",
                           "--log-level", "WARNING"),
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    assert counts["read"] == len(truth["read"]) and counts["unread"] == len(truth["unread"])
    ob = Outbox(tmp_path / "o.db")
    assert ob.van_id == "van-3"
    assert ob.pending() == len({f.telegram for f in s.frames()})
    captures = list(tmp_path.glob("capture-*.jsonl"))
    assert len(captures) == 1 and len(captures[0].read_text().splitlines()) == len(list(s.frames()))


def test_sigterm_stops_cleanly_and_commits_everything_received(tmp_path):
    drive(tmp_path)
    port = 18000 + os.getpid() % 1000
    p = subprocess.Popen(amr("collect", "--source", f"log:{tmp_path / 'drive.jsonl'}?speed=20", "--route",
                             str(tmp_path / "route.csv"), "--outbox", str(tmp_path / "o.db"), "--capture",
                             str(tmp_path / "cap.jsonl"), "--web", f"127.0.0.1:{port}"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        state = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=2) as resp:
                    state = json.loads(resp.read())
                if state["pipeline"].get("frames", 0) > 5:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert state is not None and state["pipeline"]["frames"] > 5
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    heard = len((tmp_path / "cap.jsonl").read_text().splitlines())
    ob = Outbox(tmp_path / "o.db")
    rows = ob.rows()
    # every frame the collector received before the signal is in the outbox (as a row or a repeat count)
    assert sum(r.times_heard for r in rows) == heard > 5
    assert ob.integrity_check() == "ok"


def test_collect_bad_arguments_are_typed_errors(tmp_path):
    r = subprocess.run(amr("collect", "--source", "nosuch:1", "--outbox", str(tmp_path / "o.db")),
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode != 0 and "source" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(amr("collect", "--source", "virtual:x", "--gps", "glonass", "--outbox",
                           str(tmp_path / "o.db")), capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode != 0 and "GPS" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "bad.db").write_bytes(b"this is not sqlite" * 100)
    r = subprocess.run(amr("collect", "--source", "virtual:x", "--outbox", str(tmp_path / "bad.db")),
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode != 0 and "outbox" in r.stderr and "Traceback" not in r.stderr


def test_replay_recorded_iq_through_the_same_pipeline(tmp_path):
    """An IQ recording (made by `amr synth`) goes through the demodulator and then the same pipeline."""
    s = SimDrive(n_route=40, n_foreign=0, seed=8)
    tgs = list(dict.fromkeys(f.telegram.hex() for f in s.frames()))[:6]
    s.route_sheet().dump(tmp_path / "route.csv")
    args = [a for t in tgs for a in ("--telegram", t)]
    subprocess.run(amr("synth", *args, "-o", str(tmp_path)), check=True, cwd=ROOT, timeout=120,
                   capture_output=True)
    [iq] = tmp_path.glob("*.cu8")
    r = subprocess.run(amr("replay", str(iq), "--route", str(tmp_path / "route.csv"), "--json"),
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["frames"]["frames"] == 6 and out["counts"]["read"] == 6
