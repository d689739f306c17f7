"""Client address, honouring only as many proxies as ``MINIOPS_PROXY_COUNT`` says.

``X-Forwarded-For`` is written by whoever sends the request: trusting it blindly
would let anyone choose the IP that lockouts, throttles and the audit log see.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    proxies = getattr(settings, "MINIOPS_PROXY_COUNT", 0)
    remote = request.META.get("REMOTE_ADDR") or None
    if proxies <= 0:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]
