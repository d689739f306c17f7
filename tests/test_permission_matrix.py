"""The whole permission matrix, walked from what is registered.

For every role (each built-in one, plus a custom role holding nothing), every
console model page (list, add, change, delete), every custom console page and
every management API operation is called, and the answer must match the role ->
permission table in ``miniops.core.permissions``. The cases are generated from
the admin site and the ninja routers, so a page or endpoint added without a
declared permission (or without a factory below) fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from miniops.accounts.models import Operator
from miniops.api import api
from miniops.core.console import ConsoleModelAdmin, site
from miniops.core.permissions import ROLES, R
from miniops.testing import factories
from miniops.testing.fixtures import sign_in

pytestmark = pytest.mark.django_db

NO_PERMISSIONS = "custom-empty"
ROLE_CASES = [str(code) for code in R] + [NO_PERMISSIONS]

#: One object per registered model, so change and delete pages can be opened.
#: ``operator`` is the operator under test (for objects scoped to their owner).
FACTORIES: dict[str, Callable[[Operator], Model]] = {
    "accounts.operator": lambda me: factories.OperatorFactory(),
    "accounts.role": lambda me: factories.RoleFactory(),
    "accounts.apitoken": lambda me: factories.api_token(me, [])[0],
    "auditlog.logentry": lambda me: factories.audit_entry(),
    "core.systemsettings": lambda me: factories.system_settings(),
    "members.member": lambda me: factories.member(phone="13800138000"),
    "members.membertag": lambda me: factories.member_tag(),
    "catalog.category": lambda me: factories.category(),
    "catalog.brand": lambda me: factories.brand(),
    "catalog.product": lambda me: factories.product(),
    "catalog.sku": lambda me: factories.product().skus.first(),
    "catalog.stockledger": lambda me: factories.product().skus.first().ledger.first(),
    "orders.order": lambda me: factories.order(),
    "orders.payment": lambda me: factories.order(paid=True).payments.first(),
    "orders.aftersale": lambda me: factories.after_sale(),
    "orders.refund": lambda me: factories.refund(),
    "orders.paymentanomaly": lambda me: factories.payment_anomaly(),
    "orders.freighttemplate": lambda me: factories.freight_template(),
    "analytics.alertrule": lambda me: factories.alert_rule(),
    "marketing.coupontemplate": lambda me: factories.coupon_template(),
    "marketing.coupon": lambda me: factories.member_coupon(),
    "marketing.level": lambda me: factories.level(),
    "marketing.pointsentry": lambda me: factories.points_entry(),
    "marketing.levelchange": lambda me: _level_change(),
    "marketing.redeemitem": lambda me: factories.redeem_item(),
    "marketing.flashsession": lambda me: factories.flash_session(),
    "marketing.groupbuy": lambda me: factories.group_buy(),
    "marketing.group": lambda me: _group(),
    "marketing.timeddiscount": lambda me: factories.timed_discount(),
    "analytics.alert": lambda me: factories.alert(),
}


def _level_change() -> Model:
    from miniops.marketing.models import LevelChange

    return LevelChange.objects.create(
        member=factories.member(), from_level=None, to_level=factories.level(), growth=1000
    )


def _group() -> Model:
    from datetime import timedelta

    from django.utils import timezone

    from miniops.marketing.models import Group

    group_buy = factories.group_buy()
    return Group.objects.create(
        group_buy=group_buy,
        leader=factories.member(),
        code="grpTEST123",
        expires_at=timezone.now() + timedelta(hours=2),
    )


#: Values for path parameters of API operations.
PATH_VALUES: dict[str, Callable[[], Any]] = {
    "operator_id": lambda: factories.OperatorFactory().pk,
    "member_id": lambda: factories.member().pk,
    "product_id": lambda: factories.product().pk,
    "sku_id": lambda: factories.product().skus.first().pk,
    "address_id": lambda: 1,
    "order_id": lambda: factories.order().pk,
    "after_sale_id": lambda: 1,
    "funnel_id": lambda: factories.funnel().pk,
    "template_id": lambda: factories.coupon_template().pk,
    "item_id": lambda: 1,
    "group_buy_id": lambda: 1,
    "code": lambda: "nosuchgroup",
}


def granted(role: str) -> frozenset[str]:
    if role == NO_PERMISSIONS:
        return frozenset()
    return frozenset(str(p) for p in ROLES[R(role)].permissions)


def operator_for(role: str) -> Operator:
    if role == NO_PERMISSIONS:
        custom = factories.RoleFactory(code=NO_PERMISSIONS, permissions=[])
        return factories.operator_with_role(custom.code)
    return factories.operator_with_role(role)


def allowed_status(response: Any) -> bool:
    if response.status_code == 200:
        return True
    if response.status_code == 302:
        return "/login/" not in response["Location"] and "/2fa/" not in response["Location"]
    return False


# --- console --------------------------------------------------------------------------
def admin_url(model: type[Model], action: str, *args: Any) -> str:
    info = (model._meta.app_label, model._meta.model_name)
    return reverse(f"console:{info[0]}_{info[1]}_{action}", args=args)


def model_key(model: type[Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def test_every_console_model_page_declares_permissions_and_has_a_factory() -> None:
    for model, model_admin in site._registry.items():
        assert isinstance(model_admin, ConsoleModelAdmin), model
        assert set(model_admin.permissions) == {"view", "add", "change", "delete"}, model
        assert model_key(model) in FACTORIES, f"add a factory for {model_key(model)} above"


@pytest.mark.parametrize("role", ROLE_CASES)
def test_console_matrix(role: str) -> None:
    # given an operator holding exactly this role, signed in (with 2FA if needed)
    operator = operator_for(role)
    client = sign_in(Client(), operator)
    held = granted(role)
    mismatches: list[str] = []

    def check(url: str, code: str | None, method: str = "get") -> None:
        expected = code is not None and code in held
        response = getattr(client, method)(url)
        if allowed_status(response) != expected or (not expected and response.status_code != 403):
            mismatches.append(
                f"{method.upper()} {url}: {response.status_code}, "
                f"expected {'allowed' if expected else '403'} ({code})"
            )

    # every model page
    for model, model_admin in site._registry.items():
        perms: dict[str, str | None] = model_admin.permissions  # type: ignore[attr-defined]
        obj = FACTORIES[model_key(model)](operator)
        view_code = perms["view"] if perms["view"] in held else perms["change"]
        check(admin_url(model, "changelist"), view_code)
        check(admin_url(model, "add"), perms["add"])
        check(admin_url(model, "change", obj.pk), view_code)
        check(admin_url(model, "delete", obj.pk), perms["delete"])
    # every custom page
    for page in site.pages:
        code = page.permission
        expected_any = code is None
        url = reverse(f"console:{page.name}")
        response = client.get(url)
        expected = expected_any or code in held
        if allowed_status(response) != expected:
            mismatches.append(
                f"page {url}: {response.status_code}, expected {'allowed' if expected else '403'}"
            )
    # the home page is open to every operator
    if client.get(reverse("console:index")).status_code != 200:
        mismatches.append("console home refused")
    assert not mismatches, "\n".join(mismatches)


def test_sidebar_offers_only_pages_the_role_may_open() -> None:
    for role in ("customer_service", "tech_staff", "super_admin"):
        client = sign_in(Client(), operator_for(role))
        html = client.get("/console/").content.decode()
        links = set(re.findall(r'href="(/console/[^"?#]*)"', html))
        for link in links:
            if link.endswith(("/logout/", "/password_change/")) or "/i18n/" in link:
                continue
            status = client.get(link).status_code
            assert status in (200, 302), f"{role}: sidebar link {link} answers {status}"


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    client = Client()
    for model in site._registry:
        response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 302
        assert "/console/login/" in response["Location"]
    for page in site.pages:
        assert "/console/login/" in client.get(reverse(f"console:{page.name}"))["Location"]


def test_operator_awaiting_second_factor_reaches_no_page() -> None:
    operator = factories.operator_with_role("super_admin")
    client = Client()
    client.force_login(operator)  # password passed, TOTP not yet
    for model in site._registry:
        response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 302
        assert "/console/2fa/" in response["Location"]


# --- management API ----------------------------------------------------------------------
def operations() -> list[tuple[str, str, Any]]:
    """(method, path template, auth object) for every operation of the API."""
    found = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                full = "/api/v1/" + "/".join(p.strip("/") for p in (prefix, path) if p.strip("/"))
                auths = [a for a in operation.auth_callbacks if hasattr(a, "access")]
                for method in operation.methods:
                    found.append((method, full, auths[0] if auths else None))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(PATH_VALUES[m.group(1)]()), path)


def test_every_api_operation_declares_who_may_call_it() -> None:
    ops = operations()
    assert ops, "no operations found: the walker is broken"
    for method, path, auth in ops:
        assert auth is not None, (
            f"{method} {path} has no declared access (public / member / requires)"
        )
        assert auth.access in {"public", "member", "operator"}, (method, path)
        if path.startswith("/api/v1/manage/"):
            assert auth.access == "operator", (
                f"{method} {path}: management routes need requires(...)"
            )


def test_management_api_refuses_calls_without_a_token() -> None:
    client = Client()
    for method, path, auth in operations():
        if auth.access != "operator":
            continue
        response = (
            client.get(concrete(path))
            if method == "GET"
            else getattr(client, method.lower())(concrete(path), content_type="application/json")
        )
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"


@pytest.mark.parametrize("role", ROLE_CASES)
def test_management_api_matrix(role: str) -> None:
    operator = operator_for(role)
    _, raw = factories.api_token(operator, sorted(granted(role)))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    held = granted(role)
    mismatches = []
    for method, path, auth in operations():
        if auth.access != "operator":
            continue
        expected = auth.permission is None or str(auth.permission) in held
        if method == "GET":
            response = client.get(concrete(path))
        else:
            response = getattr(client, method.lower())(
                concrete(path), data="{}", content_type="application/json"
            )
        allowed = response.status_code not in (401, 403)
        if allowed != expected or (not expected and response.status_code != 403):
            mismatches.append(
                f"{method} {path}: {response.status_code}, "
                f"expected {'allowed' if expected else 403}"
            )
    assert not mismatches, "\n".join(mismatches)


def test_public_operations_need_no_credentials() -> None:
    client = Client()
    for method, path, auth in operations():
        if auth.access == "public" and method == "GET":
            assert client.get(concrete(path)).status_code not in (401, 403), path


def test_member_operations_refuse_anonymous_and_accept_a_member() -> None:
    anonymous = Client()
    person = factories.member()
    access, _refresh = factories.member_tokens(person)
    signed_in = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    checked = 0
    for method, path, auth in operations():
        if auth.access != "member":
            continue
        url = concrete(path)
        call = getattr(anonymous, method.lower())
        response = (
            call(url) if method == "GET" else call(url, data="{}", content_type="application/json")
        )
        assert response.status_code == 401, (
            f"{method} {path} without a token: {response.status_code}"
        )
        call = getattr(signed_in, method.lower())
        response = (
            call(url) if method == "GET" else call(url, data="{}", content_type="application/json")
        )
        assert response.status_code not in (401, 403), (
            f"{method} {path} as a member: {response.status_code}"
        )
        checked += 1
    assert checked >= 10
