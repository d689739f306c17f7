"""Sign-in steps around the admin site: two-factor enrolment and verification,
and changing one's own password (through the accounts services)."""

from __future__ import annotations

import base64
import io
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from unfold.widgets import UnfoldAdminTextInputWidget

from miniops.accounts import services
from miniops.accounts.context import operator_of
from miniops.accounts.models import OperatorSession
from miniops.core.console import mark_invalid_post, site


class TokenForm(forms.Form):
    token = forms.RegexField(
        label=gettext_lazy("6-digit code"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": gettext_lazy("Enter the 6 digits your authenticator shows.")},
        widget=UnfoldAdminTextInputWidget(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        return str(self.cleaned_data["token"]).strip()


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("console:index")


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "site_title": site.site_title,
        "site_header": site.site_header,
        "next": _next_url(request),
        **extra,
    }


@never_cache
@login_required(login_url="console:login")
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    operator = operator_of(request)
    if operator.has_totp_device:
        return HttpResponseRedirect(f"{reverse('console_2fa:verify')}?next={_next_url(request)}")
    device = services.start_totp_enrolment(operator)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.confirm_totp_enrolment(
            operator=operator, device=device, token=form.cleaned_data["token"]
        ):
            otp_login(request, device)
            messages.success(request, _("Two-factor authentication is on for your account."))
            return HttpResponseRedirect(_next_url(request))
        form.add_error(
            "token", _("That code is not right. Check the time on your phone and try again.")
        )
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    context = _context(
        request,
        title=_("Set up two-factor authentication"),
        form=form,
        qr_svg=mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - generated locally, no user input
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    )
    return mark_invalid_post(request, render(request, "console/two_factor_setup.html", context))


@never_cache
@login_required(login_url="console:login")
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    operator = operator_of(request)
    if not operator.has_totp_device:
        return HttpResponseRedirect(f"{reverse('console_2fa:setup')}?next={_next_url(request)}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.verify_totp(operator=operator, token=form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return HttpResponseRedirect(_next_url(request))
        form.add_error("token", _("That code is not right, or too many tries: wait and retry."))
    context = _context(request, title=_("Two-factor authentication"), form=form)
    return mark_invalid_post(request, render(request, "console/two_factor_verify.html", context))


@sensitive_post_parameters()
@never_cache
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password; every other session of the operator ends."""
    operator = operator_of(request)
    form = PasswordChangeForm(operator, request.POST or None)
    if request.method == "POST" and form.is_valid():
        old_key = request.session.session_key
        services.change_password(
            operator=operator,
            password=form.cleaned_data["new_password1"],
            actor=operator,
            keep_session=old_key,
        )
        update_session_auth_hash(request, operator)
        OperatorSession.objects.filter(session_key=old_key).update(
            session_key=request.session.session_key
        )
        messages.success(request, _("Your password was changed; your other sessions ended."))
        return HttpResponseRedirect(reverse("console:index"))
    context = site.page_context(request, title=_("Change password"), form=form)
    return mark_invalid_post(request, render(request, "console/password_change.html", context))
