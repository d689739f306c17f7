"""How personal data looks to someone without ``members.view_sensitive``, and how
secrets that live in URLs look in the audit log."""

from __future__ import annotations

from urllib.parse import urlsplit

from miniops.core.crypto import blind_index


def mask_phone(phone: str) -> str:
    """``13812341234`` -> ``138****1234``; short or odd values keep only the ends."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return f"{phone[:3]}****{phone[-4:]}"
    return phone[:1] + "*" * (len(phone) - 1)


def mask_name(name: str) -> str:
    """``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧***``, ``Li Lei`` -> ``L*****``."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_address(detail: str) -> str:
    """Keep the first six characters (district, road), hide the rest."""
    if not detail:
        return ""
    keep = detail[:6]
    return keep + "*" * max(4, len(detail) - len(keep)) if len(detail) > 6 else keep[:2] + "****"


def redact_url(value: str) -> str:
    """``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`` ->
    ``https://qyapi.weixin.qq.com/… #3f2a9c1e``.

    Robot webhooks (WeCom, DingTalk, Feishu) carry their credential in the path or
    the query, so only the scheme, host and port are kept; the rest becomes a
    keyed fingerprint (the blind-index key), which tells a reader that the URL
    changed, and to which of two known values, without letting anyone who reads
    the log (or the database) recover or guess the token. Django-auditlog passes
    ``"None"`` for the missing side of a creation; that is kept as it is.
    """
    if not value or value == "None":
        return value
    fingerprint = blind_index(value, purpose="redacted-url")[:8]
    parts = urlsplit(value)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    if not parts.scheme or not parts.hostname:
        return f"… #{fingerprint}"
    return f"{parts.scheme}://{parts.hostname}{port}/… #{fingerprint}"
