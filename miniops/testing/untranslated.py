"""Finding English an operator of the zh-Hans console should not see.

A visible chunk of text is untranslated when it is, whole, a msgid of our
catalogue (``Out trade no``), or when one of its words is the raw value of a model
choice (``paid``, ``REFUNDING``, ``kol_live``) or a one-word msgid (``Status``).
Brand names, units and acronyms operators read as such are allowed.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.apps import apps

CATALOGUE = Path(__file__).resolve().parents[1] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

#: Read as they are in a Chinese console: acronyms, units, formats, brands.
ALLOWED = frozenset(
    {
        "sku",
        "id",
        "api",
        "csv",
        "xlsx",
        "json",
        "uv",
        "pv",
        "dau",
        "wau",
        "mau",
        "gmv",
        "totp",
        "ip",
        "url",
        "utm",
        "ok",
        "kpi",
        "ml",
        "kg",
        "g",
        "cm",
        "mm",
        "ms",
        "s",
        "xl",
        "xxl",
        "l",
        "m",
        "miniops",
        "english",
        "wechat",
        "en",
        "zh",
        "hans",
        "logo",
        "webhook",
        "sla",
        "csat",
        "openid",
        "sf",
        "zto",
        "yto",
        "yd",
        "sto",
        "jd",
        "ems",
        "jt",
    }
)

_WORD = re.compile(r"[A-Za-z][A-Za-z_]*[A-Za-z]")
#: Identifiers shown on purpose: permission codes (``orders.view``), page paths
#: (``pages/index/index``), file names, template placeholders (``{{thing1.DATA}}``).
_IDENTIFIER = re.compile(r"[\w{}-]*[./=-][\w./={}-]*|[A-Za-z_]+\d[\w@.]*")
_MSGID = re.compile(r'^msgid "(.*)"$')


def _unquote(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


@cache
def msgids() -> frozenset[str]:
    """Our catalogue's msgids that have a Chinese translation."""
    found: set[str] = set()
    current: list[str] | None = None
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        match = _MSGID.match(line)
        if match:
            current = [match.group(1)]
        elif current is not None and line.startswith('"'):
            current.append(line[1:-1])
        else:
            if current is not None and line.startswith(("msgstr", "msgid_plural")):
                text = _unquote("".join(current))
                if text and re.search("[A-Za-z]{2}", text) and "%" not in text:
                    found.add(text.strip().lower())
            current = None
    return frozenset(found)


@cache
def choice_values() -> frozenset[str]:
    """Every string value of a model field's choices (``paid``, ``kol_live``)."""
    values: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            for value, _label in getattr(field, "flatchoices", None) or ():
                if isinstance(value, str) and _WORD.fullmatch(value):
                    values.add(value.lower())
    return frozenset(values - ALLOWED)


def untranslated(chunk: str) -> str | None:
    """What in ``chunk`` is untranslated English, or ``None``."""
    text = chunk.strip()
    lowered = text.lower().rstrip(":：")
    if lowered in msgids() and lowered not in ALLOWED:
        return text
    for word in _WORD.findall(_IDENTIFIER.sub(" ", text)):
        lower = word.lower()
        if lower in ALLOWED:
            continue
        # An all-capitals word (POST, GMV) reads as an acronym, not as a code or
        # a label (a raw code shows as it is stored: lower case).
        if word.isupper():
            continue
        if lower in choice_values() or (lower in msgids() and " " not in lower):
            return word
    return None
