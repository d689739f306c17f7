"""Member reads: session checks (hot path), search, masked views for operators."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from miniops.core import crypto, localcache
from miniops.core.masking import mask_address, mask_name, mask_phone
from miniops.members.models import Address, BrowsingHistory, Favourite, Member, MemberSession

SESSION_KEY = "msess:{}"
LOCAL_TTL = 2.0
_PHONE_LIKE = re.compile(r"\+?[\d\s-]{7,20}")


def session_is_open(session_id: uuid.UUID, member_id: int) -> bool:
    """Is this member session still open? This process's 2-second memo, then one
    cache read, then the database on a miss. A revoked session (logout, block) is
    refused at once by the process that revoked it and within two seconds by the
    others."""
    key = SESSION_KEY.format(session_id.hex)
    cached = localcache.get_or_load(
        key, LOCAL_TTL, lambda: _shared_session(key, session_id, member_id)
    )
    return bool(cached == member_id)


def _shared_session(key: str, session_id: uuid.UUID, member_id: int) -> int:
    cached = cache.get(key)
    if cached is not None:
        return int(cached)
    from django.conf import settings

    now = timezone.now()
    is_open = MemberSession.objects.filter(
        pk=session_id,
        member_id=member_id,
        revoked_at__isnull=True,
        expires_at__gt=now,
        member__status="active",
    ).exists()
    value = member_id if is_open else 0
    cache.set(key, value, timeout=settings.MINIOPS_MEMBER_ACCESS_MINUTES * 60)
    return value


def search_members(query: str) -> QuerySet[Member]:
    """Nickname (contains), exact phone (through the blind index) or exact openid."""
    members = Member.objects.all()
    query = query.strip()
    if not query:
        return members
    condition = Q(nickname__icontains=query) | Q(openid=query)
    if _PHONE_LIKE.fullmatch(query):
        condition |= Q(phone_index=crypto.phone_index(query))
    return members.filter(condition)


def masked_profile(member: Member) -> dict[str, Any]:
    return {
        "id": member.pk,
        "nickname": member.nickname,
        "avatar_url": member.avatar_url,
        "gender": member.gender,
        "birthday": member.birthday,
        "region": " ".join(p for p in (member.province, member.city) if p),
        "phone": mask_phone(member.phone),
        "real_name": mask_name(member.real_name),
        "status": member.status,
        "registered_at": member.registered_at,
        "registration_scene": member.registration_scene,
        "registration_channel": member.registration_channel,
        "tags": [tag.name for tag in member.tags.all()],
    }


def masked_address(address: Address) -> dict[str, Any]:
    return {
        "id": address.pk,
        "recipient": mask_name(address.recipient),
        "phone": mask_phone(address.phone),
        "region": f"{address.province} {address.city} {address.district}".strip(),
        "detail": mask_address(address.detail),
        "is_default": address.is_default,
    }


def member_addresses(member_id: int) -> QuerySet[Address]:
    return Address.objects.filter(member_id=member_id).order_by("-is_default", "-updated_at", "-id")


def favourites(member_id: int) -> QuerySet[Favourite]:
    return (
        Favourite.objects.filter(member_id=member_id)
        .select_related("product")
        .order_by("-created_at", "-id")
    )


def history(member_id: int) -> QuerySet[BrowsingHistory]:
    return (
        BrowsingHistory.objects.filter(member_id=member_id)
        .select_related("product")
        .order_by("-viewed_at", "-id")
    )
