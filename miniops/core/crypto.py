"""Personal data encrypted at rest, with exact look-up through a blind index.

* Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key ring
  (``MINIOPS_FIELD_KEYS``: comma-separated Fernet keys, newest first). Decryption
  tries every key; encryption always uses the newest; ``manage.py reencrypt_pii``
  moves old rows to the newest key.
* Exact look-up (a phone number typed by customer service) uses a keyed HMAC of
  the normalised value (``MINIOPS_BLIND_INDEX_KEY``), stored beside the cipher
  text. The database never sees the plain value, and the index cannot be reversed
  without the key.

Outside production both keys are generated on first use and kept under
``var/`` (like the secret key); production refuses to start without them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["DecryptionError", "blind_index", "decrypt", "encrypt", "is_current", "rotate"]

_lock = threading.Lock()


class DecryptionError(ValueError):
    """A stored value could not be decrypted with any key of the ring."""


def _var_secret(name: str, make: str) -> str:
    path = Path(settings.VAR_DIR) / name
    with _lock:
        if not path.exists():
            path.write_text(make)
            path.chmod(0o600)
    return path.read_text().strip()


@lru_cache(maxsize=1)
def _ring() -> tuple[MultiFernet, Fernet]:
    raw = settings.MINIOPS_FIELD_KEYS
    if not raw:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("MINIOPS_ENV=production requires MINIOPS_FIELD_KEYS")
        raw = _var_secret("field_keys", Fernet.generate_key().decode())
    try:
        keys = [Fernet(key.strip()) for key in raw.split(",") if key.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured("MINIOPS_FIELD_KEYS must be Fernet keys") from exc
    if not keys:
        raise ImproperlyConfigured("MINIOPS_FIELD_KEYS is empty")
    return MultiFernet(keys), keys[0]


@lru_cache(maxsize=1)
def _index_key() -> bytes:
    raw = settings.MINIOPS_BLIND_INDEX_KEY
    if not raw:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("MINIOPS_ENV=production requires MINIOPS_BLIND_INDEX_KEY")
        raw = _var_secret("blind_index_key", Fernet.generate_key().decode())
    return raw.encode()


def reset_keys() -> None:
    """Forget the cached key ring (settings changed; tests)."""
    _ring.cache_clear()
    _index_key.cache_clear()


def encrypt(value: str) -> str:
    return _ring()[0].encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _ring()[0].decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError("cannot decrypt with any configured key") from exc


def is_current(token: str) -> bool:
    """Is ``token`` encrypted with the newest key?"""
    try:
        _ring()[1].decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key (keeps its original timestamp)."""
    try:
        return _ring()[0].rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("cannot decrypt with any configured key") from exc


_NON_DIGITS = re.compile(r"\D")


def normalise_phone(phone: str) -> str:
    """Digits only, with a mainland +86 prefix dropped: ``+86 138-0013-8000`` and
    ``13800138000`` index the same."""
    digits = _NON_DIGITS.sub("", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed HMAC-SHA256 of ``value`` for exact look-up; ``purpose`` separates
    columns so equal values in different columns do not match."""
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(_index_key(), message, hashlib.sha256).hexdigest()


def phone_index(phone: str) -> str:
    return blind_index(normalise_phone(phone), purpose="phone")
