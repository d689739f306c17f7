"""The Huey consumer, embedded in the web server process on the embedded default.

``make demo`` must run web server and background jobs with one command and no
extra service. Huey's consumer normally owns the main thread (it installs signal
handlers); here its scheduler and worker threads run beside uvicorn and stop with
it. With Redis configured, run ``manage.py worker`` processes instead.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils.module_loading import autodiscover_modules
from huey.consumer import Consumer

logger = logging.getLogger("miniops.worker")


class EmbeddedConsumer(Consumer):
    def _set_signal_handlers(self) -> None:  # the host process owns the signals
        pass


def start_embedded(huey: Any, *, workers: int = 2) -> EmbeddedConsumer:
    # Import every app's tasks.py so the consumer knows every task and schedule
    # (run_huey does the same for stand-alone workers).
    autodiscover_modules("tasks")
    quiet_huey()
    consumer = EmbeddedConsumer(huey, workers=workers, worker_type="thread", periodic=True)
    consumer.start()
    logger.info("background worker running in-process (%d threads)", workers)
    return consumer


def quiet_huey() -> None:
    """Huey's INFO lines (its task list at start, "Added task … to schedule",
    every periodic run) would bury the web server's own output: keep warnings
    and errors, unless ``LOG_LEVEL=DEBUG`` asks for everything."""
    if settings.LOG_LEVEL.upper() == "DEBUG":
        return
    logging.getLogger("huey").setLevel(logging.WARNING)
    # Loading the ASGI application sets Django up again, and with it the logging
    # configuration: make it say the same.
    config: dict[str, Any] = settings.LOGGING
    config.setdefault("loggers", {}).setdefault("huey", {})["level"] = "WARNING"
