from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

from miniops.api import api
from miniops.core import health
from miniops.core.console import site

admin.autodiscover()

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", api.urls),
    path("console/2fa/", include("miniops.console.urls")),
    path("console/i18n/", include("django.conf.urls.i18n")),
    path("console/", site.urls),
]

if not settings.PRODUCTION:
    # Uploaded media: served by the app on the embedded default; in production a
    # web server or object storage (django-storages) serves MEDIA_URL.
    urlpatterns.append(path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))

handler400 = "miniops.core.views.handler400"
handler403 = "miniops.core.views.handler403"
handler404 = "miniops.core.views.handler404"
handler500 = "miniops.core.views.handler500"
