"""Share links: the code of a member for a target (created on the first share,
stable afterwards), the share card, the mini-program code image, the poster, and
resolving a code when someone opens the mini-program with it."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from sqids import Sqids

from miniops.core import crypto, events, localcache
from miniops.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from miniops.members.models import Member
from miniops.sharing import targets
from miniops.sharing.models import QrImage, ShareAct, ShareLink, ShareVisit
from miniops.sharing.providers import PlatformError, minicode_provider
from miniops.sharing.services import visits

#: WeChat's ``scene``: at most 32 visible characters from this set (no %)
SCENE_MAX = 32
SCENE_CHARS = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]*")
CODE = re.compile(r"[0-9A-Za-z]{4,16}")
CHANNELS = ("card", "qr", "poster", "timeline")
QR_WIDTH = 430

#: codes are the link's id through sqids (letters and digits, inside the scene set)
_sqids = Sqids(min_length=6)


def code_for(pk: int) -> str:
    return str(_sqids.encode([pk]))


def device_hash(device_id: str) -> str:
    return crypto.blind_index(device_id, purpose="share-device") if device_id else ""


def ip_hash(ip: str | None) -> str:
    return crypto.blind_index(ip, purpose="share-ip") if ip else ""


def scene_of(code: str) -> str:
    return f"s={code}"


def path_of(card: targets.Card, code: str) -> str:
    query = f"{card.query}&s={code}" if card.query else f"s={code}"
    return f"{card.page}?{query}"


# --- a link for a member and a target ---------------------------------------------------------
def _link(member: Member, kind: str, target_id: int, page: str, device: str) -> ShareLink:
    existing = ShareLink.objects.filter(
        sharer=member, target_type=kind, target_id=target_id, page=page
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            link = ShareLink.objects.create(
                code=uuid.uuid4().hex[:16],  # replaced by the id's code below
                sharer=member,
                target_type=kind,
                target_id=target_id,
                page=page,
                device_hash=device,
            )
            link.code = code_for(link.pk)
            ShareLink.objects.filter(pk=link.pk).update(code=link.code)
            return link
    except IntegrityError:  # the same member sharing the same thing twice at once
        return ShareLink.objects.get(
            sharer=member, target_type=kind, target_id=target_id, page=page
        )


@dataclass(frozen=True)
class Share:
    link: ShareLink
    card: targets.Card
    path: str
    scene: str


def share(
    *,
    member: Member,
    target_type: str,
    target_id: int = 0,
    page: str = "",
    channel: str = "card",
    device_id: str = "",
) -> Share:
    """The member's code for the target (created on the first share) and its card.
    Records the share act; a share is never rewarded (rewards follow what the
    invitee does)."""
    if not targets.is_known(target_type):
        raise InvalidInput(
            _("This target cannot be shared."),
            code="unknown_target",
            fields={"target_type": _("Not a type that can be shared here.")},
        )
    if channel not in CHANNELS:
        raise InvalidInput(fields={"channel": _("One of card, qr, poster, timeline.")})
    if member.is_blocked:
        raise Conflict(_("This account is blocked."), code="member_blocked")
    card = targets.describe(target_type, target_id, page)
    with transaction.atomic():
        link = _link(member, target_type, target_id, page, device_hash(device_id))
        now = timezone.now()
        ShareAct.objects.create(link=link, channel=channel, at=now)
        ShareLink.objects.filter(pk=link.pk).update(shares=F("shares") + 1, last_shared_at=now)
        events.track(
            "share_created",
            member_id=member.pk,
            properties={
                "share_code": link.code,
                "target_type": target_type,
                "target_id": target_id,
                "channel": channel,
            },
        )
    return Share(link=link, card=card, path=path_of(card, link.code), scene=scene_of(link.code))


def own_link(*, member: Member, code: str) -> ShareLink:
    """The member's own link by code (posters are made by the sharer only)."""
    link = ShareLink.objects.filter(code=code, sharer=member).first()
    if link is None:
        raise NotFound(_("No such share code."), code="share_code_not_found")
    return link


# --- the mini-program code image ---------------------------------------------------------------
def minicode(link: ShareLink, *, width: int = QR_WIDTH) -> str:
    """The storage name of the link's mini-program code, fetched from WeChat once
    and kept (codes are permanent; the 5,000-a-minute budget is taken per fetch)."""
    card = targets.describe(link.target_type, link.target_id, link.page)
    scene = scene_of(link.code)
    cached = QrImage.objects.filter(scene=scene, page=card.page, width=width).first()
    if cached is not None and default_storage.exists(cached.file):
        return cached.file
    try:
        png = minicode_provider.get().unlimited(scene=scene, page=card.page, width=width)
    except PlatformError as exc:
        if exc.retryable:
            raise ServiceUnavailable(
                _("WeChat is busy; try again shortly."), code="wechat_busy"
            ) from exc
        raise Conflict(
            _("WeChat refused the code: %(message)s") % {"message": exc.errmsg},
            code="wechat_refused",
        ) from exc
    digest = hashlib.sha256(f"{scene}|{card.page}|{width}".encode()).hexdigest()[:24]
    name = default_storage.save(f"sharing/codes/{digest}.png", ContentFile(png))
    try:
        with transaction.atomic():
            QrImage.objects.update_or_create(
                scene=scene, page=card.page, width=width, defaults={"file": name}
            )
    except IntegrityError:
        pass  # another request stored the same code at once; both files are the same image
    return name


# --- resolving a code -------------------------------------------------------------------------
def parse_code(*, code: str = "", scene: str = "") -> str:
    """The code from ``code`` or from a ``scene`` / path query (``s=<code>``, other
    keys allowed). InvalidInput for anything WeChat could not have sent."""
    if scene:
        if len(scene) > SCENE_MAX:
            raise InvalidInput(
                fields={"scene": _("At most %d characters.") % SCENE_MAX}, code="scene_too_long"
            )
        if not SCENE_CHARS.fullmatch(scene):
            raise InvalidInput(
                fields={"scene": _("Characters WeChat does not allow in a scene.")},
                code="scene_invalid",
            )
        pairs = dict(part.partition("=")[::2] for part in scene.lstrip("?").split("&") if part)
        code = pairs.get("s", "")
        if not code:
            raise InvalidInput(fields={"scene": _("No share code (s=...) in it.")})
    if len(code) > SCENE_MAX:
        raise InvalidInput(fields={"code": _("At most %d characters.") % SCENE_MAX})
    if not CODE.fullmatch(code):
        raise InvalidInput(fields={"code": _("Letters and digits, 4 to 16.")})
    return code


# --- the code cache -------------------------------------------------------------------------
#: code → link (with its sharer) in each process for LOCAL_TTL seconds, then in the
#: shared cache (Redis) for SHARED_TTL; keys carry VERSION_KEY, bumped when a member
#: is blocked or unblocked, so a blocked sharer's codes stop resolving at once in the
#: process that blocked them and within a second (the version's own memo) elsewhere —
#: which is why the process memo can be long. A code's link never changes otherwise
#: (created once, never edited or reassigned); the sharer's nickname and avatar in the
#: answer may be up to LOCAL_TTL old.
VERSION_KEY = "sharing:version"
LOCAL_TTL = 300.0
SHARED_TTL = 600


def code_version() -> int:
    def load() -> int:
        value = cache.get(VERSION_KEY)
        if value is None:
            cache.add(VERSION_KEY, 1, timeout=None)
            value = cache.get(VERSION_KEY, 1)
        return int(value)

    return localcache.get_or_load(VERSION_KEY, 1.0, load)


def forget_codes(**_: object) -> None:
    """A member was blocked or unblocked: every cached code is stale."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.add(VERSION_KEY, 2, timeout=None)
    localcache.forget("sharing:")


#: what a resolve needs of a link and its sharer — and all that is kept in the caches:
#: not the sharer's encrypted phone, name or session key (decrypting them was most
#: of a cold resolve's time, and the shared cache must not hold them in clear)
_CACHED_FIELDS = (
    "id",
    "code",
    "sharer_id",
    "target_type",
    "target_id",
    "page",
    "created_at",
    "sharer__id",
    "sharer__nickname",
    "sharer__avatar_url",
    "sharer__status",
)


def cached_link(code: str) -> ShareLink | None:
    """The link of ``code`` with its sharer, from the memo, the shared cache or the
    database (unknown codes are not cached). Only ``_CACHED_FIELDS`` are loaded:
    another field of the link or its sharer is read from the database on use."""
    key = f"sharing:code:{code_version()}:{code}"
    link = localcache.get(key)
    if link is not None:
        return link
    link = cache.get(key)
    if link is None:
        link = next(
            # no ORDER BY: first() would sort by the model's -id, and the planner may
            # walk the primary key backwards instead of using the code's unique index
            iter(
                ShareLink.objects.select_related("sharer")
                .only(*_CACHED_FIELDS)
                .filter(code=code)
                .order_by()[:1]
            ),
            None,
        )
        if link is None:
            return None
        cache.set(key, link, timeout=SHARED_TTL)
    localcache.put(key, LOCAL_TTL, link)
    return link


@dataclass(frozen=True)
class Resolved:
    link: ShareLink
    #: not saved yet: visits are written in batches (``visits.record``)
    visit: ShareVisit


def resolve(
    *,
    code: str = "",
    scene: str = "",
    member_id: int | None = None,
    anonymous_id: str = "",
    device_id: str = "",
    ip: str | None = None,
    wx_scene: int | None = None,
) -> Resolved:
    """Someone opened the mini-program with a code: the sharer and the target, and
    the visit recorded (a ``share_opened`` analytics event with the share code)."""
    code = parse_code(code=code, scene=scene)
    link = cached_link(code)
    if link is None:
        raise NotFound(_("No such share code."), code="share_code_not_found")
    if link.sharer.is_blocked:
        raise NotFound(_("This share code is no longer valid."), code="share_code_inactive")
    if member_id is not None and member_id == link.sharer_id:
        raise Conflict(_("This is your own share code."), code="own_share_code")
    if member_id is None and not anonymous_id:
        raise InvalidInput(fields={"anonymous_id": _("Required when not signed in.")})
    visit = ShareVisit(
        link_id=link.pk,
        member_id=member_id,
        anonymous_id=anonymous_id[:64],
        device_hash=device_hash(device_id),
        ip_hash=ip_hash(ip),
        scene=wx_scene,
        at=timezone.now(),
    )
    visits.record(visit)  # batched off the request (visits.py)
    events.track(
        "share_opened",
        member_id=member_id,
        properties={
            "share_code": link.code,
            "sharer_id": link.sharer_id,
            "target_type": link.target_type,
            "target_id": link.target_id,
            "wx_scene": wx_scene,
        },
    )
    return Resolved(link=link, visit=visit)


def path_for(link: ShareLink) -> str:
    """The page a resolved code opens (no look-up of the target: it may be gone, and
    the page says so itself)."""
    if link.page:
        return f"{link.page}?s={link.code}"
    page = targets.PAGES.get(link.target_type, "pages/index/index")
    return f"{page}?id={link.target_id}&s={link.code}"
