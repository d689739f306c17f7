"""Coupon templates and how members get coupons: claiming (every limit), validity,
bulk issue from the shop, and the automatic rules (registration, first paid order,
level up, birthday)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.core.errors import Forbidden, InvalidInput
from miniops.core.timeutils import local_date
from miniops.marketing.models import Coupon, CouponStatus, CouponTemplate, MemberStanding
from miniops.marketing.services import coupons, points
from miniops.marketing.tests.helpers import buyer, error_of, pay, post
from miniops.members.models import Member
from miniops.testing import factories

pytestmark = pytest.mark.django_db

Kind = CouponTemplate.Kind
Issue = CouponTemplate.Issue
Rule = CouponTemplate.AutoRule


def claim(client: Client, template_id: int) -> Any:
    return post(client, f"/api/v1/coupons/{template_id}/claim")


def issued_count(template: CouponTemplate) -> int:
    return int(CouponTemplate.objects.values_list("issued_count", flat=True).get(pk=template.pk))


# --- claiming ---------------------------------------------------------------------------------
def test_a_member_claims_a_public_coupon_with_an_absolute_window() -> None:
    # given a public coupon valid from an hour ago for 30 days
    starts, ends = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(days=30)
    template = factories.coupon_template(valid_from=starts, valid_until=ends, total_quantity=5)
    who = buyer()
    # when the member claims it
    response = claim(who.client, template.pk)
    # then they hold one coupon valid from now until the template's end
    assert response.status_code == 201, response.content
    body = response.json()
    coupon = Coupon.objects.get(pk=body["id"])
    assert coupon.member_id == who.pk
    assert coupon.status == CouponStatus.UNUSED
    assert coupon.source == "claim"
    assert coupon.valid_until == ends
    assert starts < coupon.valid_from <= timezone.now()
    assert issued_count(template) == 1
    # and it is listed among their coupons
    mine = who.client.get("/api/v1/me/coupons", {"status": "unused"}).json()
    assert [c["id"] for c in mine] == [coupon.pk]


def test_the_claim_answer_says_how_many_are_left_after_the_claim() -> None:
    # given a coupon of which 5 exist
    template = factories.coupon_template(total_quantity=5)
    # when a member claims one
    response = claim(buyer().client, template.pk)
    # then the answer says 4 are left, like the coupon centre
    assert response.status_code == 201
    assert issued_count(template) == 1
    centre = {t["id"]: t["left"] for t in Client().get("/api/v1/coupons/center").json()}
    assert centre[template.pk] == 4
    assert response.json()["template"]["left"] == 4


def test_a_coupon_valid_n_days_after_claiming_ends_n_days_after_the_claim() -> None:
    # given a coupon valid 7 days after it is received (no end date)
    template = factories.coupon_template(valid_until=None, valid_days=7)
    who = buyer()
    # when it is claimed
    before = timezone.now()
    response = claim(who.client, template.pk)
    # then it ends 7 days after the claim
    assert response.status_code == 201, response.content
    coupon = Coupon.objects.get(pk=response.json()["id"])
    assert before + timedelta(days=7) <= coupon.valid_until <= timezone.now() + timedelta(days=7)
    assert coupon.valid_until - coupon.received_at == timedelta(days=7)


def test_n_days_after_claiming_never_outlasts_the_templates_own_end() -> None:
    # given a coupon valid 30 days after claiming, but whose campaign ends in 2 days
    ends = timezone.now() + timedelta(days=2)
    template = factories.coupon_template(valid_until=ends, valid_days=30)
    # when it is claimed
    response = claim(buyer().client, template.pk)
    # then it ends with the campaign
    assert Coupon.objects.get(pk=response.json()["id"]).valid_until == ends


def test_an_issued_only_coupon_cannot_be_claimed_and_is_not_in_the_centre() -> None:
    # given a coupon the shop issues itself, and a public one
    issued = factories.coupon_template(issue=Issue.ISSUED)
    public = factories.coupon_template()
    who = buyer()
    # when a member tries to claim the issued-only one
    response = claim(who.client, issued.pk)
    # then it is as if it did not exist
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert not Coupon.objects.exists()
    assert issued_count(issued) == 0
    # and the coupon centre lists only the public one
    centre = Client().get("/api/v1/coupons/center").json()
    assert [t["id"] for t in centre] == [public.pk]


def test_an_unknown_coupon_is_404() -> None:
    response = claim(buyer().client, 987654)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    "fields",
    [
        {"valid_from": timezone.now() + timedelta(days=1)},
        {"valid_from": timezone.now() - timedelta(days=9), "valid_until": timezone.now()},
        {"is_active": False},
    ],
    ids=["not-started", "ended", "stopped"],
)
def test_a_coupon_outside_its_window_or_stopped_cannot_be_claimed(fields: dict[str, Any]) -> None:
    # given
    template = factories.coupon_template(**fields)
    # when
    response = claim(buyer().client, template.pk)
    # then
    assert response.status_code == 409
    assert error_of(response)["code"] == "coupon_not_claimable"
    assert not Coupon.objects.exists()
    assert issued_count(template) == 0


def test_the_total_quantity_is_never_exceeded() -> None:
    # given a coupon of which 2 exist
    template = factories.coupon_template(total_quantity=2)
    first, second, third = buyer(), buyer(), buyer()
    # when three members claim it
    answers = [claim(who.client, template.pk) for who in (first, second, third)]
    # then the third is told they are gone
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert error_of(answers[2])["code"] == "coupons_gone"
    assert issued_count(template) == 2
    assert Coupon.objects.filter(template=template).count() == 2
    assert not Coupon.objects.filter(member=third.member).exists()


def test_the_per_member_limit_holds_and_a_refused_claim_takes_nothing_from_the_total() -> None:
    # given a coupon members may hold two of
    template = factories.coupon_template(per_member_limit=2, total_quantity=10)
    who = buyer()
    # when the member claims it three times
    answers = [claim(who.client, template.pk) for _ in range(3)]
    # then the third claim is refused and does not count as issued
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert error_of(answers[2])["code"] == "coupon_limit_reached"
    assert list(
        Coupon.objects.filter(member=who.member).order_by("seq").values_list("seq", flat=True)
    ) == [1, 2]
    assert issued_count(template) == 2


def test_a_level_only_coupon_needs_the_level() -> None:
    # given a coupon for gold members and above
    silver = factories.level(name="银卡", growth_threshold=100)
    gold = factories.level(name="金卡", growth_threshold=1000)
    template = factories.coupon_template(level_only=True, auto_level=gold)
    silver_member, gold_member = buyer(), buyer()
    MemberStanding.objects.create(member=silver_member.member, level=silver, growth=100)
    MemberStanding.objects.create(member=gold_member.member, level=gold, growth=1000)
    # when both claim it
    refused = claim(silver_member.client, template.pk)
    accepted = claim(gold_member.client, template.pk)
    # then only the gold member gets it
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "coupon_level"
    assert accepted.status_code == 201
    assert issued_count(template) == 1


def test_claiming_needs_a_signed_in_member() -> None:
    template = factories.coupon_template()
    response = post(Client(), f"/api/v1/coupons/{template.pk}/claim")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


# --- template rules ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": Kind.FIXED, "value": 0}, "value"),
        ({"kind": Kind.PERCENT, "value": 100}, "value"),
        ({"kind": Kind.PERCENT, "value": 0}, "value"),
        ({"kind": Kind.THRESHOLD, "value": 1000, "min_spend": 1000}, "min_spend"),
        ({"valid_until": None, "valid_days": None}, "valid_days"),
        ({"valid_until": None, "valid_days": 0}, "valid_days"),
        ({"total_quantity": 0}, "total_quantity"),
        ({"auto_rule": Rule.LEVEL_UP}, "auto_level"),
        ({"level_only": True}, "auto_level"),
        (
            {
                "valid_from": timezone.now(),
                "valid_until": timezone.now() - timedelta(days=1),
            },
            "valid_until",
        ),
    ],
)
def test_template_rules(fields: dict[str, Any], field: str) -> None:
    template = CouponTemplate(
        **{
            "name": "t",
            "kind": Kind.THRESHOLD,
            "value": 1000,
            "min_spend": 10000,
            "total_quantity": 10,
            "valid_until": timezone.now() + timedelta(days=3),
            **fields,
        }
    )
    with pytest.raises(InvalidInput) as refused:
        coupons.validate_template(template)
    assert field in refused.value.fields


def test_a_sound_template_passes_the_rules() -> None:
    coupons.validate_template(
        CouponTemplate(
            name="8 折",
            kind=Kind.PERCENT,
            value=20,
            max_discount=2000,
            total_quantity=10,
            valid_days=7,
        )
    )


# --- issuing ----------------------------------------------------------------------------------
def test_bulk_issue_gives_one_each_and_skips_members_at_their_limit() -> None:
    # given an issued-only coupon one member already holds
    template = factories.coupon_template(issue=Issue.ISSUED, total_quantity=100)
    members = [factories.member() for _ in range(4)]
    operator = factories.operator_with_role("ops_staff")
    coupons.issue(template=template, member_ids=[members[0].pk], actor=operator)
    # when it is issued to all four (one listed twice)
    ids = [m.pk for m in members] + [members[1].pk]
    result = coupons.issue(template=template, member_ids=ids, actor=operator)
    # then the three others get one each and the holder is skipped
    assert result["issued"] == 3
    assert result["skipped"] == 1
    for person in members:
        assert Coupon.objects.filter(template=template, member=person).count() == 1
    assert set(Coupon.objects.filter(template=template).values_list("source", flat=True)) == {
        "issue"
    }
    assert issued_count(template) == 4


def test_bulk_issue_stops_when_the_template_runs_out() -> None:
    # given a coupon of which 2 are left
    template = factories.coupon_template(issue=Issue.ISSUED, total_quantity=2)
    members = [factories.member() for _ in range(5)]
    # when it is issued to five members
    result = coupons.issue(
        template=template,
        member_ids=[m.pk for m in members],
        actor=factories.operator_with_role("ops_manager"),
    )
    # then the first two get one and issuing stops
    assert result["issued"] == 2
    assert Coupon.objects.filter(template=template).count() == 2
    assert issued_count(template) == 2


def test_bulk_issue_needs_marketing_manage() -> None:
    template = factories.coupon_template(issue=Issue.ISSUED)
    with pytest.raises(Forbidden):
        coupons.issue(
            template=template,
            member_ids=[factories.member().pk],
            actor=factories.operator_with_role("customer_service"),
        )
    assert not Coupon.objects.exists()


def test_an_issued_coupon_of_a_campaign_not_started_yet_is_valid_from_its_start() -> None:
    # given a campaign starting tomorrow
    starts = timezone.now() + timedelta(days=1)
    template = factories.coupon_template(issue=Issue.ISSUED, valid_from=starts)
    person = factories.member()
    # when it is issued today
    coupons.issue(template=template, member_ids=[person.pk], actor=None)
    # then the coupon is valid from the campaign's start
    assert Coupon.objects.get(member=person).valid_from == starts


def test_expire_coupons_marks_only_unused_coupons_past_their_end() -> None:
    # given an unused coupon that ended, one still valid and a used one that ended
    ended = factories.member_coupon(valid_until=timezone.now() - timedelta(minutes=1))
    valid = factories.member_coupon()
    used = factories.member_coupon(
        valid_until=timezone.now() - timedelta(minutes=1), status=CouponStatus.USED
    )
    # when the periodic job runs
    assert coupons.expire_coupons() == 1
    # then
    statuses = dict(Coupon.objects.values_list("pk", "status"))
    assert statuses == {
        ended.pk: CouponStatus.EXPIRED,
        valid.pk: CouponStatus.UNUSED,
        used.pk: CouponStatus.USED,
    }


# --- automatic issue --------------------------------------------------------------------------
def test_a_new_member_signing_in_through_the_simulator_gets_the_registration_coupon(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given a registration coupon
    template = factories.coupon_template(
        issue=Issue.ISSUED, auto_rule=Rule.REGISTRATION, valid_until=None, valid_days=14
    )
    # when a new member signs in for the first time (the member_registered server event)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/v1/auth/wechat-login", {"code": "newcomer"})
    # then they hold the coupon, valid for 14 days
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_new_member"] is True
    coupon = Coupon.objects.get(member_id=body["member_id"])
    assert coupon.template_id == template.pk
    assert coupon.source == "auto:registration"
    assert coupon.valid_until - coupon.received_at == timedelta(days=14)
    # when the same person signs in again
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "/api/v1/auth/wechat-login", {"code": "newcomer"})
    # then no second coupon is given
    assert Coupon.objects.filter(member_id=body["member_id"]).count() == 1


def test_the_first_paid_order_earns_the_first_order_coupon_once() -> None:
    # given a first-order coupon members could hold five of
    template = factories.coupon_template(
        issue=Issue.ISSUED, auto_rule=Rule.FIRST_ORDER, per_member_limit=5
    )
    person = factories.member()
    # when the member's first order is placed (not yet paid)
    first = factories.order(buyer=person)
    # then nothing yet
    assert not Coupon.objects.filter(member=person).exists()
    # when it is paid, and later a second order is paid
    pay(first)
    factories.order(buyer=person, paid=True)
    # then exactly one first-order coupon was given
    given = Coupon.objects.filter(member=person, template=template)
    assert given.count() == 1
    assert given.get().source == "auto:first_order"


def test_reaching_a_level_gives_that_levels_coupon() -> None:
    # given a coupon for reaching gold (and one for another level)
    factories.level(name="银卡", growth_threshold=100)
    gold = factories.level(name="金卡", growth_threshold=1000)
    diamond = factories.level(name="钻石", growth_threshold=5000)
    gold_gift = factories.coupon_template(
        issue=Issue.ISSUED, auto_rule=Rule.LEVEL_UP, auto_level=gold
    )
    factories.coupon_template(issue=Issue.ISSUED, auto_rule=Rule.LEVEL_UP, auto_level=diamond)
    person = factories.member()
    points.add_growth(person.pk, 1200, "test")
    # when levels are evaluated
    assert points.evaluate_levels() == 1
    # then the member is gold and holds the gold coupon only
    assert MemberStanding.objects.get(member=person).level_id == gold.pk
    assert list(Coupon.objects.filter(member=person).values_list("template_id", "source")) == [
        (gold_gift.pk, "auto:level_up")
    ]


def test_members_whose_birthday_is_today_get_the_birthday_coupon() -> None:
    # given a birthday coupon and three members: born today, born tomorrow, blocked
    template = factories.coupon_template(
        issue=Issue.ISSUED, auto_rule=Rule.BIRTHDAY, per_member_limit=10
    )
    today = local_date()
    born = date(1992, today.month, today.day)
    celebrating = factories.member(birthday=born)
    factories.member(birthday=born + timedelta(days=1) if born.month != 12 else date(1992, 1, 1))
    blocked = factories.member(birthday=born, status="blocked")
    # when the daily job runs
    given = coupons.birthday_coupons()
    # then only the active member born today gets it
    assert given == 1
    assert list(Coupon.objects.values_list("member_id", "template_id", "source")) == [
        (celebrating.pk, template.pk, "auto:birthday")
    ]
    assert Member.objects.filter(pk=blocked.pk).exists()


def test_an_automatic_rule_skips_a_template_that_ran_out() -> None:
    # given a registration coupon that is all gone
    template = factories.coupon_template(
        issue=Issue.ISSUED, auto_rule=Rule.REGISTRATION, total_quantity=1
    )
    coupons.issue(template=template, member_ids=[factories.member().pk], actor=None)
    # when another member registers
    given = coupons.auto_issue(Rule.REGISTRATION, factories.member().pk)
    # then nothing is given and nothing fails
    assert given == []
    assert issued_count(template) == 1
