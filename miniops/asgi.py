"""ASGI entry point (uvicorn).

HTTP goes through ``WsgiBridge`` to Django's request handler (see
docs/decisions/0005-asgi-wsgi-bridge.md for why not ``ASGIHandler``); WebSockets go
through Channels. Both sit behind the request-size guard.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
django_wsgi_app = get_wsgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from miniops.console.routing import websocket_urlpatterns  # noqa: E402
from miniops.core.asgi_bridge import WsgiBridge  # noqa: E402
from miniops.core.asgi_limits import BodySizeLimitMiddleware  # noqa: E402
from miniops.support.routing import agent_urlpatterns, member_urlpatterns  # noqa: E402

application = BodySizeLimitMiddleware(
    ProtocolTypeRouter(
        {
            "http": WsgiBridge(django_wsgi_app, threads=settings.MINIOPS_HTTP_THREADS),
            "websocket": URLRouter(
                [
                    # members sign in with their token (mini-programs send no Origin)
                    *member_urlpatterns,
                    re_path(
                        r"",
                        AllowedHostsOriginValidator(
                            AuthMiddlewareStack(
                                URLRouter([*websocket_urlpatterns, *agent_urlpatterns])
                            )
                        ),
                    ),
                ]
            ),
        }
    ),
    max_bytes=settings.MINIOPS_MAX_REQUEST_BYTES,
)
