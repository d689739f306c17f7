"""A member's profile, phone binding and addresses."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import crypto
from miniops.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from miniops.members.models import (
    MAX_ADDRESSES,
    Address,
    Gender,
    Member,
)
from miniops.members.providers import (
    PlatformError,
    login_provider,
)
from miniops.members.services.common import PHONE_RE, platform_failure

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
    gender = changes.get("gender")
    if gender is not None and gender not in Gender.values:
        raise InvalidInput(fields={"gender": _("0 (unknown), 1 (male) or 2 (female).")})
    for name, value in changes.items():
        setattr(member, name, _cleared(name) if value is None else value)
    member.save(update_fields=list(changes))
    return member


def _cleared(name: str) -> Any:
    """What ``None`` (the client clearing a field) stores: NULL where the column
    allows it, otherwise the field's default (blank text, gender unknown)."""
    field = Member._meta.get_field(name)
    assert isinstance(field, Field)  # PROFILE_FIELDS are plain columns
    return None if field.null else field.get_default()


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
