"""One contract, every source implementation (python-can's back-to-back idea).

Each case builds a source that will deliver the same telegrams: the virtual channel, a log of every
format, each stick through its emulator, and several sources merged. The class below checks what
the rest of the collector relies on: the same Frame metadata, order kept, timeouts honoured, counters,
clean close.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.emulators.base import Transmission
from collector.sources import amb8465, im871a, open_source
from collector.sources.base import Source
from collector.sources.logs import CaptureWriter
from collector.sources.multi import MultiSource
from collector.sources.virtual import VirtualSource, end_channel, send
from decoders.crc import encode_frame_a
from decoders.frame import Frame
from tests.sources.conftest import wireless_telegrams

TELEGRAMS = wireless_telegrams(12)
T0 = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)


@dataclass
class Case:
    source: Source
    telegrams: list[bytes]
    finite: bool
    reopen: Callable[[], Source] | None = None   # a second source on the same resource after close
    extra: dict = field(default_factory=dict)


def _file(tmp: Path, name: str, content: str | bytes) -> Path:
    p = tmp / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


def _log_content(fmt: str, tmp: Path) -> Path:
    ts = TELEGRAMS
    if fmt == "capture":
        p = tmp / "cap.jsonl"
        with CaptureWriter(p) as w:
            for i, t in enumerate(ts):
                w.write(Frame(t, T0 + timedelta(seconds=i), "im871a:/dev/ttyUSB0", "T1", None, -60.0))
        return p
    if fmt == "rtlwmbus":
        return _file(tmp, "r.msg", "".join(f"T1;1;1;2026-04-01 06:00:{i:02d}.000;97;148;{t[4:8][::-1].hex()};0x{t.hex()}\n"
                                           for i, t in enumerate(ts)))
    if fmt == "rtl433-json":
        return _file(tmp, "r.json", "".join(json.dumps({"time": f"@{i}.0s", "model": "Wireless-MBus",
                                                        "mode": "T", "data": t.hex()}) + "\n"
                                           for i, t in enumerate(ts)))
    if fmt == "rtl433-csv":
        return _file(tmp, "r.csv", "time,model,mode,data\n" + "".join(
            f"2026-04-01 06:00:{i:02d},Wireless-MBus,T,{t.hex()}\n" for i, t in enumerate(ts)))
    if fmt == "simulation":
        return _file(tmp, "simulation.txt", "".join(f"telegram=|{t.hex()}|+{i}\n" for i, t in enumerate(ts)))
    if fmt == "hex":
        return _file(tmp, "t.hex", "".join(encode_frame_a(t).hex() + "\n" for t in ts))
    if fmt == "rawtty":
        return _file(tmp, "tty.bin", b"".join(b"\x00\x00" + t for t in ts))
    if fmt == "im871a":
        return _file(tmp, "im.bin", b"".join(b"\x13" + im871a.encode(2, 3, t[1:], rssi_raw=100) for t in ts))
    if fmt == "amb8465":
        return _file(tmp, "amb.bin", b"".join(amb8465.encode(amb8465.DATA_IND, t + b"\x10") for t in ts))
    if fmt == "cul":
        return _file(tmp, "cul.txt", "".join(f"b{encode_frame_a(t).hex().upper()}2A80\r\n" for t in ts))
    raise AssertionError(fmt)


LOG_FORMATS = ["capture", "rtlwmbus", "rtl433-json", "rtl433-csv", "simulation", "hex", "rawtty", "im871a",
               "amb8465", "cul"]
STICKS = ["im871a", "amb8465", "cul"]
CASES = ["virtual", *[f"log-{f}" for f in LOG_FORMATS], *[f"stick-{s}" for s in STICKS], "multi", "iq"]


@pytest.fixture(params=CASES)
def case(request, tmp_path, emulator) -> Case:
    name: str = request.param
    if name == "virtual":
        src = VirtualSource("contract")
        for t in TELEGRAMS:
            send("contract", encode_frame_a(t), link_mode="T1", rssi_dbm=-50.0)
        end_channel("contract")
        c = Case(src, TELEGRAMS, finite=True)
    elif name.startswith("log-"):
        fmt = name[4:]
        path = _log_content(fmt, tmp_path)
        src = open_source(f"log:{path}?format={fmt}")
        c = Case(src, TELEGRAMS, finite=True, reopen=lambda: open_source(f"log:{path}?format={fmt}"))
    elif name.startswith("stick-"):
        kind = name[6:]
        emu = emulator(kind, [Transmission(t, "T1", -60.0) for t in TELEGRAMS])
        spec = f"{kind}:{emu.port}:t1?backoff_min=0.01&backoff_max=0.05"

        def again() -> Source:
            src = open_source(spec)
            src.recv(timeout=0.2)  # connect; what was sent while no host listened is gone (as on a real stick)
            emu.add(Transmission(TELEGRAMS[0], "T1"))
            return src

        c = Case(open_source(spec), TELEGRAMS, finite=False, reopen=again)
    elif name == "iq":  # the SDR engineer's IQ-file source, fed a synthetic capture of clean bursts
        from collector.radio.synth import Burst, Scene, write_scene

        short = [t for t in TELEGRAMS if len(t) < 100][:4]
        scene = Scene(duration_s=0.25, bursts=[Burst(t, ("T1", "C1")[i % 2], "A", 0.01 + 0.05 * i, 25.0)
                                               for i, t in enumerate(short)])
        path = write_scene(scene, tmp_path, "contract")
        c = Case(open_source(f"iq:{path}"), short, finite=True, reopen=lambda: open_source(f"iq:{path}"))
    else:  # several sources merged: each keeps its own order
        a = open_source(f"log:{_log_content('rtlwmbus', tmp_path)}")
        b = VirtualSource("contract-multi")
        for t in TELEGRAMS:
            send("contract-multi", t, link_mode="C1")
        end_channel("contract-multi")
        c = Case(MultiSource([a, b]), TELEGRAMS + TELEGRAMS, finite=True, extra={"merged": True})
    yield c
    c.source.close()


class TestSourceContract:
    def _take(self, case: Case) -> list[Frame]:
        frames = []
        for _ in range(len(case.telegrams)):
            f = case.source.recv(timeout=5)
            assert f is not None, f"{case.source!r} delivered {len(frames)} of {len(case.telegrams)}"
            frames.append(f)
        return frames

    def test_same_frame_metadata(self, case):
        for f in self._take(case):
            assert isinstance(f, Frame)
            assert isinstance(f.telegram, bytes) and f.telegram[0] == len(f.telegram) - 1  # normalised
            assert f.received_at.tzinfo is not None and f.received_at.utcoffset() == timedelta(0)
            assert isinstance(f.source, str) and f.source
            assert f.link_mode is None or (f.link_mode.isupper() and f.link_mode in ("T1", "C1", "S1"))
            assert f.rssi_dbm is None or isinstance(f.rssi_dbm, float)
            assert f.crc_ok in (True, False, None)
            assert f.frame_format in ("A", "B", None)
            assert Frame.from_dict(json.loads(json.dumps(f.to_dict()))) == f

    def test_order_is_kept(self, case):
        frames = self._take(case)
        if case.extra.get("merged"):
            # arrival order across members is free; each member's own order is kept
            by_source: dict[str, list[bytes]] = {}
            for f in frames:
                by_source.setdefault(f.source, []).append(f.telegram)
            assert sorted(by_source) == sorted(s.name for s in case.source.sources)
            assert all(got == TELEGRAMS for got in by_source.values())
        else:
            assert [f.telegram for f in frames] == case.telegrams

    def test_end_timeout_and_counters(self, case):
        frames = self._take(case)
        assert case.source.recv(timeout=0.05) is None
        if case.finite:
            assert case.source.exhausted
            assert list(case.source) == []
        else:
            assert not case.source.exhausted
        assert case.source.counters.frames == len(frames)
        assert case.source.counters.crc_failures == sum(f.crc_ok is False for f in frames)

    def test_iteration_equals_recv(self, case):
        got = []
        for f in case.source:  # a live stick never ends: stop after what was sent
            got.append(f.telegram)
            if not case.finite and len(got) == len(case.telegrams):
                break
        if case.extra.get("merged"):
            assert sorted(got) == sorted(case.telegrams)
        else:
            assert got == case.telegrams

    def test_clean_close(self, case):
        first = case.source.recv(timeout=5)
        assert first is not None
        done = threading.Event()
        threading.Thread(target=lambda: (case.source.recv(timeout=None), done.set()), daemon=True).start()
        case.source.close()
        case.source.close()
        assert case.source.closed
        assert case.source.recv(timeout=0) is None
        if case.finite or case.extra.get("merged"):
            done.wait(5)
        else:
            assert done.wait(5), "a reader blocked in recv() must return after close()"
        if case.reopen is not None:  # the device/file was released: a new source can have it
            with case.reopen() as again:
                assert again.recv(timeout=5) is not None

    def test_context_manager_closes(self, case):
        with case.source as src:
            assert src.recv(timeout=5) is not None
        assert case.source.closed
