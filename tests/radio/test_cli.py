"""`amr synth` and `amr demod` as a user runs them (subprocess for the real entry point, CliRunner
for the rest)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from amr.cli import main

ROOT = Path(__file__).resolve().parents[2]
KAM = "2E442D2C46464646300C8D207A70EA6021B1C178030FC51000430F9210000314072B05426CBE2B022D0C0001FF2100"


def _synth(tmp_path: Path, *args: str) -> Path:
    res = CliRunner().invoke(main, ["synth", "-o", str(tmp_path), *args])
    assert res.exit_code == 0, res.output
    return Path(res.stdout.strip().splitlines()[-1])


def test_synth_writes_rtl433_style_names_and_truth(tmp_path):
    path = _synth(tmp_path, "--telegram", KAM, "--mode", "T1", "--rate", "2400k", "--format", "cs16",
                  "--prefix", "kam")
    assert path.name == "kam_868.95M_2400k.cs16"
    truth = [json.loads(x) for x in Path(str(path) + ".truth.jsonl").read_text().splitlines()]
    assert truth[0]["telegram"] == KAM and truth[0]["mode"] == "T1"


def test_demod_prints_one_json_object_per_frame_and_a_summary(tmp_path):
    path = _synth(tmp_path, "--telegram", KAM, "--random", "2", "--mode", "C1", "--frame-format", "B",
                  "--offset", "-30000", "--rate-error", "0.004", "--ecn0", "18")
    out = subprocess.run([sys.executable, "-m", "amr", "demod", str(path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    truth = [json.loads(x) for x in Path(str(path) + ".truth.jsonl").read_text().splitlines()]
    assert [x["telegram"] for x in lines] == [t["telegram"] for t in truth]
    first = lines[0]
    assert set(first) == {"telegram", "mode", "frame_format", "t", "rssi_db", "snr_db", "freq_offset_hz",
                          "repaired"}
    assert first["mode"] == "C1" and first["frame_format"] == "B"
    assert abs(first["freq_offset_hz"] + 30000) < 3000
    assert "3 frames (C1 3); 0 CRC failures" in out.stderr


def _capture_with_a_broken_frame(tmp_path: Path) -> Path:
    """One good T1 telegram, then one whose block 2 is damaged beyond repair."""
    import numpy as np

    from collector.radio.iqformat import to_raw
    from collector.radio.phy import telegram_chips
    from collector.radio.synth import modulate

    fs = 1.6e6
    tg = bytes.fromhex(KAM)
    good = telegram_chips(tg, "T1", "A")
    bad = good.copy()
    bad[58 + 12 * 14: 58 + 12 * 17] ^= 1
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(2 * int(0.04 * fs)).astype(np.float32) * np.float32(np.sqrt(0.5))).view(np.complex64)
    amp = np.sqrt(10 ** 2.2 * 100e3 / fs)
    for start, chips in ((8000, good), (40000, bad)):
        w = modulate(chips, fs, 100e3, 50e3, 7e3, 0.3) * amp
        x[start:start + len(w)] += w
    path = tmp_path / "capture.raw"
    path.write_bytes(to_raw(x, "cu8", 15.0).tobytes())
    return path


def test_demod_flags_override_the_name_and_failures_print_on_request(tmp_path):
    plain = _capture_with_a_broken_frame(tmp_path)
    res = CliRunner().invoke(main, ["demod", str(plain), "--format", "cu8", "--rate", "1600k", "--freq",
                                    "868.95M", "--show-failures"])
    assert res.exit_code == 0, res.output
    failures = [json.loads(x) for x in res.stderr.splitlines() if x.startswith("{")]
    summary = res.stderr.splitlines()[-1]
    n_failed = int(summary.split(" CRC failures")[0].rsplit(" ", 1)[-1])
    assert n_failed == 1 and len(failures) == 1
    assert failures[0]["crc_failure"] and failures[0]["reason"] == "CRC" and 0.02 < failures[0]["t"] < 0.035
    assert [json.loads(x)["telegram"] for x in res.stdout.splitlines()] == [KAM]


def test_demod_bad_input_is_an_error_not_a_traceback(tmp_path):
    nameless = tmp_path / "x.bin"
    nameless.write_bytes(b"\x00" * 100)
    res = CliRunner().invoke(main, ["demod", str(nameless)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "sample format" in res.output or "format" in res.output
    res = CliRunner().invoke(main, ["demod"])
    assert res.exit_code == 2
    res = CliRunner().invoke(main, ["synth", "--telegram", "zz"])
    assert res.exit_code == 2


def test_demod_reads_rtl_tcp_and_realtime_files(tmp_path):
    from collector.emulators.rtltcp_server import RtlTcpServer, load_cu8

    path = _synth(tmp_path, "--telegram", KAM, "--random", "1", "--mode", "T1")
    data, fs, centre = load_cu8(path)
    with RtlTcpServer(data, sample_rate=fs, center_freq=centre) as srv:
        res = CliRunner().invoke(main, ["demod", "--rtl-tcp", f"127.0.0.1:{srv.port}", "--modes", "t1,c1"])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["telegram"] for x in res.stdout.splitlines()][0] == KAM
    res = CliRunner().invoke(main, ["demod", str(path), "--realtime"])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 2
    res = CliRunner().invoke(main, ["demod", "--rtl-tcp", "127.0.0.1:1"])
    assert res.exit_code == 1 and "rtl_tcp" in res.output
