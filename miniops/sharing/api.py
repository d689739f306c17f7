"""Client API for sharing: a share card (with its code, mini-program code and
path), a poster, and resolving a code when the mini-program opens with it."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema

from miniops.core.apiauth import member_or_public
from miniops.core.media import public_url
from miniops.core.netutils import client_ip
from miniops.core.openapi import errors
from miniops.core.schemas import Id, StrictIn
from miniops.members.apiauth import MemberPrincipal, member
from miniops.sharing import services

router = Router(tags=["sharing"])

TargetName = Literal["product", "flash_sale", "group_buy", "campaign", "article", "page"]


class CardIn(StrictIn):
    target_type: TargetName
    target_id: Id | None = Field(None, description="none for a page")
    page: str = Field("", max_length=120, description="for a page target: pages/...")
    channel: Literal["card", "qr", "poster", "timeline"] = "card"
    device_id: str = Field("", max_length=64, description="the device's anonymous id")


class CardOut(Schema):
    code: str
    scene: str = Field(description="for wxacode.getUnlimited: s=<code>, at most 32 characters")
    path: str = Field(description="the share card's path, with s=<code>")
    title: str
    image: str | None
    price_fen: int | None
    qrcode: str | None = Field(description="the mini-program code image (PNG)")


class PosterIn(StrictIn):
    code: str = Field(..., min_length=1, max_length=32)


class PosterOut(Schema):
    code: str
    poster: str | None


class ResolveIn(StrictIn):
    code: str = Field("", max_length=64, description="s from the path query")
    scene: str = Field("", max_length=128, description="the scene of a mini-program code")
    anonymous_id: str = Field("", max_length=64)
    device_id: str = Field("", max_length=64)
    wx_scene: int | None = Field(None, ge=1000, le=9999, description="WeChat's launch scene")


class SharerOut(Schema):
    id: int
    nickname: str
    avatar_url: str


class ResolveOut(Schema):
    code: str
    target_type: str
    target_id: int
    path: str
    sharer: SharerOut


def _member(request: HttpRequest) -> Any:
    principal: MemberPrincipal = request.auth  # type: ignore[attr-defined]
    return principal.member


def _image(name: str) -> str | None:
    if not name:
        return None
    return name if name.startswith(("http://", "https://")) else public_url(name)


@router.post(
    "/share/cards",
    response={200: CardOut, **errors(404, 409, 503)},
    auth=member(),
    summary="The member's share card for a target",
)
def share_card(request: HttpRequest, payload: CardIn) -> dict[str, Any]:
    """Creates the member's code for the target on the first share (stable
    afterwards) and returns the card; sharing is never rewarded by itself."""
    shared = services.share(
        member=_member(request),
        target_type=payload.target_type,
        target_id=payload.target_id or 0,
        page=payload.page,
        channel=payload.channel,
        device_id=payload.device_id,
    )
    return {
        "code": shared.link.code,
        "scene": shared.scene,
        "path": shared.path,
        "title": shared.card.title,
        "image": _image(shared.card.image),
        "price_fen": shared.card.price_fen,
        "qrcode": public_url(services.minicode(shared.link)),
    }


@router.post(
    "/share/posters",
    response={200: PosterOut, **errors(404, 503)},
    auth=member(),
    summary="A poster for one of the member's share codes",
)
def share_poster(request: HttpRequest, payload: PosterIn) -> dict[str, Any]:
    link = services.own_link(member=_member(request), code=payload.code)
    return {"code": link.code, "poster": public_url(services.poster(link))}


@router.post(
    "/share/resolve",
    response={200: ResolveOut, **errors(404, 409)},
    auth=member_or_public(),
    summary="Resolve a share code when the mini-program opens with it",
)
def resolve(request: HttpRequest, payload: ResolveIn) -> dict[str, Any]:
    """Send ``code`` (the ``s`` of the path query) or ``scene`` (a mini-program
    code's). Records the visit; answers the sharer and the page to open."""
    principal = request.auth  # type: ignore[attr-defined]
    member_id = principal.member_id if isinstance(principal, MemberPrincipal) else None
    resolved = services.resolve(
        code=payload.code,
        scene=payload.scene,
        member_id=member_id,
        anonymous_id=payload.anonymous_id,
        device_id=payload.device_id,
        ip=client_ip(request),
        wx_scene=payload.wx_scene,
    )
    link = resolved.link
    sharer = link.sharer
    return {
        "code": link.code,
        "target_type": link.target_type,
        "target_id": link.target_id,
        "path": services.links.path_for(link),
        "sharer": {"id": sharer.pk, "nickname": sharer.nickname, "avatar_url": sharer.avatar_url},
    }
