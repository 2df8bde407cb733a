"""`amr demo`: the main job on embedded defaults.

Until the full pipeline exists, it decodes the bundled fixture telegrams (the corpus, each case's
keys and prior telegrams included) and prints a summary per manufacturer, driver, security outcome and
rejection reason.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import click

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"


def _table(title: str, counts: Counter[str], width: int = 28) -> list[str]:
    lines = [f"{title}:"]
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {name:<{width}} {n:>5}")
    return lines


def summarise(path: Path = CORPUS) -> tuple[list[str], dict[str, int]]:
    from decoders import DecoderState, KeyStore, decode

    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_mfct: Counter[str] = Counter()
    by_driver: Counter[str] = Counter()
    by_security: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    total = ok = 0
    t0 = time.perf_counter()
    for case in cases:
        state = DecoderState()
        keys = KeyStore.single(case["key"]) if case.get("key") else None
        for prior in case.get("prior_telegrams", []):
            decode(bytes.fromhex(prior), keys=keys, state=state, driver=case.get("driver"))
        r = decode(bytes.fromhex(case["telegram"]), keys=keys, state=state, driver=case.get("driver"))
        total += 1
        if r.ok:
            ok += 1
            by_mfct[r.meter.manufacturer] += 1
            by_driver[r.driver or "(generic)"] += 1
            by_security[f"{r.security}/{r.decryption}"] += 1
        else:
            rejected[r.reason.value] += 1
            if r.identity is not None:
                by_mfct[r.identity.manufacturer] += 1
    dt = time.perf_counter() - t0
    out = [f"Decoded {ok} of {total} bundled telegrams ({total - ok} rejected) in {dt * 1000:.0f} ms", ""]
    out += _table("Manufacturers", by_mfct, 10)[:1] + [
        "  " + ", ".join(f"{m} {n}" for m, n in sorted(by_mfct.items(), key=lambda kv: (-kv[1], kv[0])))]
    out += [""] + _table("Drivers", Counter(dict(by_driver.most_common(15))))
    if len(by_driver) > 15:
        out.append(f"  ... and {len(by_driver) - 15} more drivers")
    out += [""] + _table("Security (mode/outcome)", by_security, 40)
    out += [""] + (_table("Rejections", rejected) if rejected else ["Rejections: none"])
    return out, {"total": total, "decoded": ok, "rejected": total - ok}


@click.command("demo")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False), default=str(CORPUS), show_default=False,
              help="JSONL telegram corpus to decode (default: the bundled one).")
def demo(corpus: str) -> None:
    """Decode the bundled fixture telegrams and print a summary."""
    lines, _ = summarise(Path(corpus))
    click.echo("\n".join(lines))
