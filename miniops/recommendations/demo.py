"""Demo data: train the recommender on the demo shop's orders, browsing history
and analytics views (seeded by the apps before this one), then evaluate it, so
the member pages, the API and the quality page have something to show.

The interactions are loaded once for both, and ALS runs fewer iterations than
the nightly job (``DEMO_ALS_ITERATIONS``, recorded in the version's parameters):
on the demo's ~300,000 interactions the factors have settled by then, and the
next nightly run trains with the full count anyway."""

from __future__ import annotations

from collections.abc import Callable

STEPS = 2
DEMO_ALS_ITERATIONS = 6


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
    services.train_and_evaluate(actor=None, als_iterations=DEMO_ALS_ITERATIONS)
    progress(STEPS)
