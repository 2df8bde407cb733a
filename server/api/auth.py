"""Who is calling: staff (back office) or one account (customer portal).

Staff tokens are opaque secrets configured on the server ($AMR_API_STAFF_TOKENS, comma-separated), compared
in constant time. Account tokens are issued by POST /auth/token after a password check and are stateless:
`acc.<account id>.<expiry unix>.<HMAC-SHA256>` under the server secret ($AMR_API_SECRET), so any API
process with the same secret accepts them and none needs a session table. Passwords are stored by the
store as `scrypt$n$r$p$salt$hash` (hashlib.scrypt; no extra dependency).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    h = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(h)}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, h = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(h))


@dataclass(frozen=True, slots=True)
class Principal:
    staff: bool
    account_id: int | None = None
    name: str = ""


@dataclass(slots=True)
class ApiSettings:
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    staff_tokens: frozenset[str] = frozenset()
    token_ttl_s: int = 3600
    max_garden_m3_per_day: float = 5.0   # a self-reading implying more is refused as implausible

    @classmethod
    def from_env(cls) -> ApiSettings:
        secret = os.environ.get("AMR_API_SECRET")
        if not secret:
            log.warning("AMR_API_SECRET not set: account tokens die with this process")
        staff = frozenset(t.strip() for t in os.environ.get("AMR_API_STAFF_TOKENS", "").split(",") if t.strip())
        return cls(secret=secret.encode() if secret else secrets.token_bytes(32), staff_tokens=staff)

    def issue_account_token(self, account_id: int, *, now: float | None = None) -> tuple[str, int]:
        exp = int((now or time.time()) + self.token_ttl_s)
        body = f"acc.{account_id}.{exp}"
        return f"{body}.{self._sign(body)}", exp

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())

    def verify(self, token: str, *, now: float | None = None) -> Principal | None:
        for staff in self.staff_tokens:
            if hmac.compare_digest(token.encode(), staff.encode()):
                return Principal(staff=True, name="staff")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "acc":
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3].encode(), self._sign(body).encode()):
            return None
        try:
            account_id, exp = int(parts[1]), int(parts[2])
        except ValueError:
            return None
        if exp < (now or time.time()):
            return None
        return Principal(staff=False, account_id=account_id, name=f"account:{account_id}")
