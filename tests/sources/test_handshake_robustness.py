"""Opening a live receiver against a hostile or broken peer: each case a handshake campaign found
(tests/campaigns/handshake_mutations.py, 2026-11-25) ends in a typed error, or in a working source, promptly;
nothing else escapes, and close() from another thread ends a handshake at once."""

from __future__ import annotations

import threading
import time

import pytest

from collector.emulators.amb8465 import Amb8465Emulator
from collector.emulators.base import Transmission
from collector.sources import amb8465, open_source
from collector.sources.base import SourceUnavailable
from tests.sources.conftest import SAMPLE_A


# --- sticks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reconnect", [False, True])
def test_close_during_the_handshake_ends_it_at_once(emulator, reconnect):
    # The stick never gives the answer the handshake waits for; the caller gives up and closes. recv used
    # to spin on the dropped port until the command timeout (2 s here), then count a HANDSHAKE rejection
    # and, without reconnect, raise SourceUnavailable out of a source that had been closed.
    emu = emulator("cul", [], version="V 1.0 something else")
    src = open_source(f"cul:{emu.port}:t1", reconnect=reconnect, command_timeout=2.0)
    out: dict[str, object] = {}

    def reader() -> None:
        try:
            out["frame"] = src.recv(timeout=5.0)
        except Exception as exc:  # noqa: BLE001 - what the test is about
            out["exc"] = exc
        out["at"] = time.monotonic()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.2)
    closed_at = time.monotonic()
    src.close()
    t.join(3.0)
    assert not t.is_alive()
    assert "exc" not in out, out.get("exc")
    assert out["frame"] is None
    assert out["at"] - closed_at < 0.5
    assert "HANDSHAKE" not in src.counters.rejected
    assert src._serial is None  # the port was released


class _LosesOneSetAnswer(Amb8465Emulator):
    """Writes the RSSI_Enable parameter as asked, but its answer is lost once."""

    lost = False

    def _command(self, msg: amb8465.AmberMessage) -> None:
        if msg.cmd == amb8465.SET and msg.payload[:1] == bytes([amb8465.P_RSSI]) and not self.lost:
            self.lost = True
            self.memory[amb8465.P_RSSI] = msg.payload[2]
            return
        super()._command(msg)


def test_amb8465_parameters_of_a_failed_handshake_are_applied_before_they_are_trusted(tmp_path):
    # The first handshake set CMD_OUT and RSSI in parameter memory, then timed out before the RESET that
    # applies them. The retry read a memory that said "command mode + RSSI" while the stick still ran
    # transparent without RSSI: every telegram after was garbage to the driver, for good.
    emu = _LosesOneSetAnswer([], path=tmp_path / "ttyamb", command_mode=False, rssi=False).start()
    try:
        with open_source(f"amb8465:{emu.port}:t1", command_timeout=0.2, backoff_min=0.01) as src:
            frame = None
            deadline = time.monotonic() + 4.0
            while frame is None and time.monotonic() < deadline:
                if emu.pending() == 0:
                    emu.add(Transmission(SAMPLE_A, "T1", -61.0))
                frame = src.recv(timeout=0.1)
            assert frame is not None, src.counters
            assert (frame.telegram, frame.rssi_dbm) == (SAMPLE_A, -61.0)
            assert src.counters.rejected["HANDSHAKE"] == 1
        # the retry applied the written parameters (RESET) before reading them back, and wrote nothing more
        assert [c[0] for c in emu.commands] == [amb8465.GET, amb8465.SET, amb8465.SET,
                                                amb8465.RESET, amb8465.GET, amb8465.SERIALNO, amb8465.SET_MODE]
        assert emu.resets == 1
    finally:
        emu.stop()


class _AnswersAnotherOffset(Amb8465Emulator):
    """Answers a read of the parameter memory with the bytes from offset 0x10 on."""

    def _command(self, msg: amb8465.AmberMessage) -> None:
        if msg.cmd == amb8465.GET:
            self._reply(msg.cmd, bytes([0x10, 0x70]) + bytes(self.memory[0x10:0x80]))
            return
        super()._command(msg)


def test_amb8465_memory_answer_for_another_offset_is_a_handshake_error(tmp_path):
    # It was read as if it started at 0: CMD_OUT and RSSI_Enable came from other parameters.
    emu = _AnswersAnotherOffset([], path=tmp_path / "ttyamb", command_mode=True, rssi=True)
    emu.memory[0x10 + amb8465.P_CMD_OUT] = emu.memory[0x10 + amb8465.P_RSSI] = 0
    emu.start()
    try:
        with open_source(f"amb8465:{emu.port}:t1", reconnect=False, command_timeout=0.2) as src, \
                pytest.raises(SourceUnavailable, match="offset"):
            src.recv(timeout=0.5)
        assert src.counters.rejected["HANDSHAKE"] == 1
    finally:
        emu.stop()
