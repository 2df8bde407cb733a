"""Every family module imports: the registry skips a module that fails to import (so one broken family
cannot stop decoding), which would otherwise hide a broken driver behind generic decoding."""

from __future__ import annotations

import decoders.drivers as registry


def test_every_family_module_loads() -> None:
    registry.load_all()
    assert registry.LOAD_ERRORS == {}
