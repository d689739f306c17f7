"""The audit trail: who changed what, when, from where, with before/after values.

django-auditlog records saves and deletes of registered models through its model
signals, with the actor and address taken from the request (``AuditMiddleware``)
or from ``acting_as`` in services, tasks and commands. Writes those signals never
see — bulk ``update()``, ``F()`` expressions, reads of sensitive data — are
recorded explicitly with ``record``. Rows are append-only: the console offers no
edit or delete, and database triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest, HttpResponse

from miniops.core.logging import request_id_var
from miniops.core.netutils import client_ip

Action = LogEntry.Action


class AuditMiddleware:
    """Opens the audit context for the request: the actor (resolved only if a
    change is actually logged, so requests that log nothing never load the user)
    and the client address from ``client_ip``.

    Replaces django-auditlog's middleware, which trusts any ``X-Forwarded-For`` and
    connects and disconnects a signal receiver on every request; ours is connected
    once (``fill_log_entry``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        def actor() -> Any:
            user = getattr(request, "user", None)
            return user if user is not None and user.is_authenticated else None

        token = auditlog_value.set({"actor": actor, "remote_addr": client_ip(request)})
        try:
            return self.get_response(request)
        finally:
            auditlog_value.reset(token)


def fill_log_entry(sender: Any, instance: LogEntry, **kwargs: Any) -> None:
    """pre_save receiver on LogEntry: stamp actor and address from the context."""
    context = current_context()
    if not context:
        return
    actor = context.get("actor")
    if callable(actor):
        actor = actor()
    if instance.actor_id is None and getattr(actor, "pk", None) is not None:
        instance.actor = actor
        instance.actor_email = getattr(actor, "email", None) or None
    if instance.remote_addr is None:
        instance.remote_addr = context.get("remote_addr")


def correlation_id() -> str | None:
    """Audit rows carry the request id (``AUDITLOG_CID_GETTER``)."""
    value = request_id_var.get()
    return None if value == "-" else value


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
    """Attribute model changes inside the block to ``actor`` (services, tasks,
    commands); ``None`` keeps whoever the request context names."""
    context = current_context()
    if actor is None and context:
        yield
        return
    token = auditlog_value.set(
        {"actor": actor, "remote_addr": remote_addr or context.get("remote_addr")}
    )
    try:
        yield
    finally:
        auditlog_value.reset(token)


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
    if actor is None:
        actor = context.get("actor")
        actor = actor() if callable(actor) else actor
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
    if actor is None:
        actor = context.get("actor")
        actor = actor() if callable(actor) else actor
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
