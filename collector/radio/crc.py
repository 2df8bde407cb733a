"""decoders/crc.py for the receiver, without importing the `decoders` package.

`decoders/__init__` eagerly loads the whole decoding stack (construct, drivers: ~70 ms of CPU), which
would be most of `amr demod`'s start-up. The receiver needs only the CRC and frame-format functions, so
it executes that one file under a private module name. It is the same code, not a copy; when the
package is already imported (the collector pipeline), its module is simply reused.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def _load() -> ModuleType:
    loaded = sys.modules.get("decoders.crc")
    if loaded is not None:
        return loaded
    parent = importlib.util.find_spec("decoders")   # locating a top-level package does not run it
    if parent is None or not parent.submodule_search_locations:
        import decoders.crc as mod  # unusual install: fall back to the normal import
        return mod
    path = next(iter(parent.submodule_search_locations)) + "/crc.py"
    spec = importlib.util.spec_from_file_location("collector.radio._decoders_crc", path)
    if spec is None or spec.loader is None:
        import decoders.crc as mod
        return mod
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


_crc = _load()
FrameError = _crc.FrameError
crc16_en13757 = _crc.crc16_en13757
decode_frame_a = _crc.decode_frame_a
decode_frame_b = _crc.decode_frame_b
encode_frame_a = _crc.encode_frame_a
encode_frame_b = _crc.encode_frame_b
frame_a_length = _crc.frame_a_length

__all__ = ["FrameError", "crc16_en13757", "decode_frame_a", "decode_frame_b", "encode_frame_a", "encode_frame_b",
           "frame_a_length"]
