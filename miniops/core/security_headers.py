"""Browser security headers on every answer: Content-Security-Policy,
Permissions-Policy, and ``Cache-Control: no-store`` on API answers that may name
someone.

Three kinds of answer get three policies (docs/decisions/0013-content-security-policy.md):

* **console pages** (``MINIOPS_CSP_EVAL_PREFIXES``): the document policy plus
  ``'unsafe-eval'`` — Unfold's Alpine.js compiles its inline ``x-data`` / ``@click``
  expressions with ``new Function`` — and the console's own WebSocket origin;
* **other HTML** (API docs, error pages): the document policy, ``CONTENT_SECURITY_POLICY``
  in settings: scripts from our origin or with this answer's nonce only;
* **everything else** (JSON, files): ``default-src 'none'`` — nothing in it may
  run, load or be framed, even when someone opens it as a page.

A view may still adjust its policy with django-csp's decorators (``@csp_update``,
``@csp_replace``, ``@csp_exempt``); those apply on top of the area's policy.
"""

from __future__ import annotations

from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.response import HttpResponseBase

#: Answers that a browser renders as a document, so that a policy governs it.
_DOCUMENT_TYPES = ("text/html", "application/xhtml+xml")

#: The policy of answers that are data, not pages (JSON, CSV, images, scripts).
RESOURCE_POLICY: dict[str, Any] = {
    "default-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
}

#: API answers that may be kept by a cache: anonymous reads (public catalog,
#: OpenAPI document). Everything else may carry personal data or a token.
_CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
NO_STORE = "private, no-store"


def permissions_policy_header(features: dict[str, list[str]]) -> str:
    """``{"camera": [], "fullscreen": ["self"]}`` → ``camera=(), fullscreen=(self)``."""
    return ", ".join(f"{name}=({' '.join(allow)})" for name, allow in features.items())


def websocket_origin(request: HttpRequest) -> str | None:
    """``wss://<host>`` of this request, for ``connect-src``.

    CSP level 3 lets ``'self'`` match ``ws:``/``wss:`` on the same host; older
    browsers need the origin spelled out. ``get_host`` has checked the host against
    ``ALLOWED_HOSTS`` (so it is safe in a header); on a refused host there is none.
    """
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


def _merge(*updates: dict[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, list[Any]] = {}
    for update in updates:
        for directive, sources in (update or {}).items():
            values = [sources] if isinstance(sources, str) else list(sources)
            merged.setdefault(directive, []).extend(values)
    return merged


class SecurityHeadersMiddleware(CSPMiddleware):
    """django-csp's middleware choosing the policy by kind of answer, plus the
    Permissions-Policy and the API's Cache-Control.

    It sits near the top of ``MIDDLEWARE`` so that it sees the final answer: error
    answers rewritten by ``ApiErrorShapeMiddleware``, files served by WhiteNoise and
    the error pages of ``handler403/404/500`` all get their headers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.permissions_policy = permissions_policy_header(settings.MINIOPS_PERMISSIONS_POLICY)
        self.eval_prefixes = tuple(settings.MINIOPS_CSP_EVAL_PREFIXES)
        self.api_prefix = settings.MINIOPS_API_PREFIX

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if response.status_code != 304:
            # A 304's headers replace those of the copy the browser keeps: it keeps
            # the policy that came with the page.
            response = super().process_response(request, response)
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.permissions_policy
        if request.path_info.startswith(self.api_prefix) and not self._cacheable(request):
            response["Cache-Control"] = NO_STORE
        return response

    def _cacheable(self, request: HttpRequest) -> bool:
        """An anonymous read names nobody; any call with credentials, and any write
        (sign-in answers carry tokens), must not be stored by a browser or proxy."""
        return request.method in _CACHEABLE_METHODS and "Authorization" not in request.headers

    def get_policy_parts(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        report_only: bool = False,
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        content_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type not in _DOCUMENT_TYPES:
            # Data, not a page: nothing the view adds may loosen it. It is always
            # enforced (it can break nothing), so report-only mode leaves it alone.
            return PolicyParts(config={} if report_only else dict(RESOURCE_POLICY))
        if request.path_info.startswith(self.eval_prefixes):
            console = {"script-src": ["'unsafe-eval'"], "connect-src": []}
            origin = websocket_origin(request)
            if origin:
                console["connect-src"].append(origin)
            parts.update = _merge(parts.update, console)
        return parts
