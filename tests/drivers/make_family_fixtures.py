"""Write fixtures/drivers/<family>/cases.jsonl: the corpus cases of each family module, grouped.

Run after adding a driver:  .venv/bin/python tests/drivers/make_family_fixtures.py
Each line keeps what a case needs (telegram, priors, key, driver, expected); the family golden test
replays them, so a family's behaviour is pinned beside its module.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from decoders.drivers import by_name  # noqa: E402
from tests.drivers.golden import load_cases  # noqa: E402

KEEP = ("driver", "meter_id", "key", "telegram", "prior_telegrams", "expected", "comment")


def main() -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for i, case in enumerate(load_cases()):
        drv = by_name(case["driver"])
        family = drv.__class__.__module__.rsplit(".", 1)[-1] if drv is not None else "unclaimed"
        groups[family].append({"corpus_index": i, **{k: case.get(k) for k in KEEP}})
    out = ROOT / "fixtures" / "drivers"
    for family, cases in sorted(groups.items()):
        d = out / family
        d.mkdir(parents=True, exist_ok=True)
        with (d / "cases.jsonl").open("w") as f:
            for c in cases:
                f.write(json.dumps(c, sort_keys=True) + "\n")
        print(f"{family:14s} {len(cases)} cases")


if __name__ == "__main__":
    main()
