"""Create an operator from the command line (first super admin, automation)."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from miniops.accounts import services
from miniops.accounts.models import Role
from miniops.core.errors import DomainError


class Command(BaseCommand):
    help = "Create a console operator with one or more roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument(
            "--role", action="append", dest="roles", default=[], help="role code (repeatable)"
        )
        parser.add_argument("--display-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        parser.add_argument("--no-input", action="store_true", help="fail instead of prompting")

    def handle(self, *args: Any, **options: Any) -> None:
        codes = options["roles"] or ["super_admin"]
        roles = list(Role.objects.filter(code__in=codes))
        missing = set(codes) - {role.code for role in roles}
        if missing:
            known = ", ".join(Role.objects.values_list("code", flat=True))
            raise CommandError(f"unknown role(s): {', '.join(sorted(missing))}; known: {known}")
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        elif options["no_input"]:
            raise CommandError("--no-input needs --password-stdin")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password again: "):
                raise CommandError("the passwords differ")
        try:
            operator = services.create_operator(
                username=options["username"],
                password=password,
                roles=roles,
                display_name=options["display_name"],
                email=options["email"],
                actor=None,
            )
        except DomainError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or str(exc.message)
            raise CommandError(detail) from exc
        needs = " (two-factor enrolment at first sign-in)" if operator.requires_2fa else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"created operator {operator.username} with {', '.join(codes)}{needs}"
            )
        )
