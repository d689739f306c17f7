"""Every write of the push app: templates and consent (``consent``), settings,
campaigns (``campaigns``) and the delivery engine (``sending``)."""

from miniops.notifications.services.consent import (
    record_subscriptions,
    sync_templates,
    update_settings,
)

__all__ = ["record_subscriptions", "sync_templates", "update_settings"]
