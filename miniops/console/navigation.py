"""The console sidebar, grouped by domain, showing only what the operator may open.

Each entry points at a registered model page or custom page; whether it shows is
decided by that page's own permission (the same check that guards the page), so
the sidebar can never offer a page the server would refuse.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from miniops.core.console import operator_has, site

#: (group title, [(item title, icon, target)]) — target is "app_label.model" for a
#: model page, "page:<name>" for a custom page, or "index".
NAVIGATION: list[tuple[Any, list[tuple[Any, str, str]]]] = [
    (_("Overview"), [(_("Dashboard"), "dashboard", "index")]),
    (
        _("Analytics"),
        [
            (_("Overview"), "monitoring", "page:analytics_overview"),
            (_("Trends"), "show_chart", "page:analytics_trends"),
            (_("Retention"), "grid_on", "page:analytics_retention"),
            (_("Funnels"), "filter_alt", "page:analytics_funnels"),
            (_("Traffic sources"), "alt_route", "page:analytics_sources"),
            (_("Feature usage"), "touch_app", "page:analytics_features"),
            (_("Real-time monitor"), "speed", "page:analytics_realtime"),
            (_("Alert rules"), "notifications", "analytics.alertrule"),
            (_("Alert history"), "notification_important", "analytics.alert"),
        ],
    ),
    (
        _("Recommendations"),
        [
            (_("Recommendation quality"), "recommend", "page:recommendations_evaluation"),
            (_("Pins and exclusions"), "push_pin", "recommendations.rule"),
            (_("Model versions"), "model_training", "recommendations.modelversion"),
        ],
    ),
    (
        _("Members"),
        [
            (_("Members"), "group", "members.member"),
            (_("Member tags"), "sell", "members.membertag"),
        ],
    ),
    (
        _("Segments"),
        [
            (_("Segments"), "groups", "segments.segment"),
            (_("Export segment members"), "download", "page:segments_export"),
        ],
    ),
    (
        _("Orders"),
        [
            (_("Orders"), "receipt", "orders.order"),
            (_("After-sales"), "assignment_return", "orders.aftersale"),
            (_("Bulk ship"), "upload_file", "page:orders_bulk_ship"),
            (_("Payments"), "payments", "orders.payment"),
            (_("Refunds"), "currency_exchange", "orders.refund"),
            (_("Reconciliation"), "rule", "page:orders_reconciliation"),
            (_("Payment anomalies"), "report", "orders.paymentanomaly"),
            (_("Freight templates"), "local_shipping", "orders.freighttemplate"),
        ],
    ),
    (
        _("Customer service"),
        [
            (_("Inbox"), "forum", "page:support_inbox"),
            (_("Conversations"), "chat", "support.conversation"),
            (_("Tickets"), "confirmation_number", "support.ticket"),
            (_("Service figures"), "monitoring", "page:support_figures"),
            (_("Quick replies"), "bolt", "support.quickreply"),
            (_("Agents"), "support_agent", "support.agentstatus"),
            (_("Service queues"), "queue", "support.queue"),
            (_("SLA policies"), "timer", "support.slapolicy"),
            (_("Business calendars"), "calendar_month", "support.businesscalendar"),
        ],
    ),
    (
        _("Marketing"),
        [
            (_("Campaign results"), "insights", "page:marketing_results"),
            (_("Coupons"), "confirmation_number", "marketing.coupontemplate"),
            (_("Member coupons"), "local_activity", "marketing.coupon"),
            (_("Flash sales"), "bolt", "marketing.flashsession"),
            (_("Group buys"), "groups", "marketing.groupbuy"),
            (_("Groups"), "diversity_3", "marketing.group"),
            (_("Time-limited discounts"), "sell", "marketing.timeddiscount"),
            (_("Membership levels"), "military_tech", "marketing.level"),
            (_("Points shop"), "redeem", "marketing.redeemitem"),
            (_("Points ledger"), "receipt_long", "marketing.pointsentry"),
            (_("Level changes"), "trending_up", "marketing.levelchange"),
        ],
    ),
    (
        _("Sharing and referral"),
        [
            (_("Sharing report"), "share", "page:sharing_report"),
            (_("Share rewards"), "redeem", "sharing.reward"),
            (_("Order attributions"), "link", "sharing.orderattribution"),
            (_("Share codes"), "qr_code", "sharing.sharelink"),
            (_("Sharing rules"), "tune", "sharing.sharerules"),
        ],
    ),
    (
        _("Push messages"),
        [
            (_("Campaigns"), "campaign", "notifications.campaign"),
            (_("Campaign results"), "insights", "page:notifications_results"),
            (_("Scheduled and running"), "schedule", "page:notifications_tasks"),
            (_("Reminder requests"), "notifications_active", "page:notifications_reminders"),
            (_("Deliveries"), "outgoing_mail", "notifications.delivery"),
            (_("Message templates"), "mark_email_read", "notifications.messagetemplate"),
            (_("Consents"), "how_to_reg", "notifications.consent"),
            (_("Push settings"), "tune", "notifications.pushsettings"),
        ],
    ),
    (
        _("Content"),
        [
            (_("Review queue"), "fact_check", "page:content_queue"),
            (_("Posts"), "forum", "content.post"),
            (_("Comments"), "chat", "content.comment"),
            (_("Product reviews"), "reviews", "content.review"),
            (_("Reports"), "flag", "content.report"),
            (_("Review cases"), "inventory", "content.moderationcase"),
            (_("Appeals"), "gavel", "content.appeal"),
            (_("Topics"), "tag", "content.topic"),
            (_("Lexicon"), "spellcheck", "content.lexiconentry"),
            (_("Test a sentence"), "science", "page:content_lexicon_test"),
            (_("Lexicon import and export"), "upload_file", "page:content_lexicon_import"),
            (_("Platform checks"), "verified_user", "content.platformcheck"),
            (_("Reviewer figures"), "leaderboard", "page:content_figures"),
        ],
    ),
    (
        _("Catalog"),
        [
            (_("Products"), "inventory_2", "catalog.product"),
            (_("Categories"), "category", "catalog.category"),
            (_("Brands"), "verified", "catalog.brand"),
            (_("SKUs and stock"), "warehouse", "catalog.sku"),
            (_("Stock ledger"), "receipt_long", "catalog.stockledger"),
        ],
    ),
    (
        _("Home page and articles"),
        [
            (_("Home layout"), "view_agenda", "cms.homesection"),
            (_("Home preview"), "preview", "page:cms_home_preview"),
            (_("Banners"), "view_carousel", "cms.banner"),
            (_("Articles"), "article", "cms.article"),
        ],
    ),
    (
        _("System"),
        [
            (_("System settings"), "settings", "core.systemsettings"),
            (_("System health"), "monitor_heart", "page:console_health"),
            (_("Audit log"), "history", "auditlog.logentry"),
            (_("API tokens"), "key", "accounts.apitoken"),
        ],
    ),
    (
        _("Operators and roles"),
        [
            (_("Operators"), "badge", "accounts.operator"),
            (_("Roles"), "admin_panel_settings", "accounts.role"),
            (_("Permission matrix"), "grid_on", "page:accounts_permission_matrix"),
        ],
    ),
]


def _resolve(request: HttpRequest, target: str) -> tuple[str, bool] | None:
    if target == "index":
        return reverse("console:index"), True
    if target.startswith("page:"):
        page = site.page(target[5:])
        allowed = page.permission is None or operator_has(request, page.permission)
        return reverse(f"console:{page.name}"), allowed
    app_label, model_name = target.split(".")
    for model, model_admin in site._registry.items():
        if model._meta.app_label == app_label and model._meta.model_name == model_name:
            url = reverse(f"console:{app_label}_{model_name}_changelist")
            return url, model_admin.has_view_permission(request)
    return None


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    groups = []
    for title, entries in NAVIGATION:
        items = []
        for item_title, icon, target in entries:
            resolved = _resolve(request, target)
            if resolved is None or not resolved[1]:
                continue
            items.append({"title": item_title, "icon": icon, "link": resolved[0]})
        if items:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": items})
    return groups


def environment_badge(request: HttpRequest) -> list[Any] | None:
    if settings.PRODUCTION:
        return None
    if settings.MINIOPS_PROVIDER_MODE == "simulator":
        return [_("Demo · simulated WeChat"), "warning"]
    return [_("Development"), "info"]
