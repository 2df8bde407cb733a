"""Run corpus cases through `decode` and compare with the reference output (shared by tests and tools)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from decoders import DecoderState, KeyStore, decode
from decoders.model import Decoded, Rejection
from decoders.output import to_wmbusmeters

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"
IGNORED = frozenset({"timestamp", "name", "_"})


def load_cases(path: Path = CORPUS) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def wmbusmeters_view(res: Decoded | Rejection) -> dict[str, Any]:
    """The decode result exactly as `amr decode --format wmbusmeters` prints it."""
    return json.loads(json.dumps(to_wmbusmeters(res)))


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    keys = None
    if case.get("key"):
        keys = KeyStore()
        keys.add(case["meter_id"], case["key"])
    state = DecoderState()
    drv = case.get("driver")
    for prior in case.get("prior_telegrams") or []:
        decode(bytes.fromhex(prior), keys=keys, state=state, driver=drv)
    return wmbusmeters_view(decode(bytes.fromhex(case["telegram"]), keys=keys, state=state, driver=drv))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def diff(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Readable field differences (empty when the case matches)."""
    lines = []
    for k in sorted(set(expected) | set(got)):
        if k in IGNORED:
            continue
        if k not in got:
            lines.append(f"- {k}: missing (expected {expected[k]!r})")
        elif k not in expected:
            lines.append(f"+ {k}: unexpected {got[k]!r}")
        elif not same(expected[k], got[k]):
            lines.append(f"~ {k}: expected {expected[k]!r}, got {got[k]!r}")
    return lines


def decode_frames(cases: list[dict[str, Any]]) -> Iterator[Decoded | Rejection]:
    """Every frame of every case (prior telegrams first, one DecoderState per case, the case's key as the
    only key, its driver named), decoded in order."""
    for case in cases:
        keys = KeyStore.single(case["key"]) if case.get("key") else None
        state = DecoderState()
        for t in [*case.get("prior_telegrams", []), case["telegram"]]:
            yield decode(bytes.fromhex(t), keys=keys, state=state, driver=case.get("driver"))

