"""20,000 demo members registered over 180 days, from a realistic mix of sources."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.core import crypto
from miniops.members.models import Address, Member, MemberTag
from miniops.members.providers import DEMO_MEMBER_CODE, demo_openid

STEPS = 20
MEMBERS = 20_000
DAYS = 180

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
NICK_WORDS = [
    "小鹿",
    "橘子汽水",
    "晴天",
    "一只猫",
    "Momo",
    "阿乐",
    "吃货本货",
    "慢慢来",
    "Sunny",
    "小确幸",
    "大白",
    "追风少年",
    "柠檬不萌",
    "Coco",
    "芒果布丁",
    "知足常乐",
]
REGIONS = [
    ("广东", ["广州", "深圳", "佛山", "东莞"]),
    ("浙江", ["杭州", "宁波", "温州"]),
    ("江苏", ["南京", "苏州", "无锡"]),
    ("上海", ["上海"]),
    ("北京", ["北京"]),
    ("四川", ["成都", "绵阳"]),
    ("湖北", ["武汉", "宜昌"]),
    ("山东", ["济南", "青岛", "烟台"]),
    ("福建", ["福州", "厦门", "泉州"]),
    ("河南", ["郑州", "洛阳"]),
    ("湖南", ["长沙", "株洲"]),
    ("陕西", ["西安"]),
    ("重庆", ["重庆"]),
]
DISTRICTS = [
    "天河区",
    "南山区",
    "西湖区",
    "鼓楼区",
    "浦东新区",
    "朝阳区",
    "武侯区",
    "江汉区",
    "历下区",
    "思明区",
]
STREETS = ["中山路", "人民路", "解放路", "建设大道", "科技园路", "文化路", "滨江路", "新华街"]
#: (WeChat scene value, weight)
SCENES = [
    (1001, 18),
    (1005, 10),
    (1007, 14),
    (1008, 12),
    (1011, 6),
    (1037, 4),
    (1047, 8),
    (1089, 15),
    (1104, 9),
    (1035, 4),
]
#: (channel, weight)
CHANNELS = [
    ("organic", 38),
    ("share", 16),
    ("wechat_ads", 14),
    ("douyin", 9),
    ("xiaohongshu", 8),
    ("kol_live", 6),
    ("offline_qr", 6),
    ("sms", 3),
]
TAGS = [
    ("新客", "#07C160"),
    ("高价值", "#FA5151"),
    ("沉睡", "#999999"),
    ("学生", "#10AEFF"),
    ("宝妈", "#E91E63"),
    ("数码控", "#7054FF"),
    ("价格敏感", "#FFC300"),
]


def _weighted(rng: random.Random, items: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _registration_times(rng: random.Random, now: datetime) -> list[datetime]:
    """Growth over six months, weekly seasonality (weekends up) and a promotion spike."""
    weights = []
    for day in range(DAYS):
        age = DAYS - day
        moment = now - timedelta(days=age)
        growth = 0.5 + day / DAYS
        weekend = 1.35 if moment.weekday() >= 5 else 1.0
        spike = 2.6 if DAYS - 35 <= day <= DAYS - 32 else 1.0  # a "双十一"-style promotion
        weights.append(growth * weekend * spike)
    days = rng.choices(range(DAYS), weights=weights, k=MEMBERS)
    times = []
    for day in days:
        hour = rng.choices(
            range(24),
            weights=[1, 1, 1, 1, 1, 1, 2, 4, 6, 6, 6, 7, 9, 8, 6, 6, 6, 7, 8, 10, 12, 12, 9, 4],
        )[0]
        times.append(
            now
            - timedelta(days=DAYS - day)
            + timedelta(hours=hour - now.hour, minutes=rng.randint(0, 59))
        )
    return sorted(min(t, now) for t in times)


def clear() -> None:
    """Remove the demo members (run after the apps that refer to them cleared theirs)."""
    Member.objects.filter(openid__startswith="oDEMO").delete()


@transaction.atomic
def seed(*, progress: Callable[[int], object]) -> None:
    if Member.objects.filter(openid__startswith="oDEMO").count() >= MEMBERS:
        progress(STEPS)
        return
    rng = random.Random(180)
    now = timezone.now()
    tags = [
        MemberTag.objects.get_or_create(name=name, defaults={"color": colour})[0]
        for name, colour in TAGS
    ]
    times = _registration_times(rng, now)
    chunk = math.ceil(MEMBERS / (STEPS - 4))
    members: list[Member] = []
    for index, registered in enumerate(times):
        surname = rng.choice(SURNAMES)
        real_name = surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
        has_phone = rng.random() < 0.62
        phone = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}" if has_phone else ""
        province, cities = rng.choice(REGIONS)
        nickname = rng.choice(
            [
                real_name[0] + rng.choice(["先生", "女士", "同学"]),
                rng.choice(NICK_WORDS),
                rng.choice(NICK_WORDS) + str(rng.randint(1, 999)),
            ]
        )
        members.append(
            Member(
                # the simulator signs "demo-<index + 1>" in as this member
                openid=demo_openid(index + 1),
                nickname=nickname,
                gender=rng.choices([0, 1, 2], weights=[2, 4, 5])[0],
                birthday=date(rng.randint(1965, 2008), rng.randint(1, 12), rng.randint(1, 28))
                if rng.random() < 0.4
                else None,
                country="中国",
                province=province,
                city=rng.choice(cities),
                phone=phone,
                phone_index=crypto.phone_index(phone) if phone else "",
                real_name=real_name if has_phone and rng.random() < 0.5 else "",
                registered_at=registered,
                last_login_at=registered
                + timedelta(days=rng.uniform(0, (now - registered).days + 0.5)),
                registration_scene=_weighted(rng, SCENES),
                registration_channel=str(_weighted(rng, CHANNELS)),
            )
        )
        if (index + 1) % chunk == 0:
            progress(1)
    # ignore_conflicts: someone may have signed in as a demo member before seeding
    Member.objects.bulk_create(members, batch_size=1000, ignore_conflicts=True)
    members = list(
        Member.objects.filter(openid__startswith="oDEMO")
        .order_by("id")
        .only("id", "registration_channel", "registered_at")
    )
    # referrals: members who arrived through a share have an earlier member as referrer
    referred = []
    for position, member in enumerate(members):
        if member.registration_channel == "share" and position > 10:
            member.referrer_id = members[rng.randint(0, position - 1)].pk
            referred.append(member)
    Member.objects.bulk_update(referred, ["referrer"], batch_size=1000)
    progress(1)
    through = Member.tags.through
    links = []
    for member in members:
        for tag in tags:
            if rng.random() < (
                0.25 if tag.name == "新客" and (now - member.registered_at).days < 14 else 0.06
            ):
                links.append(through(member_id=member.pk, membertag_id=tag.pk))
    through.objects.bulk_create(links, batch_size=2000, ignore_conflicts=True)
    progress(1)
    addresses = []
    with_address = rng.sample(members, k=len(members) // 3)
    if members[0] not in with_address:  # demo-1, the regular, has somewhere to ship to
        with_address[-1] = members[0]
    for member in with_address:
        province, cities = rng.choice(REGIONS)
        for number in range(rng.choice([1, 1, 1, 2])):
            addresses.append(
                Address(
                    member_id=member.pk,
                    recipient=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    phone=f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}",
                    province=province,
                    city=rng.choice(cities),
                    district=rng.choice(DISTRICTS),
                    detail=f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室",
                    is_default=number == 0,
                )
            )
    Address.objects.bulk_create(addresses, batch_size=1000)
    progress(1)


def describe_logins() -> list[str]:
    """How to be one of the demo members in the client API (``make demo`` prints it)."""
    first, last = DEMO_MEMBER_CODE.format(1), DEMO_MEMBER_CODE.format(MEMBERS)
    return [
        f'  a demo member in the client API: POST /api/v1/auth/wechat-login {{"code": "{first}"}}',
        f"  ({first} … {last}: the demo members in the order they registered; any other code"
        " is a new member)",
    ]
