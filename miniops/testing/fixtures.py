"""Shared pytest fixtures: operators signed in to the console, API clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from miniops.accounts.models import Operator
from miniops.core import localcache
from miniops.testing import factories


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # argon2 is the product's hasher (asserted in test_settings); tests use a fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    # Every alias: the payment simulator keeps its trades in "simulators".
    for each in caches.all():
        each.clear()
    localcache.forget()
    yield
    for each in caches.all():
        each.clear()
    localcache.forget()


def sign_in(client: Client, operator: Operator) -> Client:
    """Log ``operator`` in as if they had passed password and (if needed) TOTP."""
    client.force_login(operator)
    if operator.requires_2fa:
        device = operator.totpdevice_set.filter(confirmed=True).first()  # type: ignore[attr-defined]
        if device is None:
            device = factories.totp_device(operator)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def console_as(db: None) -> Callable[..., Client]:
    """``console_as("finance")`` -> a client signed in as a new operator with that role."""

    def make(role: str | None, **kwargs: Any) -> Client:
        operator = factories.operator_with_role(role, **kwargs)
        client = Client()
        client.operator = operator  # type: ignore[attr-defined]
        return sign_in(client, operator)

    return make


@pytest.fixture
def api(client: Client) -> Client:
    return client


@pytest.fixture
def fake_wechat() -> Iterator[Any]:
    """A local WeChat server (``miniops.testing.fake_wechat``) for the real clients."""
    from miniops.testing.fake_wechat import FakeWeChat

    with FakeWeChat() as server:
        yield server
