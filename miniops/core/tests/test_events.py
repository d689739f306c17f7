"""Server events reach the sinks after commit; ``withheld()`` tracks nothing."""

from __future__ import annotations

from typing import Any

import pytest

from miniops.core import events

pytestmark = pytest.mark.django_db


def test_events_tracked_while_withheld_reach_no_sink(
    django_capture_on_commit_callbacks: Any,
) -> None:
    got: list[events.ServerEvent] = []

    def sink(batch: list[events.ServerEvent]) -> None:
        got.extend(batch)

    events.register_sink(sink)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            with events.withheld():
                events.track("seeded", member_id=1)
            events.track("after", member_id=2)
    finally:
        events.unregister_sink(sink)
    assert [event.name for event in got] == ["after"]
