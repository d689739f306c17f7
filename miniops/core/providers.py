"""The provider pattern: one interface, a real implementation and a local simulator.

WeChat login, WeChat Pay and subscribe messages each sit behind an interface
(a ``typing.Protocol``). Settings choose the implementation: with
``MINIOPS_PROVIDER_MODE=simulator`` (the default, used by the demo and the tests)
every slot uses its simulator; ``live`` uses the real one. A single slot can be
forced with ``MINIOPS_PROVIDER_<SLOT>=dotted.path.Class``.

Domain apps declare their slot once::

    login_provider = ProviderSlot(
        "wechat_login",
        interface=LoginProvider,
        live="miniops.members.providers.WeChatLoginClient",
        simulator="miniops.members.providers.LoginSimulator",
    )

and call ``login_provider.get()`` where they need it. Tests swap a slot with
``slot.override(instance)``. The instance is built once per process and reused
(it holds HTTP clients and cached platform tokens).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

T = TypeVar("T")

_registry: dict[str, ProviderSlot[Any]] = {}


class ProviderSlot(Generic[T]):
    def __init__(self, name: str, *, interface: Any, live: str, simulator: str) -> None:
        if name in _registry:
            raise ImproperlyConfigured(f"provider slot {name!r} declared twice")
        self.name = name
        self.interface = interface
        self.live = live
        self.simulator = simulator
        self._instance: T | None = None
        self._override: T | None = None
        self._lock = threading.Lock()
        _registry[name] = self

    def dotted_path(self) -> str:
        forced = os.environ.get(f"MINIOPS_PROVIDER_{self.name.upper()}", "").strip()
        if forced:
            return forced
        mode = settings.MINIOPS_PROVIDER_MODE
        return self.live if mode == "live" else self.simulator

    def get(self) -> T:
        if self._override is not None:
            return self._override
        if self._instance is None:
            with self._lock:
                if self._instance is None:
                    cls = import_string(self.dotted_path())
                    self._instance = cls()
        assert self._instance is not None
        return self._instance

    def reset(self) -> None:
        """Forget the built instance (settings changed, tests)."""
        with self._lock:
            self._instance = None

    @contextmanager
    def override(self, instance: T) -> Iterator[T]:
        previous = self._override
        self._override = instance
        try:
            yield instance
        finally:
            self._override = previous


def slots() -> dict[str, ProviderSlot[Any]]:
    return dict(_registry)
