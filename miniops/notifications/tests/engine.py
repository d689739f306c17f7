"""Helpers to build campaigns and audiences in tests."""

from __future__ import annotations

from typing import Any

from miniops.members.models import Member
from miniops.notifications.models import Campaign, CampaignKind, MessageTemplate
from miniops.testing import factories
from miniops.testing.fake_wechat import SubscribeState

COUPON_DATA = {
    "thing1": "{coupon_name}",
    "amount2": "¥10",
    "date3": "2026年12月31日",
    "thing4": "送你一张券",
}


def audience(
    n: int,
    *,
    tag: str = "vip",
    grant: SubscribeState | None = None,
    template: MessageTemplate | None = None,
    remaining: int = 1,
) -> list[Member]:
    """``n`` members with tag ``tag``, each with ``remaining`` consents for
    ``template`` here and (with ``grant``) at the fake WeChat."""
    from miniops.members.models import MemberTag

    label, _ = MemberTag.objects.get_or_create(name=tag)
    template = template or factories.message_template()
    people = []
    for _i in range(n):
        person = factories.member()
        person.tags.add(label)
        factories.consent(person, template, remaining)
        if grant is not None:
            grant.grant(person.openid, template.wx_template_id, remaining)
        people.append(person)
    return people


def campaign(**fields: Any) -> Campaign:
    defaults: dict[str, Any] = {
        "name": "测试活动",
        "kind": CampaignKind.ONE_OFF,
        "audience": "tag:vip",
        "template": factories.message_template(),
        "data": dict(COUPON_DATA, thing1="满100减10"),
        "page": "pages/coupon/list",
        "holdout_pct": 0,
    }
    defaults.update(fields)
    return Campaign.objects.create(**defaults)
