"""Share visits written in batches, off the request: the open of the mini-program
with a code answers from the code cache (``links.resolve``) and queues its visit
here; a daemon thread writes the queue every ``MINIOPS_ANALYTICS_FLUSH_SECONDS``
(the analytics events' interval; 0 writes at once, as the tests do), and at exit.

A visit is analytics-grade: a crashed process loses at most one interval of
visits, never a member, an order or a reward. Attribution reads visits of the
member or anonymous id; it flushes this process's queue first, so a sign-in right
after the open in the same process sees the visit (another process sees it within
one interval; the login's ``share_code`` attributes it anyway)."""

from __future__ import annotations

import atexit
import logging
import threading

from django.conf import settings
from django.db import connection, transaction

from miniops.sharing.models import ShareVisit

logger = logging.getLogger("miniops.sharing")


class _Queue:
    MAX = 500

    def __init__(self) -> None:
        self.pending: list[ShareVisit] = []
        self.condition = threading.Condition()
        self.thread: threading.Thread | None = None

    def add(self, visit: ShareVisit) -> None:
        with self.condition:
            self.pending.append(visit)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="share-visits", daemon=True)
                self.thread.start()
                atexit.register(self.flush)
            if len(self.pending) >= self.MAX:
                self.condition.notify()

    def _run(self) -> None:
        while True:
            with self.condition:
                self.condition.wait(timeout=settings.MINIOPS_ANALYTICS_FLUSH_SECONDS)
            self.flush()
            connection.close_if_unusable_or_obsolete()

    def flush(self) -> None:
        with self.condition:
            rows, self.pending = self.pending, []
        if rows:
            write(rows)


_queue = _Queue()


def _insert(rows: list[ShareVisit]) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # analytics-grade rows: the commit does not wait for the WAL flush
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        ShareVisit.objects.bulk_create(rows, batch_size=500)


def write(rows: list[ShareVisit]) -> None:
    try:
        _insert(rows)
    except Exception:
        if len(rows) == 1:
            logger.exception("could not store a share visit")
            return
        # one bad row (a link deleted since it was cached) must not lose the batch
        for row in rows:
            write([row])


def record(visit: ShareVisit) -> None:
    """Store ``visit`` now, in the caller's transaction (interval 0), or with the
    next batch once the caller's transaction commits."""
    if settings.MINIOPS_ANALYTICS_FLUSH_SECONDS <= 0:
        ShareVisit.objects.bulk_create([visit])
    else:
        transaction.on_commit(lambda: _queue.add(visit))


def flush() -> None:
    """Write this process's queued visits now (attribution, tests, shutdown)."""
    _queue.flush()
