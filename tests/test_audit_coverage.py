"""Every model the console shows lands in the audit log, or says why not.

Walked from what is registered: each model page of the console site and each of
its inlines is either registered with django-auditlog, or listed in ``EXEMPT``
with a reason and a kind the test checks:

* ``read_only``: the console cannot add, change or delete it (not even a super
  admin): ledgers that are their own record, rows the system writes, the audit
  log itself. Any write an operator causes goes through a service that records it.
* ``services``: the console changes it, but only through services that write
  their own audit rows; the page's ``save_model`` / ``delete_model`` are the
  service calls, never the admin's defaults.

A model page added without either fails here. So does a model whose audit rows
would copy a secret (a password, a token, a webhook URL) in clear.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from auditlog.diff import mask_str
from auditlog.registry import auditlog
from django.contrib.admin import ModelAdmin
from django.db.models import Model
from django.test import RequestFactory
from django.utils.module_loading import import_string

from miniops.core.console import site
from miniops.testing import factories

pytestmark = pytest.mark.django_db

READ_ONLY, SERVICES = "read_only", "services"

#: label -> (kind, why the model is not registered with django-auditlog)
EXEMPT: dict[str, tuple[str, str]] = {
    "support.conversation": (
        READ_ONLY,
        "opened by members; agents' claims, transfers, closes and reopens go through "
        "support.services, each with its audit row (messages are append-only rows "
        "naming their sender)",
    ),
    "support.message": (
        READ_ONLY,
        "append-only: each row is the record of one message with its sender",
    ),
    "support.ticketevent": (
        READ_ONLY,
        "the ticket's own append-only timeline, written by support.services",
    ),
    "notifications.delivery": (
        READ_ONLY,
        "the delivery ledger, written by the engine; operators settling rows in doubt go "
        "through notifications.services (audit.record_bulk)",
    ),
    "content.report": (
        READ_ONLY,
        "members' reports, written by the client API; the console only reads them",
    ),
    "content.moderationcase": (
        READ_ONLY,
        "review cases: every decision goes through content.services.moderation, which "
        "writes its audit row (and a Decision row) with the reviewer",
    ),
    "content.appeal": (
        READ_ONLY,
        "members' appeals; deciding one is a decision on its case, audited there",
    ),
    "content.platformcheck": (
        READ_ONLY,
        "the ledger of WeChat content-security calls: the system's own record",
    ),
    "notifications.consent": (
        READ_ONLY,
        "written by members' answers to wx.requestSubscribeMessage and by sends; "
        "each report is kept as a subscription report",
    ),
    "auditlog.logentry": (
        READ_ONLY,
        "the audit log itself: append-only, UPDATE and DELETE refused by triggers",
    ),
    "accounts.operatorsession": (
        READ_ONLY,
        "sign-ins written by the login flow; ending them (disable, sign out) is "
        "audited on the operator by accounts.services",
    ),
    "members.member": (
        SERVICES,
        "members edit their own profiles (not operator actions); operators only tag, "
        "block, unblock and reveal, through members.services, each with its audit row",
    ),
    "catalog.stockledger": (
        READ_ONLY,
        "the stock ledger: append-only, every row is the record of one stock change "
        "with its actor and reason",
    ),
    "orders.order": (
        READ_ONLY,
        "placed by members; operators' transitions (ship, cancel) go through "
        "orders.services, which write the order timeline and an audit row",
    ),
    "orders.payment": (
        READ_ONLY,
        "written by the payment provider's verified notices, each kept as a payment event",
    ),
    "orders.refund": (
        READ_ONLY,
        "created by after-sale decisions in orders.services; results come from the provider",
    ),
    "orders.aftersale": (
        READ_ONLY,
        "requested by members; operators' decisions go through orders.services "
        "(audited transitions)",
    ),
    "orders.paymentanomaly": (
        READ_ONLY,
        "recorded by the payment code; resolving one is an orders.services call with its audit row",
    ),
    "marketing.coupon": (
        READ_ONLY,
        "members' coupons: claimed by members, issued by operators through coupons.issue (audited)",
    ),
    "marketing.group": (READ_ONLY, "group-buy groups formed by members' orders"),
    "marketing.pointsentry": (
        READ_ONLY,
        "the points ledger: append-only; an operator's adjustment is a row naming them",
    ),
    "marketing.levelchange": (READ_ONLY, "the ledger of level moves, written by the evaluator"),
    "analytics.alert": (
        READ_ONLY,
        "fired by the evaluator; an acknowledgement is an analytics.services call "
        "with its audit row",
    ),
    # sharing: links, visits and rewards are written by members' shares and by the
    # attribution rules, never by operators
    "sharing.sharelink": (READ_ONLY, "created by a member's first share"),
    "sharing.reward": (READ_ONLY, "the reward ledger, written by the attribution rules"),
    "sharing.orderattribution": (READ_ONLY, "written when an order is placed"),
}

#: Field names whose values must never reach an audit row in clear.
SECRET_FIELD = re.compile(r"password|secret|token|webhook|(^|api_)key$|_hash$")


def console_models() -> dict[str, tuple[type[Model], Any, str]]:
    """label -> (model, the admin or inline instance, how it is shown)."""
    found: dict[str, tuple[type[Model], Any, str]] = {}
    for model, model_admin in site._registry.items():
        found[model._meta.label_lower] = (model, model_admin, "page")
        for inline_class in model_admin.inlines:
            inline = inline_class(model, site)
            found.setdefault(inline.model._meta.label_lower, (inline.model, inline, "inline"))
    return found


@pytest.fixture
def super_admin_request() -> Any:
    request = RequestFactory().get("/console/")
    request.user = factories.operator_with_role("super_admin")
    return request


def test_every_console_model_is_audited_or_exempt_with_a_reason() -> None:
    missing = [
        label
        for label, (model, _admin, _how) in console_models().items()
        if not auditlog.contains(model) and label not in EXEMPT
    ]
    assert not missing, (
        f"register these with django-auditlog, or add them to EXEMPT with a reason: {missing}"
    )


def test_the_exempt_list_names_only_console_models_not_audited_otherwise() -> None:
    shown = console_models()
    stale = [label for label in EXEMPT if label not in shown]
    assert not stale, f"not in the console any more: {stale}"
    both = [label for label in EXEMPT if auditlog.contains(shown[label][0])]
    assert not both, f"registered with django-auditlog, so not exempt: {both}"
    for label, (kind, reason) in EXEMPT.items():
        assert kind in (READ_ONLY, SERVICES), label
        assert len(reason) >= 20, f"{label}: say why"


def test_read_only_exemptions_cannot_be_written_from_the_console(
    super_admin_request: Any,
) -> None:
    shown = console_models()
    writable = []
    for label, (kind, _reason) in EXEMPT.items():
        if kind != READ_ONLY:
            continue
        _model, admin_or_inline, _how = shown[label]
        for check in ("has_add_permission", "has_change_permission", "has_delete_permission"):
            if getattr(admin_or_inline, check)(super_admin_request, None):
                writable.append(f"{label}.{check}")
    assert not writable, f"exempt as read-only, yet writable by a super admin: {writable}"


def test_service_exemptions_write_only_through_their_services(super_admin_request: Any) -> None:
    shown = console_models()
    for label, (kind, _reason) in EXEMPT.items():
        if kind != SERVICES:
            continue
        _model, model_admin, _how = shown[label]
        cls = type(model_admin)
        if model_admin.has_add_permission(super_admin_request) or model_admin.has_change_permission(
            super_admin_request, None
        ):
            assert cls.save_model is not ModelAdmin.save_model, f"{label}: save through a service"
            assert cls.save_related is not ModelAdmin.save_related, (
                f"{label}: relations (tags) through a service"
            )
        if model_admin.has_delete_permission(super_admin_request, None):
            assert cls.delete_model is not ModelAdmin.delete_model, (
                f"{label}: delete through a service"
            )


def test_no_audit_row_copies_a_secret_in_clear() -> None:
    leaks = []
    for model in auditlog.get_models():
        options = auditlog.get_model_fields(model)
        included = set(options["include_fields"])
        for field in model._meta.concrete_fields:
            name = field.name
            if not SECRET_FIELD.search(name):
                continue
            if name in options["exclude_fields"] or (included and name not in included):
                continue
            if name in options["mask_fields"]:
                mask = options["mask_callable"]
                # the default mask keeps the second half of the value: a token's tail
                if mask and import_string(mask) is not mask_str:
                    continue
            leaks.append(f"{model._meta.label_lower}.{name}")
    assert not leaks, f"exclude these from the audit log, or mask them fully: {leaks}"
