"""Byte layouts declared with `construct`: the single source of truth for every fixed format.

Written in construct's compile-friendly dialect (integer fields, `this` expressions, no lambdas, no
BitStruct) so each spec also compiles. The hot path (decoders/core.py, decoders/records.py) reads the
same fields with slicing for speed; tests/decoders/test_formats.py parses every corpus telegram with
both and asserts they agree, and builds test telegrams from these specs.

Multi-byte fields are little-endian as on the air, except the wired checksum/stop bytes (single bytes).
"""

from __future__ import annotations

import struct

from construct import (
    Bytes,
    Computed,
    Const,
    FormatField,
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int32ul,
    Renamed,
    RepeatUntil,
    Struct,
    Switch,
    obj_,
    this,
)

# --- link layer ------------------------------------------------------------------------------------

# wM-Bus data link layer, normalised (no CRCs): L C M A(id, version, type), then the first CI.
DLL = Struct(
    "l" / Int8ul,
    "c" / Int8ul,
    "m" / Int16ul,            # manufacturer, 3 letters in 15 bits
    "id" / Bytes(4),          # BCD, little-endian
    "version" / Int8ul,
    "device_type" / Int8ul,
)

# Wired M-Bus long frame: 68 L L 68 C A CI data CS 16. L counts C..data; CS is their byte sum.
WiredLongFrame = Struct(
    "start" / Const(b"\x68"),
    "l" / Int8ul,
    "l2" / Int8ul,
    "start2" / Const(b"\x68"),
    "c" / Int8ul,
    "a" / Int8ul,
    "ci" / Int8ul,
    "data" / Bytes(this.l - 3),
    "cs" / Int8ul,
    "stop" / Const(b"\x16"),
)

# --- extended link layer ---------------------------------------------------------------------------

ELL_I = Struct("ci" / Const(b"\x8c"), "cc" / Int8ul, "acc" / Int8ul)
ELL_II = Struct(
    "ci" / Const(b"\x8d"),
    "cc" / Int8ul,
    "acc" / Int8ul,
    "sn" / Int32ul,
    "enc" / Computed(this.sn >> 29 & 0x07),   # 1: AES-128-CTR from the payload CRC on
    "payload_crc" / Int16ul,
)
ELL_III = Struct("ci" / Const(b"\x8e"), "cc" / Int8ul, "acc" / Int8ul, "m2" / Int16ul, "a2" / Bytes(6))
ELL_IV = Struct(
    "ci" / Const(b"\x8f"),
    "cc" / Int8ul,
    "acc" / Int8ul,
    "m2" / Int16ul,
    "a2" / Bytes(6),
    "sn" / Int32ul,
    "enc" / Computed(this.sn >> 29 & 0x07),
    "payload_crc" / Int16ul,
)

# --- authentication and fragmentation layer (EN 13757-7) ---------------------------------------------

AFL = Struct(
    "ci" / Const(b"\x90"),
    "afll" / Int8ul,
    "fcl" / Int16ul,
    "more_fragments" / Computed(this.fcl >> 14 & 1),
    "mcl" / If(this.fcl & 0x2000, Int8ul),
    "ki" / If(this.fcl & 0x0200, Int16ul),
    "mcr" / If(this.fcl & 0x0800, Int32ul),
    "mac" / If(this.fcl & 0x0400, Switch(this.mcl & 0x0F, {3: Bytes(4), 4: Bytes(4), 5: Bytes(8),
                                                          6: Bytes(12), 7: Bytes(16), 8: Bytes(12)})),
    "ml" / If(this.fcl & 0x1000, Int16ul),
)

# --- transport layer --------------------------------------------------------------------------------

_CFG_FIELDS = (
    "acc" / Int8ul,
    "sts" / Int8ul,
    "cfg" / Int16ul,
    "mode" / Computed(this.cfg >> 8 & 0x1F),
    "blocks" / Computed(this.cfg >> 4 & 0x0F),
    "cfg_ext" / If(this.mode == 7, Int8ul),
)

TPL_NONE = Struct("ci" / Int8ul)  # 0x78 / 0x79 / 0x69
TPL_SHORT = Struct("ci" / Int8ul, *_CFG_FIELDS)  # 0x7A / 0x7B / 0x6A
TPL_LONG = Struct(  # 0x72 / 0x73 / 0x6B
    "ci" / Int8ul,
    "id" / Bytes(4),
    "m" / Int16ul,
    "version" / Int8ul,
    "device_type" / Int8ul,
    *_CFG_FIELDS,
)

# Compact frame body after its TPL header: format signature, data CRC, values only.
CompactBody = Struct("signature" / Int16ul, "data_crc" / Int16ul, "values" / GreedyBytes)

# Format frame body (CI 0x69/0x6A/0x6B) after its TPL header (EN 13757-3 annex G, compact frames): a
# length byte counting the bytes after it, the format signature (CRC-16/EN-13757 of the header list),
# then the DIF/VIF header list a compact frame with that signature leaves out.
FormatFrameBody = Struct("length" / Int8ul, "signature" / Int16ul, "headers" / Bytes(this.length - 2))

# --- application layer: one data record (documentation, building test vectors, differential tests) ---

_DATA = {
    0x0: Bytes(0), 0x1: Bytes(1), 0x2: Bytes(2), 0x3: Bytes(3), 0x4: Bytes(4), 0x5: Bytes(4),
    0x6: Bytes(6), 0x7: Bytes(8), 0x8: Bytes(0), 0x9: Bytes(1), 0xA: Bytes(2), 0xB: Bytes(3),
    0xC: Bytes(4), 0xE: Bytes(6),
    # LVAR: the length byte, then text (< 0xC0, sent reversed), BCD (0xC_/0xD_) or binary (0xE_)
    0xD: Struct("lvar" / Int8ul,
                "value" / Switch(this.lvar >> 4, {0xC: Bytes(this.lvar & 0x0F), 0xD: Bytes(this.lvar & 0x0F),
                                                 0xE: Bytes(this.lvar & 0x0F)}, default=Bytes(this.lvar))),
}

DataRecord = Struct(
    "dif" / Int8ul,
    "difes" / If(this.dif & 0x80, RepeatUntil(obj_ & 0x80 == 0, Int8ul)),
    "vif" / Int8ul,
    "vifes" / If(this.vif & 0x80, RepeatUntil(obj_ & 0x80 == 0, Int8ul)),
    "data" / Switch(this.dif & 0x0F, _DATA),
)

# --- the fast path, derived from the declarations ----------------------------------------------------

def derive_struct(spec: Struct, upto: str | None = None) -> struct.Struct:
    """Fold a Struct's leading fixed-size fields (integers, fixed Bytes, Consts) into one `struct.Struct`.

    Stops before `upto` (exclusive) or at the end; Computed fields are skipped (derive them from the
    unpacked values); anything variable before that point is refused, so the hot path cannot silently
    drift from the declaration. Field order of the result is the declaration's (see `derived_names`).
    """
    fmt = "<"
    for sc in spec.subcons:
        if upto is not None and sc.name == upto:
            break
        sub = sc.subcon if isinstance(sc, Renamed) else sc
        if isinstance(sub, Computed):
            continue
        if isinstance(sub, FormatField):
            fmt += sub.fmtstr[1:]
        elif isinstance(sub, Const) and isinstance(sub.value, bytes):
            fmt += f"{len(sub.value)}s"
        elif isinstance(sub, Bytes) and isinstance(sub.length, int):
            fmt += f"{sub.length}s"
        else:
            raise TypeError(f"field {sc.name!r} ({type(sub).__name__}) is not fixed-size")
    return struct.Struct(fmt)


def derived_names(spec: Struct, upto: str | None = None) -> tuple[str, ...]:
    names = []
    for sc in spec.subcons:
        if upto is not None and sc.name == upto:
            break
        sub = sc.subcon if isinstance(sc, Renamed) else sc
        if not isinstance(sub, Computed):
            names.append(sc.name)
    return tuple(names)


# The hot path's unpackers. decoders/core.py holds the same formats written out (decoding then needs no
# construct import); tests/decoders/test_formats.py asserts they equal these and checks them field by field.
DLL_FAST = derive_struct(DLL)                              # l c m id version device_type
ELL_II_FAST = derive_struct(ELL_II)                        # ci cc acc sn payload_crc
TPL_SHORT_FAST = derive_struct(TPL_SHORT, upto="mode")     # ci acc sts cfg
TPL_LONG_FAST = derive_struct(TPL_LONG, upto="mode")       # ci id m version device_type acc sts cfg
FORMAT_FRAME_FAST = derive_struct(FormatFrameBody, upto="headers")  # length signature


# --- one table to drive the codec tests and the documentation ----------------------------------------

SPECS = {
    "DLL": DLL, "WiredLongFrame": WiredLongFrame, "ELL_I": ELL_I, "ELL_II": ELL_II, "ELL_III": ELL_III,
    "ELL_IV": ELL_IV, "AFL": AFL, "TPL_NONE": TPL_NONE, "TPL_SHORT": TPL_SHORT, "TPL_LONG": TPL_LONG,
    "CompactBody": CompactBody, "FormatFrameBody": FormatFrameBody, "DataRecord": DataRecord,
}
