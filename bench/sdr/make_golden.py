"""Regenerate the small golden captures in fixtures/iq/ (each < 1 MB) and their expected outputs.

    .venv/bin/python bench/sdr/make_golden.py

Telegrams are real ones from fixtures/corpus (Kamstrup heat, Apator water, GWF water, Lansen). The
expected `.expected.jsonl` is what `amr demod` printed when the file was made; the truth of what was
transmitted is in `.truth.jsonl`. Tests compare the demodulator against both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collector.radio.synth import Burst, Scene, write_scene

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "fixtures" / "iq"

KAM = bytes.fromhex("2E442D2C46464646300C8D207A70EA6021B1C178030FC51000430F9210000314072B05426CBE2B022D0C0001FF2100")
APA = bytes.fromhex("2E4401064052030205077A320020852F2F0F354DA39A00000071011ABF0D00039A0D00A01053850310CECC0D005E6D")
GWF = bytes.fromhex("3944E61E46441510020E8C04427250076819E61E3C07B10020452F2F03748B05000413DC690D004413A4630D00426C"
                    "213C02FD74B5140F0100E3")
LAN = bytes.fromhex("2E44333005020100071D7AB54800002F2F02FD1B110002FD971D01000EFD3A2200000000008E40FD3A000000000000")


def scenes() -> dict[str, tuple[Scene, str]]:
    return {
        "t1_kamstrup": (Scene(1.6e6, 868.95e6, 0.016, [Burst(KAM, "T1", "A", 0.004, 22, -23e3, 0.004, 21)],
                              seed=11), "cu8"),
        "c1a_apator": (Scene(1.6e6, 868.95e6, 0.012, [Burst(APA, "C1", "A", 0.004, 20, 15e3, -0.002)],
                             seed=12), "cu8"),
        "c1b_gwf": (Scene(1.6e6, 868.95e6, 0.013, [Burst(GWF, "C1", "B", 0.004, 20, -8e3, 0.001)],
                          seed=13), "cs16"),
        "t1_lansen_2400k": (Scene(2.4e6, 868.95e6, 0.012, [Burst(LAN, "T1", "A", 0.002, 25, 41e3, -0.006, 19)],
                                  seed=14), "cf32"),
        # tuner between the channels: S1 (868.3) and T1/C1 (868.95) in one capture
        "mixed": (Scene(1.6e6, 868.625e6, 0.085, [
            Burst(LAN, "S1", "A", 0.004, 24, 12e3, 0.002),
            Burst(KAM, "T1", "A", 0.052, 20, -31e3, 0.005, 30),
            Burst(APA, "C1", "A", 0.066, 20, 22e3, -0.001),
            Burst(GWF, "C1", "B", 0.074, 20, -5e3, 0.0),
        ], dc_db=0, seed=15), "cu8"),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (scene, fmt) in scenes().items():
        path = write_scene(scene, OUT, name, fmt)
        assert path.stat().st_size < 1_000_000, path
        out = subprocess.run([sys.executable, "-m", "amr", "demod", str(path)], capture_output=True, text=True,
                             check=True, cwd=ROOT)
        lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        path.with_name(path.name + ".expected.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        print(path.name, path.stat().st_size, "bytes,", len(lines), "frames")
    # SigMF: same samples as t1_kamstrup, described by metadata instead of the name
    scene, _ = scenes()["t1_kamstrup"]
    data = OUT / "t1_sigmf.sigmf-data"
    tmp = write_scene(scene, OUT, "sigmf_tmp", "cs8")
    tmp.replace(data)
    tmp.with_name(tmp.name + ".truth.jsonl").replace(OUT / "t1_sigmf.sigmf-data.truth.jsonl")
    meta = {"global": {"core:datatype": "ci8", "core:sample_rate": scene.fs, "core:version": "1.0.0",
                       "core:description": "synthetic T1 telegram (amr synth)"},
            "captures": [{"core:sample_start": 0, "core:frequency": scene.centre_hz}], "annotations": []}
    (OUT / "t1_sigmf.sigmf-meta").write_text(json.dumps(meta, indent=1) + "\n")
    print(data.name, data.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
