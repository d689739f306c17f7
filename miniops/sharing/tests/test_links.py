"""Share codes, cards, mini-program codes, posters and resolving a code."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from miniops.analytics import services as analytics_services
from miniops.analytics.models import Event
from miniops.core import events
from miniops.core.errors import Conflict, NotFound, ServiceUnavailable
from miniops.members import services as member_services
from miniops.sharing import services
from miniops.sharing.models import QrImage, ShareAct, ShareLink, ShareVisit
from miniops.sharing.providers import MiniCodeSimulator, WeChatMiniCodeClient, minicode_provider
from miniops.sharing.services import links, posters
from miniops.sharing.tests.helpers import card, resolve
from miniops.testing import factories

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]


def test_one_code_per_member_and_target_created_on_first_share_and_stable(client: Client) -> None:
    alice, bob = factories.member(), factories.member()
    product = factories.product()
    first = card(client, alice, target_type="product", target_id=product.pk)
    again = card(client, alice, target_type="product", target_id=product.pk, channel="poster")
    other = card(client, bob, target_type="product", target_id=product.pk)
    page = card(client, alice, target_type="page", page="pages/index/index")
    assert first.status_code == again.status_code == other.status_code == 200, first.content
    body = first.json()
    assert body["code"] == again.json()["code"] != other.json()["code"]
    assert page.json()["code"] not in {body["code"], other.json()["code"]}
    assert ShareLink.objects.count() == 3
    assert ShareLink.objects.get(code=body["code"]).shares == 2
    assert ShareAct.objects.count() == 4
    # the card: title, image, path with the code; scene within WeChat's 32 characters
    assert body["title"] == product.title
    assert body["path"] == f"pages/product/detail?id={product.pk}&s={body['code']}"
    assert body["scene"] == f"s={body['code']}"
    assert len(body["scene"]) <= 32
    assert page.json()["path"] == f"pages/index/index?s={page.json()['code']}"
    assert body["qrcode"].endswith(".png")


def test_codes_fit_the_scene_charset_for_large_ids() -> None:
    for pk in (1, 999, 2**31, 2**63 - 1):
        code = links.code_for(pk)
        assert links.CODE.fullmatch(code), code
        assert len(links.scene_of(code)) <= 32


def test_the_mini_program_code_is_a_real_qr_png_fetched_once(client: Client) -> None:
    alice = factories.member()
    product = factories.product()
    before = MiniCodeSimulator.calls
    card(client, alice, target_type="product", target_id=product.pk)
    card(client, alice, target_type="product", target_id=product.pk)
    assert MiniCodeSimulator.calls == before + 1
    stored = QrImage.objects.get()
    assert stored.scene.startswith("s=")
    with default_storage.open(stored.file) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        assert image.format == "PNG"
        assert image.size == (430, 430)


def test_the_live_client_calls_getunlimited_within_the_budget(fake_wechat: Any) -> None:
    png = MiniCodeSimulator().unlimited(scene="s=abc123", page="pages/index/index", width=280)
    fake_wechat.script(
        "/wxa/getwxacodeunlimit",
        lambda call: __import__("miniops.testing.fake_wechat", fromlist=["Answer"]).Answer(
            png, content_type="image/png"
        ),
    )
    client = WeChatMiniCodeClient(base_url=fake_wechat.url, app_id="wx1", secret="s")
    assert client.unlimited(scene="s=abc123", page="pages/index/index", width=280) == png
    sent = fake_wechat.calls("/wxa/getwxacodeunlimit")[0]
    assert sent.json["scene"] == "s=abc123"
    assert sent.json["page"] == "pages/index/index"
    assert sent.query["access_token"] == fake_wechat.TOKEN


def test_wechat_busy_answers_503_and_refusal_409(fake_wechat: Any) -> None:
    alice = factories.member()
    product = factories.product()
    shared = services.share(member=alice, target_type="product", target_id=product.pk)
    client = WeChatMiniCodeClient(base_url=fake_wechat.url, app_id="wx1", secret="s")
    with minicode_provider.override(client):
        fake_wechat.script("/wxa/getwxacodeunlimit", {"errcode": 45009, "errmsg": "limit"})
        with pytest.raises(ServiceUnavailable):
            services.minicode(shared.link)
        fake_wechat.script("/wxa/getwxacodeunlimit", {"errcode": 41030, "errmsg": "page"})
        with pytest.raises(Conflict):
            services.minicode(shared.link)
    assert not QrImage.objects.exists()


def test_a_poster_is_drawn_with_the_code_and_kept(client: Client) -> None:
    alice = factories.member(nickname="小红")
    product = factories.product(price=12300)
    code = card(client, alice, target_type="product", target_id=product.pk).json()["code"]
    response = client.post(
        "/api/v1/share/posters",
        {"code": code},
        content_type="application/json",
        **__import__("miniops.sharing.tests.helpers", fromlist=["bearer"]).bearer(alice),
    )
    assert response.status_code == 200, response.content
    link = ShareLink.objects.get(code=code)
    name = posters.poster(link)
    assert name == posters.poster(link)  # unchanged target: the same file
    with default_storage.open(name) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        assert image.size == (posters.WIDTH, posters.HEIGHT)
    assert posters.font_path() is None or posters.font_path().endswith((".ttc", ".ttf", ".otf"))


def test_a_poster_for_a_deleted_product_is_404(client: Client) -> None:
    alice = factories.member()
    product = factories.product()
    code = card(client, alice, target_type="product", target_id=product.pk).json()["code"]
    from miniops.catalog.models import Product, Sku

    Sku.objects.filter(product_id=product.pk).delete()
    Product.objects.filter(pk=product.pk).delete()
    from miniops.sharing.tests.helpers import post

    response = post(client, "/api/v1/share/posters", {"code": code}, alice)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "target_not_found"
    # someone else's code: 404 too
    bob = factories.member()
    assert post(client, "/api/v1/share/posters", {"code": code}, bob).status_code == 404


def test_resolving_records_the_visit_and_the_analytics_event(
    client: Client, django_capture_on_commit_callbacks: Capture, settings: Any
) -> None:
    settings.MINIOPS_ANALYTICS_FLUSH_SECONDS = 0
    alice = factories.member()
    product = factories.product()
    code = card(client, alice, target_type="product", target_id=product.pk).json()["code"]
    with django_capture_on_commit_callbacks(execute=True):
        by_scene = resolve(client, scene=f"s={code}", anonymous_id="anon-1", wx_scene=1047)
    assert by_scene.status_code == 200, by_scene.content
    body = by_scene.json()
    assert body["sharer"]["id"] == alice.pk
    assert body["target_id"] == product.pk
    assert body["path"] == f"pages/product/detail?id={product.pk}&s={code}"
    bob = factories.member()
    assert resolve(client, bob, code=code).status_code == 200
    visits = ShareVisit.objects.order_by("pk")
    assert [(v.member_id, v.anonymous_id, v.scene) for v in visits] == [
        (None, "anon-1", 1047),
        (bob.pk, "", None),
    ]
    analytics_services.flush_server_events()
    opened = Event.objects.filter(name="share_opened")
    assert opened.count() == 1
    assert opened.get().share_code == code


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"code": "nOsUcH1"}, 404, "share_code_not_found"),
        ({"code": "x" * 33}, 400, None),
        ({"code": "abc%20"}, 400, None),
        ({"scene": "s=" + "a" * 31}, 400, "scene_too_long"),
        ({"scene": "s=abc中文"}, 400, "scene_invalid"),
        ({"scene": "s=abc%41"}, 400, "scene_invalid"),
        ({"scene": "x=1"}, 400, None),
        ({}, 400, None),
    ],
)
def test_bad_codes_answer_the_shared_error_shape(
    client: Client, body: dict[str, Any], status: int, code: str | None
) -> None:
    response = resolve(client, anonymous_id="anon", **body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "fields"}
    if code:
        assert error["code"] == code


def test_own_code_and_blocked_sharer_are_refused(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    alice = factories.member()
    code = card(client, alice, target_type="page", page="pages/index/index").json()["code"]
    own = resolve(client, alice, code=code)
    assert own.status_code == 409
    assert own.json()["error"]["code"] == "own_share_code"
    # resolved once by someone else: the code is in the cache now
    assert resolve(client, anonymous_id="anon-0", code=code).status_code == 200
    ShareVisit.objects.all().delete()
    staff = factories.operator_with_role("super_admin")
    with django_capture_on_commit_callbacks(execute=True):
        member_services.block_member(member=alice, actor=staff, reason="fraud")
    blocked = resolve(client, anonymous_id="anon", code=code)
    assert blocked.status_code == 404
    assert blocked.json()["error"]["code"] == "share_code_inactive"
    assert not ShareVisit.objects.exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"target_type": "video", "target_id": 1}, 422),
        ({"target_type": "article", "target_id": 999_999}, 404),
        ({"target_type": "product", "target_id": 999_999}, 404),
        ({"target_type": "product", "target_id": 0}, 422),
        ({"target_type": "product"}, 400),
        ({"target_type": "page", "page": "../etc/passwd"}, 400),
        ({"target_type": "page", "page": "pages/index/index", "target_id": 3}, 400),
        ({"target_type": "product", "target_id": 1, "page": "pages/x"}, 400),
        ({"target_type": "product", "target_id": 2**64}, 422),
    ],
)
def test_bad_targets_answer_the_shared_error_shape(
    client: Client, body: dict[str, Any], status: int
) -> None:
    factories.product()
    response = card(client, factories.member(), **body)
    assert response.status_code == status, response.content
    assert "error" in response.json()
    assert not ShareLink.objects.exists()


def test_sharing_needs_a_member(client: Client) -> None:
    response = client.post(
        "/api/v1/share/cards",
        {"target_type": "page", "page": "pages/index/index"},
        content_type="application/json",
    )
    assert response.status_code == 401


def test_a_share_by_itself_earns_nothing(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    from miniops.marketing.models import PointsEntry
    from miniops.sharing.models import Reward

    alice = factories.member()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            card(client, alice, target_type="page", page="pages/index/index")
    assert not Reward.objects.exists()
    assert not PointsEntry.objects.filter(member=alice).exists()


def test_services_raise_domain_errors() -> None:
    alice = factories.member()
    with pytest.raises(NotFound):
        services.own_link(member=alice, code="zzzzzz")
    assert events  # imported for the sinks


def test_a_cached_code_resolves_without_the_database_and_its_visit_is_batched(
    client: Client, settings: Any, django_assert_num_queries: Any
) -> None:
    from miniops.sharing.services import visits

    alice = factories.member()
    code = card(client, alice, target_type="page", page="pages/index/index").json()["code"]
    settings.MINIOPS_ANALYTICS_FLUSH_SECONDS = 3600  # a batch only when asked for
    links.resolve(code=code, anonymous_id="anon-a")  # the first open fills the cache
    with django_assert_num_queries(0):
        resolved = links.resolve(code=code, anonymous_id="anon-b")
    assert (resolved.link.sharer_id, resolved.visit.pk) == (alice.pk, None)
    # queued after the caller's commit: the test's transaction never commits, so put
    # them in the queue the way the commit would
    assert not ShareVisit.objects.exists()
    visits._queue.add(resolved.visit)
    visits.flush()
    assert list(ShareVisit.objects.values_list("anonymous_id", flat=True)) == ["anon-b"]


def test_the_code_caches_hold_no_personal_data_of_the_sharer(client: Client) -> None:
    import pickle

    from django.core.cache import cache

    alice = factories.member(phone="13912345678", nickname="爱丽丝")
    alice.real_name = "王小丽"
    alice.save(update_fields=["real_name"])
    code = card(client, alice, target_type="page", page="pages/index/index").json()["code"]
    link = links.cached_link(code)
    assert link is not None
    assert (link.sharer.nickname, link.sharer.is_blocked) == ("爱丽丝", False)
    shared = cache.get(f"sharing:code:{links.code_version()}:{code}")
    for kept in (link, shared):
        blob = pickle.dumps(kept)
        for secret in ("13912345678", "王小丽"):
            assert secret.encode() not in blob
            assert secret.encode("utf-8") not in blob
