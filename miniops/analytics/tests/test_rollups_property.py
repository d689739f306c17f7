"""Property tests: for random small sets of events (a few visitors over a few
days, resent events, late arrivals, anonymous visitors who sign in), the rollup
tables say what a plain Python recomputation from the raw Event rows says."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from miniops.analytics import ingest, rollups, services
from miniops.analytics.models import (
    DaySummary,
    DirtyDay,
    Event,
    EventDay,
    FillState,
    SourceDay,
    VisitorAlias,
    VisitorDay,
    VisitorFirst,
)
from miniops.analytics.tests.helpers import (
    expected_rollups,
    local,
    row,
    store,
    today,
    window_actives,
)

pytestmark = pytest.mark.django_db

DAYS = 10
#: visitor index -> (member id, anonymous id); member ids need no Member row
VISITORS = [(101, ""), (102, ""), (None, "a1"), (None, "a2"), (None, "a3")]
ANONYMOUS = ["a1", "a2", "a3"]
NAMES = ["page_view", "page_view", "tap", "add_to_cart"]
PATHS = ["", "pages/index", "pages/cart"]
SLOW = settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def base_day() -> date:
    # Close to today so WAU / MAU of every day are recomputed up to today quickly.
    return today() - timedelta(days=DAYS - 1)


event_strategy = st.tuples(
    st.integers(0, len(VISITORS) - 1),  # who
    st.integers(0, DAYS - 1),  # day offset
    st.integers(0, 23),  # hour
    st.integers(0, 59),  # minute
    st.sampled_from(NAMES),
    st.sampled_from(PATHS),
    st.one_of(st.none(), st.integers(0, 2)),  # session
    st.booleans(),  # a server event (members only)
)
alias_strategy = st.dictionaries(
    st.sampled_from(ANONYMOUS), st.sampled_from([101, 102, 103]), max_size=3
)


def clean_tables() -> None:
    """Every example starts empty. On PostgreSQL the storage's staging table is
    emptied too: its rows live until the transaction commits, and the test
    transaction never does (see test_ingest's ``..._enclosing_transaction``)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('analytics_event_stage')")
            if cursor.fetchone()[0] is not None:
                cursor.execute("DELETE FROM analytics_event_stage")
    for model in (
        Event,
        VisitorAlias,
        DirtyDay,
        VisitorDay,
        VisitorFirst,
        DaySummary,
        EventDay,
        SourceDay,
        FillState,
    ):
        model.objects.all().delete()


def to_row(spec: tuple[Any, ...], uid: uuid.UUID) -> ingest.Row:
    who, offset, hour, minute, name, path, session, server = spec
    member_id, anonymous_id = VISITORS[who]
    is_server = server and member_id is not None
    return row(
        "order_paid" if is_server else name,
        at=local(base_day() + timedelta(days=offset), hour, minute),
        member_id=member_id,
        anonymous_id=anonymous_id,
        session_id="" if session is None or is_server else f"s{session}",
        path="" if is_server else path,
        source="server" if is_server else "client",
        uid=uid,
    )


def expected_sessions() -> dict[date, tuple[int, int]]:
    spans: dict[tuple[date, str], list[Any]] = defaultdict(list)
    for e in Event.objects.filter(source="client").exclude(session_id=""):
        spans[(e.day, e.session_id)].append(e.ts)
    out: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for (day, _session), moments in spans.items():
        out[day][0] += 1
        out[day][1] += int((max(moments) - min(moments)).total_seconds())
    return {day: (n, seconds) for day, (n, seconds) in out.items()}


def assert_counts_match(*, exact_first_visits: bool) -> None:
    """The rollups against the recomputation. ``exact_first_visits``: also no
    extra VisitorFirst rows and exact new_visitors (holds when every alias is known
    before the days are first built; see the xfail tests in test_identity and
    test_rollups_exact for the other case)."""
    want = expected_rollups()
    active = want["active"]
    summaries = {s.day: s for s in DaySummary.objects.all()}
    for day in sorted(set(active) | set(summaries)):
        s = summaries.get(day)
        visitors = len(active.get(day, set()))
        if s is None:
            assert visitors == 0, day
            continue
        assert s.visitors == visitors, day
        assert s.pageviews == want["pageviews"].get(day, 0), day
        assert s.wau == window_actives(active, day, 7), day
        assert s.mau == window_actives(active, day, 30), day
        assert (s.sessions, s.session_seconds) == expected_sessions().get(day, (0, 0)), day
    # visitor days: one row per resolved visitor and day
    got_days = defaultdict(set)
    for day, visitor in VisitorDay.objects.values_list("day", "visitor"):
        got_days[day].add(visitor)
    assert dict(got_days) == {d: v for d, v in active.items() if v}
    # counts per event and page
    got_events = {(e.day, e.name, e.path): (e.count, e.visitors) for e in EventDay.objects.all()}
    assert got_events == want["event_days"]
    # first visits
    first = dict(VisitorFirst.objects.values_list("visitor", "first_day"))
    for visitor, day in want["first_day"].items():
        assert first.get(visitor) == day, visitor
    if exact_first_visits:
        assert first == want["first_day"]
        for day, s in summaries.items():
            new = sum(1 for d in want["first_day"].values() if d == day)
            assert s.new_visitors == new, day


@SLOW
@given(
    events=st.lists(event_strategy, min_size=1, max_size=25),
    resend=st.lists(st.integers(0, 24), max_size=6),
    aliases=alias_strategy,
    shuffle=st.randoms(use_true_random=False),
)
def test_one_build_after_everything_arrived_matches_a_recomputation(
    events: list[tuple[Any, ...]],
    resend: list[int],
    aliases: dict[str, int],
    shuffle: Any,
) -> None:
    # given events stored in any order, some sent twice, and the sign-ins known
    clean_tables()
    rows = [to_row(spec, uuid.uuid4()) for spec in events]
    again = [rows[i % len(rows)] for i in resend]
    arrival = rows + again
    shuffle.shuffle(arrival)
    for one in arrival:
        store(one)
    for anonymous_id, member_id in aliases.items():
        services.merge_anonymous(anonymous_id=anonymous_id, member_id=member_id)
    assert Event.objects.count() == len(rows)
    # when the rollups run once
    rollups.run()
    # then
    assert_counts_match(exact_first_visits=True)


@SLOW
@given(
    events=st.lists(event_strategy, min_size=1, max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=3),
    aliases=alias_strategy,
    alias_after=st.integers(0, 3),
    shuffle=st.randoms(use_true_random=False),
)
def test_late_events_and_sign_ins_between_runs_match_a_recomputation(
    events: list[tuple[Any, ...]],
    cuts: list[int],
    aliases: dict[str, int],
    alias_after: int,
    shuffle: Any,
) -> None:
    # given events arriving in chunks, in any order of days, with a rollup run
    # after each chunk and the sign-ins happening after one of them
    clean_tables()
    rows = [to_row(spec, uuid.uuid4()) for spec in events]
    shuffle.shuffle(rows)
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    chunks = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    for index, chunk in enumerate(chunks):
        store(*chunk)
        if index == alias_after:
            for anonymous_id, member_id in aliases.items():
                services.merge_anonymous(anonymous_id=anonymous_id, member_id=member_id)
        rollups.run()
    if alias_after >= len(chunks):
        for anonymous_id, member_id in aliases.items():
            services.merge_anonymous(anonymous_id=anonymous_id, member_id=member_id)
        rollups.run()
    # then the active visitors, page views, sessions, counts per event, WAU / MAU
    # and every visitor's first day are right
    assert_counts_match(exact_first_visits=False)


@settings(SLOW, derandomize=True, database=None, phases=[Phase.generate])
@given(
    events=st.lists(event_strategy, min_size=1, max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=3),
    aliases=alias_strategy,
    alias_after=st.integers(0, 3),
    shuffle=st.randoms(use_true_random=False),
)
def test_first_visits_and_new_visitors_stay_exact_between_runs(
    events: list[tuple[Any, ...]],
    cuts: list[int],
    aliases: dict[str, int],
    alias_after: int,
    shuffle: Any,
) -> None:
    test_late_events_and_sign_ins_between_runs_match_a_recomputation.hypothesis.inner_test(
        events=events, cuts=cuts, aliases=aliases, alias_after=alias_after, shuffle=shuffle
    )
    assert_counts_match(exact_first_visits=True)


@SLOW
@given(events=st.lists(event_strategy, min_size=1, max_size=20), order=st.randoms())
def test_rebuilding_in_any_order_gives_the_same_rows(
    events: list[tuple[Any, ...]], order: Any
) -> None:
    # given events rolled up once
    clean_tables()
    store(*[to_row(spec, uuid.uuid4()) for spec in events])
    rollups.run()
    first = sorted(
        (s.day, s.visitors, s.pageviews, s.new_visitors, s.wau, s.mau, s.sessions)
        for s in DaySummary.objects.all()
    )
    # when every day is rebuilt again in a random order
    days = sorted(DaySummary.objects.values_list("day", flat=True))
    order.shuffle(days)
    for day in days:
        rollups.rebuild_day(day)
    # then
    assert (
        sorted(
            (s.day, s.visitors, s.pageviews, s.new_visitors, s.wau, s.mau, s.sessions)
            for s in DaySummary.objects.all()
        )
        == first
    )
