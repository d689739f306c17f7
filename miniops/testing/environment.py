"""Test-run environment, set before Django reads its settings.

Loaded with ``-p miniops.testing.environment`` (pyproject addopts): a pytest
plugin named on the command line is imported before pytest-django sets Django
up, which a conftest.py is not. Each run gets its own var/ directory (test
database, task queue, keys); on Redis each xdist worker gets its own database
number, so parallel workers never clear each other's cache.
"""

from __future__ import annotations

import os
import re
import tempfile

os.environ["MINIOPS_ENV"] = "test"
os.environ.setdefault("MINIOPS_PROVIDER_MODE", "simulator")
os.environ.pop("MINIOPS_HUEY_IMMEDIATE", None)
# Server events are written at once in tests (no background flush thread).
os.environ["MINIOPS_ANALYTICS_FLUSH_SECONDS"] = "0"
if "MINIOPS_VAR_DIR" not in os.environ:
    os.environ["MINIOPS_VAR_DIR"] = tempfile.mkdtemp(prefix="miniops-test-")

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_index = int(re.sub(r"\D", "", _worker) or 0)
# MINIOPS_TEST_SLOT (0-7) lets several checkouts run the suite on the same
# PostgreSQL and Redis at once: each slot has its own test database and its own
# pair of Redis database numbers (a run uses at most two xdist workers per slot).
_slot = int(os.environ.get("MINIOPS_TEST_SLOT", "0") or 0)
os.environ["CACHE_KEY_PREFIX"] = f"miniops-test-{_slot}-{_worker}"
os.environ["HUEY_NAME"] = f"miniops-test-{_slot}-{_worker}"
if _slot and "DATABASE_TEST_NAME" not in os.environ and os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_TEST_NAME"] = f"test_miniops_slot{_slot}"
if os.environ.get("REDIS_URL"):
    base = re.sub(r"/\d+$", "", os.environ["REDIS_URL"].rstrip("/"))
    _db = 15 - ((_index + 2 * _slot) % 16) if _slot else 15 - (_index % 15)
    os.environ["REDIS_URL"] = f"{base}/{_db}"
