"""Console pages of the push app: templates and consents, settings, campaigns,
deliveries, results and the task view."""

from miniops.notifications.admin import campaigns, pages, templates  # noqa: F401
