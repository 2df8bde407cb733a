"""Further reference cases (fixtures/wmbusmeters_tests/): telegrams outside the corpus, compared field by
field with the reference output. A case marked `xfail` carries the reason and must keep failing (strict),
so a fix shows up as a test to update."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.drivers.golden import diff, run_case

DIR = Path(__file__).resolve().parents[2] / "fixtures" / "wmbusmeters_tests"


def _cases() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(DIR.glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                out.append((f"{path.stem}:{n}", json.loads(line)))
    return out


CASES = _cases()


def _param(ident: str, case: dict) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
    return pytest.param(case, id=ident, marks=marks)


@pytest.mark.parametrize("case", [_param(i, c) for i, c in CASES])
def test_reference_case(case: dict) -> None:
    problems = diff(case["expected"], run_case(case))
    assert not problems, f"{case['driver']} {case['telegram']}\n" + "\n".join(problems)


def test_cases_are_new_and_well_formed() -> None:
    corpus = {json.loads(s)["telegram"].upper() for s in (DIR.parent / "corpus" / "wmbus_telegrams.jsonl")
              .read_text().splitlines() if s.strip()}
    seen: Counter[tuple[str, str]] = Counter()
    for ident, c in CASES:
        assert {"driver", "telegram", "expected", "source"} <= c.keys(), ident
        bytes.fromhex(c["telegram"])
        assert c["telegram"].upper() not in corpus, f"{ident} repeats a corpus telegram"
        seen[(c["driver"], c["telegram"].upper())] += 1
    dup = [k for k, n in seen.items() if n > 1]
    assert not dup, f"duplicate cases: {dup[:5]}"


def test_agreement_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints agreement per driver (informative; the per-case tests above decide)."""
    total: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    for _, c in CASES:
        total[c["driver"]] += 1
        ok[c["driver"]] += not diff(c["expected"], run_case(c))
    with capsys.disabled():
        print(f"\nreference cases beyond the corpus: {sum(ok.values())}/{len(CASES)} match")
        for d in sorted(total):
            if ok[d] != total[d]:
                print(f"  {d:16s} {ok[d]}/{total[d]}")
    assert sum(total.values()) == len(CASES)
