"""Encryption at rest for meter AES keys.

Each key is sealed with AES-256-GCM under a master key. The row's identity (address and manufacturer) is
the associated data, so a ciphertext copied onto another meter's row fails to open instead of silently
decrypting every telegram with the wrong key.

The master key comes from, in order: `$AMR_MASTER_KEY` (64 hex digits or urlsafe base64 of 32 bytes),
the file named by `$AMR_MASTER_KEY_FILE`, or `var/master.key`, which is created (mode 0600) on first use
so the embedded default works out of the box. Losing the master key loses the meter keys: back it up
apart from the database.

Nothing here logs or reprs key material; `MasterKey.__repr__` says only where the key came from.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DEFAULT_KEY_FILE = Path("var") / "master.key"
_VERSION = b"\x01"


class KeyVaultError(ValueError):
    """A master key or a sealed meter key that cannot be used (wrong master key, tampered row)."""


class MasterKey:
    __slots__ = ("_aead", "origin")

    def __init__(self, key: bytes, origin: str = "explicit"):
        if len(key) != 32:
            raise KeyVaultError(f"the master key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.origin = origin

    def __repr__(self) -> str:
        return f"MasterKey(origin={self.origin!r})"

    @classmethod
    def load(cls, *, create: bool = True) -> MasterKey:
        env = os.environ.get("AMR_MASTER_KEY")
        if env:
            return cls(_parse(env.strip()), "env:AMR_MASTER_KEY")
        path = Path(os.environ.get("AMR_MASTER_KEY_FILE") or DEFAULT_KEY_FILE)
        if path.exists():
            return cls(_parse(path.read_text().strip()), f"file:{path}")
        if not create:
            raise KeyVaultError(f"no master key: set AMR_MASTER_KEY or create {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        return cls(_parse(path.read_text().strip()), f"file:{path}")

    def seal(self, key: bytes, address: str, manufacturer: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, key, _aad(address, manufacturer))

    def open(self, sealed: bytes, address: str, manufacturer: str) -> bytes:
        if len(sealed) < 1 + 12 + 16 or sealed[:1] != _VERSION:
            raise KeyVaultError(f"sealed key for {manufacturer or '*'}/{address} is malformed")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], _aad(address, manufacturer))
        except InvalidTag:
            raise KeyVaultError(
                f"sealed key for {manufacturer or '*'}/{address} does not open: wrong master key or tampered row"
            ) from None


def _aad(address: str, manufacturer: str) -> bytes:
    return f"amr-meter-key|{manufacturer}|{address}".encode()


def _parse(text: str) -> bytes:
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as e:
        raise KeyVaultError("master key is neither 64 hex digits nor base64") from e
