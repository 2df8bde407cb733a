"""`amr listen` and `amr emulate` as a person uses them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from amr.cli import main
from collector.emulators.base import Transmission
from collector.listen import Listener
from collector.sources import open_source
from collector.sources.logs import read_capture
from tests.sources.conftest import SAMPLE_A, SAMPLE_B

ROOT = Path(__file__).resolve().parents[2]


def _lines(output: str) -> list[dict]:
    return [json.loads(x) for x in output.splitlines() if x.strip()]


def test_listen_several_sources_json_and_summary(receiver_logs, tmp_path):
    record = tmp_path / "rec.jsonl"
    result = CliRunner().invoke(main, [
        "listen", "--json", "--record", str(record),
        f"log:{receiver_logs / 'serial_rtlwmbus_with_timestamps.msg'}",
        f"log:{receiver_logs / 'serial_rawtty_bad.hex'}",
    ])
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert len(rows) == 5
    assert {r["telegram"] for r in rows} >= {SAMPLE_A.hex().upper(), SAMPLE_B.hex().upper()}
    decoded = [r for r in rows if r["decoded"].get("ok")]
    assert decoded and all(r["decoded"]["id"] for r in decoded)
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["frames"] == 5
    per_source = summary["sources"]
    assert per_source[f"log:{receiver_logs / 'serial_rawtty_bad.hex'}"]["rejected"] == {"GARBAGE": 2}
    assert per_source[f"log:{receiver_logs / 'serial_rtlwmbus_with_timestamps.msg'}"]["crc_failures"] == 1
    assert summary["decoded"] + sum(summary["decode_rejected"].values()) == 5
    assert len(list(read_capture(record))) == 5


def test_listen_count_and_no_decode(receiver_logs):
    result = CliRunner().invoke(main, ["listen", "--json", "--no-decode", "--count", "1",
                                       f"log:{receiver_logs / 'serial_rtlwmbus_ok.msg'}"])
    assert result.exit_code == 0
    rows = _lines(result.stdout)
    assert len(rows) == 1 and rows[0]["decoded"] == {}


def test_listen_table_renders(receiver_logs):
    result = CliRunner().invoke(main, ["listen", "--table", f"log:{receiver_logs / 'serial_rtl433_ok.msg'}"])
    assert result.exit_code == 0
    assert "amr listen" in result.stdout and "C1" in result.stdout


def test_listen_bad_spec_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["listen", "nosuch:x"])
    assert result.exit_code != 0 and "unknown source" in result.output
    result = CliRunner().invoke(main, ["listen", f"log:{tmp_path / 'missing'}"])
    assert result.exit_code != 0 and "cannot open log" in result.output


def test_listener_counts_decode_rejections(emulator):
    emu = emulator("amb8465", [Transmission(SAMPLE_A, "T1"), Transmission(bytes([11]) + b"\x44" + b"\x00" * 10,
                                                                           "T1")])
    seen = []
    with open_source(f"amb8465:{emu.port}:t1") as src:
        lis = Listener(src, emit=lambda f, o: seen.append(o))
        lis.run(count=2, duration=10)
    assert lis.frames == 2 and seen[0]["ok"] is True and seen[1]["ok"] is False
    assert sum(lis.rejections.values()) == 1


def test_amr_emulate_prints_a_port_a_source_can_use(tmp_path):
    telegrams = tmp_path / "t.hex"
    telegrams.write_text(f"{SAMPLE_A.hex()}\n{SAMPLE_B.hex()}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", "from amr.cli import main; main()", "emulate", "cul", "--telegrams", str(telegrams),
                             "--interval", "0", "--path", str(tmp_path / "ttyCUL")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        port = proc.stdout.readline().strip()
        assert port == str(tmp_path / "ttyCUL")
        with open_source(f"cul:{port}:t1") as src:
            got = [src.recv(timeout=10) for _ in range(2)]
        assert [f.telegram for f in got] == [SAMPLE_A, SAMPLE_B]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0
