"""The content pre-screen: speed against a plain Python ``in`` loop over the same
lexicon in the same run, and quality (recall on obfuscated variants, false
positives on a clean corpus).

Speed: a synthetic lexicon of 50,000 entries (2–4 CJK characters, plus the seed
list), texts of 2,500 characters (demo-like sentences, one in five with a
listed word), timed one by one. Goal (issue #12): >= 5,000 texts/s in one
process and p99 < 2 ms.

Quality: >= 1,000 variants generated from the lexicon (full-width, traditional,
noise characters between letters, zero-width characters, mixed case) embedded in
shop sentences — recall >= 99 %; 10,000 clean reviews and posts built from the
demo's sentences — false positives <= 0.5 %.

    .venv/bin/python bench/bench_content.py [--texts 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import opencc  # noqa: E402

from miniops.content import prescreen  # noqa: E402

CLEAN_PARTS = [
    "质量很好",
    "做工细致",
    "和图片一样",
    "物流也快",
    "第二次购买了",
    "一如既往的好",
    "推荐",
    "整体不错",
    "就是包装有点简单",
    "穿着舒服",
    "尺码标准",
    "值得购买",
    "一般般",
    "和预期有点差距",
    "颜色和图片有色差",
    "不太满意",
    "收到有破损",
    "联系客服处理中",
    "今天入手的羊毛大衣",
    "版型很正",
    "颜色也百搭",
    "分享一下这周的通勤穿搭",
    "白衬衫配阔腿裤",
    "简单又舒服",
    "这款保温杯真的好用",
    "早上装的热水到晚上还是温的",
    "新买的四件套洗了一次",
    "没有起球",
    "手感很软",
    "周末在家做了番茄牛腩",
    "配米饭太香了",
    "求推荐适合小个子的羽绒服",
    "预算五百左右",
    "运动鞋穿了一个月",
    "脚感依然很好",
    "跑步不累",
    "晒一下我的收纳柜",
    "终于把杂物都整理好了",
    "这家的坚果很新鲜",
    "每天一小包当零食",
    "冬天必备的加湿器",
    "声音很小",
    "晚上开着也不吵",
    "客服回复很及时",
    "发货速度快",
    "性价比高",
    "孩子很喜欢",
    "送给爸妈的礼物",
    "包装很精美",
    "味道不错",
    "会回购的",
    "尺码偏大一码",
    "面料有弹性",
    "洗完不缩水",
    "颜色很正",
    "上身效果好",
    "电池很耐用",
    "充电很快",
    "屏幕清晰",
    "安装简单",
    "说明书写得清楚",
    "快递小哥很负责",
    "下雨天也准时送到",
    "good quality",
    "fast delivery",
    "nice",
]
PUNCT = ["，", "。", "！", "～", " ", "、"]
NOISE = ["@", " ", "*", "·", "-", "_", "/", "."]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060"]


def seed_entries() -> list[prescreen.Entry]:
    rows = (
        (ROOT / "miniops" / "content" / "lexicon_seed.csv")
        .read_text(encoding="utf-8")
        .splitlines()[1:]
    )
    entries = []
    for row in rows:
        term, category, action, _note = [*row.split(","), "", "", ""][:4]
        entries.append(prescreen.Entry(term, category, action))
    return entries


def synthetic_entries(n: int, rng: random.Random) -> list[prescreen.Entry]:
    """Words of 2–4 characters from the CJK block's rarer half (U+7000–U+9FA5),
    so that clean shop text rarely contains one by chance."""
    seen: set[str] = set()
    out = []
    while len(out) < n:
        word = "".join(chr(rng.randint(0x7000, 0x9FA5)) for _ in range(rng.randint(3, 4)))
        key = prescreen.normalize(word)
        if key in seen or len(key) < 3:
            continue
        seen.add(key)
        out.append(prescreen.Entry(word, "custom", "review"))
    return out


def sentence(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(CLEAN_PARTS) + rng.choice(PUNCT) for _ in range(parts))


def long_text(rng: random.Random, length: int, word: str | None) -> str:
    text = ""
    while len(text) < length:
        text += sentence(rng, 4)
    text = text[:length]
    if word:
        at = rng.randint(0, length - len(word))
        text = text[:at] + word + text[at + len(word) :]
    return text


def obfuscate(term: str, how: str, rng: random.Random, to_trad: opencc.OpenCC) -> str:
    if how == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)
    if how == "traditional":
        return to_trad.convert(term)
    if how == "noise":
        return rng.choice(NOISE).join(term)
    if how == "zero_width":
        return rng.choice(ZERO_WIDTH).join(term)
    if how == "case":
        return "".join(c.upper() if rng.random() < 0.5 else c for c in term)
    if how == "mixed":  # traditional, full-width and noise together
        return rng.choice(NOISE).join(obfuscate(to_trad.convert(term), "fullwidth", rng, to_trad))
    return term


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def speed(
    matcher: prescreen.Matcher, words: list[str], texts: list[str], baseline_texts: int
) -> dict[str, float]:
    for text in texts[:50]:  # warm
        matcher.scan(text)
    latencies = []
    start = time.perf_counter()
    for text in texts:
        t0 = time.perf_counter_ns()
        matcher.scan(text)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
    elapsed = time.perf_counter() - start
    # the baseline: normalise the same way, then `w in text` for every word
    keys = [prescreen.normalize(w) for w in words]
    base = []
    for text in texts[:baseline_texts]:
        t0 = time.perf_counter_ns()
        clean = prescreen.normalize(text)
        _hits = [k for k in keys if k in clean]
        base.append((time.perf_counter_ns() - t0) / 1e6)
    return {
        "texts_per_s": len(texts) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "baseline_texts_per_s": 1000 / statistics.mean(base),
        "baseline_p50_ms": percentile(base, 0.50),
        "baseline_p99_ms": percentile(base, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--baseline-texts", type=int, default=40)
    args = parser.parse_args()
    rng = random.Random(2026)
    to_trad = opencc.OpenCC("s2t")
    seeds = seed_entries()
    synthetic = synthetic_entries(args.entries, rng)
    entries = seeds + synthetic
    t0 = time.perf_counter()
    matcher = prescreen.Matcher(entries, version=1)
    build_s = time.perf_counter() - t0
    print(f"lexicon: {matcher.size} entries, automaton built in {build_s:.2f} s")

    words = [e.term for e in entries]
    texts = [
        long_text(rng, 2500, rng.choice(words) if i % 5 == 0 else None) for i in range(args.texts)
    ]
    figures = speed(matcher, words, texts, args.baseline_texts)
    print(
        "speed, 2,500-character texts: "
        f"{figures['texts_per_s']:,.0f} texts/s, p50 {figures['p50_ms']:.3f} ms, "
        f"p99 {figures['p99_ms']:.3f} ms, max {figures['max_ms']:.2f} ms"
    )
    print(
        f"baseline (`in` loop over {len(words):,} words, {args.baseline_texts} texts): "
        f"{figures['baseline_texts_per_s']:,.1f} texts/s, p50 {figures['baseline_p50_ms']:.1f} ms, "
        f"p99 {figures['baseline_p99_ms']:.1f} ms -> automaton "
        f"{figures['texts_per_s'] / figures['baseline_texts_per_s']:,.0f}x faster"
    )
    short = [sentence(rng, 3) for _ in range(args.texts)]
    t0 = time.perf_counter()
    for text in short:
        matcher.scan(text)
    rate = len(short) / (time.perf_counter() - t0)
    print(f"speed, short texts (~30 characters): {rate:,.0f} texts/s")

    # --- quality -----------------------------------------------------------------------
    hows = ["fullwidth", "traditional", "noise", "zero_width", "case", "mixed"]
    latin = [e.term for e in seeds if e.term.isascii()]
    chinese = [e.term for e in seeds if not e.term.isascii()]
    cases = []
    for i in range(1200):
        how = hows[i % len(hows)]
        pool = latin if how in {"case", "fullwidth"} and latin and i % 2 else chinese
        if how in {"noise", "zero_width"} and i % 3 == 0:
            pool = [e.term for e in synthetic[:2000]]
        term = rng.choice(pool)
        variant = obfuscate(term, how, rng, to_trad)
        cases.append((term, how, sentence(rng, 2) + variant + sentence(rng, 2)))
    missed = [
        (t, h, s) for t, h, s in cases if not any(hit.term == t for hit in matcher.scan(s).hits)
    ]
    recall = 1 - len(missed) / len(cases)
    by_how = {h: sum(1 for _t, hh, _s in missed if hh == h) for h in hows}
    print(f"recall: {recall:.2%} on {len(cases)} obfuscated variants (missed per kind: {by_how})")
    for t, h, s in missed[:5]:
        print(f"  missed {t!r} ({h}): {s!r}")
    clean = [sentence(rng, rng.randint(2, 6)) for _ in range(10_000)]
    flagged = [text for text in clean if matcher.scan(text).hits]
    print(f"false positives: {len(flagged) / len(clean):.2%} of {len(clean)} clean texts")
    for text in flagged[:5]:
        print(f"  flagged: {text!r} -> {[h.term for h in matcher.scan(text).hits]}")


if __name__ == "__main__":
    main()
