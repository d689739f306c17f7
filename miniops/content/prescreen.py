"""The pre-screen: a lexicon matched on normalised text, in the publish path.

Text is normalised before matching, the lexicon's terms the same way:

1. NFKC (full-width letters and digits become ASCII, compatibility forms fold);
2. lower case;
3. traditional to simplified Chinese (OpenCC ``t2s``);
4. noise removed: every character that is not a letter or a digit (spaces,
   punctuation, symbols, zero-width and other format characters), so ``敏@感``,
   ``敏 感`` and ``敏\u200b感`` all read ``敏感``.

Matching is one Aho–Corasick automaton (``ahocorasick-rs``, a Rust contiguous NFA) over
the whole lexicon: time linear in the text, whatever the number of terms. Every hit keeps
its span in the original text (to mask it, or to highlight it for the
reviewer). ``allow`` entries cancel the hits they overlap (an innocent word that
contains a listed one). A built-in "ads" rule finds phone numbers, WeChat ids
and web addresses.

Texts of 256 characters or more are folded and cleaned in one array pass
(``_prepare``: two table look-ups over the code points, no intermediate
strings) whenever that gives exactly the step-by-step result; the others, and
short texts, go step by step.

This module knows nothing of the database: ``content.services.lexicon`` builds a
``Matcher`` from the entries and keeps one per lexicon version in each process.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import ahocorasick_rs
import numpy as np
import opencc

BLOCK, REVIEW, MASK, ALLOW = "block", "review", "mask", "allow"
PASS = "pass"  # noqa: S105 - a verdict, not a secret
#: verdict order: the strongest action among the hits wins
_STRENGTH = {PASS: 0, MASK: 1, REVIEW: 2, BLOCK: 3}
MASK_CHAR = "*"

_converter = opencc.OpenCC("t2s")


@cache
def _noise_ranges() -> list[tuple[int, int]]:
    """Every code point that is not a letter, a mark or a digit (punctuation,
    symbols, spaces, controls, format and zero-width characters), as ranges: the
    BMP plus the tag characters and symbol blocks above it."""
    ranges: list[tuple[int, int]] = []
    blocks = [range(0x10000), range(0x1F000, 0x1FB00), range(0xE0000, 0xE0080)]
    for block in blocks:
        for code in block:
            category = unicodedata.category(chr(code))
            if category[0] in "PSZC" and category not in ("Co", "Cs"):
                if ranges and ranges[-1][1] == code - 1:
                    ranges[-1] = (ranges[-1][0], code)
                else:
                    ranges.append((code, code))
    return ranges


def _char_class(ranges: list[tuple[int, int]]) -> str:
    def esc(code: int) -> str:
        return f"\\U{code:08x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


@cache
def _tables() -> tuple[list[int], list[int | None]]:
    """``str.translate`` tables over the BMP (a list lookup per character, no
    exceptions): full-width ASCII and the ideographic space to ASCII (what NFKC
    changes in nearly every Chinese text: its punctuation), and noise deleted."""
    half: list[int] = list(range(0x10000))
    for code in range(0xFF01, 0xFF5F):
        half[code] = code - 0xFEE0
    half[0x3000] = 0x20
    clean: list[int | None] = list(range(0x10000))
    for first, last in _noise_ranges():
        for code in range(first, min(last, 0xFFFF) + 1):
            clean[code] = None
    return half, clean


@cache
def _traditional_codes() -> tuple[int, ...]:
    """The characters OpenCC's t2s changes on their own (all of the block when the
    conversion does not keep the length, to stay on the safe side)."""
    chars = "".join(chr(c) for c in range(0x3400, 0xA000))
    converted = _converter.convert(chars)
    if len(converted) != len(chars):
        return tuple(range(0x3400, 0xA000))
    return tuple(ord(a) for a, b in zip(chars, converted, strict=True) if a != b)


@cache
def _traditional() -> re.Pattern[str]:
    """The characters OpenCC's t2s changes: a text without any skips OpenCC."""
    ranges: list[tuple[int, int]] = []
    for code in _traditional_codes():
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return re.compile(f"[{_char_class(ranges)}]")


@cache
def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same tables as arrays over every code point, for a vectorised pass:
    ``half`` (the full-width mapping), ``keep`` (not noise: the BMP table plus the
    astral noise blocks) and ``digit`` (what ``\\d`` may match: decimal digits of
    the BMP, and every astral code point, to stay on the safe side)."""
    half_list, clean_list = _tables()
    half = np.arange(0x110000, dtype=np.uint32)
    half[:0x10000] = np.asarray(half_list, dtype=np.uint32)
    keep = np.ones(0x110000, dtype=bool)
    keep[:0x10000] = np.asarray([code is not None for code in clean_list], dtype=bool)
    for first, last in _noise_ranges():
        if last >= 0x10000:
            keep[max(first, 0x10000) : last + 1] = False
    digit = np.ones(0x110000, dtype=bool)
    digit[:0x10000] = np.asarray(
        [unicodedata.category(chr(code)) == "Nd" for code in range(0x10000)], dtype=bool
    )
    return half, keep, digit


@cache
def _case_arrays() -> tuple[np.ndarray, np.ndarray]:
    """For the one-pass fold of long texts: ``low`` (each code point's lower case,
    where ``str.lower`` maps it to one character) and ``odd`` (what the one pass
    cannot do exactly: a lower case of several characters such as ``İ``, the
    Greek capital sigma, whose lower case depends on the next letter, and every
    character OpenCC's ``t2s`` changes). A text holding an ``odd`` character takes
    the step-by-step path."""
    low = np.arange(0x110000, dtype=np.uint32)
    odd = np.zeros(0x110000, dtype=bool)
    every = "".join(map(chr, range(0x110000)))
    for block in range(0, 0x110000, 256):
        chars = every[block : block + 256]
        if chars.lower() == chars:  # most blocks have no case at all
            continue
        for code, char in enumerate(chars, start=block):
            lowered = char.lower()
            if lowered != char:
                if len(lowered) == 1:
                    low[code] = ord(lowered)
                else:
                    odd[code] = True
    odd[0x03A3] = True  # Σ: σ or ς
    for code in _traditional_codes():
        odd[code] = True
    return low, odd


_KEEP, _DIGIT, _ODD, _RISKY, _ADS = 1, 2, 4, 8, 16


@cache
def _fold_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``half``, ``low`` and, indexed like ``low`` (by a code point after the
    full-width table), flags of what it becomes: ``_KEEP`` (not noise), ``_DIGIT``
    (what ``\\d`` may match), ``_ODD`` (``_case_arrays``): one look-up gives all
    three."""
    half, keep, digit = _arrays()
    low, odd = _case_arrays()
    flags = (
        keep[low].astype(np.uint8)
        | (digit[low].astype(np.uint8) << 1)
        | (odd.astype(np.uint8) << 2)
    )
    return half, low, flags


#: planes with characters (BMP, SMP, SIP, TIP, SSP and the private-use planes);
#: every code point of planes 4–13 counts as "may not be NFKC" without a look
_ASSIGNED_PLANES = (range(0, 0x40000), range(0xE0000, 0x110000))


@cache
def _nfkc_risky() -> np.ndarray:
    """Code points that may keep a text from being NFKC-normalised: NFKC changes
    them on their own, they combine (canonical combining class ≠ 0), or they may
    compose with the character before them (the second character of a two-character
    canonical decomposition, the Hangul vowel and trailing jamo). A text with none
    of them is NFKC-normalised (Unicode's quick check: every character "Yes" with
    combining class 0), so the one pass needs no ``is_normalized`` call; a text
    with one is checked as before."""
    risky = np.ones(0x110000, dtype=bool)
    every = "".join(map(chr, range(0x110000)))
    for plane in _ASSIGNED_PLANES:
        risky[plane.start : plane.stop] = False
        for block in range(plane.start, plane.stop, 256):
            chars = every[block : block + 256]
            if not unicodedata.is_normalized("NFKC", chars):
                # a character NFKC changes on its own changes the block as well
                for code, char in enumerate(chars, start=block):
                    if not unicodedata.is_normalized("NFKC", char):
                        risky[code] = True
            for code, char in enumerate(chars, start=block):
                if unicodedata.combining(char):
                    risky[code] = True
                parts = unicodedata.decomposition(char).split()
                if len(parts) == 2 and not parts[0].startswith("<"):
                    risky[int(parts[1], 16)] = True
    risky[0x1161:0x1176] = True  # Hangul vowel jamo
    risky[0x11A8:0x11C3] = True  # Hangul trailing jamo
    risky[0xD800:0xE000] = True  # lone surrogates: leave them to the string check
    return risky


@cache
def _one_pass_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Indexed by a code point of the text as written: what it folds to (full-width
    table, then lower case) and its flags — ``_fold_arrays``' three, plus ``_RISKY``
    (``_nfkc_risky`` of its full-width form) and ``_ADS`` (it folds to one of the
    characters every ads word or address holds: ``_may_have_ads`` has nothing to
    look for in a text without any). Two look-ups per character."""
    half, low, flags = _fold_arrays()
    folded = low[half]
    ads = np.zeros(0x110000, dtype=bool)
    ads[[ord(char) for char in _ADS_CHARS + "."]] = True
    marks = (
        flags[half]
        | (_nfkc_risky()[half].astype(np.uint8) << 3)
        | (ads[folded].astype(np.uint8) << 4)
    )
    return folded, marks


def _codes(text: str) -> np.ndarray:
    """The code points of ``text`` (lone surrogates included) as an array."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _text(codes: np.ndarray) -> str:
    return codes.astype("<u4", copy=False).tobytes().decode("utf-32-le", "surrogatepass")


#: below this length ``str.translate`` beats the fixed cost of the array pass
_SHORT = 256


def _fold(text: str) -> str:
    if not text.isascii():  # ASCII has no full-width forms
        if len(text) < _SHORT:
            text = text.translate(_tables()[0])
        else:
            half, _keep, _digit = _arrays()
            text = _text(half[_codes(text)])
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if not text.isascii() and _traditional().search(text) is not None:
        text = _converter.convert(text)
    return text


def _strip_noise(folded: str) -> str:
    if folded.isascii() and folded.isalnum():
        return folded
    if len(folded) < _SHORT and max(folded, default="") <= "\uffff":
        return folded.translate(_tables()[1])
    _half, keep, _digit = _arrays()
    codes = _codes(folded)
    return _text(codes[keep[codes]])


def _kept_at(folded: str) -> np.ndarray:
    """For each character of ``_strip_noise(folded)``, its index in ``folded``."""
    _half, keep, _digit = _arrays()
    return np.flatnonzero(keep[_codes(folded)])


def normalize(text: str) -> str:
    """The form the automaton matches: folded, then without noise characters."""
    return _prepare(text)[1]


def _prepare(text: str) -> tuple[str, str, np.ndarray | None, int | None]:
    """``(folded, clean, kept_at, digits)``: ``_fold(text)``, ``_strip_noise`` of
    that, and for long texts the index in ``folded`` of each character of
    ``clean`` and how many characters of ``folded`` ``\\d`` may match (None for
    short texts, which ``str.translate`` serves faster; -1 when the text holds no
    character an ads expression looks for, so there is nothing to search).

    A long text goes through one array pass: two look-ups over the code points
    (``_one_pass_arrays``: folded code point, flags), then the "not noise" mask,
    without building the intermediate strings of the step-by-step path. Texts that
    may need NFKC (checked on the string only when a character is ``_RISKY``), or
    that hold an ``odd`` character (``_case_arrays``), take the step-by-step path,
    so the result is always the step-by-step one."""
    if len(text) >= _SHORT:
        folded_of, flags_of = _one_pass_arrays()
        codes = _codes(text)
        marks = flags_of[codes]
        if not (marks & _ODD).any() and (
            not (marks & _RISKY).any()
            or unicodedata.is_normalized("NFKC", _text(_fold_arrays()[0][codes]))
        ):
            folded = folded_of[codes]
            kept = (marks & _KEEP).astype(bool)
            digits = int(np.count_nonzero(marks & _DIGIT))
            if digits < 7 and not (marks & _ADS).any():
                digits = -1
            return _text(folded), _text(folded[kept]), np.flatnonzero(kept), digits
    folded_text = _fold(text)
    return folded_text, _strip_noise(folded_text), None, None


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


_PHONE_LOOSE = re.compile(r"(?<!\d)1(?:[^\d\n]{0,2}\d){10}(?!\d)")
_NON_DIGIT = re.compile(r"\D")
#: cheap test before the ads expressions
_SEVEN_DIGITS = re.compile(r"\d(?:\D{0,2}\d){6}")
_ADS_WORDS = (
    "微信",
    "威信",
    "薇信",
    "徽信",
    "v信",
    "vx",
    "wx",
    "weixin",
    "wechat",
    "加v",
    "+v",
    "http",
    "www",
)


_ADS_CHARS = "信vwh"
assert all(any(char in word for char in _ADS_CHARS) for word in _ADS_WORDS)


#: one alternation (13 short words): three times faster than an automaton here
_ADS_WORD = re.compile("|".join(map(re.escape, _ADS_WORDS)))


def _may_have_ads(folded: str, digits: int | None = None) -> bool:
    """Cheap tests before the ads expressions: a word of theirs, a dot, digits
    (at least seven characters that ``\\d`` may match before the expression).
    ``digits`` -1: ``_prepare`` found none of the characters these look for."""
    if digits == -1:
        return False
    if "." in folded and _URL.search(folded) is not None:
        return True
    # every ads word holds one of these characters: a quick look before the expression
    if any(char in folded for char in _ADS_CHARS) and _ADS_WORD.search(folded) is not None:
        return True
    if len(folded) < _SHORT:
        return _SEVEN_DIGITS.search(folded) is not None
    if digits is None:  # (``_prepare`` counted them on its one pass)
        if folded.isascii():
            digits = sum(folded.count(d) for d in "0123456789")
        else:
            _half, _keep, digit = _arrays()
            digits = int(np.count_nonzero(digit[_codes(folded)]))
    return digits >= 7 and _SEVEN_DIGITS.search(folded) is not None


def _ads_hits(folded: str, sources: list[int], length: int) -> list[Hit]:
    hits: list[Hit] = []

    def span(start: int, end: int) -> tuple[int, int]:
        return sources[start], (sources[end - 1] + 1 if end - 1 < len(sources) else length)

    for pattern, term in ((_URL, "url"), (_WECHAT_ID, "wechat_id")):
        for match in pattern.finditer(folded):
            start, end = span(match.start(), match.end())
            hits.append(Hit(term, "ads", REVIEW, start, end, rule=term))
    # phone numbers, also with spaces or dashes between the digits
    for match in _PHONE_LOOSE.finditer(folded):
        if _PHONE.fullmatch(_NON_DIGIT.sub("", match.group())):
            start, end = span(match.start(), match.end())
            hits.append(Hit("phone", "ads", REVIEW, start, end, rule="phone"))
    return hits


# --- the matcher ------------------------------------------------------------------------------
class Matcher:
    """An automaton over ``entries``, built once per lexicon version."""

    def __init__(self, entries: list[Entry], *, version: int = 0, ads_rule: bool = True) -> None:
        self.version = version
        self.ads_rule = ads_rule
        self._entries: list[Entry] = []
        keys: list[str] = []
        seen: set[str] = set()
        for entry in entries:
            key = normalize(entry.term)
            if not key or key in seen:
                continue
            seen.add(key)
            keys.append(key)
            self._entries.append(entry)
        self.size = len(keys)
        _one_pass_arrays()  # the one-pass tables (about a second, once per process)
        self._automaton: Any = (
            ahocorasick_rs.AhoCorasick(
                keys,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                # twice as fast to scan as the default for a large lexicon
                implementation=ahocorasick_rs.Implementation.ContiguousNFA,
            )
            if keys
            else None
        )

    def _raw(self, clean: str) -> list[tuple[int, int, Entry]]:
        if self._automaton is None:
            return []
        return [
            (start, end, self._entries[index])
            for index, start, end in self._automaton.find_matches_as_indexes(
                clean, overlapping=True
            )
        ]

    def scan(self, text: str, *, ads: bool | None = None) -> Screen:
        folded, clean, kept, digits = _prepare(text)
        raw = self._raw(clean)
        use_ads = self.ads_rule if ads is None else ads
        ads_candidates = use_ads and _may_have_ads(folded, digits)
        if not raw and not ads_candidates:
            return Screen(PASS, [], text)
        # something to report: map spans of the folded and cleaned text back
        if len(folded) == len(text):
            sources: list[int] | range = range(len(text))
        else:
            folded, sources = _folded_with_sources(text)
            clean = _strip_noise(folded)
            raw = self._raw(clean)
            kept = None
        kept_at = kept if kept is not None else _kept_at(folded)

        def original(j: int) -> int:
            """The index in ``folded`` of character ``j`` of ``clean``."""
            return int(kept_at[j])

        hits: list[Hit] = []
        allows: list[tuple[int, int]] = []
        for start, end, entry in raw:
            span = (sources[original(start)], sources[original(end - 1)] + 1)
            if entry.action == ALLOW:
                allows.append(span)
            else:
                hits.append(Hit(entry.term, entry.category, entry.action, *span, entry.entry_id))
        if allows:
            hits = [
                hit for hit in hits if not any(a < hit.end and hit.start < b for a, b in allows)
            ]
        if ads_candidates:
            hits.extend(_ads_hits(folded, list(sources), len(text)))
        if not hits:
            return Screen(PASS, [], text)
        verdict = max((hit.action for hit in hits), key=_STRENGTH.__getitem__)
        return Screen(verdict, hits, _masked(text, hits))


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
