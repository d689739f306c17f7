"""WSGI entry point (tests' live server and tools; production serves ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
application = get_wsgi_application()
