"""The publish path through the API: the pre-screen's verdicts, platform checks
(simulator), edits, feed, likes, favourites, comments, bad input."""

from __future__ import annotations

import uuid

import pytest

from miniops.content.models import (
    CaseStatus,
    Comment,
    Like,
    ModerationCase,
    PlatformCheck,
    Post,
    Status,
)
from miniops.content.tests.helpers import (
    create_post,
    error_of,
    post,
    topic,
    upload,
    word,
    writer,
)

pytestmark = pytest.mark.django_db


def test_a_clean_post_is_published_after_the_platform_check():
    _me, client = writer()
    response = create_post(client)
    assert response.status_code == 201, response.content
    body = response.json()
    post_row = Post.objects.get(pk=body["id"])
    # the text check ran after commit (simulator: pass) and published it
    assert post_row.status == Status.PUBLISHED
    check = PlatformCheck.objects.get(object_id=post_row.pk, channel="text")
    assert check.verdict == "pass"
    assert check.state == "done"
    feed = client.get("/api/v1/posts").json()
    assert [item["id"] for item in feed["items"]] == [post_row.pk]


def test_a_short_clean_comment_publishes_at_once_without_the_platform():
    _me, client = writer()
    post_id = create_post(client).json()["id"]
    response = post(
        client, f"/api/v1/posts/{post_id}/comments", {"text": "好看"}, HTTP_IDEMPOTENCY_KEY="c1"
    )
    assert response.status_code == 201, response.content
    assert Comment.objects.get(pk=response.json()["id"]).status == Status.PUBLISHED
    assert Post.objects.get(pk=post_id).comments_count == 1


def test_a_blocked_word_refuses_the_post_and_stores_nothing():
    word("赌博", "gambling", "block")
    _me, client = writer()
    response = create_post(client, "来 賭 博 吧，稳赚不赔的好机会呢朋友们")
    assert response.status_code == 422
    assert error_of(response)["code"] == "content_blocked"
    assert Post.objects.count() == 0


def test_a_review_word_keeps_the_post_pending_in_the_queue():
    word("敏感", "custom", "review")
    _me, client = writer()
    response = create_post(client, "这段文字里有一个敏@感的词，大家看看吧")
    assert response.status_code == 201
    assert response.json()["state"]["status"] == "pending"
    case = ModerationCase.objects.get(kind="post", object_id=response.json()["id"])
    assert case.status == CaseStatus.OPEN
    assert case.trigger == "prescreen"
    assert case.signals.filter(source="lexicon", label="敏感").exists()
    assert client.get("/api/v1/posts").json()["items"] == []


def test_a_mask_word_is_published_masked():
    word("傻瓜", "abuse", "mask")
    _me, client = writer()
    response = create_post(client, "你这个傻瓜，这件衣服真的很好看，快去买")
    assert Post.objects.get(pk=response.json()["id"]).text.startswith("你这个**，")


def test_a_risky_platform_verdict_never_publishes():
    _me, client = writer()
    response = create_post(client, "这是一段风险测试的文字，平台会说有风险的")
    post_row = Post.objects.get(pk=response.json()["id"])
    assert post_row.status == Status.PENDING
    case = ModerationCase.objects.get(kind="post", object_id=post_row.pk)
    assert case.trigger == "wechat_text"
    assert case.status == CaseStatus.OPEN


def test_images_are_checked_one_by_one():
    _me, client = writer()
    urls = [upload(client), upload(client)]
    response = create_post(client, images=urls)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert PlatformCheck.objects.filter(object_id=pk, channel="media").count() == 2
    assert Post.objects.get(pk=pk).status == Status.PUBLISHED
    assert len(client.get(f"/api/v1/posts/{pk}").json()["images"]) == 2


def test_an_edit_is_reviewed_again():
    word("敏感")
    _me, client = writer()
    pk = create_post(client).json()["id"]
    response = client.put(
        f"/api/v1/posts/{pk}",
        {"text": "改成敏感的内容了哦，大家不要看了好吗"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"]["status"] == "pending"
    assert Post.objects.get(pk=pk).revision == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"text": "a\u0000b"}, "text"),
        ({"text": "ok", "topics": [987654]}, "topics"),
        ({"text": "ok", "images": ["https://evil.example/a.png"]}, "images"),
        ({"text": "ok", "images": ["x"] * 10}, "images"),
    ],
)
def test_bad_posts_are_refused_with_the_shared_shape(body, field):
    _me, client = writer()
    response = (
        create_post(client, **body)
        if "text" not in body
        else post(client, "/api/v1/posts", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    )
    assert 400 <= response.status_code < 500, response.content
    error = error_of(response)
    assert field in error["fields"] or error["code"] in {
        "validation_error",
        "invalid_input",
        "malformed_request",
    }
    assert Post.objects.count() == 0


def test_a_lone_surrogate_is_refused():
    _me, client = writer()
    response = client.post(
        "/api/v1/posts",
        b'{"text": "bad \\ud800 text"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="s1",
    )
    assert 400 <= response.status_code < 500
    error_of(response)
    assert Post.objects.count() == 0


def test_images_of_another_member_are_refused():
    _other, other_client = writer()
    url = upload(other_client)
    _me, client = writer()
    response = create_post(client, images=[url])
    assert response.status_code == 400
    assert "images" in error_of(response)["fields"]


def test_the_idempotency_key_replays_the_first_answer():
    _me, client = writer()
    first = post(
        client, "/api/v1/posts", {"text": "一条普通的帖子内容，看看重试"}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = post(
        client, "/api/v1/posts", {"text": "一条普通的帖子内容，看看重试"}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert first.json()["id"] == again.json()["id"]
    assert Post.objects.count() == 1
    missing = post(client, "/api/v1/posts", {"text": "没有键"})
    assert missing.status_code == 400


def test_likes_are_idempotent_and_favourites_toggle():
    _me, client = writer()
    pk = create_post(client).json()["id"]
    assert post(client, f"/api/v1/posts/{pk}/like").json() == {"on": True, "changed": True}
    assert post(client, f"/api/v1/posts/{pk}/like").json() == {"on": True, "changed": False}
    assert Like.objects.count() == 1
    assert Post.objects.get(pk=pk).likes_count == 1
    assert client.delete(f"/api/v1/posts/{pk}/like").json()["changed"] is True
    assert Post.objects.get(pk=pk).likes_count == 0
    assert post(client, f"/api/v1/posts/{pk}/favourite").json()["changed"] is True
    assert client.get("/api/v1/me/favourite-posts").json()["items"][0]["id"] == pk


def test_feed_by_topic_hot_and_cursor():
    style = topic("穿搭")
    _me, client = writer()
    ids = [
        create_post(client, f"第{i}条帖子的内容，写得长一点好过检查", topics=[style.pk]).json()[
            "id"
        ]
        for i in range(5)
    ]
    create_post(client, "没有话题的帖子内容，也写得长一点呢")
    page = client.get(f"/api/v1/posts?topic_id={style.pk}&limit=2").json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    second = client.get(
        f"/api/v1/posts?topic_id={style.pk}&limit=2&cursor={page['next_cursor']}"
    ).json()
    assert [i["id"] for i in second["items"]] == ids[::-1][2:4]
    post(client, f"/api/v1/posts/{ids[0]}/like")
    hot = client.get("/api/v1/posts?sort=hot&limit=1").json()
    assert hot["items"][0]["id"] == ids[0]
    assert client.get("/api/v1/posts?cursor=garbage").status_code == 400


def test_replies_stay_one_level_deep_and_own_comments_delete():
    _me, client = writer()
    pk = create_post(client).json()["id"]
    top = post(
        client, f"/api/v1/posts/{pk}/comments", {"text": "第一"}, HTTP_IDEMPOTENCY_KEY="a"
    ).json()
    reply = post(
        client,
        f"/api/v1/posts/{pk}/comments",
        {"text": "回复", "parent_id": top["id"]},
        HTTP_IDEMPOTENCY_KEY="b",
    ).json()
    deeper = post(
        client,
        f"/api/v1/posts/{pk}/comments",
        {"text": "再回复", "parent_id": reply["id"]},
        HTTP_IDEMPOTENCY_KEY="c",
    ).json()
    assert deeper["parent_id"] == top["id"]
    listing = client.get(f"/api/v1/posts/{pk}/comments").json()
    assert [r["id"] for r in listing["items"][0]["replies"]] == [reply["id"], deeper["id"]]
    _other, other_client = writer()
    assert other_client.delete(f"/api/v1/comments/{top['id']}").status_code == 404
    assert client.delete(f"/api/v1/comments/{top['id']}").status_code == 204


def test_writes_are_rate_limited_per_member(settings):
    from miniops.content import api as content_api
    from miniops.core.throttling import parse_rate

    _me, client = writer()
    pk = create_post(client).json()["id"]
    operation_throttle = None
    for throttle in content_api.write_throttle():
        operation_throttle = throttle
    assert parse_rate(settings.MINIOPS_CONTENT_WRITE_RATE)[0] == 30
    statuses = [post(client, f"/api/v1/posts/{pk}/like").status_code for _ in range(40)]
    assert 429 in statuses
    assert operation_throttle is not None


def test_a_write_without_its_idempotency_key_is_refused_as_such_even_over_budget() -> None:
    """The missing header is the client's error whatever its budget: a 400 in the
    shared shape (idempotency_key_required), not 429, and it does not spend the budget."""
    _me, client = writer()
    pk = create_post(client).json()["id"]
    statuses = [post(client, f"/api/v1/posts/{pk}/like").status_code for _ in range(40)]
    assert 429 in statuses  # the budget is spent
    keyless = post(client, "/api/v1/posts", {"text": "你好", "images": [], "topics": []})
    assert keyless.status_code == 400, keyless.content
    assert keyless.json()["error"]["code"] == "idempotency_key_required"
