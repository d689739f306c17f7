"""What every campaign shares: its status and the window that gives it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CampaignStatus(models.TextChoices):
    UPCOMING = "upcoming", _("Upcoming")
    RUNNING = "running", _("Running")
    ENDED = "ended", _("Ended")


def window_status(starts_at: object, ends_at: object, ended_early: bool = False) -> str:
    now = timezone.now()
    if ended_early or (ends_at is not None and ends_at <= now):  # type: ignore[operator]
        return CampaignStatus.ENDED
    if starts_at is not None and starts_at > now:  # type: ignore[operator]
        return CampaignStatus.UPCOMING
    return CampaignStatus.RUNNING
