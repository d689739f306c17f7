"""``manage.py points_check``: cached points balances against the ledger."""

from __future__ import annotations

from io import StringIO

import pytest
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
