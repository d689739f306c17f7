"""Every write about members: sign-in, tokens, profile, phone, addresses,
favourites, history, and operators' actions (block, tag, reveal)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit, crypto, events, localcache
from miniops.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
    Throttled,
)
from miniops.core.permissions import P
from miniops.members import tokens
from miniops.members.models import (
    MAX_ADDRESSES,
    Address,
    BrowsingHistory,
    Favourite,
    Member,
    MemberSession,
    MemberStatus,
    MemberTag,
)
from miniops.members.providers import (
    BUSY,
    INVALID_CODE,
    RATE_LIMITED,
    RISKY_USER,
    PlatformError,
    login_provider,
)
from miniops.members.selectors import SESSION_KEY

logger = logging.getLogger("miniops.members")

MAX_FAVOURITES = 500
MAX_HISTORY = 200
PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


# --- platform errors ------------------------------------------------------------------
def platform_failure(exc: PlatformError) -> Exception:
    """What a WeChat error means for our caller."""
    if exc.timed_out or exc.errcode in BUSY:
        return ServiceUnavailable(
            _("WeChat is busy; try again in a moment."), code="platform_busy", retry_after=2
        )
    if exc.errcode in INVALID_CODE:
        return InvalidInput(
            _("The login code is invalid or was used already; call wx.login again."),
            code="invalid_code",
            fields={"code": _("invalid or used")},
        )
    if exc.errcode in RATE_LIMITED:
        return Throttled(_("Too many logins right now; retry shortly."), retry_after=60)
    if exc.errcode in RISKY_USER:
        return Forbidden(_("WeChat flagged this account as risky."), code="risky_user")
    logger.error("unexpected WeChat error %s: %s", exc.errcode, exc.errmsg)
    return ServiceUnavailable(_("Sign-in is unavailable; try again later."), code="platform_error")


# --- sign-in and tokens ------------------------------------------------------------------
@dataclass(frozen=True)
class Tokens:
    member: Member
    access_token: str
    access_expires: int
    refresh_token: str
    created: bool = False


def _open_session(member: Member, *, ip: str | None, user_agent: str) -> Tokens:
    secret = tokens.new_refresh_secret()
    session = MemberSession.objects.create(
        member=member,
        refresh_hash=tokens.hash_refresh(secret),
        expires_at=timezone.now() + timedelta(days=settings.MINIOPS_MEMBER_REFRESH_DAYS),
        ip=ip,
        user_agent=user_agent[:255],
    )
    access, expires = tokens.make_access(member.pk, session.pk)
    return Tokens(member, access, expires, tokens.make_refresh(session.pk, secret))


def login_with_wechat(
    *,
    code: str,
    ip: str | None = None,
    user_agent: str = "",
    scene: int | None = None,
    channel: str = "",
    referrer_id: int | None = None,
    anonymous_id: str = "",
) -> Tokens:
    """Exchange a ``wx.login`` code for tokens; create the member on first login
    with where they came from (scene, channel, referrer). ``anonymous_id`` is the
    id the mini-program sent its events with before login: analytics then counts
    those events for this member."""
    try:
        wx = login_provider.get().code_to_session(code)
    except PlatformError as exc:
        raise platform_failure(exc) from exc
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(openid=wx.openid).first()
        created = member is None
        if member is None:
            referrer = Member.objects.filter(pk=referrer_id).first() if referrer_id else None
            try:
                with transaction.atomic():
                    member = Member.objects.create(
                        openid=wx.openid,
                        unionid=wx.unionid,
                        session_key=wx.session_key,
                        registration_scene=scene,
                        registration_channel=channel[:64],
                        referrer=referrer,
                        last_login_at=timezone.now(),
                    )
            except IntegrityError:  # the same person logging in twice at once
                created = False
                member = Member.objects.select_for_update().get(openid=wx.openid)
        if member.is_blocked:
            raise Forbidden(_("This account is blocked."), code="member_blocked")
        if not created:
            member.session_key = wx.session_key
            member.unionid = wx.unionid or member.unionid
            member.last_login_at = timezone.now()
            member.save(update_fields=["session_key", "unionid", "last_login_at"])
        result = _open_session(member, ip=ip, user_agent=user_agent)
        properties: dict[str, Any] = {"scene": scene, "channel": channel[:64]}
        if anonymous_id:
            properties["anonymous_id"] = anonymous_id[:64]
        if created:
            events.track(
                "member_registered",
                member_id=member.pk,
                properties={**properties, "referrer_id": member.referrer_id},
            )
        events.track("member_login", member_id=member.pk, properties=properties)
    return Tokens(
        result.member, result.access_token, result.access_expires, result.refresh_token, created
    )


def refresh_tokens(*, refresh_token: str) -> Tokens:
    """Rotate a refresh token. Presenting an already-used one revokes the session
    (someone else may hold it)."""
    parsed = tokens.parse_refresh(refresh_token)
    if parsed is None:
        raise NotAuthenticated(_("Invalid refresh token."), code="invalid_refresh_token")
    session_id, secret = parsed
    session = MemberSession.objects.select_related("member").filter(pk=session_id).first()
    now = timezone.now()
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        raise NotAuthenticated(_("Please sign in again."), code="session_ended")
    if session.member.is_blocked:
        raise Forbidden(_("This account is blocked."), code="member_blocked")
    presented = tokens.hash_refresh(secret)
    if presented != session.refresh_hash:
        revoke_session(session_id=session.pk, reason="refresh_reuse")
        raise NotAuthenticated(_("Please sign in again."), code="session_ended")
    new_secret = tokens.new_refresh_secret()
    rotated = MemberSession.objects.filter(pk=session.pk, refresh_hash=presented).update(
        refresh_hash=tokens.hash_refresh(new_secret), refreshed_at=now
    )
    if not rotated:  # a concurrent refresh with the same token won
        raise NotAuthenticated(_("Please sign in again."), code="session_ended")
    access, expires = tokens.make_access(session.member_id, session.pk)
    return Tokens(session.member, access, expires, tokens.make_refresh(session.pk, new_secret))


def revoke_session(*, session_id: uuid.UUID, reason: str) -> None:
    MemberSession.objects.filter(pk=session_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )
    key = SESSION_KEY.format(session_id.hex)
    localcache.forget(key)

    def forget() -> None:
        cache.delete(key)
        localcache.forget(key)

    transaction.on_commit(forget)


def revoke_all_sessions(*, member: Member, reason: str) -> int:
    ids = list(
        MemberSession.objects.filter(member=member, revoked_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    MemberSession.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoke_reason=reason)
    keys = [SESSION_KEY.format(pk.hex) for pk in ids]
    for key in keys:
        localcache.forget(key)

    def forget() -> None:
        cache.delete_many(keys)
        for key in keys:
            localcache.forget(key)

    transaction.on_commit(forget)
    return len(ids)


# --- profile -------------------------------------------------------------------------------
PROFILE_FIELDS = {"nickname", "avatar_url", "gender", "birthday", "country", "province", "city"}


@transaction.atomic
def update_profile(*, member: Member, changes: dict[str, Any]) -> Member:
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise InvalidInput(fields={name: _("Not editable.") for name in unknown})
    birthday = changes.get("birthday")
    if birthday is not None and (birthday > timezone.localdate() or birthday < date(1900, 1, 1)):
        raise InvalidInput(fields={"birthday": _("Not a plausible birthday.")})
    avatar = changes.get("avatar_url")
    if avatar and not str(avatar).startswith("https://"):
        raise InvalidInput(fields={"avatar_url": _("Use an https address.")})
    for name, value in changes.items():
        setattr(member, name, "" if value is None and name != "birthday" else value)
    member.save(update_fields=list(changes))
    return member


def bind_phone(*, member: Member, code: str) -> str:
    """Ask WeChat for the member's phone number (the ``getPhoneNumber`` button's
    code) and keep it encrypted, indexed for exact look-up."""
    try:
        info = login_provider.get().phone_number(code)
    except PlatformError as exc:
        raise platform_failure(exc) from exc
    member.phone = info.pure_phone
    member.phone_index = crypto.phone_index(info.pure_phone)
    member.save(update_fields=["phone", "phone_index"])
    return info.pure_phone


# --- addresses ---------------------------------------------------------------------------------
def _clean_address(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    required = {"recipient": 32, "phone": 20, "province": 32, "city": 32, "detail": 120}
    optional = {"district": 32, "postcode": 10, "label": 16}
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, limit in {**required, **optional}.items():
        if name not in data:
            if name in required and not partial:
                errors[name] = _("This field is required.")
            continue
        value = str(data[name] or "").strip()
        if name in required and not value:
            errors[name] = _("This field is required.")
        elif len(value) > limit:
            errors[name] = _("At most %d characters.") % limit
        cleaned[name] = value
    if "phone" in cleaned and cleaned["phone"] and not PHONE_RE.match(cleaned["phone"]):
        errors["phone"] = _("Enter a mobile number (11 digits) or a landline with area code.")
    if "postcode" in cleaned and cleaned["postcode"] and not cleaned["postcode"].isdigit():
        errors["postcode"] = _("Digits only.")
    if errors:
        raise InvalidInput(fields=errors)
    if "is_default" in data:
        cleaned["is_default"] = bool(data["is_default"])
    return cleaned


def _make_default(address: Address) -> None:
    Address.objects.filter(member_id=address.member_id, is_default=True).exclude(
        pk=address.pk
    ).update(is_default=False)
    Address.objects.filter(pk=address.pk).update(is_default=True)
    address.is_default = True


@transaction.atomic
def add_address(*, member: Member, data: dict[str, Any]) -> Address:
    cleaned = _clean_address(data, partial=False)
    Member.objects.select_for_update().filter(pk=member.pk).first()  # serialise this member's adds
    count = Address.objects.filter(member=member).count()
    if count >= MAX_ADDRESSES:
        raise Conflict(_("At most %d addresses.") % MAX_ADDRESSES, code="address_limit")
    make_default = cleaned.pop("is_default", False) or count == 0
    address = Address.objects.create(member=member, **cleaned)
    if make_default:
        _make_default(address)
    return address


def _own_address(member: Member, address_id: int) -> Address:
    address = Address.objects.filter(pk=address_id, member=member).first()
    if address is None:
        raise NotFound()
    return address


@transaction.atomic
def update_address(*, member: Member, address_id: int, data: dict[str, Any]) -> Address:
    address = _own_address(member, address_id)
    cleaned = _clean_address(data, partial=True)
    make_default = cleaned.pop("is_default", None)
    for name, value in cleaned.items():
        setattr(address, name, value)
    address.save()
    if make_default:
        _make_default(address)
    elif make_default is False and address.is_default:
        raise Conflict(_("Choose another default address instead."))
    return address


@transaction.atomic
def delete_address(*, member: Member, address_id: int) -> None:
    address = _own_address(member, address_id)
    was_default = address.is_default
    address.delete()
    if was_default:
        successor = Address.objects.filter(member=member).order_by("-updated_at", "-id").first()
        if successor is not None:
            _make_default(successor)


# --- favourites and history -------------------------------------------------------------
def _product_exists(product_id: int) -> None:
    from miniops.catalog.models import Product

    if not Product.objects.filter(pk=product_id).exists():
        raise NotFound()


@transaction.atomic
def add_favourite(*, member: Member, product_id: int) -> Favourite:
    _product_exists(product_id)
    existing = Favourite.objects.filter(member=member, product_id=product_id).first()
    if existing is not None:
        return existing
    if Favourite.objects.filter(member=member).count() >= MAX_FAVOURITES:
        raise Conflict(_("At most %d favourites.") % MAX_FAVOURITES, code="favourite_limit")
    try:
        with transaction.atomic():
            return Favourite.objects.create(member=member, product_id=product_id)
    except IntegrityError:  # added twice at once
        return Favourite.objects.get(member=member, product_id=product_id)


def remove_favourite(*, member: Member, product_id: int) -> None:
    deleted, _ = Favourite.objects.filter(member=member, product_id=product_id).delete()
    if not deleted:
        raise NotFound()


def record_view(*, member_id: int, product_id: int) -> None:
    """Remember that a member opened a product page (one row per pair)."""
    now = timezone.now()
    updated = BrowsingHistory.objects.filter(member_id=member_id, product_id=product_id).update(
        viewed_at=now, views=F("views") + 1
    )
    if updated:
        return
    try:
        with transaction.atomic():
            BrowsingHistory.objects.create(
                member_id=member_id, product_id=product_id, viewed_at=now
            )
    except IntegrityError:
        BrowsingHistory.objects.filter(member_id=member_id, product_id=product_id).update(
            viewed_at=now, views=F("views") + 1
        )


def clear_history(*, member: Member) -> int:
    deleted, _ = BrowsingHistory.objects.filter(member=member).delete()
    return deleted


def prune_history(*, keep: int = MAX_HISTORY) -> int:
    """Keep each member's most recent ``keep`` views (periodic task)."""
    removed = 0
    crowded = (
        BrowsingHistory.objects.values("member_id")
        .annotate(n=Count("id"))
        .filter(n__gt=keep)
        .values_list("member_id", flat=True)
    )
    for member_id in crowded:
        stale = list(
            BrowsingHistory.objects.filter(member_id=member_id)
            .order_by("-viewed_at", "-id")
            .values_list("pk", flat=True)[keep:]
        )
        removed += BrowsingHistory.objects.filter(pk__in=stale).delete()[0]
    return removed


# --- operators' actions ---------------------------------------------------------------------------
def _require(actor: Any, code: str) -> None:
    if actor is not None and not actor.has_permission(code):
        raise Forbidden()


@transaction.atomic
def block_member(*, member: Member, actor: Any, reason: str) -> Member:
    _require(actor, P.MEMBERS_MANAGE)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(fields={"reason": _("Say why the member is blocked.")})
    updated = Member.objects.filter(pk=member.pk, status=MemberStatus.ACTIVE).update(
        status=MemberStatus.BLOCKED, blocked_reason=reason[:255], blocked_at=timezone.now()
    )
    if not updated:
        raise IllegalTransition(_("This member is already blocked."))
    revoke_all_sessions(member=member, reason="blocked")
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=member,
        changes={
            "status": [MemberStatus.ACTIVE, MemberStatus.BLOCKED],
            "blocked_reason": ["", reason[:255]],
        },
    )
    member.refresh_from_db()
    return member


@transaction.atomic
def unblock_member(*, member: Member, actor: Any) -> Member:
    _require(actor, P.MEMBERS_MANAGE)
    updated = Member.objects.filter(pk=member.pk, status=MemberStatus.BLOCKED).update(
        status=MemberStatus.ACTIVE, blocked_reason="", blocked_at=None
    )
    if not updated:
        raise IllegalTransition(_("This member is not blocked."))
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=member,
        changes={"status": [MemberStatus.BLOCKED, MemberStatus.ACTIVE]},
    )
    member.refresh_from_db()
    return member


@transaction.atomic
def tag_members(
    *, member_ids: Iterable[int], tags: Iterable[MemberTag], actor: Any, remove: bool = False
) -> int:
    """Add (or remove) tags on many members at once; one audit row per member."""
    _require(actor, P.MEMBERS_MANAGE)
    ids = list(Member.objects.filter(pk__in=list(member_ids)).values_list("pk", flat=True))
    tags = list(tags)
    if not ids or not tags:
        return 0
    through = Member.tags.through
    if remove:
        through.objects.filter(member_id__in=ids, membertag_id__in=[t.pk for t in tags]).delete()
    else:
        existing = set(
            through.objects.filter(
                member_id__in=ids, membertag_id__in=[t.pk for t in tags]
            ).values_list("member_id", "membertag_id")
        )
        through.objects.bulk_create(
            [
                through(member_id=member_id, membertag_id=tag.pk)
                for member_id in ids
                for tag in tags
                if (member_id, tag.pk) not in existing
            ],
            batch_size=1000,
        )
    names = [tag.name for tag in tags]
    audit.record_bulk(
        actor=actor,
        model=Member,
        pks=ids,
        changes={"tags": {"removed" if remove else "added": names}},
        reason="bulk tagging",
    )
    return len(ids)


def reveal(
    *, member: Member, actor: Any, fields: Iterable[str] = ("phone", "real_name")
) -> dict[str, str]:
    """Full personal data for an operator holding ``members.view_sensitive``; each
    reveal is written to the audit log."""
    _require(actor, P.MEMBERS_VIEW_SENSITIVE)
    fields = [name for name in fields if name in {"phone", "real_name", "addresses"}]
    values: dict[str, Any] = {}
    for name in fields:
        if name == "addresses":
            values["addresses"] = [
                {"recipient": a.recipient, "phone": a.phone, "detail": a.detail}
                for a in member.addresses.all()
            ]
        else:
            values[name] = getattr(member, name)
    audit.record(
        actor=actor,
        action=audit.Action.ACCESS,
        instance=member,
        changes={},
        additional={"revealed": fields},
    )
    return values
