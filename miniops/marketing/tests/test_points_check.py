"""``manage.py points_check``: cached points balances against the ledger."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from miniops.marketing.models import MemberStanding, PointsEntry
from miniops.marketing.services import points
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def test_matching_balances_pass() -> None:
    # given a member who earned 120 and spent 20
    member = factories.member()
    points.earn(member.pk, 120, PointsEntry.Reason.ADJUSTMENT)
    points.spend(member.pk, 20, PointsEntry.Reason.CHECKOUT, reference="X1")
    out = StringIO()
    # when
    call_command("points_check", stdout=out)
    # then
    assert "every balance matches" in out.getvalue()


def test_drift_is_reported_then_fixed() -> None:
    # given a cached balance that someone changed behind the ledger's back
    member = factories.member()
    points.earn(member.pk, 100, PointsEntry.Reason.ADJUSTMENT)
    MemberStanding.objects.filter(member_id=member.pk).update(points=999)
    # when checked without --fix, then it fails and says who
    with pytest.raises(CommandError, match="1 balance"):
        call_command("points_check", stdout=StringIO())
    # when fixed
    out = StringIO()
    call_command("points_check", "--fix", stdout=out)
    # then the ledger's figure is back, and a second check passes
    assert f"member {member.pk}: cached 999, ledger 100" in out.getvalue()
    assert MemberStanding.objects.get(member_id=member.pk).points == 100
    assert points.check_balances() == []


def test_ledger_rows_without_a_cached_balance_are_found() -> None:
    # given ledger rows whose balance row is gone
    member = factories.member()
    points.earn(member.pk, 50, PointsEntry.Reason.ADJUSTMENT)
    MemberStanding.objects.filter(member_id=member.pk).delete()
    # when / then
    assert points.check_balances(fix=True) == [(member.pk, 0, 50)]
    assert MemberStanding.objects.get(member_id=member.pk).points == 50


# --- the console adjustment (Marketing → Points ledger → Adjust a member's points) -------
ADJUST = "/console/marketing/pointsentry/adjust/"


def submit(client: Any, form: dict[str, Any], **kwargs: Any) -> Any:
    return client.post(ADJUST, {"_form_submitted": "on", **form}, **kwargs)


def test_an_operator_with_marketing_points_adjusts_a_balance(console_as: Any) -> None:
    # given a member with 100 points
    member = factories.member()
    points.earn(member.pk, 100, PointsEntry.Reason.ADJUSTMENT)
    client = console_as("ops_manager")
    # when 30 are taken away with a reason
    answer = submit(client, {"member_id": member.pk, "points": -30, "note": "重复发放"})
    # then the ledger and the balance move, and the audit log says who and why
    assert answer.status_code == 302
    entry = PointsEntry.objects.filter(member_id=member.pk).latest("pk")
    assert (entry.delta, entry.balance, entry.note) == (-30, 70, "重复发放")
    assert MemberStanding.objects.get(member_id=member.pk).points == 70
    assert LogEntry.objects.filter(actor=client.operator, object_pk=str(entry.pk)).exists()


@pytest.mark.parametrize(
    "form",
    [
        {"points": 10, "note": "x"},  # no member
        {"member_id": "abc", "points": 10, "note": "x"},
        {"member_id": 2**63, "points": 10, "note": "x"},
        {"member_id": 1, "points": 10**9, "note": "x"},
        {"member_id": 1, "points": 1.5, "note": "x"},
        {"member_id": 1, "points": 10, "note": ""},
    ],
    ids=repr,
)
def test_a_bad_adjustment_form_is_shown_again_and_writes_nothing(
    console_as: Any, form: dict[str, Any]
) -> None:
    client = console_as("ops_manager")
    answer = submit(client, form)
    assert answer.status_code == 200  # the dialog again, with the errors
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"), [(0, "0"), (-50, "points")], ids=["zero", "below-zero"]
)
def test_an_adjustment_the_ledger_refuses_is_reported(
    console_as: Any, change: int, message: str
) -> None:
    # given a member with 10 points
    member = factories.member()
    points.earn(member.pk, 10, PointsEntry.Reason.ADJUSTMENT)
    # when an adjustment would be 0 or take the balance below zero
    answer = submit(
        console_as("ops_manager"),
        {"member_id": member.pk, "points": change, "note": "x"},
        follow=True,
    )
    # then it is refused with a message, and nothing moved
    assert answer.status_code == 200
    assert PointsEntry.objects.filter(member_id=member.pk).count() == 1
    assert MemberStanding.objects.get(member_id=member.pk).points == 10


@pytest.mark.parametrize("role", ["customer_service", "finance", "analyst", "content_reviewer"])
def test_roles_without_marketing_points_cannot_adjust(console_as: Any, role: str) -> None:
    member = factories.member()
    answer = submit(console_as(role), {"member_id": member.pk, "points": 5, "note": "x"})
    assert answer.status_code == 403
    assert not PointsEntry.objects.exists()
