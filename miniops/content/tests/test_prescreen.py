"""The pre-screen on its own (no database): the normalisation that defeats the usual
obfuscations, spans in the original text, masking, ``allow`` entries, the built-in
ads rule, and the one array pass for long texts giving exactly the step-by-step
result (a property test over texts built from the characters where the two could
differ)."""

from __future__ import annotations

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miniops.content import prescreen
from miniops.content.prescreen import BLOCK, MASK, PASS, REVIEW, Entry, Matcher

ENTRIES = [
    Entry("敏感", "custom", REVIEW),
    Entry("赌博网站", "gambling", BLOCK),
    Entry("垃圾", "abuse", MASK),
    Entry("badword", "abuse", BLOCK),
    Entry("垃圾分类", "custom", prescreen.ALLOW),  # an innocent phrase holding a listed word
]
FILLER = "今天收到的连衣裙面料很舒服，颜色和图片一致。"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(ENTRIES)


@pytest.mark.parametrize(
    "written",
    [
        "敏感",
        "敏@感",
        "敏 感",
        "敏\u200b感",  # zero-width space
        "敏\u200d\ufeff感",
        "敏．感",  # full-width punctuation between the letters
        "賭博網站",  # traditional
        "賭 博 網 站",
        "ＢａｄＷｏｒｄ",  # full-width and mixed case
        "B-A-D-W-O-R-D",
        "bad\u00a0word",
    ],
)
def test_obfuscated_words_are_found_in_short_and_long_texts(matcher: Matcher, written: str) -> None:
    for text in (f"看看{written}吧", FILLER * 12 + written + FILLER * 12):
        screen = matcher.scan(text)
        assert screen.verdict in (REVIEW, BLOCK), text
        hit = screen.hits[0]
        # the span covers the word as written in the original text
        assert (
            text[hit.start : hit.end].replace("\u200b", "")[:1] == written.replace("\u200b", "")[:1]
        )
        assert hit.end - hit.start == len(written)


def test_mask_allow_and_the_strongest_action(matcher: Matcher) -> None:
    masked = matcher.scan("这是垃圾，别买")
    assert masked.verdict == MASK
    assert masked.text == "这是**，别买"
    assert matcher.scan("小区开始垃圾分类了").verdict == PASS
    both = matcher.scan("垃圾赌博网站")
    assert both.verdict == BLOCK
    assert {h.category for h in both.hits} == {"abuse", "gambling"}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("加我微信 abc_12345 有优惠", "wechat_id"),
        ("联系 138 0013 8000 下单", "phone"),
        ("联系13800138000下单", "phone"),
        ("去 www.example.com 看看", "url"),
        ("详情 https://example.com/x", "url"),
    ],
)
def test_contact_details_are_the_built_in_ads_rule(matcher: Matcher, text: str, rule: str) -> None:
    for written in (text, FILLER * 15 + text + FILLER * 15):
        screen = matcher.scan(written)
        assert rule in {hit.rule for hit in screen.hits}, written
        assert screen.verdict == REVIEW
    assert Matcher(ENTRIES, ads_rule=False).scan(text).verdict == PASS


def test_clean_shop_text_passes(matcher: Matcher) -> None:
    for text in (FILLER, FILLER * 120, "Quality is fine, size 38, order 2026-12-01."):
        assert matcher.scan(text).verdict == PASS


# the characters where the one pass and the step-by-step path could part: full-width
# forms, case with several-character or context-dependent lower case, combining and
# composing characters, compatibility forms, traditional characters, noise,
# digits of other scripts, astral and tag characters, the ads characters
_TRICKY = [
    *list(
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可"
        "ＡｚＺ１０．＠\u3000！ＨＷＶ"
        "AbCdEvwhVWH.:/-_+0123456789"
        "İΣςßǅΩⅣⅳﬁ①㈱ｶ"
        "゙́\u200b\u200d\ufeff\xa0\n\t "
        "각가かが豈豈"
        "國語說們門開關時會東車馬"
        "信微٣"
    ),
    "😀",
    "\U000e0041",
    "𠀀",
    "\U00050000",
    "é",
    "が",
]
_WORDS = ["微信", "vx", "wx", "http", "www.", "wechat", "13800138000", "敏感", "賭博"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_TRICKY + _WORDS), min_size=1, max_size=40),
    st.sampled_from(["的", "是在", "ab", "12", "，"]),
)
def test_the_one_pass_gives_the_step_by_step_result(pieces: list[str], pad: str) -> None:
    text = "".join(pieces)
    text = (text + pad * prescreen._SHORT)[: max(prescreen._SHORT, len(text))]
    folded, clean, kept_at, digits = prescreen._prepare(text)
    expected = prescreen._fold(text)
    assert folded == expected
    assert clean == prescreen._strip_noise(expected)
    if kept_at is not None:
        assert list(kept_at) == list(prescreen._kept_at(expected))
    if digits == -1:
        assert not prescreen._may_have_ads(expected)
    elif digits is not None:
        assert digits == sum(ch.isdecimal() or ord(ch) > 0xFFFF for ch in expected)


def test_the_one_pass_is_taken_for_plain_chinese_text() -> None:
    text = FILLER * 20
    assert prescreen._prepare(text)[2] is not None  # the array pass, not step by step
    trad = opencc.OpenCC("s2t").convert(text)
    assert prescreen._prepare(trad)[0] == prescreen._fold(trad)
