"""WeChat's keyword rules: what would be refused is refused before sending."""

from __future__ import annotations

import pytest

from miniops.notifications import rules
from miniops.notifications.rules import FieldRefused, check


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("thing1", "无线耳机"),
        ("thing1", "x" * 20),
        ("number2", "12"),
        ("number2", "12.50"),
        ("letter3", "abc"),
        ("symbol4", "%"),
        ("character_string5", "MO2026120100001"),
        ("time6", "15:01"),
        ("time6", "2019年10月1日 15:01"),
        ("date7", "2019年10月1日"),
        ("date7", "2026-12-01 10:00"),
        ("date7", "2019年10月1日 ~ 2019年10月3日"),
        ("amount8", "¥100.00"),
        ("amount8", "100元"),
        ("amount8", "9.9"),
        ("phone_number9", "+86-13800138000"),
        ("car_number10", "粤A12345"),
        ("name11", "张三"),
        ("name11", "Li Lei"),
        ("phrase12", "已发货"),
    ],
)
def test_values_wechat_accepts_pass_unchanged(key: str, value: str) -> None:
    assert check(key, value, shorten=False) == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("thing1", ""),
        ("thing1", "two\nlines"),
        ("number2", "12a"),
        ("number2", "1" * 33),
        ("letter3", "ab1"),
        ("symbol4", "%%%%%%"),
        ("character_string5", "订单123"),
        ("character_string5", "a" * 33),
        ("character_string5", "has space"),
        ("date7", "tomorrow"),
        ("date7", "2019/13"),
        ("amount8", "100 dollars"),
        ("amount8", "¥12345678901"),
        ("phone_number9", "call me"),
        ("car_number10", "ABC"),
        ("name11", "张" * 11),
        ("phrase12", "已经发货了吗啊"),
        ("phrase12", "ok"),
    ],
)
def test_values_wechat_refuses_are_refused(key: str, value: str) -> None:
    with pytest.raises(FieldRefused) as info:
        check(key, value, shorten=False)
    assert info.value.field == key


def test_thing_and_name_are_shortened_safely_others_never() -> None:
    long = "超长的商品名称" * 5
    short = check("thing1", long)
    assert len(short) == 20
    assert short.endswith("…")
    assert check("name2", "张" * 15) == "张" * 9 + "…"
    with pytest.raises(FieldRefused):
        check("phrase3", "已经发货了吗啊")
    with pytest.raises(FieldRefused):
        check("character_string4", "a" * 40)


def test_rule_of_and_keywords_of() -> None:
    assert rules.rule_of("character_string12") == "character_string"
    assert rules.rule_of("thing1") == "thing"
    with pytest.raises(ValueError, match="unknown keyword"):
        rules.rule_of("bogus1")
    assert rules.keywords_of("A:{{thing1.DATA}}\nB:{{ amount2.DATA }}") == ["thing1", "amount2"]


def test_check_all_needs_exactly_the_template_keywords() -> None:
    assert rules.check_all({"thing1": "a", "amount2": "¥1"}, ["thing1", "amount2"]) == {
        "thing1": "a",
        "amount2": "¥1",
    }
    with pytest.raises(FieldRefused) as info:
        rules.check_all({"thing1": "a"}, ["thing1", "amount2"])
    assert info.value.field == "amount2"
    with pytest.raises(FieldRefused) as info:
        rules.check_all({"thing1": "a", "thing9": "b"}, ["thing1"])
    assert info.value.field == "thing9"
