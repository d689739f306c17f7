"""Console: the member-360 card, pins and exclusions through confirmed dialogs
(audited, permission-checked), settings, the evaluation and A/B page."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from miniops.members.models import BrowsingHistory
from miniops.recommendations import services
from miniops.recommendations.models import RecsSettings, Rule
from miniops.recommendations.tests.test_serving import co_purchases, shop

pytestmark = pytest.mark.django_db

BASE = "/console/recommendations"
CONFIRM = {"_form_submitted": "on"}


def signed_in(console_as: Any, role: str) -> Any:
    client = console_as(role)
    client.raise_request_exception = False
    return client


def test_member_page_shows_recommendations_with_reasons(console_as: Any) -> None:
    a, b = co_purchases(shop())
    services.train(actor=None)
    from miniops.testing import factories

    member = factories.member()
    BrowsingHistory.objects.create(member=member, product=a)
    client = signed_in(console_as, "ops_manager")
    page = client.get(f"/console/members/member/{member.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="member-recommendations"' in html
    assert b.title in html
    assert a.title in html  # the reason names what they viewed


def test_pin_and_exclude_are_confirmed_posts_and_audited(console_as: Any) -> None:
    products = shop(1, 3)
    client = signed_in(console_as, "ops_manager")
    url = f"{BASE}/rule/pin/"
    # a GET answers only the dialog
    assert client.get(url).status_code == 200
    assert not Rule.objects.exists()
    response = client.post(url, {**CONFIRM, "product_id": products[0].pk, "position": 2})
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.kind, rule.position) == ("pin", 2)
    assert LogEntry.objects.filter(
        actor=client.operator, content_type=ContentType.objects.get_for_model(Rule)
    ).exists()
    client.post(f"{BASE}/rule/exclude/", {**CONFIRM, "product_id": products[1].pk})
    assert Rule.objects.filter(kind="exclude", product=products[1]).exists()
    # an unknown product is refused without a rule
    bad = client.post(f"{BASE}/rule/exclude/", {**CONFIRM, "product_id": 99999999})
    assert bad.status_code in (302, 400)
    assert Rule.objects.count() == 2
    # removing
    assert client.post(f"{BASE}/rule/{rule.pk}/remove/", CONFIRM).status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    # the analyst reads but writes nothing
    analyst = signed_in(console_as, "analyst")
    assert analyst.get(f"{BASE}/rule/").status_code == 200
    assert analyst.post(url, {**CONFIRM, "product_id": products[2].pk}).status_code == 403
    assert Rule.objects.count() == 1


def test_settings_dialog(console_as: Any) -> None:
    products = shop(1, 1)
    client = signed_in(console_as, "ops_manager")
    response = client.post(
        f"{BASE}/rule/settings/",
        {
            **CONFIRM,
            "category_cap": 2,
            "repurchase_days": 10,
            "consumable_categories": [products[0].category_id],
            "experiment_enabled": "on",
        },
    )
    assert response.status_code == 302
    row = RecsSettings.objects.get()
    assert (row.category_cap, row.repurchase_days, row.experiment_enabled) == (2, 10, True)
    assert list(row.consumable_categories.all()) == [products[0].category]


def test_evaluation_page(console_as: Any) -> None:
    co_purchases(shop())
    services.train(actor=None)
    services.evaluate(actor=None, test_days=14)
    client = signed_in(console_as, "analyst")
    page = client.get(f"{BASE}/evaluation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="recs-ab"' in html
    assert 'id="recs-version"' in html
