from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from miniops.notifications.providers import SubscribeClient, subscribe_provider
from miniops.testing.fake_wechat import SubscribeState, install_subscribe


@pytest.fixture
def wechat(fake_wechat: Any) -> Iterator[SubscribeState]:
    """The real subscribe client against the fake WeChat server, consent enforced
    there as WeChat does (43101 without a grant)."""
    state = install_subscribe(fake_wechat, strict_consent=True)
    state.server = fake_wechat  # type: ignore[attr-defined]
    with subscribe_provider.override(SubscribeClient(base_url=fake_wechat.url)):
        yield state


@pytest.fixture(autouse=True)
def _no_quiet_hours(db: None) -> None:
    """Tests run at any hour: quiet hours off unless a test sets them."""
    from datetime import time

    from miniops.notifications.selectors import push_settings

    row = push_settings()
    row.quiet_start = row.quiet_end = time(0, 0)
    row.daily_cap = row.weekly_cap = 0
    row.save()
