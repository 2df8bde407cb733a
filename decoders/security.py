"""Cipher primitives for the standard security modes: mode 2 (DES-CBC, zero IV, EN 13757-3:2004), mode 5
(AES-CBC, IV), mode 7 (AES-CBC, zero IV, CMAC KDF, AFL MAC) and ELL AES-128-CTR.

CBC and CTR are done over a cached AES-ECB context per key: one C call for all blocks and an int XOR
for the chaining, instead of building a cipher object per telegram. The cache holds key material in
memory only (as the KeyStore does); nothing here logs or formats a key.
"""

from __future__ import annotations

import warnings

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

with warnings.catch_warnings():  # single DES lives with the deprecated ciphers
    warnings.simplefilter("ignore")
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # older cryptography releases
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[assignment]

_DEC: dict[bytes, object] = {}
_ENC: dict[bytes, object] = {}
_CACHE_MAX = 100_000


def _ecb_decryptor(key: bytes):
    d = _DEC.get(key)
    if d is None:
        if len(_DEC) >= _CACHE_MAX:
            _DEC.clear()
        d = _DEC[key] = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    return d


def _ecb_encryptor(key: bytes):
    e = _ENC.get(key)
    if e is None:
        if len(_ENC) >= _CACHE_MAX:
            _ENC.clear()
        e = _ENC[key] = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e


def aes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    return _ecb_encryptor(key).update(data)


def cbc_decrypt(key: bytes, iv: bytes, ct: bytes) -> bytes:
    """AES-128-CBC without padding; len(ct) must be a multiple of 16."""
    n = len(ct)
    if n == 0:
        return b""
    blocks = _ecb_decryptor(key).update(ct)
    chain = iv + ct[:-16]
    return (int.from_bytes(blocks, "big") ^ int.from_bytes(chain, "big")).to_bytes(n, "big")


def cbc_encrypt(key: bytes, iv: bytes, pt: bytes) -> bytes:
    """AES-128-CBC without padding (for building test vectors and the emulators)."""
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(pt) + enc.finalize()


def _des(key: bytes):
    """Single DES: TripleDES with the 8-byte key three times (K1 = K2 = K3 reduces EDE to one DES)."""
    if len(key) != 8:
        raise ValueError("DES needs an 8-byte key")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TripleDES(key * 3)


def des_cbc_decrypt(key: bytes, iv: bytes, ct: bytes) -> bytes:
    """DES-CBC without padding; len(ct) must be a multiple of 8 (mode 2: iv = 8 zero bytes)."""
    if not ct:
        return b""
    dec = Cipher(_des(key), modes.CBC(iv)).decryptor()
    return dec.update(ct) + dec.finalize()


def des_cbc_encrypt(key: bytes, iv: bytes, pt: bytes) -> bytes:
    """DES-CBC without padding (for building test vectors)."""
    enc = Cipher(_des(key), modes.CBC(iv)).encryptor()
    return enc.update(pt) + enc.finalize()


def ctr_xor(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """AES-128-CTR where only the last byte of the 16-byte counter block increments (ELL: BC)."""
    n = len(data)
    if n == 0:
        return b""
    nblocks = (n + 15) // 16
    prefix = counter_block[:15]
    base = counter_block[15]
    counters = b"".join(prefix + bytes(((base + i) & 0xFF,)) for i in range(nblocks))
    stream = _ecb_encryptor(key).update(counters)[:n]
    return (int.from_bytes(stream, "big") ^ int.from_bytes(data, "big")).to_bytes(n, "big")


def cmac(key: bytes, data: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def mode5_iv(m_field: bytes, a_field: bytes, acc: int) -> bytes:
    """IV = M(2) ‖ A(6: id, version, type) ‖ ACC×8, byte order as transmitted."""
    return m_field + a_field + bytes((acc,)) * 8


def mode7_keys(key: bytes, counter: bytes, meter_id: bytes) -> tuple[bytes, bytes]:
    """KDF-A (EN 13757-7): Kenc/Kmac = CMAC(K, 00|01 ‖ counter(4) ‖ id(4) ‖ 07×7)."""
    tail = counter + meter_id + b"\x07" * 7
    return cmac(key, b"\x00" + tail), cmac(key, b"\x01" + tail)


def ell_counter_block(m_field: bytes, a_field: bytes, cc: int, sn: bytes) -> bytes:
    """M(2) ‖ A(6) ‖ CC without hop/repeat bits ‖ SN(4) ‖ FN=0000 ‖ BC=00."""
    return m_field + a_field + bytes((cc & ~0x12 & 0xFF,)) + sn + b"\x00\x00\x00"
