"""Every operator-facing string is translatable and translated to Simplified Chinese.

Extracts the strings from the code and templates now (on a copy, with Django's
makemessages, which needs GNU gettext) and compares them with the committed
catalogue; checks the compiled .mo matches the .po.
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "miniops" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
#: Strings of the console theme (django-unfold) that the package leaves untranslated.
VENDOR_PO = ROOT / "miniops" / "locale_vendor" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CATALOGUES = [PO, VENDOR_PO]


def parse_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr, for single-line and multi-line entries, header excluded."""
    entries: dict[str, str] = {}
    current: dict[str, list[str]] = {}
    key = None
    fuzzy = False

    def flush() -> None:
        if "msgid" in current:
            msgid = "".join(current["msgid"])
            msgstr = "".join(current.get("msgstr", current.get("msgstr[0]", [])))
            if msgid:
                entries[msgid] = "" if fuzzy else msgstr

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            flush()
            current, key, fuzzy = {}, None, False
            continue
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgid|msgid_plural|msgstr|msgstr\[\d+\]) "(.*)"$', line)
        if match:
            key = match.group(1)
            current[key] = [
                bytes(match.group(2), "utf-8")
                .decode("unicode_escape")
                .encode("latin-1")
                .decode("utf-8")
            ]
        elif line.startswith('"') and key:
            current[key].append(
                bytes(line[1:-1], "utf-8")
                .decode("unicode_escape")
                .encode("latin-1")
                .decode("utf-8")
            )
    return entries


@pytest.mark.parametrize("po", CATALOGUES, ids=["miniops", "vendor"])
def test_every_catalogue_entry_is_translated(po: Path) -> None:
    entries = parse_po(po)
    assert len(entries) > 100
    missing = [msgid for msgid, msgstr in entries.items() if not msgstr.strip()]
    assert not missing, f"untranslated: {missing[:20]}"


@pytest.mark.parametrize("po", CATALOGUES, ids=["miniops", "vendor"])
def test_placeholders_survive_translation(po: Path) -> None:
    pattern = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
    for msgid, msgstr in parse_po(po).items():
        assert sorted(pattern.findall(msgid)) == sorted(pattern.findall(msgstr)), msgid


@pytest.mark.parametrize("po", CATALOGUES, ids=["miniops", "vendor"])
def test_compiled_catalogue_matches_the_source(po: Path) -> None:
    with po.with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in parse_po(po).items():
        assert compiled.gettext(msgid) == msgstr, msgid


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext not installed")
def test_catalogue_covers_every_string_in_the_code(tmp_path: Path) -> None:
    # given a copy of the code with an empty catalogue
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT / "miniops", copy / "miniops", ignore=shutil.ignore_patterns("__pycache__", "locale")
    )
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    (copy / "miniops" / "locale").mkdir()
    # when makemessages extracts the strings
    env = {**os.environ, "PYTHONPATH": str(copy), "DJANGO_SETTINGS_MODULE": "miniops.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "../manage.py", "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=copy / "miniops",
        env=env,
        check=True,
        capture_output=True,
    )
    extracted = set(parse_po(copy / "miniops" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    assert len(extracted) > 100, "extraction found nothing: the check itself is broken"
    # then every one of them is in the committed catalogue, translated
    committed = parse_po(PO)
    missing = sorted(extracted - {k for k, v in committed.items() if v.strip()})
    assert not missing, (
        "strings without a Chinese translation (run `make messages` and translate): "
        + "; ".join(missing[:30])
    )
