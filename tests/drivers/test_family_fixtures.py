"""Each family module's golden cases (fixtures/drivers/<family>/cases.jsonl) decode as pinned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.drivers.golden import diff, run_case
from tests.drivers.known_failures import KNOWN_FAILURES

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "drivers"
FAMILIES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.jsonl").exists() and p.name != "unclaimed")


@pytest.mark.parametrize("family", FAMILIES)
def test_family_golden_cases(family: str) -> None:
    cases = [json.loads(line) for line in (FIXTURES / family / "cases.jsonl").read_text().splitlines() if line]
    assert cases
    bad = []
    for c in cases:
        if c["corpus_index"] in KNOWN_FAILURES:
            continue
        problems = diff(c["expected"], run_case(c))
        if problems:
            bad.append(f"#{c['corpus_index']} {c['driver']}: " + "; ".join(problems))
    assert not bad, "\n".join(bad)


EXTRA = sorted(FIXTURES.glob("*/extra_cases.jsonl"))


@pytest.mark.parametrize("path", EXTRA, ids=[p.parent.name for p in EXTRA])
def test_family_extra_cases(path: Path) -> None:
    """Telegrams beyond the corpus (the reference decoder's own driver tests), checked on the fields their
    reference output lists."""
    from decoders import DecoderState, decode
    from decoders.output import to_wmbusmeters

    bad = []
    for line in path.read_text().splitlines():
        c = json.loads(line)
        got = to_wmbusmeters(decode(bytes.fromhex(c["telegram"]), state=DecoderState(), driver=c["driver"]))
        wrong = {k: (v, got.get(k)) for k, v in c["expected_subset"].items() if got.get(k) != v}
        if wrong:
            bad.append(f"{c['driver']} {c['telegram'][:24]}…: {wrong}")
    assert not bad, "\n".join(bad)
