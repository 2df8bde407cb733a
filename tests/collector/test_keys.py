"""Encrypted meters: kept (raw) when no key is loaded and counted as heard; read once the key is there."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from collector.collect_cli import replay
from decoders.frame import Frame
from sync.outbox import Outbox
from sync.routesheet import RouteMeter, RouteSheet

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def encrypted_water_cases(corpus):
    seen = set()
    for c in corpus:
        if (c.get("key") and c.get("water") and not c.get("prior_telegrams")
                and not c["telegram"].startswith("68") and c["meter_id"] not in seen):
            seen.add(c["meter_id"])
            yield c


def test_no_key_is_heard_and_kept_key_makes_it_read(corpus, tmp_path):
    cases = list(encrypted_water_cases(corpus))
    assert len(cases) >= 4
    sheet = RouteSheet("K", [RouteMeter(c["meter_id"]) for c in cases])
    sheet.dump(tmp_path / "route.csv")
    with open(tmp_path / "drive.jsonl", "w") as f:
        for i, c in enumerate(cases):
            fr = Frame(bytes.fromhex(c["telegram"]), T0 + dt.timedelta(seconds=i), "corpus", rssi_dbm=-70.0)
            f.write(json.dumps(fr.to_dict()) + "\n")
    (tmp_path / "keys.csv").write_text("id,key\n" + "".join(f"{c['meter_id']},{c['key']}\n" for c in cases))

    def run(*extra):
        ob = tmp_path / f"o{len(extra)}.db"
        r = CliRunner().invoke(replay, [str(tmp_path / "drive.jsonl"), "--route", str(tmp_path / "route.csv"),
                                        "--json", "--outbox", str(ob), *extra])
        assert r.exit_code == 0, r.output
        return json.loads(r.output.strip().splitlines()[-1])["counts"], Outbox(ob).rows()

    counts, rows = run()
    assert counts["heard"] == len(cases) and counts["read"] == 0
    assert all(r.kind == "rejected" and r.outcome["reason"] == "NO_KEY" for r in rows)
    assert {r.frame.telegram.hex().upper() for r in rows} == {c["telegram"].upper() for c in cases}

    counts, rows = run("--keys", str(tmp_path / "keys.csv"))
    assert counts["read"] == len(cases) and counts["heard"] == 0
    assert all(r.kind == "decoded" for r in rows)
    stored = json.dumps([r.to_dict() for r in rows]).lower()
    assert not any(c["key"].lower() in stored for c in cases)  # the outbox never holds key material
