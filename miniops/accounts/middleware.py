"""Console session rules: idle and absolute timeouts, and the two-factor gate.

Runs only for console paths, so client API requests pay nothing for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import override

from miniops.accounts import services

CONSOLE_PREFIX = "/console/"
#: Paths an operator may reach before passing the two-factor step.
_OPEN_PATHS = ("/console/login/", "/console/logout/", "/console/2fa/", "/console/i18n/")
AUTH_AT = "mo_auth_at"
SEEN_AT = "mo_seen_at"
SEEN_EVERY = 60  # seconds between last-seen writes


class OperatorSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(CONSOLE_PREFIX) or not request.user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = time.time()
        auth_at = session.get(AUTH_AT)
        seen_at = session.get(SEEN_AT, now)
        if auth_at is None:
            session[AUTH_AT] = now
            session[SEEN_AT] = now
            services.session_started(request)
        else:
            idle = now - seen_at > settings.MINIOPS_SESSION_IDLE_MINUTES * 60
            expired = now - auth_at > settings.MINIOPS_SESSION_ABSOLUTE_HOURS * 3600
            if idle or expired:
                return self._expire(request, "idle" if idle else "expired")
            if now - seen_at > SEEN_EVERY:
                session[SEEN_AT] = now
                services.session_seen(request)

        user: Any = request.user
        needs_code = getattr(user, "requires_2fa", False) and not user.is_verified()
        if needs_code and not request.path.startswith(_OPEN_PATHS):
            target = "console_2fa:verify" if user.has_totp_device else "console_2fa:setup"
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse(target)}?{query}")
        return self.get_response(request)

    @staticmethod
    def _expire(request: HttpRequest, reason: str) -> HttpResponse:
        language = getattr(request, "LANGUAGE_CODE", None)
        services.end_current_session(request, reason=reason)
        logout(request)
        with override(language):
            messages.warning(request, _("Your session has expired. Please sign in again."))
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse('console:login')}?{query}")
