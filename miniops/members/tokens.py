"""Member tokens.

* Access token ``ma1.<payload>.<signature>``: the payload names the member, the
  session and the expiry; the signature is an HMAC (keyed from SECRET_KEY). It is
  checked without the database; a session revoked since is caught by the session
  check in ``miniops.members.apiauth``.
* Refresh token ``mr1.<session>.<secret>``: only a keyed hash of the secret is
  stored; every refresh replaces it, so a stolen, already-used refresh token is
  detected on reuse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac


@dataclass(frozen=True)
class AccessClaims:
    member_id: int
    session_id: uuid.UUID
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str) -> str:
    return _b64(salted_hmac("miniops.member-access", payload, algorithm="sha256").digest())


def make_access(
    member_id: int, session_id: uuid.UUID, *, now: float | None = None
) -> tuple[str, int]:
    expires = int((now or time.time()) + settings.MINIOPS_MEMBER_ACCESS_MINUTES * 60)
    payload = _b64(f"{member_id}:{session_id.hex}:{expires}".encode())
    return f"ma1.{payload}.{_sign(payload)}", expires


def parse_access(token: str, *, now: float | None = None) -> AccessClaims | None:
    """Claims of a valid, unexpired token, or None."""
    if not token.startswith("ma1.") or len(token) > 300:
        return None
    try:
        _, payload, signature = token.split(".")
    except ValueError:
        return None
    if not hmac.compare_digest(signature, _sign(payload)):
        return None
    try:
        member_id, session_hex, expires = _unb64(payload).decode().split(":")
        claims = AccessClaims(int(member_id), uuid.UUID(hex=session_hex), int(expires))
    except (ValueError, UnicodeDecodeError):
        return None
    if claims.expires <= (now or time.time()):
        return None
    return claims


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh(secret: str) -> str:
    return salted_hmac("miniops.member-refresh", secret, algorithm="sha256").hexdigest()


def make_refresh(session_id: uuid.UUID, secret: str) -> str:
    return f"mr1.{session_id.hex}.{secret}"


def parse_refresh(token: str) -> tuple[uuid.UUID, str] | None:
    if not token.startswith("mr1.") or len(token) > 200:
        return None
    try:
        _, session_hex, secret = token.split(".", 2)
        return uuid.UUID(hex=session_hex), secret
    except ValueError:
        return None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
