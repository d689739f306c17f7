"""The category tree: at most three levels, never a loop, levels follow their parent,
and a category in use cannot be deleted."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from miniops.catalog import services
from miniops.catalog.models import Category
from miniops.core.errors import Conflict, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def make(name: str, parent: Category | None = None) -> Category:
    return services.save_category(actor=None, name=name, parent=parent)


def levels() -> dict[str, int]:
    return dict(Category.objects.values_list("name", "level"))


@pytest.fixture
def chain() -> dict[str, Category]:
    """服装 (1) > 男装 (2) > T恤 (3), and a second root 数码 with a child 手机."""
    root = make("服装")
    men = make("男装", root)
    tees = make("T恤", men)
    digital = make("数码")
    phones = make("手机", digital)
    return {"root": root, "men": men, "tees": tees, "digital": digital, "phones": phones}


def test_levels_are_set_from_the_parent(chain: dict[str, Category]) -> None:
    # given the chain built through the service
    # then
    assert levels() == {"服装": 1, "男装": 2, "T恤": 3, "数码": 1, "手机": 2}
    assert chain["tees"].parent_id == chain["men"].pk


def test_a_fourth_level_is_refused(chain: dict[str, Category]) -> None:
    # given a category at level 3
    before = Category.objects.count()
    # when / then
    with pytest.raises(InvalidInput) as caught:
        make("圆领", chain["tees"])
    assert caught.value.code == "invalid_input"
    assert "parent" in caught.value.fields
    assert Category.objects.count() == before


def test_moving_a_subtree_under_a_deep_parent_is_refused(chain: dict[str, Category]) -> None:
    # given 数码 (1) with a child: moving it below 男装 (2) would put 手机 at level 4
    digital = chain["digital"]
    # when / then
    with pytest.raises(InvalidInput) as caught:
        services.save_category(actor=None, category=digital, name="数码", parent=chain["men"])
    assert "parent" in caught.value.fields
    # nothing moved
    digital.refresh_from_db()
    assert digital.parent_id is None
    assert levels() == {"服装": 1, "男装": 2, "T恤": 3, "数码": 1, "手机": 2}


def test_moving_a_subtree_that_fits_is_accepted(chain: dict[str, Category]) -> None:
    # given 数码 (1) > 手机 (2): under a root it becomes 2 > 3
    # when
    services.save_category(actor=None, category=chain["digital"], name="数码", parent=chain["root"])
    # then
    assert levels() == {"服装": 1, "男装": 2, "T恤": 3, "数码": 2, "手机": 3}


def test_descendant_levels_follow_a_parent_moved_to_the_top(chain: dict[str, Category]) -> None:
    # given 男装 (2) > T恤 (3)
    # when 男装 becomes a root
    services.save_category(actor=None, category=chain["men"], name="男装", parent=None)
    # then its child moves up with it
    assert levels() == {"服装": 1, "男装": 1, "T恤": 2, "数码": 1, "手机": 2}
    # and a third level is possible again below T恤
    make("圆领", Category.objects.get(name="T恤"))
    assert levels()["圆领"] == 3


def test_descendant_levels_follow_a_parent_moved_down(chain: dict[str, Category]) -> None:
    # given 男装 made a root, then put back below 数码
    men = services.save_category(actor=None, category=chain["men"], name="男装", parent=None)
    # when
    services.save_category(actor=None, category=men, name="男装", parent=chain["digital"])
    # then
    assert levels() == {"服装": 1, "男装": 2, "T恤": 3, "数码": 1, "手机": 2}


@pytest.mark.parametrize("target", ["root", "men", "tees"])
def test_a_category_cannot_move_below_itself_or_its_descendants(
    chain: dict[str, Category], target: str
) -> None:
    # given 服装 > 男装 > T恤
    root = chain["root"]
    # when / then
    with pytest.raises(InvalidInput) as caught:
        services.save_category(actor=None, category=root, name="服装", parent=chain[target])
    assert "parent" in caught.value.fields
    root.refresh_from_db()
    assert root.parent_id is None
    assert root.level == 1


def test_a_middle_category_cannot_move_below_its_child(chain: dict[str, Category]) -> None:
    # given 男装 > T恤
    men = chain["men"]
    # when / then
    with pytest.raises(InvalidInput):
        services.save_category(actor=None, category=men, name="男装", parent=chain["tees"])
    men.refresh_from_db()
    assert men.parent_id == chain["root"].pk


def test_a_duplicate_name_below_the_same_parent_is_refused(chain: dict[str, Category]) -> None:
    # given 服装 > 男装
    # when / then
    with pytest.raises(InvalidInput):
        make("男装", chain["root"])
    assert Category.objects.filter(name="男装").count() == 1
    # the same name below another parent is fine
    make("男装", chain["digital"])
    assert Category.objects.filter(name="男装").count() == 2


@pytest.mark.parametrize("name", ["", "   ", "x" * 33])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        make(name)
    assert not Category.objects.exists()


def test_names_are_trimmed() -> None:
    assert make("  家居  ").name == "家居"


def test_the_database_refuses_a_level_outside_one_to_three() -> None:
    # given a category written around the service
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="深", level=4)


def test_a_category_with_children_cannot_be_deleted(chain: dict[str, Category]) -> None:
    # when / then
    with pytest.raises(Conflict):
        services.delete_category(category=chain["men"], actor=None)
    assert Category.objects.filter(pk=chain["men"].pk).exists()


def test_a_category_with_products_cannot_be_deleted(chain: dict[str, Category]) -> None:
    # given a leaf holding a product
    factories.product(category_obj=chain["phones"])
    # when / then
    with pytest.raises(Conflict):
        services.delete_category(category=chain["phones"], actor=None)
    assert Category.objects.filter(pk=chain["phones"].pk).exists()


def test_an_empty_leaf_can_be_deleted(chain: dict[str, Category]) -> None:
    # given
    actor = factories.operator_with_role("ops_staff")
    # when
    services.delete_category(category=chain["tees"], actor=actor)
    # then
    assert not Category.objects.filter(name="T恤").exists()
    assert Category.objects.filter(name="男装").exists()


def test_two_roots_cannot_share_a_name() -> None:
    # given
    make("服装")
    # when / then
    with pytest.raises(InvalidInput):
        make("服装")
