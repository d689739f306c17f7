"""The lexicon of the pre-screen: entries managed in the console (audited), one
automaton per lexicon version in each process.

Every change bumps ``content:lexicon:version`` in the shared cache after commit;
each process reads the version through a one-second memo and rebuilds its
automaton when the version moved, so a change is in force everywhere within a
couple of seconds (the catalog's versioned cache, decision 0007).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from miniops.content import prescreen
from miniops.content.models import Category, LexiconAction, LexiconEntry
from miniops.core import audit, localcache
from miniops.core.errors import InvalidInput
from miniops.core.exports import unescape_cell
from miniops.core.permissions import P, require

VERSION_KEY = "content:lexicon:version"
MAX_TERM = 64
MAX_IMPORT_ROWS = 200_000
CSV_HEADER = ["term", "category", "action", "note"]

_lock = threading.Lock()
_built: prescreen.Matcher | None = None


def version() -> int:
    def load() -> int:
        value = cache.get(VERSION_KEY)
        if value is None:
            cache.add(VERSION_KEY, time.time_ns(), timeout=None)
            value = cache.get(VERSION_KEY, 1)
        return int(value)

    return localcache.get_or_load(VERSION_KEY, 1.0, load)


def _bump() -> None:
    def after_commit() -> None:
        # a new, never-used number (not an increment): a cache flushed and counted
        # up again can never name an automaton some process built before
        cache.set(VERSION_KEY, time.time_ns(), timeout=None)
        localcache.forget(VERSION_KEY)

    transaction.on_commit(after_commit)


def entries() -> list[prescreen.Entry]:
    return [
        prescreen.Entry(term, category, action, pk)
        for pk, term, category, action in LexiconEntry.objects.filter(is_active=True)
        .order_by("pk")
        .values_list("pk", "term", "category", "action")
        .iterator(chunk_size=5000)
    ]


def matcher() -> prescreen.Matcher:
    """This process's automaton for the current lexicon version."""
    global _built
    current = version()
    built = _built
    if built is not None and built.version == current:
        return built
    with _lock:
        if _built is None or _built.version != current:
            _built = prescreen.Matcher(entries(), version=current)
        return _built


def screen(text: str) -> prescreen.Screen:
    return matcher().scan(text)


# --- changes ----------------------------------------------------------------------------------
def _clean_entry(term: Any, category: Any, action: Any, note: Any = "") -> dict[str, Any]:
    errors: dict[str, str] = {}
    term = term.strip() if isinstance(term, str) else ""
    normalized = prescreen.normalize(term) if term else ""
    if not normalized or len(term) > MAX_TERM or "\x00" in term:
        errors["term"] = _("A word or phrase of at most %d characters.") % MAX_TERM
    if category not in Category.values:
        errors["category"] = _("Choose a category.")
    if action not in LexiconAction.values:
        errors["action"] = _("Choose an action.")
    if errors:
        raise InvalidInput(fields=errors)
    return {
        "term": term,
        "normalized": normalized[:MAX_TERM],
        "category": category,
        "action": action,
        "note": (note or "").strip()[:200] if isinstance(note, str) else "",
    }


@transaction.atomic
def add_entry(*, term: str, category: str, action: str, note: str = "", actor: Any) -> LexiconEntry:
    require(actor, P.CONTENT_MANAGE)
    data = _clean_entry(term, category, action, note)
    if LexiconEntry.objects.filter(normalized=data["normalized"]).exists():
        raise InvalidInput(fields={"term": _("The lexicon already has this word.")})
    with audit.acting_as(actor):
        entry = LexiconEntry.objects.create(**data)
    _bump()
    return entry


@transaction.atomic
def save_entry(*, entry: LexiconEntry, actor: Any) -> LexiconEntry:
    """A console edit (term, category, action, note, active)."""
    require(actor, P.CONTENT_MANAGE)
    data = _clean_entry(entry.term, entry.category, entry.action, entry.note)
    clash = LexiconEntry.objects.filter(normalized=data["normalized"]).exclude(pk=entry.pk)
    if clash.exists():
        raise InvalidInput(fields={"term": _("The lexicon already has this word.")})
    for name, value in data.items():
        setattr(entry, name, value)
    with audit.acting_as(actor):
        entry.save()
    _bump()
    return entry


@transaction.atomic
def delete_entry(*, entry: LexiconEntry, actor: Any) -> None:
    require(actor, P.CONTENT_MANAGE)
    with audit.acting_as(actor):
        entry.delete()
    _bump()


def parse_csv(data: bytes) -> list[dict[str, Any]]:
    """Rows of a lexicon CSV (``term,category,action,note``; a header row is
    optional, UTF-8 with or without BOM); every bad row is named."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(fields={"file": _("Save the file as UTF-8 CSV.")}) from exc
    rows: list[dict[str, Any]] = []
    bad: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() == "term":
            continue
        cells = [unescape_cell(cell) for cell in row] + ["", "", ""]
        try:
            rows.append(
                _clean_entry(
                    cells[0],
                    cells[1].strip() or Category.CUSTOM,
                    cells[2].strip() or LexiconAction.REVIEW,
                    cells[3],
                )
            )
        except InvalidInput:
            bad.append(str(number))
        if len(rows) > MAX_IMPORT_ROWS:
            raise InvalidInput(fields={"file": _("At most %d rows.") % MAX_IMPORT_ROWS})
    if bad:
        raise InvalidInput(
            fields={"file": _("Rows %s are not term,category,action,note.") % ", ".join(bad[:20])}
        )
    return rows


@transaction.atomic
def import_rows(*, rows: Iterable[dict[str, Any]], actor: Any) -> dict[str, int]:
    """Add the rows whose word is new, update the others (category, action, note);
    one audit row for the import."""
    require(actor, P.CONTENT_MANAGE)
    by_key = {row["normalized"]: row for row in rows}
    existing = {
        entry.normalized: entry
        for entry in LexiconEntry.objects.filter(normalized__in=list(by_key))
    }
    new = [LexiconEntry(**row) for key, row in by_key.items() if key not in existing]
    changed = []
    for key, entry in existing.items():
        row = by_key[key]
        if (entry.category, entry.action, entry.is_active) != (
            row["category"],
            row["action"],
            True,
        ):
            entry.category, entry.action, entry.is_active = row["category"], row["action"], True
            entry.note = row["note"] or entry.note
            changed.append(entry)
    LexiconEntry.objects.bulk_create(new, batch_size=2000)
    LexiconEntry.objects.bulk_update(
        changed, ["category", "action", "is_active", "note"], batch_size=2000
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        model=LexiconEntry,
        object_repr=_("Lexicon import"),
        additional={"import": True, "added": len(new), "updated": len(changed)},
    )
    _bump()
    return {"added": len(new), "updated": len(changed)}


def load_seed(*, actor: Any = None) -> int:
    """The small neutral seed list shipped with miniops (``lexicon_seed.csv``):
    gambling, ads, abuse and adult words. No political list is shipped; operators
    import their own (docs/operator-guide.md)."""
    from pathlib import Path

    rows = parse_csv((Path(__file__).parent.parent / "lexicon_seed.csv").read_bytes())
    keys = set(LexiconEntry.objects.values_list("normalized", flat=True))
    new = [LexiconEntry(**row) for row in rows if row["normalized"] not in keys]
    with transaction.atomic():
        LexiconEntry.objects.bulk_create(new, batch_size=2000)
        _bump()
    return len(new)


def export_rows() -> Iterable[list[Any]]:
    for entry in LexiconEntry.objects.order_by("category", "term").iterator(chunk_size=5000):
        yield [entry.term, entry.category, entry.action, entry.note]


def explain(text: str) -> dict[str, Any]:
    """The console's "test a sentence": the verdict, each hit and why."""
    if not isinstance(text, str) or len(text) > 10_000:
        raise InvalidInput(fields={"text": _("At most %d characters.") % 10_000})
    result = screen(text)
    return {
        "verdict": result.verdict,
        "normalized": prescreen.normalize(text),
        "masked": result.text,
        "hits": [{**hit.as_dict(), "matched": text[hit.start : hit.end]} for hit in result.hits],
        "version": matcher().version,
        "entries": matcher().size,
    }
