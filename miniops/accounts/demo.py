"""Demo operators: one per built-in role, with printed logins.

Passwords and TOTP keys are fixed so a tester can sign in from the printed
table; ``seed_demo`` refuses to run in production.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext
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


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: CJK (wide and full-width) characters
    take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _table(rows: list[list[str]], *, indent: str = "  ", gap: str = "  ") -> list[str]:
    """Rows as lines whose columns line up by display width (the last column is
    not padded)."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        indent
        + gap.join(
            [cell + " " * (widths[i] - display_width(cell)) for i, cell in enumerate(row[:-1])]
            + [row[-1]]
        )
        for row in rows
    ]


def describe_logins() -> list[str]:
    """The table ``make demo`` prints: one login per role, role names in English
    (the README's language) and, beside them, as the console shows them in its
    default language; columns aligned for CJK characters."""
    with translation.override("en"):
        english = {code: str(role.name) for code, role in ROLES.items()}
    with translation.override(settings.LANGUAGE_CODE):
        local = {code: str(role.name) for code, role in ROLES.items()}
        local_header = str(gettext("role"))
    both = local != english
    rows = [["username", "role", *([local_header] if both else []), "second factor"]]
    for username, _display, role_code, enrolled in DEMO_OPERATORS:
        if enrolled:
            factor = f"TOTP key {demo_totp_secret(username)}"
        elif ROLES[role_code].requires_2fa:
            factor = "enrols a TOTP app at first sign-in (QR code)"
        else:
            factor = "none"
        rows.append([username, english[role_code], *([local[role_code]] if both else []), factor])
    return [
        f"  console logins (the password of every one: {DEMO_PASSWORD})",
        *_table(rows),
        "  current TOTP code of a console login: .venv/bin/python manage.py totp_code <username>",
    ]
