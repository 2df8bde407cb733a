"""`--config FILE` (amr/config.py) on `amr collect`, and the shipped example deploy/config/collector.toml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from amr.config import read_section
from collector.collect_cli import collect

ROOT = Path(__file__).resolve().parents[2]


def _params(args: list[str]) -> dict:
    with collect.make_context("collect", args) as ctx:
        return dict(ctx.params)


def test_shipped_example_maps_onto_real_options():
    table = read_section(ROOT / "deploy" / "config" / "collector.toml", "collect", collect)
    assert table["sources"] and table["outbox_path"] == "/var/lib/amr/outbox.db"
    p = _params(["--config", str(ROOT / "deploy" / "config" / "collector.toml")])
    assert p["sources"] == tuple(table["sources"]) and p["max_outbox_mb"] == 4096 and p["gps_spec"] == "gpsd"


def test_command_line_wins_and_single_values_become_lists(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[collect]\nsource = "log:a.jsonl"\nvan_id = "van07"\nlog-level = "DEBUG"\n')
    p = _params(["--config", str(f), "--log-level", "WARNING"])
    assert p["sources"] == ("log:a.jsonl",) and p["van_id"] == "van07" and p["log_level"] == "WARNING"


@pytest.mark.parametrize("text, message", [
    ('[collect]\nsorce = "x"\n', "no option 'sorce'"),
    ("[collect\n", "not valid TOML"),
    ('collect = 3\n', "must be a table"),
])
def test_bad_files_are_usage_errors(tmp_path, text, message):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(click.BadParameter, match=message):
        _params(["--config", str(f)])


def test_collect_runs_from_a_config_file(tmp_path):
    from collector.simdrive import SimDrive

    drive = SimDrive(n_route=20, n_foreign=5, seed=4)
    cap = tmp_path / "drive.jsonl"
    drive.write_capture(cap)
    drive.route_sheet().dump(tmp_path / "route.csv", "csv")
    f = tmp_path / "collector.toml"
    f.write_text(f'[collect]\nsource = ["log:{cap}"]\nroute = "{tmp_path / "route.csv"}"\n'
                 f'outbox = "{tmp_path / "outbox.db"}"\ncapture = "-"\nduration = 3\nlog-level = "WARNING"\n')
    out = subprocess.run([sys.executable, "-m", "amr", "collect", "--config", str(f)], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["read"] == len(drive.truth()["read"]) and counts["total"] == 20
