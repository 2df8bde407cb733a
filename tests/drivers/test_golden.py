"""Golden test: every corpus case through `decode` + the named driver, compared field by field with the
reference output (timestamp and name ignored). A failure prints a readable diff of the fields."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.drivers.golden import diff, load_cases, run_case
from tests.drivers.known_failures import KNOWN_FAILURES

CASES = load_cases()


def _param(i: int, case: dict) -> object:
    marks = []
    if i in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[i]))
    return pytest.param(case, id=f"{i:03d}-{case['driver']}", marks=marks)


@pytest.mark.parametrize("case", [_param(i, c) for i, c in enumerate(CASES)])
def test_corpus_case(case: dict) -> None:
    got = run_case(case)
    problems = diff(case["expected"], got)
    assert not problems, f"{case['driver']} {case['telegram']}\n" + "\n".join(problems)


def test_agreement_per_driver(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the per-driver agreement table; the totals must agree with the known-failure list."""
    total: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    failing: list[int] = []
    for i, case in enumerate(CASES):
        total[case["driver"]] += 1
        if diff(case["expected"], run_case(case)):
            failing.append(i)
        else:
            ok[case["driver"]] += 1
    with capsys.disabled():
        print(f"\ncorpus agreement: {sum(ok.values())}/{len(CASES)} cases")
        for d in sorted(total, key=lambda d: (ok[d] == total[d], d)):
            if ok[d] != total[d]:
                print(f"  {d:14s} {ok[d]}/{total[d]}")
    assert sorted(failing) == sorted(KNOWN_FAILURES), "known_failures.py is out of date"
