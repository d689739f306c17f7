"""The whole permission matrix, walked from what is registered.

For every role (each built-in one, plus a custom role holding nothing), every
console model page (list, add, change, delete), every custom console page, every
action (detail and list buttons, "selected rows" actions, extra URLs such as an
import) and every management API operation is called, and the answer must match
the role -> permission table in ``miniops.core.permissions``. The cases are
generated from the admin site and the ninja routers, so a page, action or endpoint
added without a declared permission (or without a factory below) fails here.

Every write needs a write permission (``Kind.WRITE``): checked from the table for
pages, actions and API operations, and by walking the console as the read-only
Analyst, posting a confirmation everywhere, with nothing written.
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
from miniops.cms.tests import factories as cms_factories
from miniops.content.tests import factories as content_factories
from miniops.core.console import ConsoleModelAdmin, action_permissions, site
from miniops.core.permissions import ROLES, Kind, P, R, is_known, kind
from miniops.testing import factories
from miniops.testing.console_routes import bulk_actions, button_actions, routes
from miniops.testing.dbwrites import recorded
from miniops.testing.fixtures import sign_in

pytestmark = pytest.mark.django_db

NO_PERMISSIONS = "custom-empty"
ROLE_CASES = [str(code) for code in R] + [NO_PERMISSIONS]


#: One object per registered model, so change and delete pages can be opened.
#: ``operator`` is the operator under test (for objects scoped to their owner).
def _sharing() -> Any:
    from miniops.sharing import services

    return services


def _sharing_reward() -> Model:
    from miniops.core import ledger
    from miniops.sharing.models import Reward

    sharer, invitee = factories.member(), factories.member()
    return ledger.enqueue(
        Reward,
        key=f"registration:{invitee.pk}:1",
        beneficiary=sharer,
        invitee=invitee,
        trigger="registration",
        kind="points",
        points=10,
    )


def _sharing_order_attribution() -> Model:
    from django.utils import timezone

    from miniops.sharing.models import OrderAttribution

    order = factories.order()
    return OrderAttribution.objects.create(
        order=order,
        sharer=factories.member(),
        model="last_touch",
        window_days=7,
        touched_at=timezone.now(),
        source="visit",
    )


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
    "support.conversation": lambda me: factories.conversation(),
    "support.ticket": lambda me: factories.ticket(),
    "support.quickreply": lambda me: factories.quick_reply(owner=me),
    "support.queue": lambda me: factories.support_queue(),
    "support.agentstatus": lambda me: factories.agent_status(),
    "support.slapolicy": lambda me: factories.sla_policy(),
    "support.businesscalendar": lambda me: factories.sla_policy().calendar,
    "segments.segment": lambda me: _segment(),
    "content.post": lambda me: content_factories.post(),
    "content.comment": lambda me: content_factories.comment(),
    "content.review": lambda me: content_factories.review(),
    "content.report": lambda me: content_factories.report(),
    "content.moderationcase": lambda me: content_factories.case(),
    "content.appeal": lambda me: content_factories.appeal(),
    "content.platformcheck": lambda me: content_factories.platform_check(),
    "content.topic": lambda me: content_factories.topic(),
    "content.lexiconentry": lambda me: content_factories.lexicon_entry(),
    # recommendations
    "recommendations.rule": lambda me: _recs_rule(),
    "recommendations.modelversion": lambda me: _recs_version(),
    "notifications.messagetemplate": lambda me: factories.message_template(),
    "notifications.consent": lambda me: factories.consent(),
    "notifications.pushsettings": lambda me: factories.push_settings(),
    "sharing.sharerules": lambda me: _sharing().rules(),
    "sharing.sharelink": lambda me: (
        _sharing()
        .share(member=factories.member(), target_type="page", page="pages/index/index")
        .link
    ),
    "sharing.reward": lambda me: _sharing_reward(),
    "sharing.orderattribution": lambda me: _sharing_order_attribution(),
    "notifications.campaign": lambda me: factories.push_campaign(),
    "notifications.delivery": lambda me: factories.push_delivery(),
    "cms.banner": lambda me: cms_factories.banner(),
    "cms.article": lambda me: cms_factories.article(),
    "cms.homesection": lambda me: cms_factories.home_section(),
}


def _segment() -> Model:
    from miniops.segments import services as segment_services

    return segment_services.create_segment(
        actor=None,
        name=f"segment-{factories.member().pk}",
        rules={"type": "profile", "field": "gender", "value": [1]},
    )


def _recs_rule() -> Model:
    from miniops.recommendations.models import Rule

    return Rule.objects.create(product=factories.product(), kind="exclude")


def _recs_version() -> Model:
    import uuid

    from django.utils import timezone

    from miniops.analytics.models import Event
    from miniops.recommendations.models import ModelVersion

    # a list shown and a click on it, so the click-through table has rows to show
    now = timezone.now()
    shown = Event.objects.create(
        uuid=uuid.uuid4(),
        name="recs_impression",
        ts=now,
        day=now.date(),
        received_at=now,
        properties={"arm": "recommendations", "items": [1, 2], "sources": ["als", "trending"]},
    )
    Event.objects.create(
        uuid=uuid.uuid4(),
        name="recs_click",
        ts=now,
        day=now.date(),
        received_at=now,
        properties={"impression_id": str(shown.uuid), "product_id": 1},
    )
    return ModelVersion.objects.create(trained_at=timezone.now())


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
    "conversation_id": lambda: 1,
    "ticket_id": lambda: 1,
    "post_id": lambda: 1,
    "comment_id": lambda: 1,
    "review_id": lambda: 1,
    "reminder_id": lambda: 1,
    "campaign_id": lambda: 1,
    "segment_id": lambda: 1,
    "article_id": lambda: cms_factories.article().pk,
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


# --- actions and other writes -------------------------------------------------------------
#: Management API operations that use POST to read (a query too long for a URL, a
#: reveal that must not sit in a URL or a log line); every other write names a
#: write permission.
READS_OVER_POST = {
    ("POST", "/api/v1/manage/analytics/funnels/query"): "a funnel query, answered and forgotten",
    ("POST", "/api/v1/manage/members/{member_id}/reveal"): "a logged read of personal data",
    ("POST", "/api/v1/manage/segments/preview"): "a rule tree counted, not saved",
}
#: The console URLs the "nothing written" walk does not post to, and why.
NOT_POSTED = {
    "login": "signing in is tested in accounts/tests/test_console_login.py",
    "logout": "signing out ends the walk's own session",
}
CONFIRM = {"_form_submitted": "on", "_confirmed": "yes", "post": "yes", "index": "0"}


def _objects(operator: Operator) -> Callable[[type[Model]], Model]:
    made: dict[str, Model] = {}

    def get(model: type[Model]) -> Model:
        key = model_key(model)
        if key not in made:
            made[key] = FACTORIES[key](operator)
        return made[key]

    return get


def _kinds(codes: tuple[str, ...] | None) -> set[Kind]:
    return {kind(code) for code in codes or ()}


def test_every_console_url_and_action_declares_what_it_needs() -> None:
    operator = factories.operator_with_role("super_admin")
    walked = routes(_objects(operator))
    undeclared = [route.name for route in walked if route.kind == "undeclared"]
    assert not undeclared, f"declare these (dialog_action / url_permissions): {undeclared}"
    for route in walked:
        for code in (route.get_needs or ()) + (route.post_needs or ()):
            assert is_known(code), f"{route.url}: unknown permission {code}"
    for model_admin in site._registry.values():
        for item in button_actions(model_admin):  # type: ignore[arg-type]
            assert getattr(item.method, "console_confirmed", False), (
                f"{type(model_admin).__name__}.{item.method_name}: build it with dialog_action"
            )
        for func, name in bulk_actions(model_admin):  # type: ignore[arg-type]
            codes = action_permissions(model_admin, func)
            assert codes is not None, (
                f"{type(model_admin).__name__}.{name}: build it with bulk_action"
            )
            confirmed = getattr(func, "console_confirmed", name == "delete_selected")
            assert confirmed or _kinds(codes) == {Kind.READ}, (
                f"{type(model_admin).__name__}.{name} changes data: it needs confirm=True"
            )


def test_every_write_needs_a_write_permission() -> None:
    # console pages: adding, changing and deleting need a write (or own-credentials) code
    for model, model_admin in site._registry.items():
        perms: dict[str, str | None] = model_admin.permissions  # type: ignore[attr-defined]
        for action in ("add", "change", "delete"):
            code = perms[action]
            assert code is None or kind(code) in {Kind.WRITE, Kind.OWN}, (
                f"{model_key(model)} {action} is allowed by the read permission {code}"
            )
    # console actions: any action needing a write permission needs nothing weaker beside it
    operator = factories.operator_with_role("super_admin")
    for route in routes(_objects(operator)):
        if route.kind == "action" and Kind.WRITE in _kinds(route.post_needs):
            assert Kind.READ not in _kinds(route.post_needs), route.url
    # management API: every non-GET operation needs a write permission, or reads
    for method, path, auth in operations():
        if method == "GET" or auth.access != "operator" or auth.permission is None:
            continue
        if (method, path) in READS_OVER_POST:
            assert kind(auth.permission) == Kind.READ, (method, path)
            continue
        assert kind(auth.permission) in {Kind.WRITE, Kind.OWN}, (
            f"{method} {path} changes data with the read permission {auth.permission}"
        )


def test_the_read_only_analyst_holds_no_write_permission() -> None:
    held = ROLES[R.ANALYST].permissions
    assert {code for code in held if kind(code) == Kind.WRITE} == set()
    assert {code for code in held if kind(code) == Kind.OWN} == {P.API_TOKENS_USE}


@pytest.mark.parametrize("role", ROLE_CASES)
def test_console_action_matrix(role: str) -> None:
    # given an operator holding exactly this role
    operator = operator_for(role)
    client = sign_in(Client(), operator)
    held = granted(role)
    objects = _objects(operator)
    mismatches: list[str] = []
    checked = 0
    # every button (its dialog) and every extra URL
    for route in routes(objects):
        if route.kind not in {"action", "custom"}:
            continue
        expected = any(code in held for code in route.get_needs or ())
        response = client.get(route.url)
        if response.status_code == 405:  # a POST-only step (the import's confirmation)
            response = client.post(route.url)
            allowed = response.status_code != 403
        else:
            allowed = allowed_status(response)
        if allowed != expected or (not expected and response.status_code != 403):
            mismatches.append(
                f"GET {route.url}: {response.status_code}, "
                f"expected {'allowed' if expected else '403'} ({route.get_needs})"
            )
        checked += 1
    # every "selected rows" action, asked for from the list (its confirmation page)
    for model, model_admin in site._registry.items():
        perms: dict[str, str | None] = model_admin.permissions  # type: ignore[attr-defined]
        sees_list = perms["view"] in held or perms["change"] in held
        obj = objects(model)
        for func, name in bulk_actions(model_admin):  # type: ignore[arg-type]
            codes = action_permissions(model_admin, func) or ()
            expected = sees_list and any(code in held for code in codes)
            url = admin_url(model, "changelist")
            response = client.post(url, {"action": name, "_selected_action": [obj.pk], "index": 0})
            if (response.status_code == 200) != expected or (
                not expected and response.status_code != 403
            ):
                mismatches.append(
                    f"POST {url} action={name}: {response.status_code}, "
                    f"expected {'allowed' if expected else '403'} ({codes})"
                )
            checked += 1
    assert checked >= 30, "the walker found too few actions"
    assert not mismatches, "\n".join(mismatches)


def test_the_analyst_writes_nothing_anywhere_in_the_console() -> None:
    # given the read-only Analyst, signed in, and one object of every kind
    analyst = factories.operator_with_role(R.ANALYST)
    client = sign_in(Client(raise_request_exception=False), analyst)
    client.get("/console/")
    held = granted(R.ANALYST)
    objects = _objects(analyst)
    failures: list[str] = []
    own: list[str] = []

    def post(url: str, data: dict[str, Any], must_refuse: bool, label: str) -> None:
        with recorded() as writes:
            response = client.post(url, data)
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code}")
        if must_refuse and response.status_code != 403:
            failures.append(f"{label}: {response.status_code}, expected 403")
        if writes.business_tables(allow_access_rows=True):
            failures.append(f"{label} wrote {sorted(writes.tables)}")

    # when they post a confirmation to every URL of the console
    for route in routes(objects):
        if route.name in NOT_POSTED:
            continue
        needs = route.post_needs
        if needs and _kinds(needs) & {Kind.OWN} and any(code in held for code in needs):
            own.append(route.url)  # their own API tokens: see the tokens tests
            continue
        writes_here = route.kind in {"action", "custom"} or route.view in {
            "add",
            "change",
            "delete",
        }
        refuses = writes_here and not any(code in held for code in needs or ())
        post(route.url, CONFIRM, refuses, f"POST {route.url}")
    # and run every "selected rows" action, confirmed
    for model, model_admin in site._registry.items():
        obj = objects(model)
        for func, name in bulk_actions(model_admin):  # type: ignore[arg-type]
            codes = action_permissions(model_admin, func) or ()
            data = {"action": name, "_selected_action": [obj.pk], **CONFIRM}
            refuses = not any(code in held for code in codes)
            post(admin_url(model, "changelist"), data, refuses, f"{model_key(model)} {name}")
    # then every write was refused, and nothing but reads were recorded
    assert not failures, "\n".join(failures)
    assert own, "the walk skipped no own-credentials URL: is the token factory still used?"
    assert all("/accounts/apitoken/" in url for url in own), own
