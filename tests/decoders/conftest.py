"""Fixtures of the decoding area: the construct codec checker and telegram builders."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from construct import Construct, SizeofError


def _strip(obj: Any) -> Any:
    """construct Containers -> plain dicts/lists without the `_io` bookkeeping, for comparison."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def check_codec(spec: Construct, data: bytes, obj: dict[str, Any] | None = None,
                size: int | None = None) -> dict[str, Any]:
    """parse == obj, build(parse) == data, sizeof (or SizeofError for variable layouts), and the compiled
    parser/builder agree with the interpreted ones. Returns the parsed object."""
    parsed = _strip(spec.parse(data))
    if obj is not None:
        for k, v in obj.items():
            assert parsed[k] == v, f"{k}: parsed {parsed[k]!r}, expected {v!r}"
    assert spec.build(spec.parse(data)) == data
    if size is None:
        with contextlib.suppress(SizeofError):  # variable layouts have no static size
            assert spec.sizeof() == len(data)
    else:
        assert spec.sizeof() == size == len(data)
    compiled = spec.compile()
    assert _strip(compiled.parse(data)) == parsed
    assert compiled.build(compiled.parse(data)) == data
    return parsed


@pytest.fixture(scope="session")
def assert_codec():
    return check_codec
