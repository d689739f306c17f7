"""A small shop for the API fuzzer (``bench/fuzz_api.py``, run by CI and by the
bench): a little of everything an operation can find by id, so that generated
requests reach the code behind the 404s.

``seed()`` builds it and returns a management API token holding every
permission; the fuzzer signs in the member through the simulator's WeChat login
with ``MEMBER_CODE``. Demo data (``seed_demo``) would do too, but takes minutes.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

#: the wx.login code the fuzzer signs in with (the simulator maps it to an openid)
MEMBER_CODE = "fuzz-member"


@transaction.atomic
def seed() -> dict[str, Any]:
    from miniops.accounts.services import ensure_system_roles
    from miniops.core.permissions import PERMISSIONS, R
    from miniops.marketing.services import groups, points
    from miniops.members.providers import LoginSimulator
    from miniops.orders import services as orders
    from miniops.testing import factories

    ensure_system_roles()
    admin = factories.operator_with_role(R.SUPER_ADMIN, username="fuzz-admin")
    _token, secret = factories.api_token(admin, sorted(PERMISSIONS))

    # the member the fuzzer signs in as, with a bit of everything
    buyer = factories.member(
        openid=LoginSimulator().code_to_session(MEMBER_CODE).openid, nickname="fuzzer"
    )
    others = [factories.member() for _ in range(3)]
    home = factories.address(buyer)
    factories.address(buyer, label="公司", detail="软件园二期")
    points.earn(buyer.pk, 50_000, "adjustment", reference="fuzz")

    shop = [factories.product(price=2000 + 1000 * i, stock=500, skus=1 + i % 3) for i in range(6)]
    factories.product(status="off_shelf")
    factories.product(status="draft")
    skus = [sku for product in shop for sku in product.skus.all()]
    for sku in skus[:3]:
        orders.cart.add(member=buyer, sku_id=sku.pk, quantity=1)

    unpaid = orders.place_order(
        member=buyer,
        items=[{"sku_id": skus[0].pk, "quantity": 1}],
        from_cart=False,
        address_id=home.pk,
    )
    for _ in range(2):
        paid = factories.order(buyer=buyer, items=[(skus[1], 1)], paid=True)
    item = paid.items.first()
    orders.request_after_sale(
        order=paid,
        member=buyer,
        kind="refund_only",
        reason="other",
        lines=[{"item_id": item.pk, "quantity": 1}],
    )
    factories.order(buyer=others[0], paid=True)

    templates = [factories.coupon_template() for _ in range(3)]
    factories.member_coupon(template=templates[0], member=buyer)
    factories.redeem_item(coupon_template=templates[1])
    factories.redeem_item(name="帆布袋", coupon_template=None, sku=skus[2], points=500)
    factories.flash_session(stock=50)
    factories.flash_session(stock=5, starts_in_minutes=60, name="明日秒杀")
    group_buy = factories.group_buy()
    leader = others[1]
    opened = groups.open_group(
        member=leader, group_buy_id=group_buy.pk, address_id=factories.address(leader).pk
    )
    orders.simulate_payment(order=opened.order)
    factories.timed_discount(product=shop[3])
    factories.funnel()
    factories.alert(factories.alert_rule())
    factories.level()
    return {
        "management_token": secret,
        "member_code": MEMBER_CODE,
        "unpaid_order": unpaid.pk,
        "group_code": opened.group_code,
    }
