"""Demo content: topics, the seed lexicon plus a few demo words, posts,
comments and product reviews in every review state, reports, decisions by the
demo reviewers and one open appeal.

Reviews are written only for order lines of completed demo orders, by their
buyers (consistent with the orders table); rows are made directly, with their
cases, signals and decisions, as the services would have left them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.content.models import (
    Appeal,
    CaseStatus,
    Comment,
    Decision,
    Favourite,
    LexiconEntry,
    Like,
    ModerationCase,
    PlatformCheck,
    Post,
    Report,
    Review,
    Signal,
    Status,
    Topic,
)
from miniops.content.prescreen import normalize
from miniops.content.services import lexicon, moderation
from miniops.content.services.common import hot_score

STEPS = 3
TOPICS = ["穿搭分享", "好物推荐", "晒单", "居家生活", "美食"]
#: neutral demo words (no real political list is shipped)
DEMO_WORDS = [
    ("演示违规词", "custom", "review"),
    ("演示屏蔽词", "custom", "block"),
    ("讨厌鬼", "abuse", "mask"),
]
POSTS = [
    "今天入手的羊毛大衣，版型很正，颜色也百搭，推荐给大家！",
    "分享一下这周的通勤穿搭，白衬衫配阔腿裤，简单又舒服。",
    "这款保温杯真的好用，早上装的热水到晚上还是温的。",
    "新买的四件套洗了一次，没有起球，手感很软。",
    "周末在家做了番茄牛腩，配米饭太香了。",
    "求推荐适合小个子的羽绒服，预算五百左右。",
    "运动鞋穿了一个月，脚感依然很好，跑步不累。",
    "晒一下我的收纳柜，终于把杂物都整理好了。",
    "这家的坚果很新鲜，每天一小包当零食。",
    "冬天必备的加湿器，声音很小，晚上开着也不吵。",
]
COMMENTS = [
    "好看！",
    "求链接",
    "同款已下单",
    "颜色真不错",
    "请问尺码偏大吗？",
    "谢谢分享",
    "学到了",
]
REVIEWS = [
    (5, "质量很好，做工细致，和图片一样，物流也快。"),
    (5, "第二次购买了，一如既往的好，推荐。"),
    (4, "整体不错，就是包装有点简单。"),
    (4, "穿着舒服，尺码标准，值得购买。"),
    (3, "一般般，和预期有点差距。"),
    (2, "颜色和图片有色差，不太满意。"),
    (1, "收到有破损，联系客服处理中。"),
]


def clear() -> None:
    for model in (
        Appeal,
        Decision,
        Signal,
        ModerationCase,
        PlatformCheck,
        Report,
        Like,
        Favourite,
        Comment,
        Review,
        Post,
        Topic,
        LexiconEntry,
    ):
        model.objects.all().delete()


def _case(
    item: Any, kind: str, *, status: str, trigger: str, signals: list[dict[str, Any]], **fields: Any
) -> ModerationCase:
    case = ModerationCase.objects.create(
        kind=kind,
        object_id=item.pk,
        author_id=item.author_id,
        excerpt=item.text[:300],
        status=status,
        trigger=trigger,
        opened_at=item.created_at,
        **fields,
    )
    for signal in signals:
        Signal.objects.create(case=case, created_at=item.created_at, **signal)
    return case


def _decide(case: ModerationCase, reviewer: Any, action: str, reason: str, at: Any) -> None:
    Decision.objects.create(
        case=case,
        actor=reviewer,
        action=action,
        reason_code=reason,
        waited_seconds=int((at - case.opened_at).total_seconds()),
        created_at=at,
    )
    ModerationCase.objects.filter(pk=case.pk).update(
        decided_by=reviewer, decided_at=at, reason_code=reason
    )


def seed(*, progress: Callable[[int], object]) -> None:
    from miniops.accounts.models import Operator
    from miniops.members.models import Member
    from miniops.orders.models import OrderItem, OrderStatus

    if Post.objects.exists():
        progress(STEPS)
        return
    members = list(Member.objects.filter(openid__startswith="oDEMO").order_by("pk")[:60])
    if not members:
        progress(STEPS)
        return
    rng = random.Random(12)
    now = timezone.now()
    reviewers = list(
        Operator.objects.filter(username__in=["reviewer", "opsmanager"]).order_by("username")
    )
    first_reviewer = reviewers[-1] if reviewers else None  # 赵审核
    second_reviewer = reviewers[0] if len(reviewers) > 1 else None

    with transaction.atomic():
        lexicon.load_seed()
        for term, category, action in DEMO_WORDS:
            LexiconEntry.objects.get_or_create(
                normalized=normalize(term),
                defaults={"term": term, "category": category, "action": action},
            )
        topics = [Topic.objects.create(name=name, sort=10 - i) for i, name in enumerate(TOPICS)]
    progress(1)

    with transaction.atomic():
        posts: list[Post] = []
        for index in range(36):
            author = members[index % len(members)]
            created = now - timedelta(hours=rng.randint(2, 24 * 20), minutes=rng.randint(0, 59))
            text = POSTS[index % len(POSTS)]
            status = Status.PUBLISHED
            if index in (3, 4, 5):
                text = f"{text}（含演示违规词，待审核）"
                status = Status.PENDING
            elif index in (6, 7):
                text = f"加我微信 demo_shop88 {text}"
                status = Status.REJECTED
            post = Post.objects.create(
                author=author,
                text=text,
                status=status,
                created_at=created,
                published_at=created if status == Status.PUBLISHED else None,
                is_pinned=index == 0,
                is_featured=index in (0, 1, 2),
                is_hidden=index == 8,
            )
            post.topics.set([topics[index % len(topics)]])
            posts.append(post)
            if status == Status.PENDING:
                _case(
                    post,
                    "post",
                    status=CaseStatus.OPEN,
                    trigger="prescreen",
                    score=20 + index,
                    categories=["custom"],
                    signals=[
                        {
                            "source": "lexicon",
                            "category": "custom",
                            "suggest": "review",
                            "label": "演示违规词",
                        }
                    ],
                )
            elif status == Status.REJECTED and first_reviewer is not None:
                case = _case(
                    post,
                    "post",
                    status=CaseStatus.REJECTED,
                    trigger="prescreen",
                    score=15,
                    categories=["ads"],
                    signals=[
                        {
                            "source": "lexicon",
                            "category": "ads",
                            "suggest": "review",
                            "label": "wechat_id",
                        }
                    ],
                )
                at = created + timedelta(minutes=rng.randint(3, 90))
                _decide(case, first_reviewer, Decision.Action.REJECT, "ads", at)
                Post.objects.filter(pk=post.pk).update(reject_reason=moderation.reason_text("ads"))
                if index == 6:  # one appeal, waiting for a second reviewer
                    Appeal.objects.create(
                        case=case,
                        member=author,
                        text="我只是分享穿搭，微信号是店铺公开的客服号。",
                        first_reviewer=first_reviewer,
                    )
                    ModerationCase.objects.filter(pk=case.pk).update(
                        status=CaseStatus.OPEN,
                        trigger="appeal",
                        opened_at=now - timedelta(hours=3),
                        score=25,
                    )
        # approvals by the reviewers, for their figures
        for post in posts[9:20]:
            case = _case(
                post,
                "post",
                status=CaseStatus.APPROVED,
                trigger="platform",
                score=10,
                signals=[{"source": "wechat_text", "suggest": "review", "label": "21000"}],
            )
            actor = first_reviewer if post.pk % 2 else second_reviewer
            if actor is not None:
                _decide(
                    case,
                    actor,
                    Decision.Action.APPROVE,
                    "",
                    post.created_at + timedelta(minutes=rng.randint(2, 40)),
                )
        # likes, favourites, comments
        published = [p for p in posts if p.status == Status.PUBLISHED]
        for post in published:
            fans = rng.sample(members, k=min(len(members), rng.randint(0, 12)))
            Like.objects.bulk_create([Like(member=m, kind="post", object_id=post.pk) for m in fans])
            faves = fans[: rng.randint(0, len(fans))]
            Favourite.objects.bulk_create([Favourite(member=m, post=post) for m in faves])
            tops: list[Comment] = []
            for c in range(rng.randint(0, 4)):
                comment = Comment.objects.create(
                    post=post,
                    author=rng.choice(members),
                    text=rng.choice(COMMENTS),
                    status=Status.PUBLISHED,
                    created_at=post.created_at + timedelta(minutes=10 + c),
                    published_at=post.created_at + timedelta(minutes=10 + c),
                )
                tops.append(comment)
            if tops:
                Comment.objects.create(
                    post=post,
                    parent=tops[0],
                    author=post.author,
                    text="谢谢～",
                    status=Status.PUBLISHED,
                    created_at=tops[0].created_at + timedelta(minutes=5),
                    published_at=tops[0].created_at + timedelta(minutes=5),
                )
            count = Comment.objects.filter(post=post, status=Status.PUBLISHED).count()
            Post.objects.filter(pk=post.pk).update(
                likes_count=len(fans),
                favourites_count=len(faves),
                comments_count=count,
                hot_score=hot_score(len(fans), count, len(faves), post.created_at.timestamp()),
            )
        # a pending comment and a masked one
        if published:
            pending_comment = Comment.objects.create(
                post=published[0],
                author=members[1],
                text="这条评论含演示违规词",
                status=Status.PENDING,
            )
            _case(
                pending_comment,
                "comment",
                status=CaseStatus.OPEN,
                trigger="prescreen",
                score=20,
                categories=["custom"],
                signals=[
                    {
                        "source": "lexicon",
                        "category": "custom",
                        "suggest": "review",
                        "label": "演示违规词",
                    }
                ],
            )
            Comment.objects.create(
                post=published[1],
                author=members[2],
                text="你这个***，穿得真好看",
                status=Status.PUBLISHED,
                published_at=now,
            )
        # reports on two published posts (repeated reports by one member count once)
        for post in published[2:4]:
            reporters = [m for m in members[10:13] if m.pk != post.author_id]
            for member in reporters:
                Report.objects.create(member=member, kind="post", object_id=post.pk, reason="spam")
            _case(
                post,
                "post",
                status=CaseStatus.OPEN,
                trigger="report",
                score=8 * len(reporters),
                reports_count=len(reporters),
                signals=[
                    {"source": "report", "suggest": "spam", "label": "spam"} for _ in reporters
                ],
            )
    progress(1)

    with transaction.atomic():
        lines = list(
            OrderItem.objects.filter(
                order__status=OrderStatus.COMPLETED, order__member__openid__startswith="oDEMO"
            )
            .select_related("order")
            .order_by("pk")[:80]
        )
        for index, line in enumerate(lines):
            rating, text = REVIEWS[index % len(REVIEWS)]
            created = (line.order.completed_at or now) + timedelta(hours=rng.randint(1, 72))
            status = Status.PUBLISHED
            if index % 23 == 5:
                text = f"{text}演示违规词"
                status = Status.PENDING
            review = Review.objects.create(
                author_id=line.order.member_id,
                order_item=line,
                product_id=line.product_id,
                rating=rating,
                text=text,
                images=[line.image] if line.image and index % 3 == 0 else [],
                anonymous=index % 5 == 0,
                status=status,
                created_at=min(created, now),
                published_at=min(created, now) if status == Status.PUBLISHED else None,
            )
            if status == Status.PENDING:
                _case(
                    review,
                    "review",
                    status=CaseStatus.OPEN,
                    trigger="prescreen",
                    score=20,
                    categories=["custom"],
                    signals=[
                        {
                            "source": "lexicon",
                            "category": "custom",
                            "suggest": "review",
                            "label": "演示违规词",
                        }
                    ],
                )
            elif index % 4 == 0:
                Review.objects.create(
                    author_id=line.order.member_id,
                    order_item=line,
                    product_id=line.product_id,
                    follows=review,
                    text="用了两周，依然满意。",
                    status=Status.PUBLISHED,
                    created_at=min(created + timedelta(days=14), now),
                    published_at=min(created + timedelta(days=14), now),
                    anonymous=review.anonymous,
                )
    progress(1)
