"""Demo operators: one per built-in role, with printed logins.

Passwords and TOTP keys are fixed so a tester can sign in from the printed
table; ``seed_demo`` refuses to run in production.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from miniops.accounts.models import Operator, Role
from miniops.core.permissions import ROLES, R

STEPS = 1
DEMO_PASSWORD = "Demo-pass-2026"  # noqa: S105 - printed for testers; demo only

#: username, display name, role, TOTP device enrolled in advance
DEMO_OPERATORS: list[tuple[str, str, R, bool]] = [
    ("admin", "王总 (super admin)", R.SUPER_ADMIN, True),
    ("opsmanager", "李经理", R.OPS_MANAGER, False),
    ("opsstaff", "张运营", R.OPS_STAFF, True),
    ("service", "陈客服", R.CUSTOMER_SERVICE, False),
    ("reviewer", "赵审核", R.CONTENT_REVIEWER, False),
    ("finance", "孙财务", R.FINANCE, True),
    ("tech", "周技术", R.TECH_STAFF, False),
    ("analyst", "吴分析", R.ANALYST, False),
]


def demo_totp_key(username: str) -> str:
    """A fixed 20-byte key per demo operator (hex, as django-otp stores it)."""
    return hashlib.sha1(f"miniops-demo-totp:{username}".encode()).hexdigest()  # noqa: S324


def demo_totp_secret(username: str) -> str:
    """The same key in base32, as authenticator apps take it."""
    return base64.b32encode(bytes.fromhex(demo_totp_key(username))).decode().rstrip("=")


@transaction.atomic
def seed(*, progress: Callable[[int], object]) -> None:
    for username, display_name, role_code, enrolled in DEMO_OPERATORS:
        operator = Operator.objects.filter(username=username).first()
        if operator is None:
            operator = Operator.objects.create_user(
                username, DEMO_PASSWORD, display_name=display_name
            )
        else:  # the printed password always works in a demo
            operator.set_password(DEMO_PASSWORD)
            operator.is_active = True
            operator.save()
        operator.roles.set([Role.objects.get(code=role_code)])
        if enrolled and not TOTPDevice.objects.filter(user=operator, confirmed=True).exists():
            TOTPDevice.objects.create(
                user=operator, name="demo", key=demo_totp_key(username), confirmed=True
            )
    progress(1)


def describe_logins() -> list[str]:
    """The table ``make demo`` prints."""
    lines = [
        f"  demo logins (password for all: {DEMO_PASSWORD})",
        f"  {'username':<11} {'role':<22} second factor",
    ]
    for username, _display, role_code, enrolled in DEMO_OPERATORS:
        role = ROLES[role_code]
        if enrolled:
            factor = f"TOTP key {demo_totp_secret(username)}"
        elif role.requires_2fa:
            factor = "enrols a TOTP app at first sign-in (QR code)"
        else:
            factor = "none"
        lines.append(f"  {username:<11} {role.name!s:<22} {factor}")
    lines.append(
        "  current TOTP code for a demo login: .venv/bin/python manage.py totp_code <username>"
    )
    return lines
