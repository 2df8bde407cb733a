"""Fixtures for the sources area: corpus telegrams, receiver-log samples, stick emulators on ptys."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.emulators.amb8465 import Amb8465Emulator
from collector.emulators.base import PtyEmulator, Transmission
from collector.emulators.cul import CulEmulator
from collector.emulators.im871a import Im871aEmulator

ROOT = Path(__file__).resolve().parents[2]
RECEIVER_LOGS = ROOT / "fixtures" / "receiver_logs"
CORPUS = ROOT / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"

SAMPLE_A = bytes.fromhex("2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae01"
                         "8201fb1aa9012f")
SAMPLE_B = bytes.fromhex("5744b40988227711101b7ab20800000265a00842658f088201659f08226589081265a008626551085"
                         "2652b0902fb1aba0142fb1ab0018201fb1abd0122fb1aa90112fb1aba0162fb1aa60152fb1af50106"
                         "6d3b3bb36b2a00")

EMULATORS: dict[str, type[PtyEmulator]] = {
    "im871a": Im871aEmulator, "amb8465": Amb8465Emulator, "cul": CulEmulator,
}


def wireless_telegrams(limit: int | None = None) -> list[bytes]:
    """Normalised wM-Bus telegrams of the corpus (CRC-free, L == len - 1), in corpus order."""
    out = []
    with CORPUS.open() as f:
        for line in f:
            d = json.loads(line)
            t = bytes.fromhex(d["telegram"])
            if d["header"].get("frame") == "wmbus" and t[0] == len(t) - 1 and len(t) >= 12:
                out.append(t)
    return out[:limit] if limit else out


@pytest.fixture(scope="session")
def telegrams() -> list[bytes]:
    return wireless_telegrams()


@pytest.fixture(scope="session")
def receiver_logs() -> Path:
    return RECEIVER_LOGS


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Callable[..., PtyEmulator]]:
    """Factory: emulator("im871a", [Transmission...], **kw) -> started emulator, stopped at teardown."""
    started: list[PtyEmulator] = []

    def make(kind: str, items: list[Transmission | bytes] = (), **kw) -> PtyEmulator:  # type: ignore[assignment]
        kw.setdefault("path", tmp_path / f"tty{kind}{len(started)}")
        emu = EMULATORS[kind](list(items), **kw).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()
