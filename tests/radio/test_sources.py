"""IQ file, rtl_tcp and RTL-SDR sources: open_source specs, errors, and the rtl_tcp path end to end.

The rtl_tcp emulator (collector.emulators.rtltcp_server) is a real TCP server; the pyrtlsdr path goes
through pyrtlsdr's own `rtlsdr.RtlSdrTcpClient`, the default path through the rtl_tcp wire protocol.
"""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest

from collector.emulators.rtltcp_server import RtlTcpServer, load_cu8
from collector.radio.synth import Burst, Scene, random_telegram, write_scene
from collector.sources import SourceUnavailable, SpecError, open_source
from collector.sources.rtltcp import RtlTcpSource


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    rng = np.random.default_rng(7)
    bursts = [Burst(random_telegram(rng, 42), m, f, 0.004 + 0.018 * i, 20, (-1) ** i * 12e3 * i, 0.002)
              for i, (m, f) in enumerate([("T1", "A"), ("C1", "A"), ("C1", "B"), ("T1", "A")])]
    scene = Scene(fs=1.6e6, centre_hz=868.95e6, duration_s=0.08, bursts=bursts, seed=7)
    path = write_scene(scene, tmp_path_factory.mktemp("iq"), "rtltcp", "cu8")
    return path, [b.telegram for b in bursts], [b.mode for b in bursts]


def test_iq_file_source_yields_frames(capture):
    path, telegrams, modes = capture
    with open_source(f"iq:{path}?modes=t1,c1") as src:
        frames = list(src)
        assert src.exhausted
    assert [f.telegram for f in frames] == telegrams
    assert [f.link_mode for f in frames] == modes
    assert all(f.crc_ok and f.snr_db > 10 and f.stream_time is not None for f in frames)
    assert src.counters.frames == 4 and src.counters.crc_failures == 0


def test_iq_file_source_realtime_pacing_takes_air_time(capture):
    path, telegrams, _ = capture
    with open_source(f"iq:{path}?realtime=1") as src:
        t0 = time.monotonic()
        frames = list(src)
        elapsed = time.monotonic() - t0
    assert [f.telegram for f in frames] == telegrams
    assert elapsed > 0.05          # 80 ms of air is not read instantly (no upper bound: CI speed varies)


def test_iq_file_errors_are_typed(tmp_path):
    with pytest.raises(SourceUnavailable):
        open_source(f"iq:{tmp_path / 'missing_868.95M_1600k.cu8'}")
    nameless = tmp_path / "capture.cu8"
    nameless.write_bytes(b"\x80" * 1000)
    with pytest.raises(SpecError, match="sample rate"):
        open_source(f"iq:{nameless}")
    with pytest.raises(SpecError, match="no wM-Bus channel"):
        open_source(f"iq:{nameless}?rate=1600k&freq=433.92M")
    with open_source(f"iq:{nameless}?rate=1600k&freq=868.95M") as src:
        assert list(src) == []


def test_truncated_file_is_fine(capture, tmp_path):
    path, telegrams, _ = capture
    cut = tmp_path / path.name
    cut.write_bytes(path.read_bytes()[: int(0.024 * 1.6e6) * 2 + 1])   # odd byte count, mid-burst end
    with open_source(f"iq:{cut}") as src:
        frames = list(src)
    assert [f.telegram for f in frames] == telegrams[:1]


@pytest.mark.parametrize("protocol", ["rtl_tcp", "pyrtlsdr"])
def test_rtltcp_end_to_end_through_the_emulator(capture, protocol):
    path, telegrams, modes = capture
    data, fs, centre = load_cu8(path)
    with RtlTcpServer(data, sample_rate=fs, center_freq=centre) as srv:
        spec = f"rtltcp:127.0.0.1:{srv.port}?protocol={protocol}&freq=868.95M&rate=1600k&gain=28.0"
        with open_source(spec) as src:
            assert isinstance(src, RtlTcpSource)
            frames = list(src)
        settings = dict(srv.settings)
    assert [f.telegram for f in frames] == telegrams
    assert [f.link_mode for f in frames] == modes
    assert settings["center_freq"] == 868950000 and settings["sample_rate"] == 1600000
    if protocol == "rtl_tcp":
        assert settings["gain"] == 280 and settings["gain_mode"] == 1    # tenths of dB, manual
    else:
        assert settings["gain"] == 28.0


def test_pyrtlsdr_client_reads_the_emulator_directly(capture):
    from rtlsdr import RtlSdrTcpClient

    path, _, _ = capture
    data, fs, centre = load_cu8(path)
    with RtlTcpServer(data, sample_rate=fs, center_freq=centre) as srv:
        client = RtlSdrTcpClient(hostname="127.0.0.1", port=srv.port)
        client.center_freq = 868.95e6
        assert client.center_freq == 868.95e6
        first = client.read_bytes(4096)
        client.close()
    assert bytes(first) == data[:4096]


def test_rtltcp_live_stream_emits_frames_while_streaming(capture):
    """Paced like a dongle and looping forever: frames arrive without the stream ever ending."""
    path, telegrams, _ = capture
    data, fs, centre = load_cu8(path)
    with RtlTcpServer(data, sample_rate=fs, center_freq=centre, realtime=True, loop=True) as srv, \
            open_source(f"rtltcp:127.0.0.1:{srv.port}") as src:
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 6 and time.monotonic() < deadline:
            f = src.recv(timeout=1.0)
            if f is not None:
                got.append(f.telegram)
        assert not src.exhausted
    assert got[:4] == telegrams and got[4:6] == telegrams[:2]


def test_rtltcp_unreachable_or_wrong_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceUnavailable):
        open_source(f"rtltcp:127.0.0.1:{port}")
    srv = socket.create_server(("127.0.0.1", 0))
    try:
        import threading

        def talk():
            conn, _ = srv.accept()
            conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
            time.sleep(0.2)
            conn.close()

        threading.Thread(target=talk, daemon=True).start()
        with pytest.raises(SourceUnavailable, match="not an rtl_tcp server"):
            open_source(f"rtltcp:127.0.0.1:{srv.getsockname()[1]}")
    finally:
        srv.close()
    with pytest.raises(SpecError):
        open_source("rtltcp:127.0.0.1:notaport")


def test_rtlsdr_without_a_dongle_is_unavailable():
    with pytest.raises(SourceUnavailable):
        open_source("rtlsdr:7")
    with pytest.raises(SpecError):
        open_source("rtlsdr:first")


@pytest.mark.hardware
@pytest.mark.skipif(not os.environ.get("AMR_TEST_HARDWARE"), reason="set AMR_TEST_HARDWARE=1 with a dongle plugged in")
def test_rtlsdr_real_dongle_smoke():  # pragma: no cover - needs an RTL-SDR plugged in
    with open_source("rtlsdr:0?freq=868.95M&rate=1600k") as src:
        src.recv(timeout=2.0)


@pytest.mark.parametrize("meta", [
    '{"global": {"core:datatype": "cu8", "core:sample_rate": 1600000}, "captures": [5]}',
    '{"global": {"core:datatype": ["cu8"], "core:sample_rate": 1600000}}',
    '{"global": {"core:datatype": "cu8", "core:sample_rate": 1600000}, "captures": [{"core:frequency": "x"}]}',
    '[' * 100000,
    '{"global": {"core:datatype": "cu8", "core:sample_rate": 1e400}, "captures": [{"core:frequency": 868.95e6}]}',
])
def test_damaged_sigmf_meta_is_a_spec_error(meta, tmp_path):
    """Found by an IQ-file campaign: these escaped as AttributeError, TypeError, ValueError,
    RecursionError and (an infinite rate) OverflowError from the demodulator's block size."""
    (tmp_path / "s.sigmf-data").write_bytes(b"\x80" * 1000)
    (tmp_path / "s.sigmf-meta").write_text(meta)
    with pytest.raises(SpecError):
        open_source(f"iq:{tmp_path / 's.sigmf-data'}")


@pytest.mark.parametrize("rate", ["inf", "1e300", "-1"])
def test_absurd_rates_are_spec_errors(rate, tmp_path):
    p = tmp_path / "a_868.95M_1600k.cu8"
    p.write_bytes(b"\x80" * 1000)
    with pytest.raises(SpecError):
        open_source(f"iq:{p}?rate={rate}")


def test_iq_path_that_cannot_be_opened_is_unavailable(tmp_path):
    d = tmp_path / "dir_868.95M_1600k.cu8"
    d.mkdir()
    with pytest.raises(SourceUnavailable):
        open_source(f"iq:{d}")
