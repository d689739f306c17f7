"""Funnels read from the event lake (Parquet + DuckDB): exact counts per step, the
conversion window, step order, property filters, breakdowns and median times;
and the lake itself — what is exported when, checkpoints and compaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import duckdb
import pytest
from django.test import Client
from django.utils import timezone

from miniops.analytics import lake, selectors
from miniops.analytics.models import Event, FillState
from miniops.analytics.tests.helpers import batch, days_ago, event, local, row, send, store

pytestmark = pytest.mark.django_db

BUG_SAME_EVENT_TWICE = (
    "BUG miniops/analytics/selectors.py funnel: step n+1 matches events with "
    "e.ts >= t_n, so one single event satisfies two consecutive steps that match it "
    "(funnel page_view -> page_view: a visitor with ONE page view 'converts' at 100%, "
    "median 0 s); a later step must be a different, later event"
)
BUG_LAKE_CSV = (
    "BUG miniops/analytics/lake.py _write_part: a path (or any text column) containing a "
    "carriage return — accepted by POST /events/batch — makes DuckDB's CSV reader fail "
    "(the CSV options do not read quoted CR/LF), so lake.export() raises on every run "
    "from then on and funnels / event retention never see newer events"
)

BUG_LAKE_VERSION = (
    "BUG miniops/analytics/lake.py connect/reset: each thread keeps its DuckDB views "
    "keyed on the manifest 'version', but reset() (analytics_rebuild --lake) deletes the "
    "manifest so versions start again at 1; a web thread that read version N before the "
    "reset sees version N again after N exports and keeps views on deleted Parquet parts "
    "-> DuckDB IOException (500 on funnels / event retention) or stale data"
)

F = days_ago(10)
SETTLED = timezone.now() - timedelta(minutes=5)
INDEX = {"event": "page_view", "property": "path", "value": "pages/index"}
PRODUCT = {"event": "product_view"}
CART = {"event": "add_to_cart"}
SUBMIT = {"event": "order_submit"}
STEPS = [INDEX, PRODUCT, CART, SUBMIT]


def at(hour: int, minute: int = 0, second: int = 0, day_offset: int = 0) -> Any:
    return local(F + timedelta(days=day_offset), hour, minute, second)


def did(who: str, name: str, moment: Any, **fields: Any) -> None:
    store(row(name, at=moment, anonymous_id=who, received_at=SETTLED, **fields))


def counts(report: dict[str, Any]) -> list[int]:
    return [step["visitors"] for step in report["steps"]]


@pytest.fixture
def journeys() -> None:
    """u1 does all four steps (60 s, 120 s, 300 s apart); u2 three (100 s, 200 s);
    u3 two (300 s); u4 only the first; u5 the second step before the first; u6
    the second step 25 hours after the first; u7 the wrong page first."""
    did("u1", "page_view", at(9), path="pages/index", scene=1007)
    did("u1", "product_view", at(9, 1), properties={"product_id": 12})
    did("u1", "add_to_cart", at(9, 3))
    did("u1", "order_submit", at(9, 8))
    did("u2", "page_view", at(10), path="pages/index", scene=1007)
    did("u2", "product_view", at(10, 1, 40), properties={"product_id": 12})
    did("u2", "add_to_cart", at(10, 5))
    did("u3", "page_view", at(11), path="pages/index", scene=1089)
    did("u3", "product_view", at(11, 5), properties={"product_id": 13})
    did("u4", "page_view", at(12), path="pages/index", scene=1089)
    did("u5", "product_view", at(13), properties={"product_id": 12})
    did("u5", "page_view", at(13, 5), path="pages/index")
    did("u6", "page_view", at(14), path="pages/index")
    did("u6", "product_view", at(15, day_offset=1), properties={"product_id": 12})
    did("u7", "page_view", at(16), path="pages/other")
    did("u7", "product_view", at(16, 1))
    assert lake.export() == 16


def test_exact_counts_per_step(journeys: None) -> None:
    report = selectors.funnel(STEPS, F, F, window_hours=24)
    assert counts(report) == [6, 3, 2, 1]
    steps = report["steps"]
    assert [s["conversion_from_previous"] for s in steps] == [1.0, 0.5, round(2 / 3, 4), 0.5]
    assert [s["conversion_from_first"] for s in steps] == [
        1.0,
        0.5,
        round(2 / 6, 4),
        round(1 / 6, 4),
    ]
    assert [s["drop_off"] for s in steps] == [0, 3, 1, 1]
    assert steps[0]["label"] == "page_view (path = pages/index)"
    assert steps[1]["label"] == "product_view"
    assert report["table"].rows[1][:5] == ["2. product_view", 3, 0.5, 0.5, 3]


def test_median_time_between_steps(journeys: None) -> None:
    report = selectors.funnel(STEPS, F, F, window_hours=24)
    medians = [s["median_seconds_from_previous"] for s in report["steps"]]
    # step 2: u1 60 s, u2 100 s, u3 300 s; step 3: u1 120 s, u2 200 s; step 4: u1 300 s
    assert medians == [None, 100.0, 160.0, 300.0]


def test_the_conversion_window_excludes_later_steps(journeys: None) -> None:
    # u6's second step came 25 hours later: in with a 48-hour window only
    assert counts(selectors.funnel(STEPS, F, F, window_hours=24))[1] == 3
    assert counts(selectors.funnel(STEPS, F, F, window_hours=48))[1] == 4
    # a 1-hour window still has everyone whose steps took minutes
    assert counts(selectors.funnel(STEPS, F, F, window_hours=1)) == [6, 3, 2, 1]


def test_the_window_runs_from_the_first_step_not_the_previous_one() -> None:
    # given steps 30 minutes apart: step 3 is 60 minutes after step 1
    did("w", "page_view", at(9), path="pages/index")
    did("w", "product_view", at(9, 30))
    did("w", "add_to_cart", at(10, 0, 1))
    lake.export()
    # then with a one-hour window the third step is out
    assert counts(selectors.funnel([INDEX, PRODUCT, CART], F, F, window_hours=1)) == [1, 1, 0]


def test_steps_must_happen_in_order(journeys: None) -> None:
    # u5 viewed the product before the index page: only step 1 counts for them
    report = selectors.funnel([INDEX, PRODUCT], F, F)
    assert counts(report) == [6, 3]
    # and the funnel reversed: product views on F (u1, u2, u3, u5, u7; u6's was the
    # next day), of which only u5 went to the index page afterwards
    reversed_report = selectors.funnel([{"event": "product_view"}, INDEX], F, F)
    assert counts(reversed_report) == [5, 1]


def test_a_property_filter_on_a_json_property(journeys: None) -> None:
    steps = [INDEX, {"event": "product_view", "property": "product_id", "value": 12}]
    assert counts(selectors.funnel(steps, F, F)) == [6, 2]  # u3 viewed product 13
    steps[1]["value"] = "13"
    assert counts(selectors.funnel(steps, F, F)) == [6, 1]


def test_a_property_filter_on_a_column(journeys: None) -> None:
    other = [{"event": "page_view", "property": "path", "value": "pages/other"}, PRODUCT]
    assert counts(selectors.funnel(other, F, F)) == [1, 1]
    by_scene = [{"event": "page_view", "property": "scene", "value": 1089}, PRODUCT]
    assert counts(selectors.funnel(by_scene, F, F)) == [2, 1]


def test_breakdown_by_scene(journeys: None) -> None:
    report = selectors.funnel(STEPS, F, F, breakdown="scene")
    rows = {r["value"]: r["counts"] for r in report["breakdown_rows"]}
    assert rows == {"1007": [2, 2, 2, 1], "1089": [2, 1, 0, 0], "": [2, 0, 0, 0]}
    labels = {r["value"]: r["label"] for r in report["breakdown_rows"]}
    assert "1007" in labels["1007"]
    assert {r["value"]: r["conversion"] for r in report["breakdown_rows"]} == {
        "1007": 0.5,
        "1089": 0.0,
        "": 0.0,
    }
    # the totals are the same as without a breakdown
    assert counts(report) == [6, 3, 2, 1]


def test_an_unknown_breakdown_is_ignored(journeys: None) -> None:
    report = selectors.funnel(STEPS, F, F, breakdown="anonymous_id; DROP TABLE x")
    assert report["breakdown"] == ""
    assert counts(report) == [6, 3, 2, 1]


def test_only_the_first_step_in_the_range_starts_a_journey(journeys: None) -> None:
    # the day before F has nothing; the day after has only u6's product view
    assert counts(selectors.funnel(STEPS, F - timedelta(days=1), F - timedelta(days=1))) == [
        0,
        0,
        0,
        0,
    ]
    assert counts(selectors.funnel(STEPS, F + timedelta(days=1), F + timedelta(days=1)))[0] == 0


def test_a_member_s_anonymous_steps_count_for_the_member() -> None:
    # given a visitor who did step 1 anonymously and step 2 after signing in
    from miniops.analytics import services

    did("anon-7", "page_view", at(9), path="pages/index")
    store(row("product_view", at=at(9, 5), member_id=4242, received_at=SETTLED))
    services.merge_anonymous(anonymous_id="anon-7", member_id=4242)
    lake.export()
    # then they convert
    assert counts(selectors.funnel([INDEX, PRODUCT], F, F)) == [1, 1]


def test_one_event_cannot_be_two_steps() -> None:
    # given a visitor with a single page view
    did("solo", "page_view", at(9), path="pages/index")
    lake.export()
    # when the funnel is "a page view, then another page view"
    report = selectors.funnel([{"event": "page_view"}, {"event": "page_view"}], F, F)
    # then they did not reach step 2
    assert counts(report) == [1, 0]


def test_an_empty_lake_answers_zeros() -> None:
    report = selectors.funnel(STEPS, F, F)
    assert counts(report) == [0, 0, 0, 0]
    assert report["data_until"] is None


# --- the lake itself -----------------------------------------------------------------------------
def test_export_takes_only_settled_events_and_never_twice() -> None:
    # given two events received long enough ago and one received just now
    did("a", "page_view", at(9))
    did("b", "page_view", at(9))
    store(row("page_view", at=at(9), anonymous_id="c"))
    # when
    assert lake.export() == 2
    assert lake.export() == 0
    # then the checkpoint is the last exported id, and the fresh one waits
    exported = list(Event.objects.order_by("id").values_list("id", flat=True))[:2]
    assert FillState.objects.get(name=lake.CHECKPOINT).done_until == exported[-1]
    manifest = lake.read_manifest()
    assert manifest["exported_until"] == exported[-1]
    assert sum(part["rows"] for part in manifest["parts"]) == 2
    # once it is old enough it is exported
    Event.objects.filter(anonymous_id="c").update(received_at=SETTLED)
    assert lake.export() == 1


def test_a_reader_sees_new_parts_after_an_export() -> None:
    did("a", "page_view", at(9), path="pages/index")
    lake.export()
    with lake.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM ev").fetchone() == (1,)
    version = lake.read_manifest()["version"]
    did("b", "page_view", at(9), path="pages/index")
    lake.export()
    assert lake.read_manifest()["version"] > version
    with lake.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM ev").fetchone() == (2,)
        assert sorted(db.execute("SELECT visitor FROM ev").fetchall()) == [("aa",), ("ab",)]


def test_the_lake_keeps_columns_and_json_properties() -> None:
    did(
        "a",
        "page_view",
        at(9, 0, 1),
        path='pages/商品,"详情"',
        scene=1007,
        channel="moments",
        properties={"title": 'say "hi", ok', "n": 3},
    )
    store(row("order_paid", at=at(9, 5), member_id=77, source="server", received_at=SETTLED))
    lake.export()
    with lake.connect() as db:
        rows = db.execute(
            "SELECT name, source, visitor, mid, path, scene, channel, day, "
            "json_extract_string(properties, '$.title'), epoch(ts) FROM ev ORDER BY id"
        ).fetchall()
    assert rows[0][:9] == (
        "page_view",
        "client",
        "aa",
        None,
        'pages/商品,"详情"',
        1007,
        "moments",
        F,
        'say "hi", ok',
    )
    assert rows[0][9] == at(9, 0, 1).timestamp()
    assert rows[1][:4] == ("order_paid", "server", "m77", 77)


def test_many_parts_are_compacted_into_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lake, "COMPACT_WHEN", 3)
    for n in range(3):
        did(f"v{n}", "page_view", at(9, n))
        lake.export()
    manifest = lake.read_manifest()
    assert len(manifest["parts"]) == 1
    assert manifest["parts"][0]["rows"] == 3
    assert len(manifest["replaced"]) == 3
    with lake.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM ev").fetchone() == (3,)


def test_replaced_parts_are_removed_after_ten_minutes(
    monkeypatch: pytest.MonkeyPatch, lake_dir: Any
) -> None:
    monkeypatch.setattr(lake, "COMPACT_WHEN", 2)
    for n in range(2):
        did(f"v{n}", "page_view", at(9, n))
        lake.export()
    replaced = [entry["file"] for entry in lake.read_manifest()["replaced"]]
    assert all((lake_dir / name).exists() for name in replaced)
    monkeypatch.setattr(lake, "KEEP_REPLACED_SECONDS", -1)
    lake.export()
    assert lake.read_manifest()["replaced"] == []
    assert not any((lake_dir / name).exists() for name in replaced)


def test_reset_forgets_the_lake() -> None:
    did("a", "page_view", at(9))
    lake.export()
    lake.reset()
    assert lake.read_manifest()["parts"] == []
    assert not FillState.objects.filter(name=lake.CHECKPOINT).exists()
    assert lake.export() == 1


def test_aliases_and_registration_days_are_rewritten_every_export(lake_dir: Any) -> None:
    from miniops.analytics import services
    from miniops.members.models import Member
    from miniops.testing import factories

    def read(name: str) -> list[tuple[Any, ...]]:
        with duckdb.connect() as db:
            return db.execute("SELECT * FROM read_parquet(?)", [str(lake_dir / name)]).fetchall()

    # given nothing yet
    lake.export()
    assert read("aliases.parquet") == []
    assert read("members.parquet") == []
    # when a member registered late in the local day signs in with an anonymous id
    person = factories.member()
    Member.objects.filter(pk=person.pk).update(registered_at=at(23, 30))
    services.merge_anonymous(anonymous_id="x", member_id=person.pk)
    lake.export()
    # then both small tables are rewritten
    assert read("aliases.parquet") == [("x", person.pk)]
    assert read("members.parquet") == [(person.pk, F)]


def test_a_path_with_a_line_break_does_not_stop_the_lake(client: Client) -> None:
    # given an event the API accepted, with a carriage return in its path
    response = send(client, batch([event(path="pages/a\rb"), event(path="pages/ok")]))
    assert response.json()["accepted"] == 2
    Event.objects.update(received_at=SETTLED)
    # when the periodic task exports the lake
    exported = lake.export()
    # then both events are in it
    assert exported == 2
    with lake.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM ev").fetchone() == (2,)


def test_a_reader_thread_sees_the_lake_rebuilt_after_a_reset() -> None:
    # given a web thread that has read the lake (version 1)
    did("a", "page_view", at(9), path="pages/index")
    lake.export()
    assert lake.read_manifest()["version"] == 1
    steps = [INDEX, PRODUCT]
    with ThreadPoolExecutor(max_workers=1) as web_thread:
        assert counts(web_thread.submit(selectors.funnel, steps, F, F).result()) == [1, 0]
        # when the lake is rebuilt from scratch (analytics_rebuild --lake) with one
        # more event, which brings the manifest back to version 1
        did("b", "page_view", at(10), path="pages/index")
        lake.reset()
        lake.export()
        assert lake.read_manifest()["version"] == 1
        # then the web thread reads the new lake
        assert counts(web_thread.submit(selectors.funnel, steps, F, F).result()) == [2, 0]
