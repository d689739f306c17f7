import pytest

from miniops.core import audiences
from miniops.members.models import Member, MemberTag
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def test_tags_are_audiences_with_their_member_counts() -> None:
    vip = MemberTag.objects.create(name="vip")
    MemberTag.objects.create(name="empty")
    members = [factories.member() for _ in range(3)]
    for member in members[:2]:
        member.tags.add(vip)
    picked = {a.key: a for a in audiences.choices(["tag"])}
    assert picked["tag:vip"].count == 2
    assert picked["tag:empty"].count == 0
    assert audiences.member_ids("tag:vip") == sorted(m.pk for m in members[:2])
    assert audiences.count("tag:vip") == 2
    assert audiences.contains("tag:vip", members[0].pk)
    assert not audiences.contains("tag:vip", members[2].pk)
    assert audiences.describe("tag:vip").count == 2


@pytest.mark.parametrize(
    "key", ["tag:nope", "nope:1", "tag:", "", "tag", None, 12, "x" * 200, "TAG:vip"]
)
def test_unknown_or_malformed_audiences_are_refused(key: object) -> None:
    MemberTag.objects.create(name="vip")
    with pytest.raises(audiences.UnknownAudience) as caught:
        audiences.member_ids(key)  # type: ignore[arg-type]
    assert caught.value.status == 400


def test_a_provider_without_count_or_contains_falls_back_to_member_ids() -> None:
    audiences.register(
        "testkind",
        label="Test",
        choices=lambda: [audiences.Choice("a", "A", 2)],
        member_ids=lambda ref: [3, 1, 3] if ref == "a" else [],
    )
    try:
        assert audiences.member_ids("testkind:a") == [1, 3]
        assert audiences.count("testkind:a") == 2
        assert audiences.contains("testkind:a", 1)
        assert any(a.key == "testkind:a" for a in audiences.choices())
    finally:
        audiences.unregister("testkind")
    assert Member.objects.count() == 0
