"""Templates synced from WeChat, the consent ledger, and push settings."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.core import audit
from miniops.core.audit import acting_as
from miniops.core.errors import InvalidInput, ServiceUnavailable
from miniops.core.permissions import P, require_if_operator
from miniops.core.wechat import PlatformError
from miniops.notifications.models import (
    Choice,
    Consent,
    MessageTemplate,
    PushSettings,
    SubscriptionReport,
    TemplateKind,
)
from miniops.notifications.providers import subscribe_provider

#: at most this many templates in one wx.requestSubscribeMessage (WeChat: 3)
MAX_PER_REPORT = 10


def sync_templates(*, actor: Any) -> dict[str, int]:
    """Bring the template list in line with the account's templates on WeChat:
    new ones added, changed ones updated, removed ones marked inactive (their
    consents and past deliveries stay)."""
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE_TEMPLATES)
    try:
        remote = subscribe_provider.get().list_templates()
    except PlatformError as exc:
        raise ServiceUnavailable(
            _("WeChat did not answer the template list: %s") % exc, code="wechat_unavailable"
        ) from exc
    now = timezone.now()
    added = updated = removed = 0
    seen = set()
    with transaction.atomic(), acting_as(actor):
        for item in remote:
            seen.add(item.wx_template_id)
            kind = TemplateKind.LONG_TERM if item.type == 3 else TemplateKind.ONE_TIME
            fields = {
                "title": item.title,
                "kind": kind,
                "keywords": item.keywords,
                "content": item.content,
                "example": item.example,
                "is_active": True,
            }
            row = MessageTemplate.objects.filter(wx_template_id=item.wx_template_id).first()
            if row is None:
                MessageTemplate.objects.create(
                    wx_template_id=item.wx_template_id, synced_at=now, **fields
                )
                added += 1
                continue
            if any(getattr(row, name) != value for name, value in fields.items()):
                for name, value in fields.items():
                    setattr(row, name, value)
                updated += 1
            row.synced_at = now
            row.save()
        for row in MessageTemplate.objects.filter(is_active=True).exclude(wx_template_id__in=seen):
            row.is_active = False
            row.save()
            removed += 1
    return {"added": added, "updated": updated, "removed": removed, "total": len(remote)}


def record_subscriptions(
    *, member: Any, request_id: str, results: dict[str, str]
) -> dict[str, Any]:
    """What ``wx.requestSubscribeMessage`` returned, per WeChat template id. Each
    ``accept`` of a one-time template allows one more send; a long-term accept a
    standing one; ``reject`` / ``ban`` take everything back. Idempotent by
    ``request_id``: the same report sent again changes nothing and answers the
    same. Unknown template ids are refused (nothing is written)."""
    if not results:
        raise InvalidInput(fields={"results": gettext("Give at least one template.")})
    if len(results) > MAX_PER_REPORT:
        raise InvalidInput(fields={"results": _("At most %d templates at once.") % MAX_PER_REPORT})
    choices = set(Choice.values) | {"acceptWithAudio", "acceptWithAlert"}
    bad = [key for key, value in results.items() if value not in choices]
    if bad:
        raise InvalidInput(fields={f"results.{bad[0]}": gettext("Not a WeChat answer.")})
    templates = {
        row.wx_template_id: row
        for row in MessageTemplate.objects.filter(wx_template_id__in=list(results))
    }
    unknown = [key for key in results if key not in templates]
    if unknown:
        raise InvalidInput(fields={f"results.{unknown[0]}": gettext("No such template.")})
    try:
        with transaction.atomic():
            SubscriptionReport.objects.create(member=member, request_id=request_id, results=results)
            for wx_id, answer in results.items():
                _apply(member, templates[wx_id], answer)
    except IntegrityError:
        pass  # this report was recorded before: answer the current state
    return {"request_id": request_id, "consents": consents_of(member, list(templates.values()))}


def _apply(member: Any, template: MessageTemplate, answer: str) -> None:
    accepted = answer.startswith("accept")
    choice = Choice.ACCEPT if accepted else answer
    consent, _created = Consent.objects.get_or_create(member=member, template=template)
    now = timezone.now()
    if accepted:
        long_term = template.kind == TemplateKind.LONG_TERM
        Consent.objects.filter(pk=consent.pk).update(
            remaining=F("remaining") + (0 if long_term else 1),
            long_term=long_term,
            last_choice=choice,
            accepted_total=F("accepted_total") + 1,
            updated_at=now,
        )
    elif answer in (Choice.REJECT, Choice.BAN):
        Consent.objects.filter(pk=consent.pk).update(
            remaining=0, long_term=False, last_choice=choice, updated_at=now
        )
    else:  # filter: WeChat did not ask (a repeated title); nothing changes
        Consent.objects.filter(pk=consent.pk).update(last_choice=choice, updated_at=now)


def consents_of(
    member: Any, templates: list[MessageTemplate] | None = None
) -> list[dict[str, Any]]:
    rows = Consent.objects.filter(member=member).select_related("template")
    if templates is not None:
        rows = rows.filter(template__in=templates)
    return [
        {
            "template_id": row.template.wx_template_id,
            "title": row.template.title,
            "remaining": row.remaining,
            "long_term": row.long_term,
            "last_choice": row.last_choice,
        }
        for row in rows.order_by("template__title")
    ]


@transaction.atomic
def update_settings(
    *, actor: Any, instance: PushSettings | None = None, **changes: Any
) -> PushSettings:
    """Save push settings (validated): purposes → templates, quiet hours, caps."""
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE)
    from miniops.notifications.selectors import push_settings

    row = instance or push_settings()
    for name, value in changes.items():
        if name in {"id", "updated_at"} or not hasattr(row, name):
            raise InvalidInput(fields={name: gettext("Unknown setting.")})
        setattr(row, name, value)
    try:
        row.full_clean()
    except ValidationError as exc:
        raise InvalidInput(fields={k: " ".join(v) for k, v in exc.message_dict.items()}) from exc
    with acting_as(actor):
        row.save()
    return row


def reset_consent(*, consent: Consent, actor: Any) -> None:
    """WeChat said 43101: the member has no consent left, whatever we counted."""
    Consent.objects.filter(pk=consent.pk).update(remaining=0, updated_at=timezone.now())
    if actor is not None:
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=consent,
            changes={"remaining": [consent.remaining, 0]},
        )
