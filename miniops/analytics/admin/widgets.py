"""The member timeline on member-360."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from miniops.analytics import selectors
from miniops.analytics.scenes import scene_name
from miniops.core.console import (
    DetailSection,
    site,
)
from miniops.core.permissions import P


# --- member-360 -------------------------------------------------------------------------------
def _member_timeline(request: HttpRequest, member: Any) -> dict[str, Any]:
    events = selectors.member_timeline(member.pk, limit=30)
    return {
        "events": [
            {
                "event": event,
                "scene": scene_name(event.scene) if event.scene is not None else "",
            }
            for event in events
        ]
    }


site.register_section(
    DetailSection(
        "members.member",
        "timeline",
        _("Activity timeline"),
        P.ANALYTICS_VIEW,
        "analytics/member_timeline.html",
        _member_timeline,
        order=20,
    )
)
