"""The one filter and the one form field for money."""

from __future__ import annotations

from django.template import Context, Template

from miniops.catalog.models import Sku
from miniops.core.forms import YuanField


def test_the_yuan_filter_shows_fen_as_yuan() -> None:
    template = Template("{% load money %}{{ a|yuan }} {{ b|yuan }} {{ c|yuan }}")
    assert template.render(Context({"a": 28499, "b": -500, "c": None})) == "¥284.99 -¥5.00 —"


def test_every_money_column_is_typed_in_yuan() -> None:
    field = Sku._meta.get_field("price").formfield()
    assert isinstance(field, YuanField)
    assert field.clean("284.99") == 28499
    assert field.prepare_value(28499) == "284.99"


def test_the_yuan_input_leaves_room_for_its_prefix() -> None:
    # unfold draws the "¥" over the input's left padding: the input makes room for it
    field = YuanField()
    html = str(field.widget.render("price", field.prepare_value(1250)))
    assert "¥" in html
    assert 'value="12.50"' in html
    classes = html.split('class="')[-1].split('"')[0].split()
    assert "pl-8" in classes
