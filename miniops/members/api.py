"""Client API for members (sign-in, profile, addresses, favourites, history) and
the management API for operators (masked unless permitted)."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from miniops.accounts.apiauth import requires
from miniops.accounts.context import token_operator
from miniops.core.apiauth import public
from miniops.core.netutils import client_ip
from miniops.core.openapi import errors
from miniops.core.pagination import Mapped, Pagination
from miniops.core.permissions import P
from miniops.core.schemas import EXACT_INT, ID, Id, IsoDate, StrictIn
from miniops.members import selectors, services
from miniops.members.apiauth import MemberPrincipal, me_of, member
from miniops.members.models import Member

router = Router(tags=["members"])
manage_router = Router(tags=["management: members"])


# --- sign-in ---------------------------------------------------------------------------
class LoginIn(StrictIn):
    code: str = Field(..., min_length=1, max_length=128, description="from wx.login()")
    scene: int | None = Field(None, ge=1000, le=9999, description="WeChat scene value at launch")
    channel: str = Field("", max_length=64, description="channel / utm_source")
    referrer_id: Id | None = None
    anonymous_id: str = Field(
        "", max_length=64, description="the id events were sent with before login"
    )
    share_code: str = Field(
        "",
        max_length=32,
        pattern=r"^[0-9A-Za-z]*$",
        description="the share code (s=...) the mini-program was opened with",
    )


class TokensOut(Schema):
    access_token: str
    access_expires_at: int = Field(description="unix seconds")
    refresh_token: str
    member_id: int
    is_new_member: bool


class RefreshIn(StrictIn):
    refresh_token: str = Field(..., min_length=1, max_length=200)


def _tokens(result: services.Tokens) -> dict[str, Any]:
    return {
        "access_token": result.access_token,
        "access_expires_at": result.access_expires,
        "refresh_token": result.refresh_token,
        "member_id": result.member.pk,
        "is_new_member": result.created,
    }


@router.post(
    "/auth/wechat-login",
    response={200: TokensOut, **errors(403, 503)},
    auth=public(),
    summary="Sign in with wx.login",
)
def wechat_login(request: HttpRequest, payload: LoginIn) -> dict[str, Any]:
    """Exchanges the ``wx.login`` code; the WeChat session key stays on the server."""
    result = services.login_with_wechat(
        code=payload.code,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        scene=payload.scene,
        channel=payload.channel,
        referrer_id=payload.referrer_id,
        anonymous_id=payload.anonymous_id,
        share_code=payload.share_code,
    )
    return _tokens(result)


@router.post(
    "/auth/refresh",
    response={200: TokensOut, **errors(401, 403)},
    auth=public(),
    summary="New tokens from a refresh token",
)
def refresh(request: HttpRequest, payload: RefreshIn) -> dict[str, Any]:
    return _tokens(services.refresh_tokens(refresh_token=payload.refresh_token))


@router.post("/auth/logout", response={204: None}, auth=member(), summary="End this session")
def logout(request: HttpRequest) -> Status[None]:
    principal: MemberPrincipal = request.auth  # type: ignore[attr-defined]
    services.revoke_session(session_id=principal.session_id, reason="logout")
    return Status(204, None)


# --- profile -----------------------------------------------------------------------------
class MeOut(Schema):
    id: int
    nickname: str
    avatar_url: str
    gender: int
    birthday: date | None
    country: str
    province: str
    city: str
    phone: str | None = Field(description="the member's own number, unmasked")
    registered_at: datetime


class MePatch(StrictIn):
    """Send only what changes; ``null`` clears a field (gender back to 0)."""

    nickname: str | None = Field(None, max_length=32)
    avatar_url: str | None = Field(None, max_length=500)
    gender: Annotated[Literal[0, 1, 2], EXACT_INT] | None = Field(
        None, description="0 unknown, 1 male, 2 female"
    )
    birthday: IsoDate | None = None
    country: str | None = Field(None, max_length=32)
    province: str | None = Field(None, max_length=32)
    city: str | None = Field(None, max_length=32)


class PhoneIn(StrictIn):
    code: str = Field(
        ..., min_length=1, max_length=128, description="from the getPhoneNumber button"
    )


def _me(m: Member) -> dict[str, Any]:
    return {
        "id": m.pk,
        "nickname": m.nickname,
        "avatar_url": m.avatar_url,
        "gender": m.gender,
        "birthday": m.birthday,
        "country": m.country,
        "province": m.province,
        "city": m.city,
        "phone": m.phone or None,
        "registered_at": m.registered_at,
    }


@router.get("/me", response=MeOut, auth=member())
def get_me(request: HttpRequest) -> dict[str, Any]:
    return _me(me_of(request))


@router.patch("/me", response=MeOut, auth=member())
def patch_me(request: HttpRequest, payload: MePatch) -> dict[str, Any]:
    changes = payload.dict(exclude_unset=True)
    return _me(services.update_profile(member=me_of(request), changes=changes))


@router.post(
    "/me/phone",
    response={200: MeOut, **errors(403, 503)},
    auth=member(),
    summary="Bind the WeChat phone number",
)
def bind_phone(request: HttpRequest, payload: PhoneIn) -> dict[str, Any]:
    current = me_of(request)
    services.bind_phone(member=current, code=payload.code)
    return _me(current)


# --- addresses ------------------------------------------------------------------------------
class AddressIn(StrictIn):
    recipient: str = Field(..., min_length=1, max_length=32)
    phone: str = Field(..., min_length=5, max_length=20)
    province: str = Field(..., min_length=1, max_length=32)
    city: str = Field(..., min_length=1, max_length=32)
    district: str = Field("", max_length=32)
    detail: str = Field(..., min_length=1, max_length=120)
    postcode: str = Field("", max_length=10)
    label: str = Field("", max_length=16)
    is_default: bool = False


class AddressPatch(StrictIn):
    recipient: str | None = Field(None, min_length=1, max_length=32)
    phone: str | None = Field(None, min_length=5, max_length=20)
    province: str | None = Field(None, min_length=1, max_length=32)
    city: str | None = Field(None, min_length=1, max_length=32)
    district: str | None = Field(None, max_length=32)
    detail: str | None = Field(None, min_length=1, max_length=120)
    postcode: str | None = Field(None, max_length=10)
    label: str | None = Field(None, max_length=16)
    is_default: bool | None = None


class AddressOut(Schema):
    id: int
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    postcode: str
    label: str
    is_default: bool


@router.get("/me/addresses", response=list[AddressOut], auth=member())
def list_addresses(request: HttpRequest) -> Any:
    return selectors.member_addresses(me_of(request).pk)


@router.post("/me/addresses", response={201: AddressOut, **errors(409)}, auth=member())
def add_address(request: HttpRequest, payload: AddressIn) -> Status[Any]:
    return Status(201, services.add_address(member=me_of(request), data=payload.dict()))


@router.get("/me/addresses/{address_id}", response=AddressOut, auth=member())
def get_address(request: HttpRequest, address_id: int = ID) -> Any:
    return get_object_or_404(selectors.member_addresses(me_of(request).pk), pk=address_id)


@router.patch(
    "/me/addresses/{address_id}", response={200: AddressOut, **errors(409)}, auth=member()
)
def patch_address(request: HttpRequest, payload: AddressPatch, address_id: int = ID) -> Any:
    data = {
        k: v
        for k, v in payload.dict(exclude_unset=True).items()
        if v is not None or k == "is_default"
    }
    return services.update_address(member=me_of(request), address_id=address_id, data=data)


@router.delete("/me/addresses/{address_id}", response={204: None, **errors(409)}, auth=member())
def delete_address(request: HttpRequest, address_id: int = ID) -> Status[None]:
    services.delete_address(member=me_of(request), address_id=address_id)
    return Status(204, None)


# --- favourites and history -------------------------------------------------------------------
class ProductRef(Schema):
    id: int
    title: str
    price: int
    cover: str | None
    on_sale: bool


class FavouriteOut(Schema):
    product: ProductRef
    created_at: datetime


class HistoryOut(Schema):
    product: ProductRef
    viewed_at: datetime
    views: int


def _product_ref(product: Any) -> dict[str, Any]:
    from miniops.catalog.selectors import media_url

    return {
        "id": product.pk,
        "title": product.title,
        "price": product.min_price,
        "cover": media_url(product.cover),
        "on_sale": product.status == "on_sale",
    }


@router.get("/me/favourites", response=list[FavouriteOut], auth=member())
@paginate(Pagination)
def list_favourites(request: HttpRequest) -> Any:
    return Mapped(
        selectors.favourites(me_of(request).pk),
        lambda f: {"product": _product_ref(f.product), "created_at": f.created_at},
    )


@router.put("/me/favourites/{product_id}", response={204: None, **errors(409)}, auth=member())
def add_favourite(request: HttpRequest, product_id: int = ID) -> Status[None]:
    services.add_favourite(member=me_of(request), product_id=product_id)
    return Status(204, None)


@router.delete("/me/favourites/{product_id}", response={204: None}, auth=member())
def remove_favourite(request: HttpRequest, product_id: int = ID) -> Status[None]:
    services.remove_favourite(member=me_of(request), product_id=product_id)
    return Status(204, None)


@router.get("/me/history", response=list[HistoryOut], auth=member())
@paginate(Pagination)
def list_history(request: HttpRequest) -> Any:
    return Mapped(
        selectors.history(me_of(request).pk),
        lambda h: {"product": _product_ref(h.product), "viewed_at": h.viewed_at, "views": h.views},
    )


@router.delete("/me/history", response={204: None}, auth=member())
def clear_history(request: HttpRequest) -> Status[None]:
    services.clear_history(member=me_of(request))
    return Status(204, None)


# --- management API ---------------------------------------------------------------------------
class MemberOut(Schema):
    id: int
    nickname: str
    avatar_url: str
    gender: int
    birthday: date | None
    region: str
    phone: str = Field(description="masked")
    real_name: str = Field(description="masked")
    status: str
    registered_at: datetime
    registration_scene: int | None
    registration_channel: str
    tags: list[str]


class MemberFilter(Schema):
    q: str = Field("", max_length=64, description="nickname, exact phone or openid")
    status: Literal["active", "blocked"] | None = None
    channel: str | None = Field(None, max_length=64)
    tag: str | None = Field(None, max_length=32)
    registered_from: IsoDate | None = None
    registered_to: IsoDate | None = None


class BlockIn(StrictIn):
    reason: str = Field(..., min_length=1, max_length=255)


class RevealIn(StrictIn):
    fields: list[Literal["phone", "real_name", "addresses"]] = Field(
        ..., min_length=1, max_length=3
    )


class SensitiveOut(Schema):
    phone: str | None = None
    real_name: str | None = None
    addresses: list[dict[str, str]] | None = None


@manage_router.get("/members", response=list[MemberOut], auth=requires(P.MEMBERS_VIEW))
@paginate(Pagination)
def manage_list_members(request: HttpRequest, filters: Query[MemberFilter]) -> Any:
    members = selectors.search_members(filters.q).prefetch_related("tags").order_by("-id")
    if filters.status:
        members = members.filter(status=filters.status)
    if filters.channel:
        members = members.filter(registration_channel=filters.channel)
    if filters.tag:
        members = members.filter(tags__name=filters.tag)
    if filters.registered_from:
        members = members.filter(registered_at__date__gte=filters.registered_from)
    if filters.registered_to:
        members = members.filter(registered_at__date__lte=filters.registered_to)
    return Mapped(members.distinct(), selectors.masked_profile)


@manage_router.get("/members/{member_id}", response=MemberOut, auth=requires(P.MEMBERS_VIEW))
def manage_get_member(request: HttpRequest, member_id: int = ID) -> dict[str, Any]:
    return selectors.masked_profile(
        get_object_or_404(Member.objects.prefetch_related("tags"), pk=member_id)
    )


@manage_router.post(
    "/members/{member_id}/reveal", response=SensitiveOut, auth=requires(P.MEMBERS_VIEW_SENSITIVE)
)
def manage_reveal(request: HttpRequest, payload: RevealIn, member_id: int = ID) -> dict[str, Any]:
    """Unmasked values; each call is written to the audit log."""
    target = get_object_or_404(Member, pk=member_id)
    return services.reveal(member=target, actor=token_operator(request), fields=payload.fields)


@manage_router.post(
    "/members/{member_id}/block",
    response={200: MemberOut, **errors(409)},
    auth=requires(P.MEMBERS_MANAGE),
)
def manage_block(request: HttpRequest, payload: BlockIn, member_id: int = ID) -> dict[str, Any]:
    target = get_object_or_404(Member, pk=member_id)
    services.block_member(member=target, actor=token_operator(request), reason=payload.reason)
    return selectors.masked_profile(target)


@manage_router.post(
    "/members/{member_id}/unblock",
    response={200: MemberOut, **errors(409)},
    auth=requires(P.MEMBERS_MANAGE),
)
def manage_unblock(request: HttpRequest, member_id: int = ID) -> dict[str, Any]:
    target = get_object_or_404(Member, pk=member_id)
    services.unblock_member(member=target, actor=token_operator(request))
    return selectors.masked_profile(target)
