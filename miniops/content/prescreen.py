"""The pre-screen: a lexicon matched on normalised text, in the publish path.

Text is normalised before matching, the lexicon's terms the same way:

1. NFKC (full-width letters and digits become ASCII, compatibility forms fold);
2. lower case;
3. traditional to simplified Chinese (OpenCC ``t2s``);
4. noise removed: every character that is not a letter or a digit (spaces,
   punctuation, symbols, zero-width and other format characters), so ``敏@感``,
   ``敏 感`` and ``敏\u200b感`` all read ``敏感``.

Matching is one Aho–Corasick automaton (``pyahocorasick``) over the whole
lexicon: time linear in the text, whatever the number of terms. Every hit keeps
its span in the original text (to mask it, or to highlight it for the
reviewer). ``allow`` entries cancel the hits they overlap (an innocent word that
contains a listed one). A built-in "ads" rule finds phone numbers, WeChat ids
and web addresses.

This module knows nothing of the database: ``content.services.lexicon`` builds a
``Matcher`` from the entries and keeps one per lexicon version in each process.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import ahocorasick
import opencc

BLOCK, REVIEW, MASK, ALLOW = "block", "review", "mask", "allow"
PASS = "pass"  # noqa: S105 - a verdict, not a secret
#: verdict order: the strongest action among the hits wins
_STRENGTH = {PASS: 0, MASK: 1, REVIEW: 2, BLOCK: 3}
MASK_CHAR = "*"

_converter = opencc.OpenCC("t2s")


@cache
def _noise_table() -> dict[int, None]:
    """Every code point that is not a letter, a mark or a digit, mapped to deletion
    (for ``str.translate``). The BMP plus the tag characters above it."""
    table: dict[int, None] = {}
    ranges = [range(0x10000), range(0xE0000, 0xE0080), range(0x1F000, 0x1FB00)]
    for block in ranges:
        for code in block:
            category = unicodedata.category(chr(code))
            if category[0] in "PSZC" and category != "Co":
                table[code] = None
    return table


def _fold(text: str) -> str:
    return _converter.convert(unicodedata.normalize("NFKC", text).lower())


def normalize(text: str) -> str:
    """The form the automaton matches: folded, then without noise characters."""
    return _fold(text).translate(_noise_table())


def _folded_with_sources(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, the index of the original
    character it came from. One pass for the whole text when folding keeps the
    length (nearly always); character by character otherwise."""
    folded = _fold(text)
    if len(folded) == len(text):
        return folded, list(range(len(text)))
    parts: list[str] = []
    sources: list[int] = []
    for index, char in enumerate(text):
        piece = _fold(char)
        parts.append(piece)
        sources.extend([index] * len(piece))
    return "".join(parts), sources


@dataclass(frozen=True)
class Entry:
    term: str
    category: str
    action: str
    entry_id: int | None = None


@dataclass(frozen=True)
class Hit:
    term: str
    category: str
    action: str
    start: int  # span in the original text, end exclusive
    end: int
    entry_id: int | None = None
    rule: str = "lexicon"

    def as_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "category": self.category,
            "action": self.action,
            "start": self.start,
            "end": self.end,
            "entry_id": self.entry_id,
            "rule": self.rule,
        }


@dataclass
class Screen:
    """What the pre-screen says about one text."""

    verdict: str  # pass, mask, review, block
    hits: list[Hit] = field(default_factory=list)
    text: str = ""  # the text to publish: masked spans replaced

    @property
    def categories(self) -> list[str]:
        return sorted({hit.category for hit in self.hits})


# --- the built-in ads rule -----------------------------------------------------------------
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_URL = re.compile(
    r"(?:https?://|www\.)[^\s]+|\b[a-z0-9][a-z0-9-]{1,62}\.(?:com|cn|net|org|top|xyz|cc|vip|shop|info|me|io|co)\b"
)
_WECHAT_ID = re.compile(
    r"(?:微信|威信|薇信|徽信|v信|vx|wx|weixin|wechat|加v|\+v)\s*(?:号|id)?\s*[:：=]?\s*([a-z][-_a-z0-9]{5,19})"
)


def _ads_hits(folded: str, sources: list[int], length: int) -> list[Hit]:
    hits: list[Hit] = []

    def span(start: int, end: int) -> tuple[int, int]:
        return sources[start], (sources[end - 1] + 1 if end - 1 < len(sources) else length)

    for pattern, term in ((_URL, "url"), (_WECHAT_ID, "wechat_id")):
        for match in pattern.finditer(folded):
            start, end = span(match.start(), match.end())
            hits.append(Hit(term, "ads", REVIEW, start, end, rule=term))
    # phone numbers, also with spaces or dashes between the digits: digits at most
    # two characters apart are one run
    runs: list[list[int]] = []
    for index, char in enumerate(folded):
        if char.isdigit() and char.isascii():
            if runs and index - runs[-1][-1] <= 3:
                runs[-1].append(index)
            else:
                runs.append([index])
    for run in runs:
        if len(run) < 11:
            continue
        joined = "".join(folded[i] for i in run)
        for match in _PHONE.finditer(joined):
            start, end = span(run[match.start()], run[match.end() - 1] + 1)
            hits.append(Hit("phone", "ads", REVIEW, start, end, rule="phone"))
    return hits


# --- the matcher ------------------------------------------------------------------------------
class Matcher:
    """An automaton over ``entries``, built once per lexicon version."""

    def __init__(self, entries: list[Entry], *, version: int = 0, ads_rule: bool = True) -> None:
        self.version = version
        self.ads_rule = ads_rule
        self.size = 0
        automaton: Any = ahocorasick.Automaton()
        for entry in entries:
            key = normalize(entry.term)
            if not key:
                continue
            automaton.add_word(key, (len(key), entry))
            self.size += 1
        self._automaton = automaton if self.size else None
        if self._automaton is not None:
            self._automaton.make_automaton()
        self._noise = _noise_table()

    def scan(self, text: str, *, ads: bool | None = None) -> Screen:
        folded = _fold(text)
        clean = folded.translate(self._noise)
        raw: list[tuple[int, int, Entry]] = []
        if self._automaton is not None:
            for end, (length, entry) in self._automaton.iter(clean):
                raw.append((end - length + 1, end + 1, entry))
        use_ads = self.ads_rule if ads is None else ads
        ads_candidates = use_ads and _may_have_ads(folded)
        if not raw and not ads_candidates:
            return Screen(PASS, [], text)
        # hits found: map spans of the cleaned text back to the original
        slow, sources = _folded_with_sources(text)
        if slow != folded:  # folding changed the length: match what was mapped
            folded = slow
            clean = folded.translate(self._noise)
            raw = []
            if self._automaton is not None:
                for end, (length, entry) in self._automaton.iter(clean):
                    raw.append((end - length + 1, end + 1, entry))
        kept = [i for i, c in enumerate(folded) if ord(c) not in self._noise]
        hits: list[Hit] = []
        allows: list[tuple[int, int]] = []
        for start, end, entry in raw:
            span = (sources[kept[start]], sources[kept[end - 1]] + 1)
            if entry.action == ALLOW:
                allows.append(span)
            else:
                hits.append(Hit(entry.term, entry.category, entry.action, *span, entry.entry_id))
        if allows:
            hits = [
                hit for hit in hits if not any(a < hit.end and hit.start < b for a, b in allows)
            ]
        if ads_candidates:
            hits.extend(_ads_hits(folded, sources, len(text)))
        if not hits:
            return Screen(PASS, [], text)
        verdict = max((hit.action for hit in hits), key=_STRENGTH.__getitem__)
        return Screen(verdict, hits, _masked(text, hits))


def _may_have_ads(folded: str) -> bool:
    """Cheap test before the ads expressions: digits enough for a phone, a dot or
    a WeChat word."""
    digits = sum(1 for c in folded if c.isdigit()) if len(folded) < 4000 else 11
    return digits >= 11 or "." in folded or "v" in folded or "信" in folded or "wechat" in folded


def _masked(text: str, hits: list[Hit]) -> str:
    spans = sorted((hit.start, hit.end) for hit in hits if hit.action == MASK)
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for index in range(start, min(end, len(chars))):
            if not chars[index].isspace():
                chars[index] = MASK_CHAR
    return "".join(chars)


def matcher_memory(matcher: Matcher) -> int:
    """Approximate bytes the automaton holds (for the console's figures)."""
    automaton = matcher._automaton
    if automaton is None:
        return 0
    stats = automaton.get_stats()
    return int(stats.get("total_size", 0)) or sys.getsizeof(automaton)
