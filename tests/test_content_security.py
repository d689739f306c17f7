"""Nothing the project renders needs 'unsafe-inline' for scripts: every template that
wins the template lookup (ours and the vendors' we use: Unfold, Django admin,
django-ninja, import-export) has no inline script without a nonce, no inline event
handler and no ``javascript:`` URL; nor does HTML built in Python."""

from __future__ import annotations

import re
from pathlib import Path

import unfold
from django.conf import settings
from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader
from ninja.openapi.docs import Swagger

from miniops.api import api

ROOT = Path(__file__).resolve().parents[1]

#: Templates no page can reach (each reason is checked below).
UNREACHABLE = (
    # Unfold's crispy-forms layouts: django-crispy-forms is not installed.
    "unfold_crispy/",
    # django-ninja's Redoc pages: the API docs are Swagger UI.
    "ninja/redoc",
    # Swagger UI from a CDN: used only when "ninja" is not an installed app.
    "ninja/swagger_cdn.html",
)

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_DATA_TYPES = re.compile(r"""type\s*=\s*["']?(application/(ld\+)?json|text/template)""", re.I)
_HANDLER = re.compile(r"<[a-zA-Z][^<>]*?\son[a-z]{3,}\s*=", re.S)
_JS_URL = re.compile(r"""(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


def template_loaders() -> list[object]:
    engine = engines["django"].engine  # type: ignore[attr-defined]
    found: list[object] = []
    for loader in engine.template_loaders:
        found.extend(loader.loaders if isinstance(loader, CachedLoader) else [loader])
    return found


def winning_templates() -> dict[str, Path]:
    """Every template name any loader knows, mapped to the file the lookup uses."""
    loaders = template_loaders()
    names: set[str] = set()
    for loader in loaders:
        for directory in loader.get_dirs():  # type: ignore[attr-defined]
            base = Path(directory)
            names.update(str(p.relative_to(base)) for p in base.rglob("*.html") if p.is_file())
    winners: dict[str, Path] = {}
    for name in sorted(names):
        if name.startswith(UNREACHABLE):
            continue
        for loader in loaders:
            origin = next(
                (o for o in loader.get_template_sources(name) if Path(o.name).is_file()),  # type: ignore[attr-defined]
                None,
            )
            if origin is not None:
                winners[name] = Path(origin.name)
                break
    return winners


def offences(text: str) -> list[str]:
    found = []
    for attributes, body in _SCRIPT.findall(text):
        if "src=" in attributes:
            if body.strip():
                found.append(f"inline code in a <script src>: {attributes.strip()}")
        elif not _DATA_TYPES.search(attributes) and "csp_nonce" not in attributes:
            found.append(f"inline <script{attributes}> without a nonce")
    found += [f"inline event handler: {m.group(0)[-40:]!r}" for m in _HANDLER.finditer(text)]
    found += [f"javascript: URL: {m.group(0)!r}" for m in _JS_URL.finditer(text)]
    return found


def test_the_unreachable_templates_are_really_unreachable() -> None:
    assert "crispy_forms" not in settings.INSTALLED_APPS
    assert isinstance(api.docs, Swagger)
    assert "ninja" in settings.INSTALLED_APPS


def test_every_rendered_template_runs_no_inline_script_without_a_nonce() -> None:
    winners = winning_templates()
    # the walk sees ours and the vendors' (a broken walk finds nothing and passes)
    assert "admin/index.html" in winners
    assert winners["admin/index.html"].is_relative_to(ROOT / "miniops")
    assert "unfold/layouts/skeleton.html" in winners
    assert "ninja/swagger.html" in winners
    # the one vendor template with an inline handler is shadowed by Unfold's
    assert winners["admin/import_export/export.html"].is_relative_to(Path(unfold.__file__).parent)
    problems = {
        name: found for name, path in winners.items() if (found := offences(path.read_text()))
    }
    assert problems == {}


def test_the_checker_finds_what_it_looks_for() -> None:
    assert offences("<script>alert(1)</script>")
    assert offences('<button onclick="go()">')
    assert offences('<a href="javascript:go()">')
    assert offences('<script src="/static/x.js">alert(1)</script>')
    assert not offences('<script nonce="{{ request.csp_nonce }}">go()</script>')
    assert not offences('<script id="s" type="application/json">{"a": 1}</script>')
    assert not offences('<script src="/static/x.js" defer></script>')
    assert not offences('<div x-on:click="open = true" @click="go()">')


def test_html_built_in_python_has_no_inline_script_or_handler() -> None:
    problems = {}
    for path in sorted((ROOT / "miniops").rglob("*.py")):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        if found := offences(path.read_text()):
            problems[str(path.relative_to(ROOT))] = found
    assert problems == {}
