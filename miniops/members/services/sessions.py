"""Signing in with WeChat, refreshing and revoking tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import events, localcache
from miniops.core.errors import (
    Forbidden,
    NotAuthenticated,
)
from miniops.members import tokens
from miniops.members.models import (
    Member,
    MemberSession,
)
from miniops.members.providers import (
    PlatformError,
    login_provider,
)
from miniops.members.selectors import SESSION_KEY
from miniops.members.services.common import platform_failure


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
    share_code: str = "",
) -> Tokens:
    """Exchange a ``wx.login`` code for tokens; create the member on first login
        with where they came from (scene, channel, referrer). ``anonymous_id`` is the
        id the mini-program sent its events with before login: analytics then counts
        those events for this member. ``share_code`` is the code the mini-program was
    opened with: the sharing app attributes the new member from it."""
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
                properties={
                    **properties,
                    "referrer_id": member.referrer_id,
                    "share_code": share_code[:32],
                },
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
