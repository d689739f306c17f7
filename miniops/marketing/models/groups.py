"""Group buys, groups and their members."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField
from miniops.marketing.models.common import window_status


# --- group buys ----------------------------------------------------------------------------
class GroupBuy(models.Model):
    name = models.CharField(_("name"), max_length=80)
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU")
    )
    group_price = MoneyField(_("group price"))
    group_size = models.PositiveSmallIntegerField(_("group size"), default=2)
    hours_to_fill = models.PositiveSmallIntegerField(_("hours to fill a group"), default=24)
    per_member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    ended_early_at = models.DateTimeField(_("ended early at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("group buy")
        verbose_name_plural = _("group buys")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(group_size__gte=2), name="group_size_gte_2"),
            models.CheckConstraint(condition=Q(group_price__gt=0), name="group_price_gt_0"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="group_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return window_status(self.starts_at, self.ends_at, self.ended_early_at is not None)


class GroupStatus(models.TextChoices):
    FORMING = "forming", _("Forming")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed (refunded)")


class Group(models.Model):
    """One group: opened by a member's paid order, joined by others' paid orders."""

    group_buy = models.ForeignKey(GroupBuy, on_delete=models.PROTECT, related_name="groups")
    leader = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=16, unique=True)  # the share link's id
    status = models.CharField(
        max_length=10, choices=GroupStatus.choices, default=GroupStatus.FORMING
    )
    paid_count = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code


class GroupMember(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="group_member"
    )
    paid = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="group_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.member_id}"
