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
os.environ["CACHE_KEY_PREFIX"] = f"miniops-test-{_worker}"
os.environ["HUEY_NAME"] = f"miniops-test-{_worker}"
if os.environ.get("REDIS_URL"):
    base = re.sub(r"/\d+$", "", os.environ["REDIS_URL"].rstrip("/"))
    os.environ["REDIS_URL"] = f"{base}/{15 - (_index % 15)}"
