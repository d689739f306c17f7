"""The console's 403 page is themed: its "back" button has the console's colours."""

from __future__ import annotations

import pytest
from django.test import Client

from miniops.testing import factories
from miniops.testing.fixtures import sign_in

pytestmark = pytest.mark.django_db


def test_the_403_page_carries_the_console_theme() -> None:
    client = sign_in(Client(), factories.operator_with_role("analyst"))
    response = client.get("/console/accounts/role/add/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "unfold-theme-colors" in html
    assert "permission-denied" in html
