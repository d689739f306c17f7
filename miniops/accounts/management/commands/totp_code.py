"""Print the current TOTP code of an operator's device (development and demo only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Show the current 6-digit code for an operator (refused in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("totp_code is for development and demos only")
        device = (
            TOTPDevice.objects.filter(user__username=options["username"])
            .order_by("-confirmed", "-id")
            .first()
        )
        if device is None:
            raise CommandError("no TOTP device for that operator (they enrol at first sign-in)")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        self.stdout.write(f"{code:0{device.digits}d}")
