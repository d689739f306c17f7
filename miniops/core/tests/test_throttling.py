"""Fixed-window API throttle: per IP for anonymous callers, per identity when signed in."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from miniops.core import throttling
from miniops.core.throttling import WindowThrottle, parse_rate

rf = RequestFactory()
START = 86_400_000.0


class FakeClock:
    """Stands in for the ``time`` module inside throttling only."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    # 1000 days since the epoch: on a second, minute, hour and day boundary; start 15 s in
    fake = FakeClock(START + 15)
    monkeypatch.setattr(throttling, "time", fake)
    return fake


def anon(ip: str = "203.0.113.7") -> Any:
    return rf.get("/api/v1/ping", REMOTE_ADDR=ip)


def signed_in(key: str | None, ip: str = "203.0.113.7") -> Any:
    request = rf.get("/api/v1/ping", REMOTE_ADDR=ip)
    request.auth = SimpleNamespace(throttle_key=key)  # type: ignore[attr-defined]
    return request


def allowed(throttle: WindowThrottle, request: Any, times: int) -> list[bool]:
    return [throttle.allow_request(request) for _ in range(times)]


# --- parse_rate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("600/m", (600, 60)),
        ("10/s", (10, 1)),
        ("5/h", (5, 3600)),
        ("1/d", (1, 86400)),
        ("0/m", (0, 60)),
        ("100/min", (100, 60)),
        ("100/minute", (100, 60)),
        ("3/sec", (3, 1)),
        ("2/hour", (2, 3600)),
        ("7/day", (7, 86400)),
        (" 20 / m ", (20, 60)),
        ("6000/m", (6000, 60)),
    ],
)
def test_parse_rate_accepts(rate: str, expected: tuple[int, int]) -> None:
    # given a rate string
    # when / then it parses to (count, period in seconds)
    assert parse_rate(rate) == expected


@pytest.mark.parametrize(
    "rate",
    ["", "600", "600/", "/m", "m/600", "abc/m", "-5/m", "+5/m", "1.5/m", "10/x", "10/y", "ten/s"],
)
def test_parse_rate_refuses_garbage(rate: str) -> None:
    # given a malformed rate
    # when / then
    with pytest.raises(ValueError, match="rate must look like"):
        parse_rate(rate)


def test_throttle_refuses_bad_rates_at_construction() -> None:
    # given / when / then a misconfigured throttle fails at start-up, not per request
    with pytest.raises(ValueError, match="rate"):
        WindowThrottle(anon_rate="lots", auth_rate="10/m")
    with pytest.raises(ValueError, match="rate"):
        WindowThrottle(anon_rate="10/m", auth_rate="10/fortnight")


# --- anonymous callers -------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_allows_exactly_n_then_refuses() -> None:
    # given a limit of 3 per minute
    throttle = WindowThrottle(anon_rate="3/m", auth_rate="100/m")
    request = anon()
    # when 5 requests arrive in the same window
    results = allowed(throttle, request, 5)
    # then the first 3 pass and the rest are refused
    assert results == [True, True, True, False, False]


def test_wait_reports_time_to_next_window(clock: FakeClock) -> None:
    # given a limit of 1 per minute, 15 s into the window
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    request = anon()
    assert throttle.allow_request(request)
    # when the next request is refused
    assert not throttle.allow_request(request)
    # then wait() says how long until the window ends
    wait = throttle.wait()
    assert wait is not None
    assert wait > 0
    assert wait == pytest.approx(45)


def test_wait_is_positive_at_end_of_window(clock: FakeClock) -> None:
    # given a refusal in the last moment of a window
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    clock.now = START + 59.999
    request = anon()
    throttle.allow_request(request)
    # when
    assert not throttle.allow_request(request)
    # then wait is still strictly positive and at most one period
    wait = throttle.wait()
    assert wait is not None
    assert 0 < wait <= 60


def test_real_clock_refusal_reports_positive_wait() -> None:
    # given the real clock and a limit of 2 per hour
    throttle = WindowThrottle(anon_rate="2/h", auth_rate="100/h")
    request = anon()
    # when the third request is refused
    assert allowed(throttle, request, 3) == [True, True, False]
    # then wait is positive and no longer than the period
    wait = throttle.wait()
    assert wait is not None
    assert 0 < wait <= 3600


def test_wait_is_none_before_any_refusal() -> None:
    # given a fresh throttle
    throttle = WindowThrottle(anon_rate="5/m", auth_rate="5/m")
    # when a request passes
    assert throttle.allow_request(anon())
    # then there is nothing to wait for
    assert throttle.wait() is None


def test_new_window_resets_the_count(clock: FakeClock) -> None:
    # given a client that used up its minute
    throttle = WindowThrottle(anon_rate="2/m", auth_rate="100/m")
    request = anon()
    assert allowed(throttle, request, 3) == [True, True, False]
    # when the clock moves into the next minute
    clock.now += 45
    # then the client gets a full new allowance
    assert allowed(throttle, request, 3) == [True, True, False]


def test_window_is_fixed_not_sliding(clock: FakeClock) -> None:
    # given a limit of 2 per minute used up late in a window
    throttle = WindowThrottle(anon_rate="2/m", auth_rate="100/m")
    request = anon()
    clock.now = START + 58
    assert allowed(throttle, request, 2) == [True, True]
    # when the minute boundary passes two seconds later
    clock.now = START + 60
    # then the count starts again (fixed windows)
    assert throttle.allow_request(request)


def test_same_window_later_second_still_refused(clock: FakeClock) -> None:
    # given a used-up allowance
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    request = anon()
    throttle.allow_request(request)
    # when more time passes but the window has not ended
    clock.now += 44
    # then still refused, with a shorter wait
    assert not throttle.allow_request(request)
    assert throttle.wait() == pytest.approx(1)


@pytest.mark.usefixtures("clock")
def test_per_second_rate() -> None:
    # given 10 per second
    throttle = WindowThrottle(anon_rate="10/s", auth_rate="100/s")
    # when / then
    assert allowed(throttle, anon(), 11) == [True] * 10 + [False]
    assert throttle.wait() == pytest.approx(1)


@pytest.mark.usefixtures("clock")
def test_zero_rate_refuses_everything() -> None:
    # given a rate of 0
    throttle = WindowThrottle(anon_rate="0/m", auth_rate="100/m")
    # when / then
    assert not throttle.allow_request(anon())


@pytest.mark.usefixtures("clock")
def test_different_ips_have_separate_counters() -> None:
    # given one IP that has used up its allowance
    throttle = WindowThrottle(anon_rate="2/m", auth_rate="100/m")
    assert allowed(throttle, anon("198.51.100.1"), 3) == [True, True, False]
    # when another IP calls
    # then it has its own full allowance
    assert allowed(throttle, anon("198.51.100.2"), 3) == [True, True, False]
    assert allowed(throttle, anon("2001:db8::1"), 2) == [True, True]
    # and the first stays refused
    assert not throttle.allow_request(anon("198.51.100.1"))


@pytest.mark.usefixtures("clock")
def test_x_forwarded_for_is_ignored_without_proxies(settings: Any) -> None:
    # given no trusted proxies
    settings.MINIOPS_PROXY_COUNT = 0
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    first = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.1.1.1")
    second = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="2.2.2.2")
    # when / then a client cannot dodge the limit by inventing X-Forwarded-For
    assert throttle.allow_request(first)
    assert not throttle.allow_request(second)


@pytest.mark.usefixtures("clock")
def test_behind_a_proxy_clients_are_told_apart(settings: Any) -> None:
    # given one trusted proxy in front
    settings.MINIOPS_PROXY_COUNT = 1
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    a = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    b = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2")
    # when / then the proxy's address is not a shared bucket
    assert throttle.allow_request(a)
    assert throttle.allow_request(b)
    assert not throttle.allow_request(a)


@pytest.mark.usefixtures("clock")
def test_scopes_count_separately() -> None:
    # given two throttles with different scopes
    api = WindowThrottle(anon_rate="1/m", auth_rate="100/m", scope="api")
    login = WindowThrottle(anon_rate="1/m", auth_rate="100/m", scope="login")
    request = anon()
    # when / then using up one does not touch the other
    assert api.allow_request(request)
    assert not api.allow_request(request)
    assert login.allow_request(request)


@pytest.mark.usefixtures("clock")
def test_counter_is_shared_across_instances_through_the_cache() -> None:
    # given two throttle instances (two processes) with the same scope
    one = WindowThrottle(anon_rate="2/m", auth_rate="100/m")
    two = WindowThrottle(anon_rate="2/m", auth_rate="100/m")
    request = anon()
    # when / then they count against the same cache entry
    assert one.allow_request(request)
    assert two.allow_request(request)
    assert not one.allow_request(request)


@pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="Redis counts with INCR, which has no such race"
)
@pytest.mark.usefixtures("clock")
def test_count_restarts_if_key_vanishes_between_add_and_incr() -> None:
    # given a cache whose entry expires right after add()
    real_add = cache.add
    expired: list[str] = []

    def add_then_expire(key: str, value: int, timeout: int) -> bool:
        result = real_add(key, value, timeout=timeout)
        cache.delete(key)
        expired.append(key)
        return result

    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    # when
    with mock.patch.object(cache, "add", add_then_expire):
        first = throttle.allow_request(anon())
    # then the window starts again at 1 (allowed) rather than crashing
    assert len(expired) == 1
    assert first is True
    assert cache.get(expired[0]) == 1
    # and the restarted counter is enforced
    assert not throttle.allow_request(anon())


# --- signed-in callers -------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_signed_in_caller_uses_auth_rate_and_key() -> None:
    # given anon 1/m and auth 3/m
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="3/m")
    # when a signed-in caller calls 4 times
    results = allowed(throttle, signed_in("operator:42"), 4)
    # then the auth rate applies
    assert results == [True, True, True, False]


@pytest.mark.usefixtures("clock")
def test_signed_in_caller_is_counted_by_identity_not_ip() -> None:
    # given one identity calling from two IPs
    throttle = WindowThrottle(anon_rate="100/m", auth_rate="2/m")
    assert throttle.allow_request(signed_in("token:7", ip="198.51.100.1"))
    assert throttle.allow_request(signed_in("token:7", ip="198.51.100.2"))
    # when / then the third call is refused whatever the IP
    assert not throttle.allow_request(signed_in("token:7", ip="198.51.100.3"))
    # while another identity on the same IP is unaffected
    assert throttle.allow_request(signed_in("token:8", ip="198.51.100.1"))


@pytest.mark.usefixtures("clock")
def test_signed_in_and_anonymous_counters_are_separate() -> None:
    # given an IP that used up its anonymous allowance
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="5/m")
    ip = "198.51.100.50"
    assert throttle.allow_request(anon(ip))
    assert not throttle.allow_request(anon(ip))
    # when someone signs in from that IP
    # then their identity's allowance is fresh
    assert throttle.allow_request(signed_in("operator:1", ip=ip))


@pytest.mark.usefixtures("clock")
def test_auth_without_throttle_key_counts_as_anonymous() -> None:
    # given auth objects without a throttle key (or an empty one)
    throttle = WindowThrottle(anon_rate="1/m", auth_rate="100/m")
    ip = "198.51.100.60"
    no_attr = rf.get("/", REMOTE_ADDR=ip)
    no_attr.auth = object()  # type: ignore[attr-defined]
    # when / then they share the IP's anonymous counter and rate
    assert throttle.allow_request(no_attr)
    assert not throttle.allow_request(signed_in(None, ip=ip))
    assert not throttle.allow_request(signed_in("", ip=ip))
    assert not throttle.allow_request(anon(ip))


def test_signed_in_wait_uses_auth_period(clock: FakeClock) -> None:
    # given anon per minute, auth per hour, 15 s into the hour
    throttle = WindowThrottle(anon_rate="100/m", auth_rate="1/h")
    request = signed_in("operator:9")
    assert throttle.allow_request(request)
    # when refused
    assert not throttle.allow_request(request)
    # then the wait runs to the end of the hour
    assert throttle.wait() == pytest.approx(3600 - 15)


def test_cache_keys_are_namespaced(clock: FakeClock) -> None:
    # given one anonymous and one signed-in request
    throttle = WindowThrottle(anon_rate="5/m", auth_rate="5/m", scope="api")
    throttle.allow_request(anon("198.51.100.70"))
    throttle.allow_request(signed_in("operator:3"))
    throttle.allow_request(signed_in("operator:3"))
    window = int(clock.now // 60)
    # when / then counts live under scope, identity and window
    assert cache.get(f"thr:api:ip:198.51.100.70:{window}") == 1
    assert cache.get(f"thr:api:operator:3:{window}") == 2


def _sleeping_clock(monkeypatch: Any, start: float) -> tuple[dict[str, float], list[float]]:
    """time.time() and time.sleep() in throttling on a clock that moves only when slept."""
    clock = {"now": start}
    slept: list[float] = []
    monkeypatch.setattr(throttling.time, "time", lambda: clock["now"])

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(throttling.time, "sleep", fake_sleep)
    return clock, slept


def test_outbound_budget_is_shared_and_waits_for_the_next_window(monkeypatch: Any) -> None:
    clock, slept = _sleeping_clock(monkeypatch, 1_000_000.0)
    for _ in range(3):
        throttling.acquire("wx-test", "3/s")
    assert slept == []
    throttling.acquire("wx-test", "3/s")  # the fourth waits for the next second
    assert len(slept) == 1
    assert int(clock["now"]) == 1_000_001


def test_outbound_budget_gives_up_after_its_wait(monkeypatch: Any) -> None:
    monkeypatch.setattr(throttling.time, "time", lambda: 2_000_000.0)
    for _ in range(2):
        throttling.acquire("wx-test-2", "2/m")
    with pytest.raises(throttling.LimitTimeout):
        throttling.acquire("wx-test-2", "2/m", wait=0.01, sleep=0.005)


def test_outbound_budget_in_bulk_grants_what_the_window_has_left(monkeypatch: Any) -> None:
    clock, slept = _sleeping_clock(monkeypatch, 3_000_000.0)
    assert throttling.acquire_many("wx-bulk", "5/s", 3) == 3
    # 2 left in this second, 2 more in the next: one wait
    assert throttling.acquire_many("wx-bulk", "5/s", 4) == 4
    assert len(slept) == 1
    assert int(clock["now"]) == 3_000_001
    # a single acquire shares the same window
    throttling.acquire("wx-bulk", "5/s")
    assert throttling.acquire_many("wx-bulk", "5/s", 10, wait=0.0) == 2


def test_outbound_budget_in_bulk_returns_what_it_got_when_the_wait_runs_out(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(throttling.time, "time", lambda: 4_000_000.0)
    assert throttling.acquire_many("wx-bulk-2", "3/m", 5, wait=0.01, sleep=0.005) == 3
    assert throttling.acquire_many("wx-bulk-2", "3/m", 1, wait=0.01, sleep=0.005) == 0
