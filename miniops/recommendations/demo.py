"""Demo data: train the recommender on the demo shop's orders, browsing history
and analytics views (seeded by the apps before this one), then evaluate it, so
the member pages, the API and the quality page have something to show."""

from __future__ import annotations

from collections.abc import Callable

STEPS = 2


def clear() -> None:
    from miniops.recommendations.models import ModelVersion, RecsSettings, Rule

    Rule.objects.all().delete()
    ModelVersion.objects.all().delete()
    RecsSettings.objects.all().delete()


def seed(*, progress: Callable[[int], object]) -> None:
    from miniops.recommendations import services
    from miniops.recommendations.models import ModelVersion

    if ModelVersion.objects.exists():
        progress(STEPS)
        return
    services.train(actor=None)
    progress(1)
    services.evaluate(actor=None)
    progress(1)
