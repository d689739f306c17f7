from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture(autouse=True)
def _commits_after_each_request(django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Each test request's after-commit work (platform checks, lexicon version)
    runs when the request ends, as it would after its transaction commits."""
    original = Client.request

    def request(self: Client, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return original(self, **kwargs)

    monkeypatch.setattr(Client, "request", request)
