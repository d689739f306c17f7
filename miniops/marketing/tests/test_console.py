"""Marketing in the console: every model's list, add and change pages by role
(marketing.view reads, marketing.manage runs campaigns, marketing.points owns levels
and the points shop; everyone else is refused), the actions (issue coupons to
members or a tag, stop a coupon, end a flash sale, group buy or discount early),
their audit rows, invalid forms answered with form errors, and the campaign results
page with its CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from miniops.core.console import site
from miniops.core.money import format_fen
from miniops.core.permissions import ROLES, P
from miniops.core.timeutils import local_date
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    FlashItem,
    FlashSession,
    Group,
    GroupBuy,
    Level,
    LevelChange,
    PointsEntry,
    RedeemItem,
    TimedDiscount,
)
from miniops.marketing.services import coupons
from miniops.marketing.tests.helpers import buyer, pay, place_order, sku_of
from miniops.members.models import Member
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

ConsoleAs = Callable[..., Client]
BASE = "/console/marketing"


# --- helpers ------------------------------------------------------------------------------------
def signed_in(console_as: ConsoleAs, role: str) -> Client:
    """A console client whose 500s come back as responses, to be asserted."""
    client = console_as(role)
    client.raise_request_exception = False
    return client


def audit_rows(client: Client, obj: Model) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            actor=client.operator,  # type: ignore[attr-defined]
            content_type=ContentType.objects.get_for_model(type(obj)),
            object_pk=str(obj.pk),
        )
    )


def csv_rows(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def messages_of(client: Client, response: Any) -> list[tuple[str, str]]:
    page = client.get(response["Location"])
    return [(m.level_tag, str(m)) for m in page.context["messages"]]


def holds(role: str, permission: P) -> bool:
    return permission in ROLES[role].permissions  # type: ignore[index]


def one_of_each() -> dict[str, Model]:
    """One row of every marketing model the console shows."""
    now = timezone.now()
    member = factories.member()
    level = factories.level(name="银卡", growth_threshold=100)
    group_buy = factories.group_buy()
    return {
        "coupontemplate": factories.coupon_template(),
        "coupon": factories.member_coupon(member=member),
        "level": level,
        "pointsentry": factories.points_entry(member, 100),
        "levelchange": LevelChange.objects.create(
            member=member, from_level=None, to_level=level, growth=100
        ),
        "redeemitem": factories.redeem_item(),
        "flashsession": factories.flash_session(),
        "groupbuy": group_buy,
        "group": Group.objects.create(
            group_buy=group_buy, leader=member, code="GROUPCODE01", expires_at=now
        ),
        "timeddiscount": factories.timed_discount(),
    }


#: model -> the permission that adds and changes it (None: nobody, a read-only page)
WRITE = {
    "coupontemplate": P.MARKETING_MANAGE,
    "coupon": None,
    "level": P.MARKETING_POINTS,
    "pointsentry": None,
    "levelchange": None,
    "redeemitem": P.MARKETING_POINTS,
    "flashsession": P.MARKETING_MANAGE,
    "groupbuy": P.MARKETING_MANAGE,
    "group": None,
    "timeddiscount": P.MARKETING_MANAGE,
}
ROLE_CODES = [str(code) for code in ROLES]
#: pages whose list shows the row's name
NAMED = {"coupontemplate", "level", "redeemitem", "flashsession", "groupbuy", "group"}
NAMED.add("timeddiscount")


# --- pages by role -----------------------------------------------------------------------------
def test_every_marketing_model_has_a_console_page() -> None:
    registered = {
        model._meta.model_name for model in site._registry if model._meta.app_label == "marketing"
    }
    assert registered == set(WRITE)


@pytest.mark.parametrize("role", ROLE_CODES)
def test_each_role_reads_and_writes_exactly_what_its_permissions_allow(
    console_as: ConsoleAs, role: str
) -> None:
    # given one row of each model and an operator with the role
    rows = one_of_each()
    client = signed_in(console_as, role)
    can_view = holds(role, P.MARKETING_VIEW)
    # when / then each list, change and add page answers by permission, never 500
    for name, obj in rows.items():
        writer = WRITE[name]
        can_write = writer is not None and holds(role, writer)
        expected_read = 200 if can_view or can_write else 403
        listed = client.get(f"{BASE}/{name}/")
        changed = client.get(f"{BASE}/{name}/{obj.pk}/change/")
        added = client.get(f"{BASE}/{name}/add/")
        assert (listed.status_code, changed.status_code, added.status_code) == (
            expected_read,
            expected_read,
            200 if can_write else 403,
        ), name
        if expected_read == 200 and name in NAMED:
            assert str(obj) in listed.content.decode(), name
    # and the results page follows marketing.view
    results = client.get(f"{BASE}/results/")
    assert results.status_code == (200 if can_view else 403)


@pytest.mark.parametrize("role", ["customer_service", "finance", "analyst"])
def test_read_only_roles_cannot_post_changes_or_delete(console_as: ConsoleAs, role: str) -> None:
    # given campaigns of every kind
    rows = one_of_each()
    client = signed_in(console_as, role)
    before = {name: type(obj)._default_manager.count() for name, obj in rows.items()}
    # when they post a change or confirm a delete
    for name, obj in rows.items():
        changed = client.post(f"{BASE}/{name}/{obj.pk}/change/", {"name": "改名"})
        deleted = client.post(f"{BASE}/{name}/{obj.pk}/delete/", {"post": "yes"})
        # then both are refused
        assert (changed.status_code, deleted.status_code) == (403, 403), name
    # and nothing changed or was audited
    assert {name: type(obj)._default_manager.count() for name, obj in rows.items()} == before
    assert CouponTemplate.objects.get(pk=rows["coupontemplate"].pk).name != "改名"
    assert not LogEntry.objects.filter(actor=client.operator).exists()  # type: ignore[attr-defined]


def test_operations_staff_run_campaigns_but_not_levels_or_the_points_shop(
    console_as: ConsoleAs,
) -> None:
    # given operations staff (marketing.manage without marketing.points)
    client = signed_in(console_as, "ops_staff")
    level = factories.level()
    # when / then campaigns can be added, levels and the points shop only read
    assert client.get(f"{BASE}/groupbuy/add/").status_code == 200
    assert client.get(f"{BASE}/level/add/").status_code == 403
    assert client.get(f"{BASE}/redeemitem/add/").status_code == 403
    assert client.get(f"{BASE}/level/{level.pk}/change/").status_code == 200
    refused = client.post(
        f"{BASE}/level/{level.pk}/change/",
        {"name": "钻石", "rank": "1", "growth_threshold": "0", "discount_percent": "30"},
    )
    assert refused.status_code == 403
    assert Level.objects.get(pk=level.pk).discount_percent == 0


# --- forms -------------------------------------------------------------------------------------
def datetime_fields(name: str, moment: Any) -> dict[str, str]:
    local = timezone.localtime(moment)
    return {f"{name}_0": local.strftime("%Y-%m-%d"), f"{name}_1": local.strftime("%H:%M:%S")}


def group_buy_form(sku: Any, **overrides: str) -> dict[str, str]:
    now = timezone.now()
    data = {
        "name": "三人团",
        "sku": str(sku.pk),
        "group_price": "39.90",
        "group_size": "3",
        "hours_to_fill": "24",
        "per_member_limit": "1",
        **datetime_fields("starts_at", now),
        **datetime_fields("ends_at", now + timedelta(days=3)),
    }
    data.update(overrides)
    return data


def discount_form(product: Any, **overrides: str) -> dict[str, str]:
    now = timezone.now()
    data = {
        "name": "限时 8 折",
        "product": str(product.pk),
        "sku": "",
        "percent_off": "20",
        "price": "",
        **datetime_fields("starts_at", now),
        **datetime_fields("ends_at", now + timedelta(days=1)),
    }
    data.update(overrides)
    return data


def flash_form(sku: Any, **overrides: str) -> dict[str, str]:
    now = timezone.now()
    data = {
        "name": "整点秒杀",
        **datetime_fields("starts_at", now + timedelta(hours=1)),
        **datetime_fields("ends_at", now + timedelta(hours=2)),
        "pay_minutes": "5",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "items-0-sku": str(sku.pk),
        "items-0-flash_price": "9.90",
        "items-0-stock": "10",
        "items-0-per_member_limit": "1",
    }
    data.update(overrides)
    return data


def coupon_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "新人 5 元券",
        "kind": "fixed",
        "value": "5",
        "max_discount": "0",
        "min_spend": "0",
        "scope": "all",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "valid_days": "7",
        "total_quantity": "100",
        "per_member_limit": "1",
        "issue": "public",
        "auto_rule": "",
        "auto_level": "",
        "restore_on_refund": "on",
        "is_active": "on",
    }
    data.update(overrides)
    return data


LEVEL_FORM = {
    "name": "金卡",
    "rank": "2",
    "growth_threshold": "1000",
    "discount_percent": "5",
    "points_multiplier": "1.5",
    "free_shipping": "on",
}


def test_campaigns_levels_and_shop_items_are_added_through_their_forms(
    console_as: ConsoleAs,
) -> None:
    # given the operations manager and a SKU at 50.00
    client = signed_in(console_as, "ops_manager")
    product = factories.product(price=5000, stock=100)
    sku = product.skus.get()
    # when each form is filled in correctly
    answers = {
        "groupbuy": client.post(f"{BASE}/groupbuy/add/", group_buy_form(sku)),
        "timeddiscount": client.post(f"{BASE}/timeddiscount/add/", discount_form(product)),
        "flashsession": client.post(f"{BASE}/flashsession/add/", flash_form(sku)),
        "level": client.post(f"{BASE}/level/add/", LEVEL_FORM),
        "redeemitem": client.post(
            f"{BASE}/redeemitem/add/",
            {
                "name": "5 元券",
                "points": "500",
                "coupon_template": str(factories.coupon_template().pk),
                "sku": "",
                "stock": "20",
                "per_member_limit": "1",
                "is_active": "on",
            },
        ),
    }
    # then each is saved and the console goes back to its list
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 302)
    group_buy = GroupBuy.objects.get()
    assert (group_buy.group_price, group_buy.group_size, group_buy.status) == (3990, 3, "running")
    assert TimedDiscount.objects.get().percent_off == 20
    session = FlashSession.objects.get()
    assert session.status == "upcoming"
    assert list(session.items.values_list("sku_id", "flash_price", "stock")) == [(sku.pk, 990, 10)]
    level = Level.objects.get()
    assert (level.discount_percent, level.free_shipping) == (5, True)
    assert RedeemItem.objects.get().stock == 20


def test_a_coupon_is_added_through_its_form(console_as: ConsoleAs) -> None:
    # given
    client = signed_in(console_as, "ops_manager")
    # when
    response = client.post(f"{BASE}/coupontemplate/add/", coupon_form())
    # then
    assert response.status_code == 302, response.status_code
    template = CouponTemplate.objects.get()
    assert (template.kind, template.value, template.valid_days) == ("fixed", 500, 7)


def test_a_coupon_is_changed_through_its_form(console_as: ConsoleAs) -> None:
    # given a coupon
    template = factories.coupon_template(
        kind="fixed", value=500, min_spend=0, valid_until=None, valid_days=7
    )
    client = signed_in(console_as, "ops_manager")
    # when its amount is changed
    response = client.post(f"{BASE}/coupontemplate/{template.pk}/change/", coupon_form(value="8"))
    # then
    assert response.status_code == 302
    assert CouponTemplate.objects.get(pk=template.pk).value == 800


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "percent", "value": "100"}, "value"),
        ({"kind": "threshold", "value": "10", "min_spend": "10"}, "min_spend"),
        ({"valid_days": "", "valid_until_0": "", "valid_until_1": ""}, "valid_days"),
        ({"total_quantity": "0"}, "total_quantity"),
        ({"value": "abc"}, "value"),
        ({"kind": "bogus"}, "kind"),
        ({"name": "x" * 81}, "name"),
        ({"per_member_limit": "0"}, None),
    ],
    ids=[
        "percent-100",
        "threshold",
        "no-validity",
        "quantity-0",
        "value-text",
        "kind",
        "name",
        "limit-0",
    ],
)
def test_an_invalid_coupon_form_is_400_with_the_error_on_its_field(
    console_as: ConsoleAs, overrides: dict[str, str], field: str | None
) -> None:
    # given a coupon being changed
    template = factories.coupon_template(kind="fixed", value=500, min_spend=0)
    client = signed_in(console_as, "ops_manager")
    # when a broken form is saved
    response = client.post(f"{BASE}/coupontemplate/{template.pk}/change/", coupon_form(**overrides))
    # then it comes back with the error and nothing changed
    assert response.status_code == 400, response.status_code
    errors = response.context["adminform"].form.errors
    assert errors
    if field is not None:
        assert field in errors, errors
    assert CouponTemplate.objects.get(pk=template.pk).value == 500


@pytest.mark.parametrize(
    ("model", "overrides", "field"),
    [
        ("groupbuy", {"group_size": "1"}, "group_size"),
        ("groupbuy", {"group_size": "40000"}, "group_size"),
        ("groupbuy", {"hours_to_fill": "0"}, "hours_to_fill"),
        ("groupbuy", {"group_price": "0"}, "group_price"),
        ("groupbuy", {"group_price": "abc"}, "group_price"),
        ("groupbuy", {"sku": "987654"}, "sku"),
        ("groupbuy", {"ends_at_0": "2020-01-01"}, None),
        ("timeddiscount", {"percent_off": "0"}, "percent_off"),
        ("timeddiscount", {"percent_off": "", "price": ""}, "percent_off"),
        ("timeddiscount", {"percent_off": "", "price": "30"}, "price"),
        ("timeddiscount", {"product": ""}, "product"),
        ("timeddiscount", {"ends_at_0": "2020-01-01"}, None),
        ("flashsession", {"pay_minutes": "0"}, "pay_minutes"),
        ("flashsession", {"ends_at_0": "2020-01-01"}, None),
        ("flashsession", {"items-0-flash_price": "50"}, None),
        ("flashsession", {"items-0-flash_price": "-1"}, None),
        ("flashsession", {"items-0-per_member_limit": "100"}, None),
        ("flashsession", {"items-TOTAL_FORMS": "abc"}, None),
        ("level", {"discount_percent": "31"}, "discount_percent"),
        ("level", {"points_multiplier": "9.9"}, "points_multiplier"),
        ("level", {"points_multiplier": "0.5"}, "points_multiplier"),
        ("level", {"rank": "-1"}, "rank"),
        ("redeemitem", {"coupon_template": ""}, None),
        ("redeemitem", {"points": "-5"}, "points"),
    ],
)
def test_an_invalid_form_is_400_and_saves_nothing(
    console_as: ConsoleAs, model: str, overrides: dict[str, str], field: str | None
) -> None:
    # given the operations manager and a SKU at 50.00
    client = signed_in(console_as, "ops_manager")
    product = factories.product(price=5000, stock=100)
    sku = product.skus.get()
    forms = {
        "groupbuy": lambda: group_buy_form(sku),
        "timeddiscount": lambda: discount_form(product),
        "flashsession": lambda: flash_form(sku),
        "level": lambda: dict(LEVEL_FORM),
        "redeemitem": lambda: {
            "name": "券",
            "points": "500",
            "coupon_template": str(factories.coupon_template().pk),
            "sku": "",
            "stock": "1",
            "per_member_limit": "1",
        },
    }
    data = {**forms[model](), **overrides}
    models: dict[str, type[Model]] = {
        "groupbuy": GroupBuy,
        "timeddiscount": TimedDiscount,
        "flashsession": FlashSession,
        "level": Level,
        "redeemitem": RedeemItem,
    }
    # when
    response = client.post(f"{BASE}/{model}/add/", data)
    # then the form comes back with its errors; nothing is saved
    assert response.status_code == 400, response.status_code
    if field is not None:
        assert field in response.context["adminform"].form.errors
    assert not models[model]._default_manager.exists()
    assert not FlashItem.objects.exists()


# --- actions -----------------------------------------------------------------------------------
def issue(client: Client, template: CouponTemplate, **fields: str) -> Any:
    return client.post(
        f"{BASE}/coupontemplate/{template.pk}/issue/", {"_form_submitted": "on", **fields}
    )


def test_issuing_a_coupon_to_members_and_a_tag_is_done_and_audited(
    console_as: ConsoleAs,
) -> None:
    # given an issued-only coupon, two members by id and three with a tag (one in both)
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED, total_quantity=100)
    first, second = factories.member(), factories.member()
    tag = factories.member_tag("高价值")
    tagged = [factories.member() for _ in range(2)]
    for member in [*tagged, second]:
        member.tags.add(tag)
    client = signed_in(console_as, "ops_staff")
    # when the coupon is issued to the ids and to the tag
    response = issue(
        client, template, member_ids=f"{first.pk}, {second.pk}\n", audience="tag:高价值"
    )
    # then each of the four members holds one, and the console says so
    assert response.status_code == 302
    holders = set(Coupon.objects.filter(template=template).values_list("member_id", flat=True))
    assert holders == {first.pk, second.pk, *(m.pk for m in tagged)}
    assert CouponTemplate.objects.get(pk=template.pk).issued_count == 4
    assert messages_of(client, response)[0][0] == "success"
    # and the audit log names the operator and how many were issued
    [row] = audit_rows(client, template)
    assert row.changes == {"issued": [None, 4]}
    assert row.additional_data == {"members": 4, "skipped": 0, "audience": "tag:高价值"}


def test_issuing_needs_marketing_manage(console_as: ConsoleAs) -> None:
    # given
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED)
    member = factories.member()
    coupons_logged = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(CouponTemplate)
    )
    logged = coupons_logged.count()  # the template's own creation
    # when read-only roles issue
    for role in ("customer_service", "finance", "analyst"):
        client = signed_in(console_as, role)
        # then it is refused
        assert issue(client, template, member_ids=str(member.pk)).status_code == 403
    assert not Coupon.objects.exists()
    assert coupons_logged.count() == logged


@pytest.mark.parametrize(
    "fields",
    [{}, {"member_ids": "abc"}, {"member_ids": "1, two"}, {"tag": "t" * 33}, {"member_ids": "-5"}],
    ids=["empty", "text", "mixed", "long-tag", "negative"],
)
def test_a_bad_issue_dialog_is_shown_again_and_issues_nothing(
    console_as: ConsoleAs, fields: dict[str, str]
) -> None:
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED)
    factories.member()
    response = issue(signed_in(console_as, "ops_manager"), template, **fields)
    assert response.status_code in (200, 400), response.status_code
    assert response.context["form"].errors
    assert not Coupon.objects.exists()


def test_issuing_to_unknown_members_issues_nothing(console_as: ConsoleAs) -> None:
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED)
    response = issue(signed_in(console_as, "ops_manager"), template, member_ids="987654")
    assert response.status_code == 302
    assert not Coupon.objects.exists()


def test_a_member_id_beyond_64_bits_is_a_form_error(console_as: ConsoleAs) -> None:
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED)
    response = issue(signed_in(console_as, "ops_manager"), template, member_ids=str(2**64))
    assert response.status_code in (200, 302, 400), response.status_code


CONFIRM = {"_form_submitted": "on"}


def test_stopping_a_coupon_ends_claims_keeps_held_coupons_and_is_audited(
    console_as: ConsoleAs,
) -> None:
    # given a running coupon a member holds
    template = factories.coupon_template()
    held = factories.member_coupon(template=template)
    client = signed_in(console_as, "ops_manager")
    url = f"{BASE}/coupontemplate/{template.pk}/end/"
    # when "Stop now" is opened: the confirmation dialog only, nothing stops
    dialog = client.get(url)
    assert dialog.status_code == 200
    assert 'id="dialog"' in dialog.content.decode()
    assert CouponTemplate.objects.get(pk=template.pk).is_active
    # when it is confirmed
    response = client.post(url, CONFIRM)
    # then it is ended, the held coupon stays usable, and the audit log says who
    assert response.status_code == 302
    stopped = CouponTemplate.objects.get(pk=template.pk)
    assert (stopped.is_active, stopped.status) == (False, "ended")
    assert Coupon.objects.get(pk=held.pk).status == CouponStatus.UNUSED
    [row] = audit_rows(client, template)
    assert row.changes == {"is_active": [True, False]}
    # and read-only roles may not stop a coupon, nor even open the dialog
    other = factories.coupon_template()
    analyst = signed_in(console_as, "analyst")
    assert analyst.get(f"{BASE}/coupontemplate/{other.pk}/end/").status_code == 403
    assert analyst.post(f"{BASE}/coupontemplate/{other.pk}/end/", CONFIRM).status_code == 403
    assert CouponTemplate.objects.get(pk=other.pk).is_active


def test_a_stop_posted_from_another_site_is_refused(console_as: ConsoleAs) -> None:
    # given an operations manager signed in, in a browser that checks CSRF
    template = factories.coupon_template()
    manager = factories.operator_with_role("ops_manager")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    url = f"{BASE}/coupontemplate/{template.pk}/end/"
    # when another site makes the browser GET the link, or POST to it without the token
    browser.get(url)
    forged = browser.post(url, CONFIRM)
    # then nothing stops
    assert forged.status_code == 403
    assert CouponTemplate.objects.get(pk=template.pk).is_active


def test_ending_a_flash_sale_early_is_audited_and_permission_checked(
    console_as: ConsoleAs,
) -> None:
    # given a running flash sale
    session = factories.flash_session()
    url = f"{BASE}/flashsession/{session.pk}/end/"
    # when customer service tries, then the manager opens the dialog and confirms
    refused = signed_in(console_as, "customer_service").post(url, CONFIRM)
    client = signed_in(console_as, "ops_manager")
    assert client.get(url).status_code == 200
    assert FlashSession.objects.get(pk=session.pk).status != "ended"
    response = client.post(url, CONFIRM)
    # then only the manager could, and it is audited
    assert refused.status_code == 403
    assert response.status_code == 302
    assert FlashSession.objects.get(pk=session.pk).status == "ended"
    assert len(audit_rows(client, session)) == 1
    # when it is ended again, then the console says so instead of failing
    again = client.post(url, CONFIRM)
    assert again.status_code == 302
    assert messages_of(client, again)[-1][0] == "error"


@pytest.mark.parametrize("model", ["groupbuy", "timeddiscount"])
def test_ending_a_group_buy_or_discount_early_is_permission_checked(
    console_as: ConsoleAs, model: str
) -> None:
    # given a running campaign
    obj = factories.group_buy() if model == "groupbuy" else factories.timed_discount()
    url = f"{BASE}/{model}/{obj.pk}/end/"
    # when finance tries, the manager opens the dialog, then ends it, then ends it again
    refused = signed_in(console_as, "finance").post(url, CONFIRM)
    client = signed_in(console_as, "ops_manager")
    client.get(url)
    assert type(obj).objects.get(pk=obj.pk).status != "ended"
    ended = client.post(url, CONFIRM)
    again = client.post(url, CONFIRM)
    # then
    assert refused.status_code == 403
    assert ended.status_code == again.status_code == 302
    assert type(obj).objects.get(pk=obj.pk).status == "ended"
    assert messages_of(client, again)[-1][0] == "error"


@pytest.mark.parametrize("model", ["groupbuy", "timeddiscount"])
def test_ending_a_group_buy_or_discount_early_is_audited(console_as: ConsoleAs, model: str) -> None:
    obj = factories.group_buy() if model == "groupbuy" else factories.timed_discount()
    client = signed_in(console_as, "ops_manager")
    assert client.post(f"{BASE}/{model}/{obj.pk}/end/", CONFIRM).status_code == 302
    assert len(audit_rows(client, obj)) == 1


def test_console_saves_are_audited(console_as: ConsoleAs) -> None:
    # given the operations manager
    client = signed_in(console_as, "ops_manager")
    template = factories.coupon_template(kind="fixed", value=500, min_spend=0)
    # when a level is added and a coupon changed
    assert client.post(f"{BASE}/level/add/", LEVEL_FORM).status_code == 302
    changed = client.post(f"{BASE}/coupontemplate/{template.pk}/change/", coupon_form(value="8"))
    assert changed.status_code == 302
    # then both are in the audit log under the operator
    assert audit_rows(client, Level.objects.get())
    assert audit_rows(client, template)


def test_the_console_offers_a_points_adjustment() -> None:
    names: list[str] = [page.name for page in site.pages]
    for model, admin_obj in site._registry.items():
        if model._meta.app_label in {"marketing", "members"}:
            for group in ("actions", "actions_detail", "actions_list", "actions_row"):
                names += [str(a) for a in (getattr(admin_obj, group, None) or [])]
    assert any("point" in name and "adjust" in name for name in names), names


# --- the member-360 card -----------------------------------------------------------------------
def test_the_member_page_shows_level_points_and_coupons_to_marketing_viewers(
    console_as: ConsoleAs,
) -> None:
    # given a member with points and a coupon
    member: Member = factories.member()
    factories.points_entry(member, 321)
    factories.member_coupon(member=member, template=factories.coupon_template(name="生日券"))
    # when customer service opens the member page
    page = signed_in(console_as, "customer_service").get(
        f"/console/members/member/{member.pk}/change/"
    )
    # then the marketing card is there
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="member-marketing"' in body
    assert "321" in body
    assert "生日券" in body


# --- results -----------------------------------------------------------------------------------
@pytest.fixture
def campaign() -> dict[str, Any]:
    """A 10.00 coupon issued to three members, one of whom used it on a paid 100.00 order;
    a coupon not started yet and a stopped one; a flash sale and a group buy."""
    template = factories.coupon_template(
        name="满减券", kind="fixed", value=1000, min_spend=0, issue="issued"
    )
    users = [buyer() for _ in range(3)]
    coupons.issue(template=template, member_ids=[u.pk for u in users], actor=None)
    coupon = Coupon.objects.get(member=users[0].member)
    response = place_order(users[0], [(sku_of(price=10000), 1)], coupon_ids=[coupon.pk])
    order = pay(response.json()["id"])
    upcoming = factories.coupon_template(
        name="下周券", valid_from=timezone.now() + timedelta(days=7)
    )
    stopped = factories.coupon_template(name="已停券", is_active=False)
    return {
        "template": template,
        "order": order,
        "upcoming": upcoming,
        "stopped": stopped,
        "flash": factories.flash_session(name="午间秒杀"),
        "group_buy": factories.group_buy(name="两人拼团"),
    }


def test_the_results_page_agrees_with_the_orders(
    console_as: ConsoleAs, campaign: dict[str, Any]
) -> None:
    # given a used coupon whose order paid 90.00
    order = campaign["order"]
    assert (order.paid_amount, order.discount_amount) == (9000, 1000)
    # when the analyst opens the results
    response = signed_in(console_as, "analyst").get(f"{BASE}/results/")
    # then the coupon's row counts issued, used, orders, GMV, cost and ROI from the orders
    assert response.status_code == 200
    tables = {t["key"]: t for t in response.context["tables"]}
    rows = {row["cells"][0]: row["cells"] for row in tables["coupons"]["rows"]}
    assert rows["满减券"] == [
        "满减券",
        "进行中",
        3,
        1,
        round(1 / 3, 4),
        1,
        format_fen(9000),
        format_fen(1000),
        9.0,
    ]
    # and each campaign's status is shown: upcoming, running, ended
    assert rows["下周券"][1] == "未开始"
    assert rows["已停券"][1] == "已结束"
    assert rows["已停券"][-1] == "—"  # no cost, no ROI
    assert [r["cells"][:2] for r in tables["flash"]["rows"]] == [["午间秒杀", "进行中"]]
    assert [r["cells"][:2] for r in tables["groups"]["rows"]] == [["两人拼团", "进行中"]]
    page = response.content.decode()
    assert "¥90.00" in page


def test_results_follow_the_period_and_drill_down_to_the_orders(
    console_as: ConsoleAs, campaign: dict[str, Any]
) -> None:
    # given the coupon's order paid today, and a second use of it paid 40 days ago
    template, recent = campaign["template"], campaign["order"]
    old_buyer = buyer()
    coupons.issue(template=template, member_ids=[old_buyer.member.pk], actor=None)
    coupon = Coupon.objects.get(member=old_buyer.member, template=template)
    old = pay(
        place_order(old_buyer, [(sku_of(price=5000), 1)], coupon_ids=[coupon.pk]).json()["id"]
    )
    Order.objects.filter(pk=old.pk).update(paid_at=timezone.now() - timedelta(days=40))
    client = signed_in(console_as, "analyst")

    # when the results are read for the last 30 days (the default), then for 60 days
    def coupon_row(response: Any) -> list[Any]:
        assert response.status_code == 200
        tables = {t["key"]: t for t in response.context["tables"]}
        return next(r for r in tables["coupons"]["rows"] if r["cells"][0] == "满减券")

    today = local_date()
    recent_only = coupon_row(client.get(f"{BASE}/results/"))
    both = coupon_row(
        client.get(
            f"{BASE}/results/",
            {"start": (today - timedelta(days=59)).isoformat(), "end": today.isoformat()},
        )
    )
    # then orders and GMV count the orders paid in the period; issued stays the total
    assert recent_only["cells"][5:7] == [1, format_fen(9000)]
    assert both["cells"][5:7] == [2, format_fen(9000 + old.paid_amount)]
    assert recent_only["cells"][2] == both["cells"][2] == 4
    # and the daily chart holds the recent order on today's bar
    chart = client.get(f"{BASE}/results/").context["chart"]
    assert chart["labels"][-1] == today.isoformat()
    assert chart["datasets"][0]["data"][-1] == 1
    assert sum(chart["datasets"][0]["data"]) == 1
    assert chart["datasets"][1]["data"][-1] == 9000

    # when the row's drill-down is followed
    listed = client.get(both["orders"])
    # then it lists exactly the orders behind the figure, linked to their pages
    assert listed.status_code == 200
    numbers = [row["order"].number for row in listed.context["rows"]]
    assert sorted(numbers) == sorted([recent.number, old.number])
    assert f"/console/orders/order/{recent.pk}/change/" in listed.content.decode()
    assert [r["order"].number for r in client.get(recent_only["orders"]).context["rows"]] == [
        recent.number
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-01", "end": "2026-12-01"},
        {"start": "2026-12-01", "end": "2026-11-01"},
        {"start": "2024-01-01", "end": "2026-01-01"},
        {"start": "'; drop table", "end": ""},
    ],
)
def test_a_bad_results_period_is_a_400_with_the_form(console_as: ConsoleAs, query: dict) -> None:
    client = signed_in(console_as, "analyst")
    response = client.get(f"{BASE}/results/", query)
    assert response.status_code == 400
    assert response.context["form"].errors
    drill = client.get(f"{BASE}/results/orders/", {"table": "coupons", **query})
    assert drill.status_code == 400


@pytest.mark.parametrize("query", [{"table": "nope"}, {"id": "abc"}, {"id": "9" * 30}])
def test_a_bad_drill_down_link_is_a_400(console_as: ConsoleAs, query: dict) -> None:
    response = signed_in(console_as, "analyst").get(f"{BASE}/results/orders/", query)
    assert response.status_code == 400


def test_the_drill_down_needs_the_orders_permission_too(console_as: ConsoleAs) -> None:
    # a role that reads campaigns but not orders gets no drill-down link and a 403
    for role in ROLES.values():
        if P.MARKETING_VIEW in role.permissions and P.ORDERS_VIEW not in role.permissions:
            client = signed_in(console_as, role.code.value)
            assert client.get(f"{BASE}/results/orders/").status_code == 403
            tables = client.get(f"{BASE}/results/").context["tables"]
            assert all(not t["all_orders"] for t in tables)


def test_campaign_lists_show_their_status(console_as: ConsoleAs) -> None:
    # given flash sales upcoming, running and ended
    factories.flash_session(name="将来", starts_in_minutes=60)
    factories.flash_session(name="现在")
    factories.flash_session(name="过去", starts_in_minutes=-300)
    # when
    page = signed_in(console_as, "ops_staff").get(f"{BASE}/flashsession/").content.decode()
    # then
    for status in ("未开始", "进行中", "已结束"):  # in words, not codes
        assert status in page


@pytest.mark.parametrize("table", ["coupons", "flash", "groups"])
def test_results_export_as_csv_and_xlsx_with_the_same_figures(
    console_as: ConsoleAs, campaign: dict[str, Any], table: str
) -> None:
    client = signed_in(console_as, "finance")
    # when the table is exported as CSV and XLSX
    as_csv = client.get(f"{BASE}/results/", {"table": table, "fmt": "csv"})
    as_xlsx = client.get(f"{BASE}/results/", {"table": table, "fmt": "xlsx"})
    # then both are attachments with a header and the same rows
    assert as_csv.status_code == as_xlsx.status_code == 200
    assert as_csv["Content-Disposition"].startswith(f'attachment; filename="marketing-{table}-')
    assert as_xlsx["Content-Disposition"].endswith('.xlsx"')
    rows = csv_rows(as_csv)
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    xlsx_rows = [
        ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert len(rows) == len(xlsx_rows) >= 2
    assert rows[0] == xlsx_rows[0]
    if table == "coupons":
        used = next(r for r in rows if r[0] == "满减券")
        assert used[2:4] == ["3", "1"]
        assert used[6:9] == ["90.00", "10.00", "9.0"]  # GMV and cost in yuan, ROI
    # and each export is audited as an access
    exports = LogEntry.objects.filter(
        actor=client.operator,  # type: ignore[attr-defined]
        action=LogEntry.Action.ACCESS,
    )
    assert sorted(e.additional_data["export"] for e in exports) == ["csv", "xlsx"]


@pytest.mark.parametrize("query", [{"fmt": "pdf"}, {"table": "nope", "fmt": "csv"}, {"fmt": ""}])
def test_an_unknown_export_shows_the_page(console_as: ConsoleAs, query: dict[str, str]) -> None:
    response = signed_in(console_as, "analyst").get(f"{BASE}/results/", query)
    assert response.status_code == 200
    assert "Content-Disposition" not in response


def test_roles_without_marketing_cannot_export(console_as: ConsoleAs) -> None:
    for role in ("content_reviewer", "tech_staff"):
        client = signed_in(console_as, role)
        response = client.get(f"{BASE}/results/", {"table": "coupons", "fmt": "csv"})
        assert response.status_code == 403
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_points_ledger_rows_cannot_be_added_changed_or_deleted_in_the_console(
    console_as: ConsoleAs,
) -> None:
    # given a ledger row, and the super admin
    entry: PointsEntry = factories.points_entry(factories.member(), 100)
    client = signed_in(console_as, "super_admin")
    # when they try to add, change or delete ledger rows
    added = client.post(f"{BASE}/pointsentry/add/", {"delta": "5"})
    changed = client.post(f"{BASE}/pointsentry/{entry.pk}/change/", {"delta": "999"})
    deleted = client.post(f"{BASE}/pointsentry/{entry.pk}/delete/", {"post": "yes"})
    # then all are refused and the row is untouched
    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert PointsEntry.objects.get(pk=entry.pk).delta == 100


def test_issuing_to_an_audience_larger_than_what_is_left_is_refused(
    console_as: ConsoleAs,
) -> None:
    # given a coupon with 2 left and a tag of 3 members
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED, total_quantity=2)
    tag = factories.member_tag("大客户")
    for _ in range(3):
        factories.member().tags.add(tag)
    client = signed_in(console_as, "ops_manager")
    # the picker lists the tag with its member count
    page = client.get(f"{BASE}/coupontemplate/{template.pk}/issue/")
    assert "大客户（3 人）" in page.content.decode()
    # when it is issued to the tag
    response = issue(client, template, audience="tag:大客户")
    # then nothing is issued and the console says why
    assert response.status_code == 302
    assert not Coupon.objects.filter(template=template).exists()
    level, text = messages_of(client, response)[0]
    assert level == "error"
    assert "2" in text
    assert "3" in text


def test_an_unknown_audience_is_refused(console_as: ConsoleAs) -> None:
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED)
    client = signed_in(console_as, "ops_manager")
    response = issue(client, template, audience="tag:nobody-has-this")
    assert not Coupon.objects.filter(template=template).exists()
    assert response.status_code in (200, 400)  # the choice is not on the list


def test_the_service_refuses_an_unknown_tag_and_names_who_got_nothing() -> None:
    from miniops.core.audiences import UnknownAudience
    from miniops.marketing.services import coupons

    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED, total_quantity=1)
    operator = factories.operator_with_role("ops_manager")
    with pytest.raises(UnknownAudience):
        coupons.issue(template=template, member_ids=[], tag="无此标签", actor=operator)
    first, second = factories.member(), factories.member()
    result = coupons.issue(template=template, member_ids=[first.pk, second.pk], actor=operator)
    assert (result["issued"], result["missed_ids"]) == (1, [second.pk])


def test_a_read_only_coupon_page_shows_money_in_yuan(
    console_as: Callable[..., Client],
) -> None:
    # given a threshold coupon (¥10 off from ¥100) and a role that may only read it
    template = factories.coupon_template(value=1000, min_spend=10000)
    client = console_as("analyst")
    # when its page is opened
    response = client.get(f"/console/marketing/coupontemplate/{template.pk}/change/")
    # then the value and the threshold read in yuan, not in fen, and nothing is saveable
    assert response.status_code == 200
    page = response.content.decode()
    assert "¥10.00" in page
    assert "¥100.00" in page
    assert ">1000<" not in page
    assert ">10000<" not in page
    assert 'name="_save"' not in page
