"""How personal data looks to someone without ``members.view_sensitive``."""

from __future__ import annotations


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
