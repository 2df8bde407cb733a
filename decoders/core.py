"""bytes -> Telegram: link layer, then the CI chain (ELL, AFL, TPL) by dispatch table, with the standard
security modes. Pure and synchronous; every structural problem is a `Fail` with a typed reason.

Byte layouts are declared in decoders/formats.py (construct); the fixed headers here are read with
`struct.Struct`s derived from those declarations (`DLL_FAST`, `TPL_*_FAST`, `ELL_II_FAST`, ...), and
tests/decoders/test_formats.py checks field by field, over the corpus, that both agree. The derived
formats are written out below rather than derived at import, so that decoding does not import construct
(a fifth of `amr decode`'s start); test_formats.py asserts each equals `derive_struct` of its declaration.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from decoders import security as sec
from decoders.crc import FrameError, crc16_en13757, normalise
from decoders.model import Identity, Reject
from decoders.tables import MANUFACTURERS
from decoders.telegram import Telegram

# derive_struct(<declaration in decoders/formats.py>), written out (tests/decoders/test_formats.py)
DLL_FAST = struct.Struct("<BBH4sBB")             # DLL: l c m id version device_type
ELL_II_FAST = struct.Struct("<1sBBLH")           # ELL_II: ci cc acc sn payload_crc
TPL_SHORT_FAST = struct.Struct("<BBBH")          # TPL_SHORT up to "mode": ci acc sts cfg
TPL_LONG_FAST = struct.Struct("<B4sHBBBBH")      # TPL_LONG up to "mode": ci id m version device_type acc sts cfg
FORMAT_FRAME_FAST = struct.Struct("<BH")         # FormatFrameBody up to "headers": length signature


# layer names in Telegram.ci_chain, made once
_ELL_NAME = tuple(f"ELL:{ci:02X}" for ci in range(256))
_TPL_NAME = tuple(f"TPL:{ci:02X}" for ci in range(256))


class Fail(Exception):
    __slots__ = ("reason", "detail")

    def __init__(self, reason: Reject, detail: str) -> None:
        self.reason = reason
        self.detail = detail


# --- link layer ------------------------------------------------------------------------------------

def link_layer(raw: bytes, crc_free: bool = False) -> Telegram:
    """Raw bytes (wM-Bus with or without DLL CRCs, or a wired long frame) -> Telegram at the first CI.

    crc_free=True takes an input whose L equals its length as CRC-free even when its last bytes happen to
    form a valid frame-B CRC (1 in 65,536 telegrams do); `decode` uses it to try the other reading."""
    n = len(raw)
    if n >= 6 and raw[0] == 0x68 and raw[3] == 0x68 and raw[1] == raw[2]:
        ln = raw[1]
        if n < ln + 6:
            raise Fail(Reject.LENGTH, f"wired long frame with L={ln} needs {ln + 6} bytes, got {n}")
        if raw[ln + 5] != 0x16:
            raise Fail(Reject.MALFORMED, "wired long frame does not end with 16")
        if sum(raw[4:4 + ln]) & 0xFF != raw[4 + ln]:
            raise Fail(Reject.CHECKSUM, "wired long frame checksum does not match")
        if ln < 3:
            raise Fail(Reject.LENGTH, "wired long frame too short for C, A and CI")
        tg = Telegram(raw, raw[:4 + ln], "mbus")
        tg.c_field = raw[4]
        tg.ci_pos = 6
        return tg
    if n < 11:
        raise Fail(Reject.LENGTH, f"{n} bytes are shorter than a link layer and CI")
    if raw[0] == n - 1 and (crc_free or not _looks_like_frame_b(raw, n)):
        data, fmt = raw, "none"
    else:
        try:
            data, fmt = normalise(raw)
        except FrameError as e:
            if e.reason == "LENGTH" and n > raw[0] + 1 and raw[0] >= 10:
                # L too small for the bytes handed over: keep every byte (peer programs do) and say so
                tg = Telegram(raw, raw, "none")
                tg.notes.append(f"L={raw[0]} but {n} bytes: decoded all bytes")
                _dll(tg)
                return tg
            raise Fail(Reject.CRC if e.reason == "CRC" else Reject.LENGTH, e.detail) from None
    tg = Telegram(raw, data, fmt)
    if len(data) < 11:
        raise Fail(Reject.LENGTH, "telegram shorter than a link layer and CI")
    _dll(tg)
    return tg


def ambiguous_frame_b(raw: bytes) -> bool:
    """True when the bytes read both as a CRC-free telegram and as a frame-B frame with a valid CRC."""
    n = len(raw)
    return n >= 11 and raw[0] == n - 1 and not (raw[0] == 0x68 and n >= 6 and raw[3] == 0x68) \
        and _looks_like_frame_b(raw, n)


def _looks_like_frame_b(raw: bytes, n: int) -> bool:
    """Frame B also has L == len - 1 (its L counts the CRCs): check the CRC where B would carry it."""
    if n <= 128:
        return crc16_en13757(raw[:-2]) == (raw[-2] << 8 | raw[-1])
    return crc16_en13757(raw[:126]) == (raw[126] << 8 | raw[127])


_DLL_CACHE: dict[bytes, Identity] = {}
_LONG_CACHE: dict[bytes, Identity] = {}


def _dll(tg: Telegram) -> None:
    d = tg.data
    key = d[1:10]  # C, M, A: meters repeat, so the unpacked identity is interned by these bytes
    hit = _DLL_CACHE.get(key)
    if hit is None:
        _, c, m, ident, version, dtype = DLL_FAST.unpack_from(d)
        hit = Identity(MANUFACTURERS[m & 0x7FFF], ident[::-1].hex(), version, dtype)
        if len(_DLL_CACHE) > 200_000:
            _DLL_CACHE.clear()
        _DLL_CACHE[key] = hit
    tg.c_field = d[1]
    tg.identity = hit
    tg.ci_pos = 10


# --- layers by CI ----------------------------------------------------------------------------------
# A layer handler takes (tg, pos of its CI) and returns the position of the next CI, or -1 when it was
# the application layer (tg.payload set).

Handler = Callable[[Telegram, int], int]


def _need(tg: Telegram, pos: int, n: int, what: str) -> None:
    if pos + n > len(tg.data):
        raise Fail(Reject.LENGTH, f"{what} needs {n} bytes at offset {pos}, {len(tg.data) - pos} left")


# Why CI 0x86 (ELL V, EN 13757-4:2019 table 48) stays a typed UNKNOWN_CI rejection. What public sources
# say: it is the "variable" ELL, whose always-present fields are the shaded rows of table 48 while the
# other ELL fields are optional, selected one by one, in the table's order. What they do not say, and what
# a decoder needs: (1) which fields are mandatory; (2) how a receiver learns which optional fields follow
# (a selector byte or bit field? where, and its bit assignment); (3) the size and order of each field
# (CC, ACC, receiver M2/A2, SN, payload CRC, anything new); (4) whether the SN encryption bits, the
# payload CRC and the AES-CTR counter block work as in ELL II/IV; (5) one verifiable telegram (a standard
# or OMS annex example, or a capture with its known readings). No open decoder we could read implements
# it (wmbusmeters only names it, exmbus stops with "TODO: ELL V"), and no corpus telegram uses it.
_ELL_SIZE = {0x8C: 2, 0x8D: 8, 0x8E: 10, 0x8F: 16}  # CI -> bytes after the CI


def _ell(tg: Telegram, pos: int) -> int:
    d = tg.data
    ci = d[pos]
    size = _ELL_SIZE.get(ci)
    if size is None:  # 0x86 ELL V: see the note above _ELL_SIZE
        tg.ci_chain.append(_ELL_NAME[ci])
        raise Fail(Reject.UNKNOWN_CI, "ELL V (CI 86, variable length) is recognised but not decoded")
    _need(tg, pos, 1 + size, f"ELL {ci:02X}")
    tg.ci_chain.append(_ELL_NAME[ci])
    cc, acc = d[pos + 1], d[pos + 2]
    tg.ell = {"ci": ci, "cc": cc, "acc": acc}
    if tg.acc is None:
        tg.acc = acc
    if ci == 0x8D:
        _, cc, acc, snv, _crc = ELL_II_FAST.unpack_from(d, pos)
        sn_off = pos + 3
    elif ci == 0x8F:
        sn_off = pos + 13
        snv = int.from_bytes(d[sn_off:sn_off + 4], "little")
    else:
        return pos + 1 + size
    sn = d[sn_off:sn_off + 4]
    tg.ell["sn"] = snv
    enc = (snv >> 29) & 0x07
    crc_off = sn_off + 4
    body = d[crc_off:]
    if len(body) < 2:
        raise Fail(Reject.LENGTH, "ELL payload CRC missing")
    plain_ok = crc16_en13757(body[2:]) == (body[0] | body[1] << 8)
    if enc == 0:
        if not plain_ok:
            raise Fail(Reject.PAYLOAD_CRC, "ELL payload CRC does not match")
        return crc_off + 2
    if enc != 1:
        raise Fail(Reject.UNSUPPORTED_SECURITY, f"ELL encryption {enc} not supported")
    tg.security = "ell_ctr"
    keys = _candidate_keys(tg)
    for key in keys:
        block = sec.ell_counter_block(d[2:4], d[4:10], cc, sn)
        pt = sec.ctr_xor(key, block, body)
        if crc16_en13757(pt[2:]) == (pt[0] | pt[1] << 8):
            tg.data = d[:crc_off] + pt
            tg.decryption = "decrypted"
            tg._key = key
            return crc_off + 2
    if plain_ok:
        tg.decryption = "already_decrypted"
        return crc_off + 2
    if keys:
        raise Fail(Reject.PAYLOAD_CRC, "ELL payload CRC fails after decryption: wrong key or corrupt data")
    raise Fail(Reject.NO_KEY, "ELL AES-CTR encrypted and no key configured for this meter")


_AFL_MAC_LEN = {3: 4, 4: 4, 5: 8, 6: 12, 7: 16, 8: 12}


def _afl_room(i: int, n: int, end: int) -> None:
    if i + n > end:
        raise Fail(Reject.MALFORMED, "AFL fields run past its length")


def _afl(tg: Telegram, pos: int) -> int:
    d = tg.data
    _need(tg, pos, 4, "AFL")
    afll = d[pos + 1]
    end = pos + 2 + afll
    _need(tg, pos, 2 + afll, "AFL")
    tg.ci_chain.append("AFL:90")
    if afll < 2:
        raise Fail(Reject.MALFORMED, f"AFL length {afll} leaves no room for its FCL")
    fcl = d[pos + 2] | d[pos + 3] << 8
    if fcl & 0x4000:
        raise Fail(Reject.UNSUPPORTED_SECURITY, "fragmented AFL messages are not supported")
    # every field the FCL announces must lie inside AFLL, checked before it is read (end <= len(d))
    i = pos + 4
    afl: dict[str, int] = {"fcl": fcl}
    mcl = None
    if fcl & 0x2000:
        _afl_room(i, 1, end)
        mcl = d[i]
        afl["mcl"] = mcl
        i += 1
    if fcl & 0x0200:
        _afl_room(i, 2, end)
        afl["ki"] = d[i] | d[i + 1] << 8
        i += 2
    if fcl & 0x0800:
        _afl_room(i, 4, end)
        afl["mcr_off"] = i
        tg.message_counter = int.from_bytes(d[i:i + 4], "little")
        i += 4
    if fcl & 0x0400:
        at = (mcl or 0) & 0x0F
        mac_len = _AFL_MAC_LEN.get(at)
        if mac_len is None:
            raise Fail(Reject.UNSUPPORTED_SECURITY, f"AFL authentication type {at} not supported")
        _afl_room(i, mac_len, end)
        afl["mac_off"] = i
        afl["mac_len"] = mac_len
        i += mac_len
    if fcl & 0x1000:
        _afl_room(i, 2, end)
        afl["ml_off"] = i
        i += 2
    tg.afl = afl
    return end


def _tpl_header(tg: Telegram, pos: int, kind: str) -> int:
    """Parse ACC STS CFG (and the long header's address); return the payload start."""
    d = tg.data
    if kind == "none":
        return pos + 1
    if kind == "long":
        _need(tg, pos, 13, "long TPL header")
        _, ident, m, version, dtype, acc, sts, cfg = TPL_LONG_FAST.unpack_from(d, pos)
        key = d[pos + 1:pos + 9]
        hit = _LONG_CACHE.get(key)
        if hit is None:
            hit = Identity(MANUFACTURERS[m & 0x7FFF], ident[::-1].hex(), version, dtype)
            if len(_LONG_CACHE) > 200_000:
                _LONG_CACHE.clear()
            _LONG_CACHE[key] = hit
        tg.tpl_identity = hit
        p = pos + 13
    else:
        _need(tg, pos, 5, "short TPL header")
        _, acc, sts, cfg = TPL_SHORT_FAST.unpack_from(d, pos)
        p = pos + 5
    tg.acc = acc
    tg.sts = sts
    tg.cfg = cfg
    mode = (cfg >> 8) & 0x1F
    tg.security_mode = mode
    if mode == 7:
        _need(tg, p, 1, "CFG extension")
        tg.cfg_ext = d[p]
        p += 1
    return p


def _candidate_keys(tg: Telegram, size: int = 16) -> tuple[bytes, ...]:
    """Keys of `size` bytes to try (16: AES-128, 8: DES): the configured one, else the driver's published
    defaults. A configured key of the other size is the wrong key for this telegram."""
    k = tg.key()
    if k is not None:
        if len(k) != size:  # an 8-byte key is DES or a manufacturer scrambler, a 16-byte one AES
            need = "AES-128" if size == 16 else "DES (8 bytes)"
            raise Fail(Reject.WRONG_KEY, f"the configured key has {len(k)} bytes; this telegram needs {need}")
        return (k,)
    drv = tg.driver
    if drv is None and tg.tpl_identity is not None:
        # the meter behind a radio converter is named by the long TPL header: its driver (and so its
        # published default keys) is known before decrypting, as it is after
        import decoders.drivers as registry  # lazily: the registry imports this module's users

        drv = tg.driver = registry.by_identity(tg.tpl_identity)
    return tuple(k for k in drv.default_keys if len(k) == size) if drv is not None else ()


def _mode2(tg: Telegram, start: int) -> None:
    """TPL security mode 2 (EN 13757-3:2004): DES-CBC with a zero IV and an 8-byte key. For the DES modes
    the CFG's low byte counts encrypted bytes (a multiple of the 8-byte block), not 16-byte blocks."""
    payload = tg.data[start:]
    enc_len = tg.cfg & 0xFF
    tg.security = "mode2"
    if enc_len > len(payload):
        raise Fail(Reject.DECRYPT_FAILED, f"CFG declares {enc_len} encrypted bytes, only {len(payload)} bytes")
    if enc_len % 8:
        raise Fail(Reject.DECRYPT_FAILED, f"CFG declares {enc_len} encrypted bytes, not whole DES blocks")
    _decrypt_checked(tg, payload, enc_len, _candidate_keys(tg, 8), _des_zero_iv, "mode 2 (DES)")


def _des_zero_iv(key: bytes, ct: bytes) -> bytes:
    return sec.des_cbc_decrypt(key, bytes(8), ct)


def _decrypt_checked(tg: Telegram, payload: bytes, enc_len: int, keys: tuple[bytes, ...],
                     decrypt: Callable[[bytes, bytes], bytes], what: str) -> None:
    """Try each key on the first enc_len bytes; success is the 2F2F check. A payload that already starts
    with 2F2F was decrypted upstream (a stick or peer program); otherwise a typed WRONG_KEY / NO_KEY."""
    ct = payload[:enc_len]
    for key in keys:
        pt = decrypt(key, ct)
        if pt[:2] == b"\x2f\x2f":
            tg.payload = pt + payload[enc_len:]
            tg.decryption = "decrypted"
            tg._key = key
            return
    if payload[:2] == b"\x2f\x2f":
        tg.payload = payload
        tg.decryption = "already_decrypted"
        return
    if keys:
        raise Fail(Reject.WRONG_KEY, f"{what}: decrypted data does not start with 2F2F")
    raise Fail(Reject.NO_KEY, f"{what} encrypted and no key configured for this meter")


def _mode5(tg: Telegram, pos: int, start: int) -> None:
    d = tg.data
    payload = d[start:]
    nblocks = (tg.cfg >> 4) & 0x0F
    enc_len = 16 * nblocks
    tg.security = "mode5"
    if enc_len > len(payload):
        raise Fail(Reject.DECRYPT_FAILED, f"CFG declares {nblocks} encrypted blocks, only {len(payload)} bytes")
    keys = _candidate_keys(tg)
    iv = b""
    if keys:
        if tg.tpl_identity is not None:
            m, a = d[pos + 5:pos + 7], d[pos + 1:pos + 5] + d[pos + 7:pos + 9]
        elif tg.frame_format == "mbus":
            raise Fail(Reject.UNSUPPORTED_SECURITY, "mode 5 without an address to build the IV")
        else:
            m, a = d[2:4], d[4:10]
        iv = sec.mode5_iv(m, a, tg.acc)
    _decrypt_checked(tg, payload, enc_len, keys, lambda key, ct: sec.cbc_decrypt(key, iv, ct), "mode 5")


def _mode7(tg: Telegram, pos: int, start: int) -> None:
    d = tg.data
    payload = d[start:]
    nblocks = (tg.cfg >> 4) & 0x0F
    enc_len = 16 * nblocks
    tg.security = "mode7"
    if enc_len > len(payload):
        raise Fail(Reject.DECRYPT_FAILED, f"CFG declares {nblocks} encrypted blocks, only {len(payload)} bytes")
    kdf = ((tg.cfg_ext or 0) >> 4) & 0x03
    keys = _candidate_keys(tg)
    afl = tg.afl
    if keys:
        if kdf != 1:
            raise Fail(Reject.UNSUPPORTED_SECURITY, f"mode 7 key derivation {kdf} not supported")
        if "mcr_off" not in afl:
            raise Fail(Reject.DECRYPT_FAILED, "mode 7 needs the AFL message counter")
        mcr = d[afl["mcr_off"]:afl["mcr_off"] + 4]
        meter_id = d[pos + 1:pos + 5] if tg.tpl_identity is not None else d[4:8]
        mac_ok_any = False
        for key in keys:
            kenc, kmac = sec.mode7_keys(key, mcr, meter_id)
            if "mac_off" in afl:
                mac_in = bytes((afl["mcl"],)) + mcr
                if "ml_off" in afl:
                    mac_in += d[afl["ml_off"]:afl["ml_off"] + 2]
                mac_in += d[pos:]
                mac = d[afl["mac_off"]:afl["mac_off"] + afl["mac_len"]]
                if sec.cmac(kmac, mac_in)[:afl["mac_len"]] != mac:
                    continue
                mac_ok_any = True
            pt = sec.cbc_decrypt(kenc, bytes(16), payload[:enc_len])
            if pt[:2] == b"\x2f\x2f":
                tg.payload = pt + payload[enc_len:]
                tg.decryption = "decrypted"
                tg.mac_verified = True if "mac_off" in afl else None
                tg._key = key
                _check_counter(tg)
                return
        if payload[:2] == b"\x2f\x2f":
            tg.payload = payload
            tg.decryption = "already_decrypted"
            tg.notes.append("mode 7 payload already plain: MAC not verifiable")
            return
        if "mac_off" in afl and not mac_ok_any:
            raise Fail(Reject.MAC_MISMATCH, "AFL MAC does not verify: wrong key or tampered telegram")
        raise Fail(Reject.WRONG_KEY, "mode 7: decrypted data does not start with 2F2F")
    if payload[:2] == b"\x2f\x2f":
        tg.payload = payload
        tg.decryption = "already_decrypted"
        return
    raise Fail(Reject.NO_KEY, "mode 7 encrypted and no key configured for this meter")


def _check_counter(tg: Telegram) -> None:
    """Replay check on authenticated telegrams: the AFL message counter must grow per meter. Copies
    of one telegram (several receivers, repeaters) repeat it, so an equal counter is only noted."""
    if tg.state is None or tg.message_counter is None or tg.meter is None:
        return
    last = tg.state.last_counter(tg.meter.key, tg.message_counter)
    if last is not None and tg.message_counter < last:
        tg.notes.append(f"message counter {tg.message_counter} below the last seen {last}: possible replay")
    elif last is not None and tg.message_counter == last:
        tg.notes.append("message counter repeated: a copy of an earlier telegram")


def _tpl(tg: Telegram, pos: int) -> int:
    ci = tg.data[pos]
    kind = _TPL_KIND[ci]
    tg.ci_chain.append(_TPL_NAME[ci])
    tg.ci = ci
    tg.tpl_offset = pos
    start = _tpl_header(tg, pos, kind)
    tg.payload_offset = start
    if ci in _COMPACT_CI:
        tg.compact = True
    mode = tg.security_mode
    if mode == 0:
        tg.payload = tg.data[start:]
    elif mode == 5:
        _mode5(tg, pos, start)
    elif mode == 7:
        _mode7(tg, pos, start)
    elif mode == 2:
        _mode2(tg, start)
    elif mode >= 16:
        tg.security = f"mfct_{mode}"
        tg.decryption = "pending"
        tg.payload = tg.data[start:]
    elif tg.driver is not None and mode in tg.driver.opaque_security_modes:
        # a standard mode not implemented here that the driver takes as is (it prints header fields only)
        tg.security = f"tpl_mode_{mode}"
        tg.decryption = "pending"
        tg.payload = tg.data[start:]
    elif mode == 3:
        # DES-CBC whose IV ends in the date (type G) of the transmission, which the telegram does not carry:
        # decoding would hang on the receiver's clock and time zone; no real telegram to check it against
        raise Fail(Reject.UNSUPPORTED_SECURITY, "TPL security mode 3 (DES, date-based IV) not supported")
    else:
        raise Fail(Reject.UNSUPPORTED_SECURITY, f"TPL security mode {mode} not supported")
    return -1


def _mfct(tg: Telegram, pos: int) -> int:
    ci = tg.data[pos]
    tg.ci_chain.append(_TPL_NAME[ci])
    tg.ci = ci
    tg.tpl_offset = pos
    tg.payload_offset = pos + 1
    tg.payload = tg.data[pos + 1:]
    tg.decryption = "pending"  # the driver says whether (and how) the payload is protected
    return -1


def _format_frame(tg: Telegram, pos: int) -> int:
    """CI 0x69/0x6A/0x6B: a format frame carries a DIF/VIF header list and its format signature, no values.
    The list is checked (length, signature = CRC-16/EN-13757 over it, every header complete) and learned
    into the DecoderState, so that this meter's compact frames (0x79/0x7B/0x73) with that signature decode."""
    d = tg.data
    ci = d[pos]
    tg.ci_chain.append(_TPL_NAME[ci])
    tg.ci = ci
    tg.tpl_offset = pos
    start = _tpl_header(tg, pos, _FORMAT_KIND[ci])
    tg.payload_offset = start
    mode = tg.security_mode
    if mode == 0:
        body = d[start:]
    elif mode == 5 or mode == 7:
        (_mode5 if mode == 5 else _mode7)(tg, pos, start)
        body = tg.payload[2:]  # after the 2F2F that proved the decryption
    else:
        raise Fail(Reject.UNSUPPORTED_SECURITY, f"format frame with TPL security mode {mode} not supported")
    tg.payload = b""  # nothing to read as records: the list has no values
    if len(body) < FORMAT_FRAME_FAST.size:
        raise Fail(Reject.LENGTH, f"format frame body needs {FORMAT_FRAME_FAST.size} bytes, {len(body)} left")
    length, sig = FORMAT_FRAME_FAST.unpack_from(body)
    end = 1 + length
    if length < 2 or end > len(body):
        raise Fail(Reject.LENGTH, f"format frame length {length} does not fit its {len(body) - 1} bytes")
    headers = body[FORMAT_FRAME_FAST.size:end]
    crc = crc16_en13757(headers)
    if crc != sig:
        raise Fail(Reject.MALFORMED, f"format frame signature {sig:04X} does not match its header list ({crc:04X})")
    _check_header_list(headers)
    tail = body[end:]
    if tail.strip(b"\x2f"):
        tg.notes.append(f"{len(tail)} bytes after the format frame's header list ignored")
    tg.format_signature = sig
    state = tg.state
    if state is not None:
        meter = tg.meter
        state.learn_format(meter.key if meter is not None else None, sig, headers)
        tg.notes.append(f"format frame: learned format {sig:04X} ({len(headers)} header bytes)")
    else:
        tg.notes.append(f"format frame: format {sig:04X} not kept (no decoder state)")
    return -1


def _check_header_list(h: bytes) -> None:
    """A format's DIF/VIF list must consist of whole record headers (DIF, DIFEs, VIF, VIFEs), or a compact
    frame could not be rebuilt from it."""
    n = len(h)
    i = 0
    while i < n:
        dif = h[i]
        i += 1
        if dif & 0x0F == 0x0F:
            if dif == 0x0F or dif == 0x1F:  # manufacturer data follows in the compact frame's values
                if i != n:
                    raise Fail(Reject.BAD_RECORD, f"format header list continues after DIF {dif:02X}")
                return
            if dif == 0x2F or dif == 0x7F:
                continue
            raise Fail(Reject.BAD_RECORD, f"reserved DIF {dif:02X} in a format header list")
        ext = dif & 0x80
        while ext:
            if i >= n:
                raise Fail(Reject.TRUNCATED_RECORD, "format header list ends inside a DIFE chain")
            ext = h[i] & 0x80
            i += 1
        if i >= n:
            raise Fail(Reject.TRUNCATED_RECORD, f"format header list ends before the VIF of DIF {dif:02X}")
        vif = h[i]
        i += 1
        ext = vif & 0x80
        while ext:
            if i >= n:
                raise Fail(Reject.TRUNCATED_RECORD, "format header list ends inside a VIFE chain")
            ext = h[i] & 0x80
            i += 1


_FORMAT_KIND = {0x69: "none", 0x6A: "short", 0x6B: "long"}
_TPL_KIND = {0x78: "none", 0x79: "none", 0x7A: "short", 0x7B: "short", 0x72: "long", 0x73: "long"}
_COMPACT_CI = frozenset({0x79, 0x7B, 0x73})

LAYERS: dict[int, Handler] = {
    0x8C: _ell, 0x8D: _ell, 0x8E: _ell, 0x8F: _ell, 0x86: _ell,
    0x90: _afl,
    **{ci: _tpl for ci in _TPL_KIND},
    0x69: _format_frame, 0x6A: _format_frame, 0x6B: _format_frame,
    **{ci: _mfct for ci in range(0xA0, 0xB8)},
}


def walk_layers(tg: Telegram) -> None:
    pos = tg.ci_pos
    layers = LAYERS
    for _ in range(8):
        if pos >= len(tg.data):
            raise Fail(Reject.LENGTH, f"telegram ends where a CI is expected (offset {pos})")
        ci = tg.data[pos]
        handler = layers.get(ci)
        if handler is None:
            tg.ci_chain.append(f"?:{ci:02X}")
            raise Fail(Reject.UNKNOWN_CI, f"CI {ci:02X} at offset {pos} has no layer decoder")
        pos = handler(tg, pos)
        if pos < 0:
            if tg.afl and tg.security != "mode7":
                _check_afl_mac_plain(tg)
            return
    raise Fail(Reject.MALFORMED, "too many layers")


def _check_afl_mac_plain(tg: Telegram) -> None:
    """An AFL MAC on a telegram without mode 7: nothing to derive a MAC key from here; note it."""
    if "mac_off" in tg.afl:
        tg.notes.append("AFL MAC present without mode 7: not verified")
