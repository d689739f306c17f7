"""Platform endpoints for the mini-program: ``GET /api/v1/config``."""

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema

from miniops.core import selectors
from miniops.core.apiauth import public

router = Router(tags=["platform"])


class ThemeOut(Schema):
    primary: str
    secondary: str


class CustomerServiceOut(Schema):
    phone: str | None
    wechat: str | None
    email: str | None
    hours: str | None


class ConfigOut(Schema):
    platform_name: str
    logo_url: str | None
    theme: ThemeOut
    miniprogram_app_id: str | None
    customer_service: CustomerServiceOut
    server_time: str


@router.get("/config", response=ConfigOut, auth=public(), summary="Platform settings")
def get_config(request: HttpRequest) -> dict[str, object]:
    """Branding, theme and customer-service contact, read by the mini-program at start-up."""
    return {**selectors.public_config(), "server_time": timezone.now().isoformat()}
