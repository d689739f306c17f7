"""The one ninja API, mounted at /api/v1/: client routers and the management API."""

from __future__ import annotations

from django.conf import settings

from miniops.accounts.api import router as manage_accounts_router
from miniops.analytics.api import manage_router as manage_analytics_router
from miniops.analytics.api import router as analytics_router
from miniops.catalog.api import manage_router as manage_catalog_router
from miniops.catalog.api import router as catalog_router
from miniops.cms.api import router as cms_router  # cms: the home page, banners, articles
from miniops.content.api import router as content_router
from miniops.core import api_errors
from miniops.core.api import router as platform_router
from miniops.core.openapi import Api
from miniops.core.renderers import ORJSONRenderer
from miniops.core.throttling import WindowThrottle
from miniops.marketing.api import manage_router as manage_marketing_router
from miniops.marketing.api import router as marketing_router
from miniops.members.api import manage_router as manage_members_router
from miniops.members.api import router as members_router
from miniops.notifications.api import manage_router as manage_notifications_router
from miniops.notifications.api import router as notifications_router
from miniops.orders.api import manage_router as manage_orders_router
from miniops.orders.api import router as orders_router
from miniops.recommendations.api import router as recommendations_router
from miniops.segments.api import manage_router as manage_segments_router
from miniops.sharing.api import router as sharing_router
from miniops.support.api import manage_router as manage_support_router
from miniops.support.api import router as support_router

api = Api(
    title="miniops API",
    version="1",
    description=(
        "Client API for the mini-program and management API for integrators. "
        'Errors share one shape: {"error": {"code", "message", "fields"}} (ErrorOut), '
        "with the statuses each operation lists. JSON bodies are sent as application/json "
        "(415 otherwise) and hold exactly the declared fields, with their declared types. "
        "Management endpoints (/manage/...) take a bearer token created in the console."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    parser=api_errors.StrictParser(),
    renderer=ORJSONRenderer(),
    throttle=[
        WindowThrottle(
            anon_rate=settings.MINIOPS_API_RATE_ANON, auth_rate=settings.MINIOPS_API_RATE_AUTH
        )
    ],
)
api_errors.install(api)

api.add_router("/", platform_router)
api.add_router("/", members_router)
api.add_router("/", catalog_router)
api.add_router("/", orders_router)
api.add_router("/", marketing_router)
api.add_router("/", analytics_router)
api.add_router("/", support_router)
api.add_router("/", content_router)
api.add_router("/", notifications_router)
api.add_router("/", recommendations_router)
api.add_router("/", sharing_router)
api.add_router("/", cms_router)
api.add_router("/manage/", manage_accounts_router)
api.add_router("/manage/", manage_members_router)
api.add_router("/manage/", manage_catalog_router)
api.add_router("/manage/", manage_orders_router)
api.add_router("/manage/", manage_marketing_router)
api.add_router("/manage/", manage_analytics_router)
api.add_router("/manage/", manage_support_router)
api.add_router("/manage/", manage_notifications_router)
api.add_router("/manage/", manage_segments_router)
