"""Sensus / Actaris (ALK) iPERL water meters behind an Actis-Link module, TPL security mode 2.

Mode 2 (EN 13757-3:2004) is DES in CBC mode with a zero initialisation vector and an 8-byte key; the
plain text starts with the 2F 2F check bytes like mode 5. The core leaves modes it does not implement
to drivers that declare them, so this driver decrypts the blocks itself and reads standard records.
"""

from __future__ import annotations

import warnings

from cryptography.hazmat.primitives.ciphers import Cipher, modes

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver, lib
from decoders.drivers.base import reject, tg_parse_records
from decoders.model import Reject, Rejection
from decoders.telegram import Telegram

with warnings.catch_warnings():  # single DES lives with the deprecated ciphers
    warnings.simplefilter("ignore")
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # older cryptography releases
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[assignment]


def des_cbc_zero_iv(key: bytes, data: bytes) -> bytes:
    """DES-CBC (IV 0) over the whole 8-byte blocks of `data` (a key repeated 3 times is single DES)."""
    n = len(data) // 8 * 8
    dec = Cipher(TripleDES(key * 3), modes.CBC(bytes(8))).decryptor()
    return dec.update(data[:n]) + dec.finalize() + data[n:]


@register
class ActisLink(SpecDriver):
    name = "actislink"
    meter_type = "WaterMeter"
    detect = frozenset({("ALK", 0x04, 0x07)})
    opaque_security_modes = frozenset({2})
    spec = lib("total_m3")

    def payload(self, tg: Telegram) -> Rejection | None:
        if not (tg.decryption == "pending" and tg.security_mode == 2):
            return super().payload(tg)
        key = tg.key()
        if key is None:
            return reject(tg, Reject.NO_KEY, "TPL security mode 2 (DES) and no key configured")
        if len(key) != 8:
            return reject(tg, Reject.WRONG_KEY, "TPL security mode 2 needs an 8-byte DES key")
        plain = des_cbc_zero_iv(key, tg.payload)
        if plain[:2] != b"\x2f\x2f":
            return reject(tg, Reject.WRONG_KEY, "mode 2: decrypted data does not start with 2F2F")
        tg.security = "tpl_des_cbc"
        tg.decryption = "decrypted"
        return tg_parse_records(tg, plain)
