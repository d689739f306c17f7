"""Everyday tasks from the console home, in a real browser, within their click
budgets (issue 11 §1), in Chinese and in English.

Every click, selection and tick on the way is counted by ``Clicks``; typing is not
a click. Screenshots land in ``test-artifacts/`` (``task-<name>-<language>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from miniops.catalog.models import Product, ProductStatus, StockLedger
from miniops.core.permissions import PERMISSIONS
from miniops.marketing.models import Coupon, CouponTemplate
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import open_picker, pick, screenshot, type_and_pick, wait_for_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = {"zh-hans": "zh-CN", "en": "en-US"}
#: What each flow took, reported by the test run (``-s``) and in the issue's note.
COUNTS: dict[str, int] = {}


class Clicks:
    """A page whose clicks are counted."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def click(self, selector: str, *, navigates: bool = True) -> None:
        self.count += 1
        if navigates:
            with self.page.expect_navigation():
                self.page.click(selector)
        else:
            self.page.click(selector)

    def select(self, selector: str, value: str) -> None:
        self.count += 1
        self.page.select_option(selector, value)


@pytest.fixture(params=list(LANGUAGES))
def lang_page(request: Any, browser: Any, live_server: Any) -> Iterator[tuple[str, Any]]:
    language = request.param
    context = browser.new_context(
        locale=LANGUAGES[language], viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield language, page
    context.close()


def _home(page: Any, live_server: Any, username: str, device: Any = None) -> None:
    """Signed in and on the console home (with the TOTP code of ``device`` for
    roles that need a second factor)."""
    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
    if device is not None:
        from django_otp.oath import totp

        page.wait_for_url("**/console/2fa/verify/**")
        page.fill("#id_token", f"{totp(device.bin_key, step=device.step, t0=device.t0):06d}")
        with page.expect_navigation():
            page.click("#totp-verify-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")


def test_send_a_coupon_to_a_tag_in_at_most_five_clicks(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    language, page = lang_page
    # given an operations manager, a coupon with 100 left and a tag of three members
    factories.operator_with_role("ops_manager", username=f"mgr-{language}")
    template = factories.coupon_template(
        name="会员日券", issue=CouponTemplate.Issue.ISSUED, total_quantity=100
    )
    tag = factories.member_tag("会员日")
    members = [factories.member() for _ in range(3)]
    for member in members:
        member.tags.add(tag)
    _home(page, live_server, f"mgr-{language}")
    clicks = Clicks(page)
    # when, from the home page: Coupons → the coupon → Issue → pick the tag → Issue
    clicks.click("a[href='/console/marketing/coupontemplate/']")
    clicks.click(f"a[href='/console/marketing/coupontemplate/{template.pk}/change/']")
    clicks.click(f"a[href$='/coupontemplate/{template.pk}/issue/']", navigates=False)
    page.wait_for_selector("#dialog select[name=audience]")
    # the picker shows each tag with its member count
    option = page.locator("#dialog select[name=audience] option[value='tag:会员日']")
    assert "3" in option.inner_text()
    clicks.select("#dialog select[name=audience]", "tag:会员日")
    screenshot(page, f"task-coupon-to-tag-dialog-{language}")
    clicks.click("#dialog button[type=submit]")
    screenshot(page, f"task-coupon-to-tag-done-{language}")
    # then each member of the tag holds one, within the budget
    holders = set(Coupon.objects.filter(template=template).values_list("member_id", flat=True))
    assert holders == {m.pk for m in members}
    COUNTS[f"coupon to a tag ({language})"] = clicks.count
    assert clicks.count <= 5
    assert page.outside_requests == [] if hasattr(page, "outside_requests") else True


@pytest.mark.parametrize(
    ("name", "url", "shown"),
    [
        ("retention", "/console/analytics/retention/", "#retention, table"),
        ("funnel", "/console/analytics/funnels/", "#report-form"),
        ("sources", "/console/analytics/sources/", "#sources"),
    ],
)
def test_an_analyst_reads_a_report_in_one_click(
    lang_page: tuple[str, Any], live_server: Any, name: str, url: str, shown: str
) -> None:
    language, page = lang_page
    factories.operator_with_role("analyst", username=f"analyst-{name}-{language}")
    _home(page, live_server, f"analyst-{name}-{language}")
    clicks = Clicks(page)
    clicks.click(f"a[href='{url}']")
    page.wait_for_selector(shown)
    screenshot(page, f"task-read-{name}-{language}")
    COUNTS[f"read {name} ({language})"] = clicks.count
    assert clicks.count <= 1


def _png(tmp_path: Any) -> str:
    from PIL import Image

    path = tmp_path / "cover.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(path)
    return str(path)


def _type_new_product(page: Any, title: str) -> None:
    """The typing of the task (not clicks): title and two SKUs with price,
    weight and opening stock."""
    page.fill("#id_title", title)
    for index, (spec, price, stock) in enumerate(
        [("颜色: 红", "99.00", "30"), ("颜色: 蓝", "109.50", "20")]
    ):
        page.fill(f"#id_skus-{index}-spec_text", spec)
        page.fill(f"#id_skus-{index}-price", price)
        page.fill(f"#id_skus-{index}-weight_g", "350")
        page.fill(f"#id_skus-{index}-opening_stock", stock)


def _trees() -> dict[str, Any]:
    """Two category trees, one named in English and one in Chinese."""
    from miniops.catalog.models import Category

    made: dict[str, Any] = {}
    for names in (("Apparel", "Women", "Dresses"), ("服装", "女装", "连衣裙")):
        node = None
        for name in names:
            node = Category.objects.create(
                name=name, parent=node, level=node.level + 1 if node else 1
            )
            made[name] = node
    return made


#: what each language's operator types into the category picker, and takes
PICKED = {
    "zh-hans": ("女装", "服装 / 女装 / 连衣裙", "连衣裙"),
    "en": ("Dresses", "Apparel / Women / Dresses", "Dresses"),
}


def test_list_a_new_product_with_two_skus_and_an_image_in_at_most_five_clicks(
    lang_page: tuple[str, Any], live_server: Any, tmp_path: Any
) -> None:
    from .test_csp_browser import Violations

    language, page = lang_page
    violations = Violations(page)
    factories.operator_with_role("ops_staff", username=f"staff-{language}")
    trees = _trees()
    term, path, leaf_name = PICKED[language]
    leaf = trees[leaf_name]
    _home(page, live_server, f"staff-{language}")
    clicks = Clicks(page)
    # when, from the home page: Products → Add → open the category picker (type a
    # level of the path, Enter) → choose the image → Save and put on sale (title
    # and SKU rows are typed)
    clicks.click("a[href='/console/catalog/product/']")
    clicks.click("a[href='/console/catalog/product/add/']")
    _type_new_product(page, f"纯棉T恤 {language}")
    clicks.count += 1  # opening the category picker is a click; typing and Enter are not
    open_picker(page, "id_category")
    # the picker searches any level of the path and answers with full paths
    page.fill(".select2-container--open .select2-search__field", term)
    wait_for_answers(page, term)
    answers = page.locator(".select2-results__option").all_inner_texts()
    assert path in answers
    assert all(" / " in answer for answer in answers), answers
    screenshot(page, f"task-new-product-category-{language}")
    type_and_pick(page, term, path)
    assert path in page.locator("#id_category ~ .select2").inner_text()
    clicks.count += 1  # choosing the file is a click on “choose file”
    page.set_input_files("#id_images-0-image", _png(tmp_path))
    screenshot(page, f"task-new-product-form-{language}")
    clicks.click("button[name=_onsale]")
    screenshot(page, f"task-new-product-done-{language}")
    # then it is on sale with its two SKUs, their prices, stock (ledgered) and image
    product = Product.objects.get(title=f"纯棉T恤 {language}")
    assert product.status == ProductStatus.ON_SALE
    assert product.category_id == leaf.pk
    skus = list(product.skus.order_by("id"))
    assert [(s.spec_values, s.price, s.stock, s.weight_g) for s in skus] == [
        ({"颜色": "红"}, 9900, 30, 350),
        ({"颜色": "蓝"}, 10950, 20, 350),
    ]
    assert StockLedger.objects.filter(sku__product=product, reason="initial").count() == 2
    assert product.cover
    assert violations.take() == []  # the picker's scripts run under the enforced CSP
    COUNTS[f"new product on sale ({language})"] = clicks.count
    assert clicks.count <= 5


def test_a_product_without_an_image_is_not_put_on_sale_without_asking(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    language, page = lang_page
    factories.operator_with_role("ops_staff", username=f"staff-noimg-{language}")
    leaf = factories.category("配件")
    _home(page, live_server, f"staff-noimg-{language}")
    page.goto(f"{live_server.url}/console/catalog/product/add/")
    _type_new_product(page, f"无图商品 {language}")
    page.fill("#id_skus-1-weight_g", "0")
    pick(page, "id_category", leaf.name, leaf.name)
    with page.expect_navigation():
        page.click("button[name=_onsale]")
    # asked first: nothing saved, the form says why and offers “anyway”
    assert not Product.objects.filter(title=f"无图商品 {language}").exists()
    field = page.locator("#id_on_sale_anyway").locator(
        "xpath=ancestor::div[contains(@class,'field-line') or contains(@class,'form-row')][1]"
    )
    assert "-002" in field.inner_text()  # the SKU of 0 g is named
    screenshot(page, f"task-new-product-asks-{language}")
    page.check("#id_on_sale_anyway")
    with page.expect_navigation():
        page.click("button[name=_onsale]")
    product = Product.objects.get(title=f"无图商品 {language}")
    assert product.status == ProductStatus.ON_SALE
    assert product.skus.count() == 2


def test_put_on_sale_on_the_product_page_lists_what_is_missing(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    language, page = lang_page
    factories.operator_with_role("ops_staff", username=f"staff-dialog-{language}")
    product = factories.product(status="draft")
    _home(page, live_server, f"staff-dialog-{language}")
    page.goto(f"{live_server.url}/console/catalog/product/{product.pk}/change/")
    page.click(f"a[href$='/product/{product.pk}/on-sale/']")
    page.wait_for_selector("#dialog input[name=anyway]")
    screenshot(page, f"task-put-on-sale-asks-{language}")
    # (wait for the refusal's answer: ticking the box before it lands would tick the
    # dialog it replaces)
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.click("#dialog button[type=submit]")
    page.wait_for_selector("#dialog input[name=anyway]")
    product.refresh_from_db()
    assert product.status == ProductStatus.DRAFT  # not without the tick
    page.check("#dialog input[name=anyway]")
    with page.expect_navigation():
        page.click("#dialog button[type=submit]")
    product.refresh_from_db()
    assert product.status == ProductStatus.ON_SALE
    # and once on sale, the page offers “Take off shelf”, not “Put on sale”
    assert page.locator(f"a[href$='/product/{product.pk}/on-sale/']").count() == 0


def _ready_draft(title: str) -> Product:
    product = factories.product(status=ProductStatus.DRAFT, title=title)
    Product.objects.filter(pk=product.pk).update(cover="catalog/products/cover.png")
    product.skus.update(weight_g=300)
    return product


def _choose_put_on_sale(page: Any, live_server: Any, products: list[Product]) -> None:
    page.goto(f"{live_server.url}/console/catalog/product/")
    for product in products:
        page.check(f"input[name=_selected_action][value='{product.pk}']")
    page.select_option("select[name=action]", "list_selected")
    with page.expect_navigation():
        page.click("button[name=index]")
    page.wait_for_selector("#bulk-confirm")


def test_putting_selected_products_on_sale_lists_what_is_missing_first(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    language, page = lang_page
    factories.operator_with_role("ops_staff", username=f"staff-bulk-{language}")
    fine = _ready_draft(f"齐全 {language}")
    bare = _ready_draft(f"无图 {language}")
    Product.objects.filter(pk=bare.pk).update(cover="")
    light = _ready_draft(f"无重量 {language}")
    light.skus.update(weight_g=0)
    code = light.skus.get().code
    chosen = [fine, bare, light]
    _home(page, live_server, f"staff-bulk-{language}")
    # when the operator chooses “Put selected on sale”
    _choose_put_on_sale(page, live_server, chosen)
    # then the page names the two that lack something, and what, before anything
    warnings = page.locator("#bulk-warnings").inner_text()
    assert bare.title in warnings
    assert light.title in warnings
    assert code in warnings
    assert fine.title not in warnings
    with translation.override(language):
        button = translation.gettext("Put selected on sale")
    assert page.locator("#bulk-confirm button[type=submit]").inner_text().strip() == button
    screenshot(page, f"task-bulk-on-sale-asks-{language}")
    # when they cancel: back on the list, nothing changed
    with page.expect_navigation():
        page.click("#bulk-confirm a")
    assert not Product.objects.filter(status=ProductStatus.ON_SALE).exists()
    # when they confirm without the tick: the form wants it, nothing changed (the
    # server refuses it too: miniops/catalog/tests/test_console.py)
    _choose_put_on_sale(page, live_server, chosen)
    page.click("#bulk-confirm button[type=submit]")
    tick = page.locator("#bulk-confirm input[name=anyway]")
    assert tick.evaluate("input => input.validity.valueMissing")
    assert page.locator("#bulk-warnings").is_visible()
    assert not Product.objects.filter(status=ProductStatus.ON_SALE).exists()
    # when they tick “anyway” and confirm: all three on sale
    page.check("#bulk-confirm input[name=anyway]")
    with page.expect_navigation():
        page.click("#bulk-confirm button[type=submit]")
    screenshot(page, f"task-bulk-on-sale-done-{language}")
    assert set(Product.objects.values_list("status", flat=True)) == {ProductStatus.ON_SALE}


def test_ship_a_paid_order_in_at_most_three_clicks(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    from miniops.orders.models import Order, OrderStatus

    language, page = lang_page
    factories.operator_with_role("ops_staff", username=f"ship-{language}")
    order = factories.order(paid=True)
    _home(page, live_server, f"ship-{language}")
    clicks = Clicks(page)
    # when, from the home page: To ship → Ship on the order's row → Ship (tracking typed)
    clicks.click("a[href='/console/orders/order/?status__exact=paid']")
    clicks.click(f"a[data-action=ship][href$='/order/{order.pk}/ship/']", navigates=False)
    page.wait_for_selector("#dialog input[name=tracking_no]")
    page.fill("#dialog input[name=tracking_no]", "SF1234567890")
    screenshot(page, f"task-ship-dialog-{language}")
    clicks.click("#dialog button[type=submit]")
    screenshot(page, f"task-ship-done-{language}")
    # then it is shipped, and the list it came back to no longer offers it
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.SHIPPED
    assert "status__exact=paid" in page.url
    assert page.locator(f"a[data-action=ship][href$='/order/{order.pk}/ship/']").count() == 0
    COUNTS[f"ship a paid order ({language})"] = clicks.count
    assert clicks.count <= 3
    # and its page offers neither Ship nor Cancel any more
    page.goto(f"{live_server.url}/console/orders/order/{order.pk}/change/")
    assert page.locator(f"a[href$='/order/{order.pk}/ship/']").count() == 0
    assert page.locator(f"a[href$='/order/{order.pk}/cancel/']").count() == 0


def test_finance_finds_a_refund_and_exports_payments_for_a_period_in_at_most_four_clicks(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    import csv
    import io
    from datetime import timedelta

    from miniops.core.timeutils import local_date

    language, page = lang_page
    device = factories.totp_device(
        factories.operator_with_role("finance", username=f"finance-{language}")
    )
    refund = factories.refund()
    others = [factories.order(paid=True) for _ in range(3)]
    _home(page, live_server, f"finance-{language}", device)
    clicks = Clicks(page)
    # when, from the home page: Refunds → (order number typed, Enter) …
    clicks.click("a[href='/console/orders/refund/']")
    page.fill("#searchbar", refund.order.number)
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "¥1.00" in rows.first.inner_text()  # in yuan, not 100 fen
    screenshot(page, f"task-finance-refund-{language}")
    # … Reconciliation → the period (typed) → Go → Payments: CSV
    clicks.click("a[href='/console/orders/reconciliation/']")
    today = local_date()
    page.fill("#id_start", (today - timedelta(days=30)).isoformat())
    page.fill("#id_end", today.isoformat())
    clicks.click("#reconciliation-form button[type=submit]")
    screenshot(page, f"task-finance-period-{language}")
    # the columns keep a gutter: the right-aligned amount does not run into the
    # payment number beside it ("¥50.00PAY2612…")
    gutter = page.eval_on_selector(
        "#reconciliation tbody tr td:nth-child(4)",
        "td => parseFloat(getComputedStyle(td).paddingLeft)",
    )
    assert gutter >= 4, gutter
    link = page.locator("#reconciliation-downloads a[href*='table=payments'][href*='fmt=csv']")
    assert f"start={(today - timedelta(days=30)).isoformat()}" in link.get_attribute("href")
    clicks.count += 1
    with page.expect_download() as download_info:
        link.click()
    body = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(body)))
    assert len(table) == 1 + 1 + len(others)  # a header and each payment of the period
    assert all("50.00" in row for row in table[1:]), table  # yuan, two decimals
    COUNTS[f"find a refund, export payments ({language})"] = clicks.count
    assert clicks.count <= 4


def test_the_reconciliation_of_a_long_period_is_paginated(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    from miniops.orders.admin.pages import RECONCILIATION_PAGE

    language, page = lang_page
    device = factories.totp_device(
        factories.operator_with_role("finance", username=f"finance-pages-{language}")
    )
    product = factories.product(stock=500)
    for _ in range(RECONCILIATION_PAGE + 2):
        factories.order(paid=True, items=[(product.skus.get(), 1)])
    _home(page, live_server, f"finance-pages-{language}", device)
    page.goto(f"{live_server.url}/console/orders/reconciliation/")
    assert page.locator("#reconciliation tbody tr").count() == RECONCILIATION_PAGE
    with page.expect_navigation():
        page.click("#reconciliation-pages a[rel=next]")
    assert page.locator("#reconciliation tbody tr").count() == 2
    screenshot(page, f"task-finance-page-2-{language}")


def test_create_a_custom_role_and_an_operator_with_it_in_at_most_six_clicks(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    from miniops.accounts.models import Operator, Role

    language, page = lang_page
    # given the super admin (signs in with a second factor)
    admin = factories.operator_with_role("super_admin", username=f"root-{language}")
    device = factories.totp_device(admin)
    _home(page, live_server, f"root-{language}", device)
    clicks = Clicks(page)
    # when, from the home page: Roles → Add → tick the “Catalog” group → Save and add
    # an operator with this role → Save (code, name, username and passwords are typed)
    clicks.click("a[href='/console/accounts/role/']")
    clicks.click("a[href='/console/accounts/role/add/']")
    page.fill("#id_code", f"catalog_editor_{language.replace('-', '_')}")
    page.fill("#id_name", "商品编辑")
    clicks.click("input[name=permission_groups][value='Catalog']", navigates=False)
    screenshot(page, f"task-role-and-operator-role-form-{language}")
    clicks.click("button[name=_addoperator]")
    # the operator form opens with the new role already ticked
    role = Role.objects.get(code=f"catalog_editor_{language.replace('-', '_')}")
    assert page.is_checked(f"input[name=roles][value='{role.pk}']")
    page.fill("#id_username", f"editor-{language}")
    page.fill("#id_password1", "Catalog-Editor-2026!")
    page.fill("#id_password2", "Catalog-Editor-2026!")
    screenshot(page, f"task-role-and-operator-operator-form-{language}")
    clicks.click("button[name=_save]")
    screenshot(page, f"task-role-and-operator-done-{language}")
    # then the role holds every catalog permission and the operator holds the role
    catalog = {str(code) for code in PERMISSIONS if code.startswith("catalog.")}
    assert len(catalog) > 1
    assert set(role.effective_permissions()) == catalog
    editor = Operator.objects.get(username=f"editor-{language}")
    assert list(editor.roles.values_list("pk", flat=True)) == [role.pk]
    assert editor.check_password("Catalog-Editor-2026!")
    COUNTS[f"custom role and operator ({language})"] = clicks.count
    assert clicks.count <= 6
