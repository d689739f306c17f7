"""Mini-program members (end users), their sessions, addresses, favourites and
browsing history. Phone numbers, real names and addresses are encrypted at rest
(``EncryptedTextField``); a keyed hash allows exact phone look-up."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import EncryptedTextField

MAX_ADDRESSES = 20


class MemberTag(models.Model):
    name = models.CharField(_("name"), max_length=32, unique=True)
    color = models.CharField(_("colour"), max_length=7, default="#07C160")
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("member tag")
        verbose_name_plural = _("member tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    BLOCKED = "blocked", _("Blocked")


class Gender(models.IntegerChoices):
    UNKNOWN = 0, _("Unknown")
    MALE = 1, _("Male")
    FEMALE = 2, _("Female")


class Member(models.Model):
    """One person using the mini-program, identified by their WeChat openid."""

    openid = models.CharField(_("openid"), max_length=64, unique=True)
    unionid = models.CharField(_("unionid"), max_length=64, blank=True, db_index=True)
    #: WeChat's session key for this member: server-side only, never returned.
    session_key = EncryptedTextField(blank=True, editable=False)
    nickname = models.CharField(_("nickname"), max_length=64, blank=True, db_index=True)
    avatar_url = models.URLField(_("avatar"), max_length=500, blank=True)
    gender = models.PositiveSmallIntegerField(
        _("gender"), choices=Gender.choices, default=Gender.UNKNOWN
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    country = models.CharField(_("country"), max_length=32, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    phone = EncryptedTextField(_("phone"), blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    real_name = EncryptedTextField(_("real name"), blank=True)
    registered_at = models.DateTimeField(_("registered"), default=timezone.now, db_index=True)
    registration_scene = models.PositiveIntegerField(_("registration scene"), null=True, blank=True)
    registration_channel = models.CharField(
        _("registration channel"), max_length=64, blank=True, db_index=True
    )
    referrer = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=MemberStatus.choices,
        default=MemberStatus.ACTIVE,
        db_index=True,
    )
    blocked_reason = models.CharField(_("block reason"), max_length=255, blank=True)
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    tags = models.ManyToManyField(
        MemberTag, blank=True, related_name="members", verbose_name=_("tags")
    )
    last_login_at = models.DateTimeField(_("last login"), null=True, blank=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["registration_channel", "registered_at"], name="member_source_idx")
        ]

    def __str__(self) -> str:
        return self.nickname or f"#{self.pk}"

    @property
    def is_blocked(self) -> bool:
        return self.status == MemberStatus.BLOCKED


class MemberSession(models.Model):
    """A signed-in device. Access tokens name it; refresh tokens rotate through it;
    logging out or blocking the member revokes it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="sessions")
    refresh_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=32, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("member session")
        verbose_name_plural = _("member sessions")
        indexes = [models.Index(fields=["member", "revoked_at"], name="member_session_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.pk}"


class Address(models.Model):
    """A delivery address; the recipient's name, phone and street are encrypted."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="addresses")
    recipient = EncryptedTextField(_("recipient"))
    phone = EncryptedTextField(_("phone"))
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    district = models.CharField(_("district"), max_length=32, blank=True)
    detail = EncryptedTextField(_("street address"))
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)
    label = models.CharField(_("label"), max_length=16, blank=True)
    is_default = models.BooleanField(_("default"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["-is_default", "-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(is_default=True),
                name="address_one_default_per_member",
            )
        ]

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.district}"


class Favourite(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="favourites")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("favourite")
        verbose_name_plural = _("favourites")
        constraints = [models.UniqueConstraint(fields=["member", "product"], name="favourite_once")]
        indexes = [models.Index(fields=["member", "-created_at"], name="favourite_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}♥{self.product_id}"


class BrowsingHistory(models.Model):
    """The last time a member looked at a product (one row per member and product)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="history")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    viewed_at = models.DateTimeField(default=timezone.now)
    views = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("browsing history")
        verbose_name_plural = _("browsing history")
        constraints = [models.UniqueConstraint(fields=["member", "product"], name="history_once")]
        indexes = [models.Index(fields=["member", "-viewed_at"], name="history_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}→{self.product_id}"


def _register_audit() -> None:
    from auditlog.registry import auditlog

    # Operator actions on members (block, tag, reveal) are recorded explicitly by
    # the services; members editing their own profile are not operator actions.
    auditlog.register(MemberTag)


_register_audit()
