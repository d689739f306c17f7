"""Factories for tests: one per model, real rows in the real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from miniops.accounts import services as account_services
from miniops.accounts.models import ApiToken, Operator, Role
from miniops.core.models import SystemSettings
from miniops.core.permissions import ROLES, R

TEST_PASSWORD = "Correct-horse-9"  # noqa: S105


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operator
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    display_name = factory.Faker("name", locale="zh_CN")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password(TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: object) -> None:
        if create and extracted:
            codes = [extracted] if isinstance(extracted, str) else list(extracted)
            operator: Any = self
            operator.roles.set(Role.objects.filter(code__in=codes))


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    code = factory.Sequence(lambda n: f"custom-{n}")
    name = factory.Sequence(lambda n: f"Custom role {n}")
    permissions = factory.LazyFunction(list)


def operator_with_role(role: str | None, **kwargs: object) -> Operator:
    # Transactional tests flush every table, seeded roles included.
    account_services.ensure_system_roles()
    operator: Operator = OperatorFactory(roles=role, **kwargs)  # type: ignore[assignment]
    return Operator.objects.prefetch_related("roles").get(pk=operator.pk)


def totp_device(operator: Operator, *, confirmed: bool = True) -> TOTPDevice:
    return TOTPDevice.objects.create(user=operator, name="test", confirmed=confirmed)


def api_token(
    operator: Operator, permissions: list[str] | None = None, *, days: int = 30
) -> tuple[ApiToken, str]:
    """A token holding ``permissions`` (default: all the owner's). Made through the
    service when the owner may create tokens, directly otherwise (the matrix
    tests need tokens for every role, including ones that cannot create them)."""
    scope = sorted(permissions if permissions is not None else operator.permissions)
    if operator.has_permission("api_tokens.use") and scope:
        return account_services.create_api_token(
            operator=operator, name="test", permissions=scope, expires_in_days=days, actor=operator
        )
    import secrets

    prefix = secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        operator=operator,
        name="test",
        prefix=prefix,
        secret_hash=account_services._hash_secret(secret),
        permissions=scope,
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, f"mo_{prefix}_{secret}"


def audit_entry() -> LogEntry:
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(SystemSettings),
        object_pk="1",
        object_repr="System settings",
        action=LogEntry.Action.UPDATE,
        changes={"platform_name": ["a", "b"]},
    )


def system_settings() -> SystemSettings:
    row, _ = SystemSettings.objects.get_or_create(id=1)
    return row


ALL_ROLE_CODES = [str(code) for code in R]
SENSITIVE_ROLE_CODES = [str(code) for code, role in ROLES.items() if role.requires_2fa]


# --- catalog -----------------------------------------------------------------------------
def category(name: str = "服装", parent: Any = None) -> Any:
    from miniops.catalog.models import Category

    level = parent.level + 1 if parent is not None else 1
    return Category.objects.create(
        name=f"{name}-{Category.objects.count()}", parent=parent, level=level
    )


def brand(name: str | None = None) -> Any:
    from miniops.catalog.models import Brand

    return Brand.objects.create(name=name or f"品牌{Brand.objects.count()}")


def product(
    *,
    status: str = "on_sale",
    price: int = 9900,
    stock: int = 10,
    skus: int = 1,
    category_obj: Any = None,
    title: str | None = None,
) -> Any:
    """A product with ``skus`` SKUs (specs 颜色), priced and stocked through the services."""
    from miniops.catalog import services
    from miniops.catalog.models import Product, ProductStatus, StockReason

    leaf = category_obj or category()
    specs = [{"name": "颜色", "values": [f"色{i}" for i in range(skus)]}] if skus > 1 else []
    item = services.save_product(
        actor=None,
        title=title or f"测试商品{Product.objects.count()}",
        category=leaf,
        specs=specs,
    )
    for sku in services.sync_skus(product=item, actor=None, default_price=price):
        if stock:
            services.adjust_stock(sku=sku, delta=stock, reason=StockReason.INITIAL, actor=None)
    if status != ProductStatus.DRAFT:
        services.change_status(product=item, to=ProductStatus.ON_SALE, actor=None)
    if status == ProductStatus.OFF_SHELF:
        services.change_status(product=item, to=ProductStatus.OFF_SHELF, actor=None)
    item.refresh_from_db()
    return item


# --- members -------------------------------------------------------------------------------
def member(**fields: Any) -> Any:
    from miniops.core import crypto
    from miniops.members.models import Member

    phone = fields.pop("phone", "")
    count = Member.objects.count()
    return Member.objects.create(
        openid=fields.pop("openid", f"oTEST{count:08d}"),
        nickname=fields.pop("nickname", f"会员{count}"),
        phone=phone,
        phone_index=crypto.phone_index(phone) if phone else "",
        **fields,
    )


def member_tokens(target: Any) -> tuple[str, str]:
    """(access, refresh) for ``target`` as if they had just signed in."""
    from miniops.members import services as member_services

    result = member_services._open_session(target, ip="127.0.0.1", user_agent="test")
    return result.access_token, result.refresh_token


def member_tag(name: str | None = None) -> Any:
    from miniops.members.models import MemberTag

    return MemberTag.objects.create(name=name or f"标签{MemberTag.objects.count()}")


# --- orders -----------------------------------------------------------------------------------
def address(target: Any, **fields: Any) -> Any:
    from miniops.members.models import Address

    data = {
        "recipient": "张三",
        "phone": "13800138000",
        "province": "广东",
        "city": "深圳",
        "detail": "科技园路1号",
    }
    data.update(fields)
    return Address.objects.create(member=target, is_default=not target.addresses.exists(), **data)


def order(
    *, buyer: Any = None, items: list[tuple[Any, int]] | None = None, paid: bool = False
) -> Any:
    """An unpaid order (``paid=True``: paid through the simulator's signed notice)."""
    from miniops.orders import services as order_services

    buyer = buyer or member()
    if items is None:
        sku = product(price=5000, stock=100).skus.first()
        items = [(sku, 1)]
    placed = order_services.place_order(
        member=buyer,
        items=[{"sku_id": sku.pk, "quantity": quantity} for sku, quantity in items],
        from_cart=False,
        address_id=address(buyer).pk,
    )
    if paid:
        order_services.simulate_payment(order=placed)
        placed.refresh_from_db()
    return placed


def paid_order_row(
    member_id: int, paid_at: Any, amount: int, *, refunded: int = 0, number: str = ""
) -> Any:
    """An unsaved paid order without lines, for ``bulk_create`` in result fixtures
    that only count orders and GMV (paid minus refunded)."""
    import uuid

    from miniops.orders.models import Order

    return Order(
        number=number or f"T{uuid.uuid4().hex[:16]}",
        member_id=member_id,
        status="paid",
        goods_amount=amount,
        payable_amount=amount,
        paid_amount=amount,
        refunded_amount=refunded,
        recipient="x",
        phone="1",
        province="p",
        city="c",
        address_detail="d",
        created_at=paid_at,
        paid_at=paid_at,
    )


def after_sale(*, kind: str = "refund_only") -> Any:
    from miniops.orders import services as order_services

    paid = order(paid=True)
    item = paid.items.first()
    return order_services.request_after_sale(
        order=paid,
        member=paid.member,
        kind=kind,
        reason="other",
        lines=[{"item_id": item.pk, "quantity": 1}],
    )


def refund() -> Any:
    from miniops.orders import services as order_services

    paid = order(paid=True)
    return order_services.refund_payment(payment=paid.payments.first(), amount=100, reason="test")


def payment_anomaly() -> Any:
    from miniops.orders.models import PaymentAnomaly

    return PaymentAnomaly.objects.create(
        kind="amount_mismatch", out_trade_no="PAYTEST", detail={"expected": 1, "got": 2}
    )


def freight_template(**fields: Any) -> Any:
    from miniops.orders.models import FreightTemplate

    data = {
        "name": f"运费模板{FreightTemplate.objects.count()}",
        "first_fee": 800,
        "additional_fee": 200,
    }
    data.update(fields)
    return FreightTemplate.objects.create(**data)


def alert_rule(**fields: Any) -> Any:
    from miniops.analytics.models import AlertRule

    data: dict[str, Any] = {
        "name": f"支付失败告警{AlertRule.objects.count()}",
        "metric": AlertRule.Metric.PAYMENT_FAILURES,
        "condition": AlertRule.Condition.ABOVE,
        "threshold": 10,
    }
    data.update(fields)
    return AlertRule.objects.create(**data)


def alert(rule: Any = None) -> Any:
    from django.utils import timezone

    from miniops.analytics.models import Alert

    rule = rule or alert_rule()
    return Alert.objects.create(rule=rule, fired_at=timezone.now(), value=12, message="测试告警")


def funnel(**fields: Any) -> Any:
    from miniops.analytics.models import Funnel

    data: dict[str, Any] = {
        "name": f"下单漏斗{Funnel.objects.count()}",
        "steps": [{"event": "page_view"}, {"event": "order_paid"}],
        "window_hours": 24,
    }
    data.update(fields)
    return Funnel.objects.create(**data)


def coupon_template(**fields: Any) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from miniops.marketing.models import CouponTemplate

    data: dict[str, Any] = {
        "name": f"满100减10 #{CouponTemplate.objects.count()}",
        "kind": CouponTemplate.Kind.THRESHOLD,
        "value": 1000,
        "min_spend": 10000,
        "total_quantity": 100,
        "valid_until": timezone.now() + timedelta(days=30),
    }
    data.update(fields)
    return CouponTemplate.objects.create(**data)


def member_coupon(**fields: Any) -> Any:
    from django.utils import timezone

    from miniops.marketing.models import Coupon

    template = fields.pop("template", None) or coupon_template()
    owner = fields.pop("member", None) or member()
    data: dict[str, Any] = {
        "template": template,
        "member": owner,
        "valid_from": timezone.now(),
        "valid_until": template.valid_until,
    }
    data.update(fields)
    return Coupon.objects.create(**data)


def level(**fields: Any) -> Any:
    from miniops.marketing.models import Level

    rank = Level.objects.count() + 1
    data: dict[str, Any] = {"name": f"V{rank}", "rank": rank, "growth_threshold": rank * 1000}
    data.update(fields)
    return Level.objects.create(**data)


def points_entry(owner: Any = None, delta: int = 100) -> Any:
    from miniops.marketing.services import points

    owner = owner or member()
    return points.earn(owner.pk, delta, "adjustment", reference="test")


def flash_session(
    *, stock: int = 10, price: int | None = None, starts_in_minutes: int = -5, **fields: Any
) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from miniops.marketing.models import FlashItem, FlashSession

    now = timezone.now()
    session = FlashSession.objects.create(
        name=fields.pop("name", "整点秒杀"),
        starts_at=now + timedelta(minutes=starts_in_minutes),
        ends_at=now + timedelta(minutes=starts_in_minutes + 120),
        **fields,
    )
    sku = product(price=5000, stock=max(stock, 1) * 10).skus.get()
    FlashItem.objects.create(
        session=session, sku=sku, flash_price=price or 990, stock=stock, per_member_limit=1
    )
    return session


def group_buy(**fields: Any) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from miniops.marketing.models import GroupBuy

    now = timezone.now()
    data: dict[str, Any] = {
        "name": "两人拼团",
        "sku": product(price=5000, stock=100).skus.get(),
        "group_price": 3990,
        "group_size": 2,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=3),
    }
    data.update(fields)
    return GroupBuy.objects.create(**data)


def timed_discount(**fields: Any) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from miniops.marketing.models import TimedDiscount

    now = timezone.now()
    data: dict[str, Any] = {
        "name": "限时 8 折",
        "product": fields.pop("product", None) or product(price=5000),
        "percent_off": 20,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=1),
    }
    data.update(fields)
    return TimedDiscount.objects.create(**data)


def redeem_item(**fields: Any) -> Any:
    from miniops.marketing.models import RedeemItem

    data: dict[str, Any] = {
        "name": "10 元券",
        "points": 1000,
        "coupon_template": fields.pop("coupon_template", None) or coupon_template(),
        "stock": 50,
    }
    data.update(fields)
    return RedeemItem.objects.create(**data)


# --- customer service ------------------------------------------------------------------------
def support_queue() -> Any:
    from miniops.support.models import Queue

    found, _created = Queue.objects.get_or_create(
        code="kf01", defaults={"name": "综合咨询", "is_default": True}
    )
    return found


def conversation(*, member: Any = None, text: str = "你好") -> Any:
    from miniops.support import services as support_services

    support_queue()
    member = member or globals()["member"]()
    opened = support_services.open_conversation(member=member)
    support_services.send_member_message(member=member, conversation_id=opened.pk, text=text)
    opened.refresh_from_db()
    return opened


def ticket(**fields: Any) -> Any:
    from miniops.support import services as support_services

    return support_services.create_ticket(
        member=fields.pop("member", None) or member(),
        category=fields.pop("category", "complaint"),
        subject=fields.pop("subject", "快递太慢"),
        **fields,
    )


def quick_reply(owner: Any = None) -> Any:
    from miniops.support.models import QuickReply

    count = QuickReply.objects.count()
    return QuickReply.objects.create(
        owner=owner, shortcut=f"qr{count}", title="问候", text="您好，有什么可以帮您？"
    )


def agent_status(operator: Any = None) -> Any:
    from miniops.support.models import AgentStatus

    target: Any = operator or OperatorFactory()
    return AgentStatus.objects.get_or_create(operator=target)[0]


def sla_policy() -> Any:
    from miniops.support.models import BusinessCalendar, SlaPolicy

    calendar = BusinessCalendar.objects.create(name="工作日")
    return SlaPolicy.objects.create(
        name="标准",
        first_response_minutes=60,
        next_response_minutes=120,
        resolution_minutes=1440,
        calendar=calendar,
    )


# --- push messages (notifications) ---------------------------------------------------------
def message_template(wx_id: str = "SIM-coupon-received", **fields: Any) -> Any:
    """One of the simulator's templates (``SIMULATED_TEMPLATES``), as synced."""
    from miniops.notifications.models import MessageTemplate, TemplateKind
    from miniops.notifications.providers import SIMULATED_TEMPLATES, parse_template

    remote = parse_template(next(t for t in SIMULATED_TEMPLATES if t["priTmplId"] == wx_id))
    defaults = {
        "title": remote.title,
        "kind": TemplateKind.LONG_TERM if remote.type == 3 else TemplateKind.ONE_TIME,
        "keywords": remote.keywords,
        "content": remote.content,
        **fields,
    }
    row, _created = MessageTemplate.objects.get_or_create(wx_template_id=wx_id, defaults=defaults)
    return row


def consent(owner: Any = None, template: Any = None, remaining: int = 1) -> Any:
    from miniops.notifications.models import Consent, TemplateKind

    template = template or message_template()
    row, _created = Consent.objects.update_or_create(
        member=owner or member(),
        template=template,
        defaults={
            "remaining": remaining,
            "long_term": template.kind == TemplateKind.LONG_TERM,
            "last_choice": "accept",
        },
    )
    return row


def push_settings() -> Any:
    from miniops.notifications.selectors import push_settings as row

    return row()


def push_campaign(**fields: Any) -> Any:
    from miniops.notifications.models import Campaign

    defaults: dict[str, Any] = {
        "name": "测试推送",
        "audience": "",
        "template": message_template(),
        "data": {
            "thing1": "满100减10",
            "amount2": "¥10",
            "date3": "2026年12月31日",
            "thing4": "快来",
        },
        "page": "pages/coupon/list",
    }
    defaults.update(fields)
    return Campaign.objects.create(**defaults)


def push_delivery(**fields: Any) -> Any:
    from miniops.notifications.models import Delivery

    campaign = fields.pop("campaign", None) or push_campaign()
    owner = fields.pop("member", None) or member()
    return Delivery.objects.create(
        key=f"{campaign.pk}:{owner.pk}:once", campaign=campaign, member=owner, **fields
    )
