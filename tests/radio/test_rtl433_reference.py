"""The synthesiser checked against an independent receiver: Debian's rtl_433 must decode our captures.

Skipped when rtl_433 is not installed (`apt-get install rtl-433`)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from collector.radio.synth import Burst, Scene, random_telegram, write_scene

pytestmark = pytest.mark.skipif(shutil.which("rtl_433") is None, reason="rtl_433 not installed")


def _rtl433(path, *args) -> list[bytes]:
    out = subprocess.run(["rtl_433", "-r", str(path), *args, "-F", "json"], capture_output=True, text=True,
                         timeout=60)
    return [bytes.fromhex(json.loads(x)["data"]) for x in out.stdout.splitlines() if x.startswith("{")]


def _normalise(data: bytes, tg: bytes) -> set[bytes]:
    """rtl_433 prints format A differently by version (22.11: L-2 and the last CRC appended)."""
    fixed = bytearray(data[:-2])
    fixed[0] = len(fixed) - 1
    return {data, bytes(fixed)}


@pytest.mark.parametrize("mode,fmt,at_least", [("T1", "A", 5), ("C1", "A", 3), ("C1", "B", 3)])
def test_rtl433_decodes_our_t1_and_c1(tmp_path, mode, fmt, at_least):
    """rtl_433 is deaf and fussy with C1 (radio.md 8.2), hence 3 of 5; a wrong encoding would give 0."""
    rng = np.random.default_rng(3)
    sent = [random_telegram(rng, 42) for _ in range(5)]
    scene = Scene(fs=1.6e6, centre_hz=868.95e6, duration_s=0.08, seed=2,
                  bursts=[Burst(t, mode, fmt, 0.006 + 0.014 * i, 24, -12e3, 0.003) for i, t in enumerate(sent)])
    # an AGC-like level (noise 20 counts RMS) as in the sensitivity bench: rtl_433's level detector
    # needs a noise floor to work against
    got = _rtl433(write_scene(scene, tmp_path, f"ref_{mode}{fmt}", gain=20 / np.sqrt(0.5)), "-R", "104")
    assert len(got) >= at_least
    assert all(any(t in _normalise(g, t) for t in sent) for g in got)


def test_rtl433_decodes_our_s1_manchester_polarity(tmp_path):
    tg = random_telegram(np.random.default_rng(4), 30)
    scene = Scene(fs=1.0e6, centre_hz=868.3e6, duration_s=0.06,
                  bursts=[Burst(tg, "S1", "A", 0.005, 35, 5e3, 0.0)], seed=2)
    got = _rtl433(write_scene(scene, tmp_path, "ref_s1"), "-R", "105")
    assert len(got) == 1 and tg in _normalise(got[0], tg)
