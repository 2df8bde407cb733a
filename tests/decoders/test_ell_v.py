"""CI 0x86 (ELL V, variable length) stays a typed rejection until its layout can be verified
(the note above _ELL_SIZE in decoders/core.py says what is missing)."""

from __future__ import annotations

import pytest

from decoders import Reject, decode
from decoders.build import build_telegram


@pytest.mark.parametrize("tail", ["", "20", "2070", "207000000000000000", "2070" + "00" * 40])
def test_ell_v_is_a_typed_unknown_ci(tail):
    t = bytearray(build_telegram(ci=0x78, records=b""))
    t[10:] = bytes.fromhex("86" + tail) + bytes((0x78,))
    t[0] = len(t) - 1
    r = decode(bytes(t))
    assert not r.ok and r.reason is Reject.UNKNOWN_CI
    assert r.ci_chain == ("ELL:86",) and "ELL V" in r.detail
