"""Provider slots: simulator or live by setting, forced by env var, overridable."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from django.core.exceptions import ImproperlyConfigured

from miniops.core import providers
from miniops.core.providers import ProviderSlot

HERE = __name__  # "miniops.core.tests.test_providers"


class Greeter(Protocol):
    def greet(self) -> str: ...


class FakeLive:
    built = 0

    def __init__(self) -> None:
        type(self).built += 1

    def greet(self) -> str:
        return "live"


class FakeSimulator:
    built = 0

    def __init__(self) -> None:
        type(self).built += 1

    def greet(self) -> str:
        return "simulator"


class FakeForced:
    def greet(self) -> str:
        return "forced"


class SlowSimulator:
    built = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        with self.lock:
            type(self).built += 1
        threading.Event().wait(0.02)  # widen the race window

    def greet(self) -> str:
        return "slow"


_counter = itertools.count()


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    before = dict(providers._registry)
    FakeLive.built = FakeSimulator.built = SlowSimulator.built = 0
    yield
    providers._registry.clear()
    providers._registry.update(before)


@pytest.fixture
def make_slot() -> Any:
    def make(
        *,
        live: str = f"{HERE}.FakeLive",
        simulator: str = f"{HERE}.FakeSimulator",
        name: str | None = None,
    ) -> ProviderSlot[Greeter]:
        return ProviderSlot(
            name or f"test_slot_{next(_counter)}",
            interface=Greeter,
            live=live,
            simulator=simulator,
        )

    return make


# --- declaration -------------------------------------------------------------------


def test_slot_registers_itself(make_slot: Any) -> None:
    # given / when
    slot = make_slot()
    # then it is listed under its name, with its configuration
    assert providers.slots()[slot.name] is slot
    assert slot.interface is Greeter
    assert slot.live == f"{HERE}.FakeLive"
    assert slot.simulator == f"{HERE}.FakeSimulator"


def test_duplicate_slot_name_is_refused(make_slot: Any) -> None:
    # given a declared slot
    first = make_slot(name="test_dup_slot")
    # when / then a second slot with the same name is refused
    with pytest.raises(ImproperlyConfigured, match="test_dup_slot"):
        make_slot(name="test_dup_slot")
    # and the original stays registered
    assert providers.slots()["test_dup_slot"] is first


def test_slots_returns_a_copy(make_slot: Any) -> None:
    # given a slot
    slot = make_slot()
    # when the returned mapping is mutated
    listing = providers.slots()
    listing.pop(slot.name)
    # then the registry is unaffected
    assert slot.name in providers.slots()


# --- choosing the implementation ---------------------------------------------------


def test_simulator_mode_uses_simulator(make_slot: Any, settings: Any) -> None:
    # given simulator mode
    settings.MINIOPS_PROVIDER_MODE = "simulator"
    slot = make_slot()
    # when
    instance = slot.get()
    # then
    assert isinstance(instance, FakeSimulator)
    assert instance.greet() == "simulator"
    assert slot.dotted_path() == f"{HERE}.FakeSimulator"


def test_live_mode_uses_live(make_slot: Any, settings: Any) -> None:
    # given live mode
    settings.MINIOPS_PROVIDER_MODE = "live"
    slot = make_slot()
    # when
    instance = slot.get()
    # then
    assert isinstance(instance, FakeLive)
    assert instance.greet() == "live"
    assert slot.dotted_path() == f"{HERE}.FakeLive"


def test_tests_run_in_simulator_mode_by_default(make_slot: Any) -> None:
    # given the test settings
    slot = make_slot()
    # when / then nothing real is called by accident
    assert isinstance(slot.get(), FakeSimulator)


def test_env_var_forces_a_class(
    make_slot: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given live mode, but this slot forced to another class
    settings.MINIOPS_PROVIDER_MODE = "live"
    slot = make_slot(name="test_forced_slot")
    monkeypatch.setenv("MINIOPS_PROVIDER_TEST_FORCED_SLOT", f"  {HERE}.FakeForced  ")
    # when
    instance = slot.get()
    # then the forced class wins (whitespace around the path ignored)
    assert isinstance(instance, FakeForced)
    assert slot.dotted_path() == f"{HERE}.FakeForced"


def test_env_var_forces_even_in_simulator_mode(
    make_slot: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given simulator mode with the slot forced to its live class
    settings.MINIOPS_PROVIDER_MODE = "simulator"
    slot = make_slot(name="test_forced_live")
    monkeypatch.setenv("MINIOPS_PROVIDER_TEST_FORCED_LIVE", f"{HERE}.FakeLive")
    # when / then
    assert isinstance(slot.get(), FakeLive)


def test_env_var_for_another_slot_is_ignored(
    make_slot: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a forced class for a different slot name
    settings.MINIOPS_PROVIDER_MODE = "simulator"
    slot = make_slot(name="test_unforced")
    monkeypatch.setenv("MINIOPS_PROVIDER_TEST_OTHER", f"{HERE}.FakeForced")
    # when / then
    assert isinstance(slot.get(), FakeSimulator)


def test_blank_env_var_does_not_force(
    make_slot: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an empty (whitespace) override
    settings.MINIOPS_PROVIDER_MODE = "live"
    slot = make_slot(name="test_blank_env")
    monkeypatch.setenv("MINIOPS_PROVIDER_TEST_BLANK_ENV", "   ")
    # when / then the mode decides
    assert isinstance(slot.get(), FakeLive)


def test_bad_dotted_path_fails_loudly(make_slot: Any) -> None:
    # given a slot pointing at a class that does not exist
    slot = make_slot(simulator=f"{HERE}.DoesNotExist")
    # when / then
    with pytest.raises(ImportError, match="DoesNotExist"):
        slot.get()


# --- instance lifecycle ------------------------------------------------------------


def test_instance_is_built_once_and_reused(make_slot: Any) -> None:
    # given a slot
    slot = make_slot()
    # when it is asked for several times
    first, second, third = slot.get(), slot.get(), slot.get()
    # then one instance is built and shared
    assert first is second is third
    assert FakeSimulator.built == 1


def test_instance_is_per_slot(make_slot: Any) -> None:
    # given two slots on the same class
    a, b = make_slot(), make_slot()
    # when / then each slot holds its own instance
    assert a.get() is not b.get()
    assert FakeSimulator.built == 2


def test_instance_survives_mode_change_until_reset(make_slot: Any, settings: Any) -> None:
    # given a built simulator
    settings.MINIOPS_PROVIDER_MODE = "simulator"
    slot = make_slot()
    simulator = slot.get()
    # when the mode changes
    settings.MINIOPS_PROVIDER_MODE = "live"
    # then the built instance is kept until reset
    assert slot.get() is simulator
    # when reset
    slot.reset()
    # then the next get builds the class for the new mode
    assert isinstance(slot.get(), FakeLive)


def test_reset_forgets_the_instance(make_slot: Any) -> None:
    # given a built instance
    slot = make_slot()
    first = slot.get()
    # when
    slot.reset()
    second = slot.get()
    # then a new one is built
    assert second is not first
    assert isinstance(second, FakeSimulator)
    assert FakeSimulator.built == 2


def test_reset_before_get_is_harmless(make_slot: Any) -> None:
    # given a slot never used
    slot = make_slot()
    # when / then
    slot.reset()
    assert isinstance(slot.get(), FakeSimulator)


def test_concurrent_first_get_builds_one_instance(make_slot: Any) -> None:
    # given a slot whose class is slow to build
    slot = make_slot(simulator=f"{HERE}.SlowSimulator")
    results: list[object] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(slot.get())

    # when eight threads ask at once
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one instance was built and everyone got it
    assert SlowSimulator.built == 1
    assert len(results) == 8
    assert all(result is results[0] for result in results)


# --- override ----------------------------------------------------------------------


def test_override_swaps_and_restores(make_slot: Any) -> None:
    # given a slot with its real instance built
    slot = make_slot()
    real = slot.get()
    fake = FakeForced()
    # when overridden
    with slot.override(fake) as yielded:
        # then get returns the override
        assert yielded is fake
        assert slot.get() is fake
    # and afterwards the original instance is back (not rebuilt)
    assert slot.get() is real
    assert FakeSimulator.built == 1


def test_override_without_prior_instance_does_not_build(make_slot: Any) -> None:
    # given a slot never used
    slot = make_slot()
    # when overridden
    with slot.override(FakeForced()):
        slot.get()
    # then the real class was never constructed
    assert FakeSimulator.built == 0


def test_override_nests(make_slot: Any) -> None:
    # given a slot
    slot = make_slot()
    outer, inner = FakeForced(), FakeForced()
    # when / then the innermost override wins and each exit restores the previous one
    with slot.override(outer):
        with slot.override(inner):
            assert slot.get() is inner
        assert slot.get() is outer
    assert isinstance(slot.get(), FakeSimulator)


def test_override_restores_on_exception(make_slot: Any) -> None:
    # given a slot
    slot = make_slot()
    fake = FakeForced()
    # when the block raises
    with pytest.raises(RuntimeError), slot.override(fake):
        raise RuntimeError("boom")
    # then the override is gone anyway
    assert slot.get() is not fake
    assert isinstance(slot.get(), FakeSimulator)


def test_override_survives_reset(make_slot: Any) -> None:
    # given an override in place
    slot = make_slot()
    fake = FakeForced()
    with slot.override(fake):
        # when the built instance is reset
        slot.reset()
        # then the override still applies
        assert slot.get() is fake


def test_override_is_per_slot(make_slot: Any) -> None:
    # given two slots
    a, b = make_slot(), make_slot()
    fake = FakeForced()
    # when one is overridden
    with a.override(fake):
        # then the other is untouched
        assert a.get() is fake
        assert isinstance(b.get(), FakeSimulator)
