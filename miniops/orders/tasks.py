"""Order jobs: the unpaid timeout (a delayed task per order plus a sweeper),
auto-confirmation, payment and refund reconciliation."""

from typing import Any

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from miniops.orders import hooks, services


@db_task()
def cancel_if_unpaid(order_id: int) -> None:
    services.cancel_if_unpaid(order_id)


@db_periodic_task(crontab(minute="*"))
@lock_task("orders-sweep-unpaid")
def sweep_unpaid_orders() -> None:
    """Catches orders whose delayed task was lost (restarts, a worker down)."""
    services.sweep_unpaid()


@db_periodic_task(crontab(minute="7"))
@lock_task("orders-auto-confirm")
def auto_confirm_orders() -> None:
    services.auto_confirm()


@db_periodic_task(crontab(minute="*/5"))
@lock_task("orders-reconcile")
def reconcile_payments() -> None:
    """Trades and refunds whose notice never came: ask WeChat."""
    services.reconcile()


@db_periodic_task(crontab(minute="23"))
@lock_task("orders-purge-idempotency")
def purge_idempotency_records() -> None:
    """Stored answers for retried requests are kept 24 hours."""
    from miniops.orders.services import idempotency

    idempotency.purge_expired()


@db_task()
def deliver_simulated_refund(out_refund_no: str) -> None:
    """Simulator only: WeChat's signed refund notice, through real verification."""
    from miniops.orders.providers import payment_provider

    provider = payment_provider.get()
    headers, body = provider.complete_refund(out_refund_no)  # type: ignore[attr-defined]
    services.handle_wechat_notice(headers=headers, body=body)


# --- what the services ask for, through their hooks (services never import tasks) -----------
def _schedule_timeout(*, order: Any, **_: Any) -> None:
    """Every new order gets its own timeout (the sweeper catches any that is lost)."""
    transaction.on_commit(lambda: cancel_if_unpaid.schedule(args=(order.pk,), eta=order.expires_at))


def _await_simulated_refund(*, refund: Any, **_: Any) -> None:
    """In the simulator, WeChat's signed refund notice arrives after commit."""
    from miniops.orders.providers import payment_provider

    if hasattr(payment_provider.get(), "complete_refund"):
        out_refund_no = refund.out_refund_no
        transaction.on_commit(lambda: deliver_simulated_refund(out_refund_no))


hooks.register("placed", _schedule_timeout)
hooks.register("refund_pending", _await_simulated_refund)
