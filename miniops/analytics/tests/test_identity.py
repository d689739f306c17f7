"""Identity merge: what an anonymous visitor did before signing in counts for the
member afterwards — in the active-visitor rollups, the first-visit cohorts and
the member timeline — once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from miniops.analytics import rollups, selectors, services
from miniops.analytics.models import (
    DaySummary,
    DirtyDay,
    EventDay,
    VisitorAlias,
    VisitorDay,
    VisitorFirst,
)
from miniops.analytics.tests.helpers import batch, days_ago, event, local, row, send, store, today
from miniops.members.models import Member
from miniops.testing import factories

pytestmark = pytest.mark.django_db

BUG_STALE_FIRST = (
    "BUG miniops/analytics/rollups.py rebuild_day: VisitorFirst is only ever upserted, "
    "never cleaned, so once a day was rolled up with an anonymous visitor 'a<anon>' and "
    "that visitor then signs in (VisitorAlias), the stale 'a<anon>' row stays next to "
    "'m<member>': the day's new_visitors counts the same person twice (2 instead of 1) "
    "and first-visit retention cohorts keep a visitor who 'never returns'"
)


def login(client: Client, **body: Any) -> Any:
    return client.post("/api/v1/auth/wechat-login", body, content_type="application/json")


def sign_in_with(client: Client, capture: Any, anonymous_id: str, code: str = "alice") -> Member:
    """Sign in through the API (simulator codes), server events delivered as after a
    real commit."""
    with capture(execute=True):
        response = login(client, code=code, anonymous_id=anonymous_id)
    assert response.status_code == 200, response.content
    return Member.objects.get(pk=response.json()["member_id"])


def test_login_links_the_anonymous_id_and_marks_its_days(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given an anonymous visitor with events two days ago and today
    store(
        row(at=local(days_ago(2), 10), anonymous_id="anon-9"),
        row(at=local(today(), 0, 5), anonymous_id="anon-9"),
    )
    DirtyDay.objects.all().delete()
    # when they sign in, sending the id their events were sent with
    person = sign_in_with(client, django_capture_on_commit_callbacks, "anon-9")
    # then
    assert VisitorAlias.objects.get(anonymous_id="anon-9").member_id == person.pk
    assert set(DirtyDay.objects.values_list("day", flat=True)) >= {days_ago(2), today()}


def test_after_login_the_day_counts_the_visitor_once_as_the_member(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given an anonymous visitor browsing today
    assert (
        send(client, batch([event(path="pages/index"), event()], anonymous_id="anon-9")).json()[
            "accepted"
        ]
        == 2
    )
    # when they sign in and go on browsing with their member token
    person = sign_in_with(client, django_capture_on_commit_callbacks, "anon-9")
    access, _refresh = factories.member_tokens(person)
    send(client, batch([event(path="pages/index")], anonymous_id="anon-9"), token=access)
    rollups.run()
    # then today has one visitor, the member, with every event
    assert list(VisitorDay.objects.filter(day=today()).values_list("visitor", "events")) == [
        (f"m{person.pk}", 3)
    ]
    summary = DaySummary.objects.get(day=today())
    assert (summary.visitors, summary.pageviews, summary.new_visitors) == (1, 3, 1)
    assert EventDay.objects.get(day=today(), name="page_view", path="pages/index").visitors == 1
    assert list(VisitorFirst.objects.values_list("visitor", flat=True)) == [f"m{person.pk}"]


def test_earlier_days_are_rebuilt_for_the_member_after_login(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given anonymous events three days ago (not today or yesterday)
    old_day = days_ago(3)
    store(row(at=local(old_day, 9), anonymous_id="anon-9", session_id="s1"))
    # when they sign in today and the rollups run
    person = sign_in_with(client, django_capture_on_commit_callbacks, "anon-9")
    rollups.run()
    # then that day is counted for the member
    assert list(VisitorDay.objects.filter(day=old_day).values_list("visitor", "member_id")) == [
        (f"m{person.pk}", person.pk)
    ]
    assert VisitorFirst.objects.get(visitor=f"m{person.pk}").first_day == old_day


def test_rebuilding_the_day_counts_the_visitor_once(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given anonymous and member events on the same day, linked by login
    day = days_ago(4)
    person = sign_in_with(client, django_capture_on_commit_callbacks, "anon-9")
    store(
        row(at=local(day, 9), anonymous_id="anon-9"),
        row(at=local(day, 10), member_id=person.pk, anonymous_id="anon-9"),
        row(at=local(day, 11), member_id=person.pk),
    )
    # when
    rollups.rebuild_day(day)
    # then
    summary = DaySummary.objects.get(day=day)
    assert (summary.visitors, summary.pageviews, summary.new_visitors) == (1, 3, 1)


def test_no_stale_anonymous_cohort_entry_after_login(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given an anonymous visitor whose day was already rolled up
    day = days_ago(3)
    store(row(at=local(day, 9), anonymous_id="anon-9"))
    rollups.rebuild_day(day)
    assert VisitorFirst.objects.filter(visitor="aanon-9").exists()
    # when they sign in and the rollups run
    person = sign_in_with(client, django_capture_on_commit_callbacks, "anon-9")
    rollups.run()
    # then only the member is a first visitor of that day
    assert list(VisitorFirst.objects.values_list("visitor", flat=True)) == [f"m{person.pk}"]
    assert DaySummary.objects.get(day=day).new_visitors == 1
    report = selectors.retention(day, day, periods=3)
    assert report["cohorts"][0]["size"] == 1


def test_the_first_member_to_claim_an_anonymous_id_keeps_it() -> None:
    first, second = factories.member(), factories.member()
    assert services.merge_anonymous(anonymous_id="shared-phone", member_id=first.pk) is True
    assert services.merge_anonymous(anonymous_id="shared-phone", member_id=second.pk) is False
    assert services.merge_anonymous(anonymous_id="", member_id=second.pk) is False
    assert VisitorAlias.objects.get(anonymous_id="shared-phone").member_id == first.pk


def test_login_without_an_anonymous_id_links_nothing(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    sign_in_with(client, django_capture_on_commit_callbacks, "")
    assert not VisitorAlias.objects.exists()


def test_the_member_timeline_includes_what_they_did_before_login(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given events before login (anonymous), after login, and someone else's
    store(
        row(at=local(days_ago(1), 9), anonymous_id="anon-9", path="pages/before"),
        row(at=local(days_ago(1), 9), anonymous_id="anon-other", path="pages/other"),
    )
    person = sign_in_with(client, django_capture_on_commit_callbacks, "anon-9")
    store(row(at=local(days_ago(1), 10), member_id=person.pk, path="pages/after"))
    # when
    timeline = selectors.member_timeline(person.pk)
    # then newest first; the server events of the login are there too
    client_paths = [e.path for e in timeline if e.source == "client"]
    assert client_paths == ["pages/after", "pages/before"]
    assert {e.name for e in timeline if e.source == "server"} == {
        "member_registered",
        "member_login",
    }
