"""The home layout under concurrent edits, on PostgreSQL with real threads: moves
and new sections racing each other always leave positions 1..n, each once
(``select_for_update`` over the layout). Skipped on SQLite (one writer)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from django.db import connection

from miniops.cms import services
from miniops.cms.models import HomeSection
from miniops.cms.tests import factories as cms

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_concurrent_moves_and_additions_keep_one_position_each() -> None:
    actor = cms.manager()
    sections = [cms.home_section(kind="banners", title=f"s{i}") for i in range(6)]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(6):
                if seed == 7:
                    services.save_section(actor=actor, kind="articles", title=f"new{rng.random()}")
                else:
                    section = HomeSection.objects.get(pk=rng.choice(sections).pk)
                    services.move_section(
                        actor=actor, section=section, direction=rng.choice(["up", "down"])
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    positions: list[Any] = list(HomeSection.objects.values_list("position", flat=True))
    assert sorted(positions) == list(range(1, len(sections) + 7))
