"""Fixtures for the analytics tests: live counters forgotten between tests, and
an empty event lake of each test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from miniops.analytics import lake, realtime


@pytest.fixture(autouse=True)
def _fresh_live_counters() -> Iterator[None]:
    realtime.reset_local()
    yield
    realtime.reset_local()


@pytest.fixture(autouse=True)
def lake_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """Each test writes and reads its own lake (a fresh directory; the per-thread
    DuckDB connection is dropped so no view points at another test's files)."""
    directory = tmp_path / "lake"
    settings.MINIOPS_ANALYTICS_LAKE_DIR = str(directory)
    lake._local.__dict__.clear()
    yield directory
    lake._local.__dict__.clear()


@pytest.fixture(autouse=True)
def _staging_table_forgotten() -> None:
    """PostgreSQL: ``storage`` creates its temporary staging table once per
    connection and remembers that on the connection. Each test runs in a
    transaction that is rolled back, which drops the table again, so the memory
    must go too (see test_ingest's ``..._rolled_back_transaction`` for what that
    means outside tests)."""
    raw = getattr(connection, "connection", None)
    if connection.vendor == "postgresql" and raw is not None:
        raw._miniops_stage = False
