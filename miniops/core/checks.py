"""System checks that guard production and the permission table."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def simulated_providers_in_production(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.PRODUCTION and settings.MINIOPS_PROVIDER_MODE != "live":
        return [
            Error(
                "Simulated WeChat login and payment providers are configured in production.",
                hint="Set MINIOPS_PROVIDER_MODE=live and the WeChat credentials.",
                id="miniops.E001",
            )
        ]
    return []


@register()
def media_addresses_in_production(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """A mini-program loads images only from absolute https:// addresses."""
    if not settings.PRODUCTION:
        return []
    base = settings.PUBLIC_BASE_URL
    if not base and settings.MEDIA_STORAGE == "local":
        return [
            Warning(
                "PUBLIC_BASE_URL is not set: the API answers media addresses as "
                "relative /media/… paths, which a mini-program cannot load.",
                hint="Set PUBLIC_BASE_URL to the https:// address clients reach, "
                "e.g. https://shop.example.com.",
                id="miniops.W001",
            )
        ]
    if base and not base.startswith("https://"):
        return [
            Warning(
                f"PUBLIC_BASE_URL is {base}: a mini-program loads images over https only.",
                hint="Use the https:// address of this server.",
                id="miniops.W002",
            )
        ]
    return []


@register()
def console_permissions_are_known(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every permission named by a console page or API operation exists in the table."""
    from miniops.core.console import ACTIONS, ConsoleModelAdmin, site
    from miniops.core.permissions import PERMISSIONS, ROLES, P, is_known

    errors: list[Error] = []
    for code in set(P) - set(PERMISSIONS):
        errors.append(Error(f"permission {code} has no label in PERMISSIONS", id="miniops.E004"))
    for role in ROLES.values():
        for code in role.permissions - set(PERMISSIONS):
            errors.append(Error(f"role {role.code} grants unknown {code}", id="miniops.E004"))
    for model, model_admin in site._registry.items():
        if not isinstance(model_admin, ConsoleModelAdmin):
            errors.append(
                Error(
                    f"{model.__name__} is registered without ConsoleModelAdmin", id="miniops.E002"
                )
            )
            continue
        for action in ACTIONS:
            declared = model_admin.permissions.get(action)
            if declared is not None and not is_known(declared):
                name = type(model_admin).__name__
                errors.append(Error(f"{name}: unknown permission {declared!r}", id="miniops.E003"))
    for page in site.pages:
        if page.permission is not None and not is_known(page.permission):
            errors.append(
                Error(
                    f"page {page.name}: unknown permission {page.permission!r}", id="miniops.E003"
                )
            )
    return errors
