"""The marketing section of member-360."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from miniops.core.console import (
    DetailSection,
    site,
)
from miniops.core.permissions import P
from miniops.marketing import selectors
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    MemberStanding,
    PointsEntry,
)


# --- member-360 -------------------------------------------------------------------------------
def _member_marketing(request: HttpRequest, member: Any) -> dict[str, Any]:
    standing = MemberStanding.objects.select_related("level").filter(member=member).first()
    return {
        "standing": standing,
        "summary": selectors.standing_summary(member.pk),
        "coupons": list(
            Coupon.objects.select_related("template")
            .filter(member=member, status=CouponStatus.UNUSED)
            .order_by("valid_until")[:10]
        ),
        "entries": list(PointsEntry.objects.filter(member=member).order_by("-created_at")[:10]),
    }


site.register_section(
    DetailSection(
        "members.member",
        "marketing",
        _("Level, points and coupons"),
        P.MARKETING_VIEW,
        "marketing/member_marketing.html",
        _member_marketing,
        order=15,
    )
)
