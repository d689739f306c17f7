"""The audit trail: who changed what, when, from where, with before/after values.

django-auditlog records saves and deletes of registered models through its model
signals, with the actor and address taken from the request (``AuditMiddleware``)
or from ``acting_as`` in services, tasks and commands. Writes those signals never
see — bulk ``update()``, ``F()`` expressions, reads of sensitive data — are
recorded explicitly with ``record``. Rows are append-only: the console offers no
edit or delete, and database triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from auditlog.context import auditlog_value, set_actor
from auditlog.middleware import AuditlogMiddleware
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest

from miniops.core.netutils import client_ip

Action = LogEntry.Action


class AuditMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware, with the client address from ``client_ip``."""

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        return client_ip(request)


def current_context() -> dict[str, Any]:
    try:
        return auditlog_value.get()
    except LookupError:
        return {}


def set_request_actor(actor: Any) -> None:
    """Name the actor for the rest of this request (used by API token auth, which
    runs after the middleware has opened the audit context)."""
    context = current_context()
    if context:
        context["actor"] = actor


@contextmanager
def acting_as(actor: Any, remote_addr: str | None = None) -> Iterator[None]:
    """Attribute model changes inside the block to ``actor`` (tasks, commands)."""
    context = current_context()
    if context and context.get("actor") is actor:
        yield
        return
    with set_actor(actor, remote_addr=remote_addr or context.get("remote_addr")):
        yield


def record(
    *,
    actor: Any,
    action: int,
    instance: models.Model | None = None,
    model: type[models.Model] | None = None,
    object_pk: Any = None,
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    additional: dict[str, Any] | None = None,
) -> LogEntry:
    """Write one audit row explicitly (bulk updates, F() updates, sensitive reads).

    ``changes`` maps field -> [before, after], the same shape auditlog writes.
    """
    if instance is not None:
        model = instance._meta.model
        object_pk = instance.pk
        object_repr = object_repr or str(instance)
    if model is None:
        raise ValueError("record() needs an instance or a model")
    context = current_context()
    actor = actor if actor is not None else context.get("actor")
    pk_text = "" if object_pk is None else str(object_pk)
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=pk_text,
        object_id=object_pk if isinstance(object_pk, int) else None,
        object_repr=object_repr[:1000],
        action=action,
        changes=changes or {},
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", None) or None,
        remote_addr=context.get("remote_addr"),
        additional_data=additional or None,
    )


def record_bulk(
    *,
    actor: Any,
    model: type[models.Model],
    pks: list[Any],
    changes: dict[str, Any],
    reason: str = "",
) -> int:
    """One row per object changed by a bulk ``update()`` (auditlog's signals miss those)."""
    context = current_context()
    actor = actor if actor is not None else context.get("actor")
    content_type = ContentType.objects.get_for_model(model)
    additional = {"bulk": True, "reason": reason} if reason else {"bulk": True}
    rows = [
        LogEntry(
            content_type=content_type,
            object_pk=str(pk),
            object_id=pk if isinstance(pk, int) else None,
            object_repr=f"{model._meta.verbose_name} #{pk}",
            action=Action.UPDATE,
            changes=changes,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_email=getattr(actor, "email", None) or None,
            remote_addr=context.get("remote_addr"),
            additional_data=additional,
        )
        for pk in pks
    ]
    LogEntry.objects.bulk_create(rows, batch_size=500)
    return len(rows)
