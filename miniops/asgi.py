"""ASGI entry point: HTTP through Django, WebSockets through Channels, both behind
the request-size guard."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from miniops.console.routing import websocket_urlpatterns  # noqa: E402
from miniops.core.asgi_limits import BodySizeLimitMiddleware  # noqa: E402

application = BodySizeLimitMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    ),
    max_bytes=settings.MINIOPS_MAX_REQUEST_BYTES,
)
