"""The Source base: spec parsing, the lazy registry and its entry points, framing policy, recv/close."""

from __future__ import annotations

import sys
import threading
import types
from datetime import UTC, datetime

import pytest

from collector.sources import base
from collector.sources.base import (
    Source,
    SourceExhausted,
    SourceSpec,
    SourceUnavailable,
    SpecError,
    open_source,
    parse_link_modes,
    source_class,
)
from collector.sources.virtual import VirtualSource, end_channel, send
from decoders.crc import encode_frame_a, encode_frame_b
from decoders.frame import Frame
from tests.sources.conftest import SAMPLE_A, SAMPLE_B


def test_spec_parsing():
    assert SourceSpec.parse("im871a:/dev/ttyUSB0:t1,c1") == SourceSpec("im871a", "/dev/ttyUSB0:t1,c1", {})
    assert SourceSpec.parse("auto") == SourceSpec("auto", "", {})
    assert SourceSpec.parse("log:a.jsonl?speed=2&format=capture") == \
        SourceSpec("log", "a.jsonl", {"speed": "2", "format": "capture"})
    assert SourceSpec.parse("RTLTCP:host:1234").name == "rtltcp"
    with pytest.raises(SpecError):
        SourceSpec.parse("")
    with pytest.raises(SpecError):
        SourceSpec.parse(":x")
    with pytest.raises(SpecError):
        SourceSpec.parse("log:x?novalue")


def test_link_mode_lists():
    assert parse_link_modes("t1,c1") == ("T1", "C1")
    assert parse_link_modes("c1+t1") == ("C1", "T1")
    assert parse_link_modes(None, ("S1",)) == ("S1",)


def test_stick_spec_splits_port_and_modes():
    from collector.sources.im871a import Im871aSource

    src = Im871aSource.from_spec("/dev/ttyUSB0:t1,c1", {})
    assert (src.port, src.link_modes) == ("/dev/ttyUSB0", ("T1", "C1"))
    src = Im871aSource.from_spec("rfc2217://host:4000", {})
    assert (src.port, src.link_modes) == ("rfc2217://host:4000", ("T1", "C1"))
    assert src.name == "im871a:rfc2217://host:4000"
    src.close()


def test_registry_is_lazy_and_names_every_source():
    for name in ("virtual", "im871a", "amb8465", "cul", "log", "auto", "rtlsdr", "rtltcp", "iq"):
        assert name in base.SOURCES
    assert base.SOURCES["rtlsdr"] == ("collector.sources.rtlsdr", "RtlSdrSource")
    assert base.SOURCES["iq"] == ("collector.sources.iq", "IqFileSource")
    with pytest.raises(SpecError, match="unknown source"):
        open_source("nosuch:thing")


def test_unknown_module_is_a_typed_error(monkeypatch):
    monkeypatch.setitem(base.SOURCES, "ghost", ("collector.sources.no_such_module", "Ghost"))
    with pytest.raises(SourceUnavailable):
        source_class("ghost")


def test_entry_point_sources_are_found(monkeypatch):
    mod = types.ModuleType("amr_test_plugin")

    class PluginSource(VirtualSource):
        kind = "plugin"

    mod.PluginSource = PluginSource
    monkeypatch.setitem(sys.modules, "amr_test_plugin", mod)

    class EP:
        name, value = "plugin", "amr_test_plugin:PluginSource"

    import importlib.metadata as md

    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None, **kw: [EP()] if group == "amr.sources"
                        else real(group=group, **kw))
    assert "plugin" in base.registered_sources()
    with open_source("plugin:chan") as src:
        assert isinstance(src, PluginSource)


class _Bytes(Source):
    """A minimal driver: proves the base owns framing policy and counting."""

    kind = "bytes"

    def __init__(self, items):
        super().__init__("bytes:test")
        self.items = list(items)

    def _recv_internal(self, timeout):
        if not self.items:
            raise SourceExhausted("done")
        data, kw = self.items.pop(0)
        return self.make_frame(data, **kw)


def test_make_frame_strips_crcs_and_counts():
    bad_a = bytearray(encode_frame_a(SAMPLE_A))
    bad_a[5] ^= 0x40
    src = _Bytes([
        (encode_frame_a(SAMPLE_A), {"link_mode": "t1", "rssi_dbm": -70.0}),
        (encode_frame_b(SAMPLE_B), {"link_mode": "C1"}),
        (SAMPLE_A, {"crc_ok": True}),
        (bytes(bad_a), {}),
        (b"\x30\x44\x01", {}),
        (SAMPLE_A, {"crc_ok": False}),
    ])
    frames = list(src)
    assert [f.telegram for f in frames] == [SAMPLE_A, SAMPLE_B, SAMPLE_A,
                                            bytes([SAMPLE_A[0]]) + SAMPLE_A[1:5] + bytes([SAMPLE_A[5] ^ 0x40])
                                            + SAMPLE_A[6:], SAMPLE_A]
    assert [f.crc_ok for f in frames] == [True, True, True, False, False]
    assert [f.frame_format for f in frames] == ["A", "B", None, "A", None]
    assert frames[0].link_mode == "T1" and frames[0].rssi_dbm == -70.0
    assert all(f.received_at.tzinfo is UTC and f.source == "bytes:test" for f in frames)
    assert src.counters.frames == 5
    assert src.counters.crc_failures == 2
    assert src.counters.rejected == {"LENGTH": 1}
    assert src.rejections[0].raw == b"\x30\x44\x01"
    assert src.exhausted


def test_make_frame_with_crcs_present_flags_a_failed_frame_b():
    bad_b = bytearray(encode_frame_b(SAMPLE_A))
    bad_b[-1] ^= 1
    src = _Bytes([(bytes(bad_b), {"crcs": True})])
    frame = src.recv(0)
    assert frame.telegram == SAMPLE_A and frame.crc_ok is False and frame.frame_format == "B"


def test_recv_timeout_returns_none_and_close_from_another_thread_unblocks():
    src = VirtualSource("blocking")
    assert src.recv(timeout=0) is None
    assert src.recv(timeout=0.01) is None
    result = {}

    def reader():
        result["frame"] = src.recv(timeout=None)

    t = threading.Thread(target=reader)
    t.start()
    src.close()
    t.join(timeout=5)
    assert not t.is_alive() and result["frame"] is None
    assert src.closed
    src.close()  # idempotent
    assert src.recv(0) is None


def test_virtual_channel_broadcasts_to_every_member():
    a, b = VirtualSource("bus"), VirtualSource("bus")
    frame = Frame(SAMPLE_A, datetime(2026, 1, 1, tzinfo=UTC), "elsewhere", "T1")
    assert send("bus", frame) == 2
    send("bus", encode_frame_a(SAMPLE_B), link_mode="c1")
    end_channel("bus")
    for src in (a, b):
        got = list(src)
        assert got[0] is frame
        assert got[1].telegram == SAMPLE_B and got[1].source == "virtual:bus" and got[1].link_mode == "C1"
        assert src.exhausted
        src.close()


def test_multi_source_survives_a_failing_member(tmp_path):
    from collector.sources.multi import MultiSource

    good = VirtualSource("multi-good")
    bad = open_source(f"cul:{tmp_path / 'no-such-port'}:t1", reconnect="no")
    send("multi-good", SAMPLE_A)
    end_channel("multi-good")
    with MultiSource([bad, good]) as multi:
        assert [f.telegram for f in multi] == [SAMPLE_A]
        assert multi.exhausted
        assert multi.counters.rejected == {"SOURCE_FAILED": 1}
        assert isinstance(multi.errors[bad.name], SourceUnavailable)
        assert set(multi.counters_by_source()) == {bad.name, good.name}
    assert bad.closed and good.closed


def test_auto_with_no_stick_is_a_typed_error(tmp_path):
    with pytest.raises(SourceUnavailable, match="no receiver stick"):
        open_source("auto:t1", ports=str(tmp_path / "none"), probe_timeout=0.05)


def test_unknown_options_are_rejected(tmp_path):
    with pytest.raises(SpecError, match="unknown option"):
        open_source("im871a:/dev/ttyUSB0:t1?baud=57600")
    with pytest.raises(SpecError, match="unknown option"):
        open_source(f"log:{tmp_path / 'x'}?sped=2")
    with pytest.raises(SpecError, match="unknown option"):
        open_source("virtual:x?y=1")
