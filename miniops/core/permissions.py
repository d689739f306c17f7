"""The role -> permission table. One module, data only.

Every console page and every management API operation names exactly one
permission from ``P``; the built-in roles below say who holds it. Super admins
may add custom roles in the console (stored in the database, drawn from the same
permission list). When a domain adds a permission, add it to ``P``, give it a
label in ``PERMISSIONS`` and grant it to the built-in roles in ``ROLES``: the
permission-matrix tests then cover every page and endpoint that uses it.

Each permission also says what it lets its holder do (``Kind``): only read, change
data, or act on nothing but the holder's own credentials. Every console action and
every management API write names a ``WRITE`` (or ``OWN``) permission, and the
read-only Analyst holds none: the matrix tests check both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from miniops.core.errors import Forbidden


class P(StrEnum):
    """Permission codes: ``<domain>.<action>``."""

    DASHBOARD_VIEW = "dashboard.view"
    SYSTEM_MANAGE_SETTINGS = "system.manage_settings"
    SYSTEM_VIEW_HEALTH = "system.view_health"
    ACCOUNTS_VIEW_OPERATORS = "accounts.view_operators"
    ACCOUNTS_MANAGE_OPERATORS = "accounts.manage_operators"
    ACCOUNTS_MANAGE_ROLES = "accounts.manage_roles"
    AUDIT_VIEW = "audit.view"
    API_TOKENS_USE = "api_tokens.use"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"
    MEMBERS_VIEW_SENSITIVE = "members.view_sensitive"
    MEMBERS_EXPORT = "members.export"
    CATALOG_VIEW = "catalog.view"
    CATALOG_MANAGE = "catalog.manage"
    CATALOG_MANAGE_STOCK = "catalog.manage_stock"
    CATALOG_IMPORT_EXPORT = "catalog.import_export"
    ORDERS_VIEW = "orders.view"
    ORDERS_MANAGE = "orders.manage"
    ORDERS_SHIP = "orders.ship"
    ORDERS_REFUND = "orders.refund"
    ORDERS_EXPORT = "orders.export"
    ORDERS_RECONCILE = "orders.reconcile"
    ORDERS_SETTINGS = "orders.settings"
    MARKETING_VIEW = "marketing.view"
    MARKETING_MANAGE = "marketing.manage"
    MARKETING_POINTS = "marketing.points"
    ANALYTICS_VIEW = "analytics.view"
    ANALYTICS_EXPORT = "analytics.export"
    ANALYTICS_ALERTS = "analytics.alerts"
    ANALYTICS_ACKNOWLEDGE = "analytics.acknowledge"
    CONTENT_VIEW = "content.view"
    CONTENT_REVIEW = "content.review"
    CONTENT_MANAGE = "content.manage"
    CMS_VIEW = "cms.view"
    CMS_MANAGE = "cms.manage"
    SUPPORT_VIEW = "support.view"
    SUPPORT_CHAT = "support.chat"
    SUPPORT_MANAGE_TICKETS = "support.manage_tickets"
    SUPPORT_SUPERVISE = "support.supervise"
    SUPPORT_MANAGE_SETTINGS = "support.manage_settings"
    SEGMENTS_VIEW = "segments.view"
    SEGMENTS_MANAGE = "segments.manage"
    SEGMENTS_EXPORT = "segments.export"
    NOTIFICATIONS_VIEW = "notifications.view"
    NOTIFICATIONS_MANAGE = "notifications.manage"
    NOTIFICATIONS_SEND_CAMPAIGN = "notifications.send_campaign"
    NOTIFICATIONS_MANAGE_TEMPLATES = "notifications.manage_templates"
    SHARING_VIEW = "sharing.view"
    SHARING_MANAGE = "sharing.manage"
    RECOMMENDATIONS_VIEW = "recommendations.view"
    RECOMMENDATIONS_MANAGE = "recommendations.manage"


class Kind(StrEnum):
    """What holding a permission lets an operator do."""

    #: see (or export, or reveal with a logged view) and change nothing
    READ = "read"
    #: change data
    WRITE = "write"
    #: change only the holder's own credentials (their API tokens)
    OWN = "own"


@dataclass(frozen=True)
class PermissionDef:
    code: P
    group: Promise
    label: Promise
    kind: Kind = Kind.READ


_SYSTEM = _("System")
_ACCOUNTS = _("Operators and roles")
_MEMBERS = _("Members")
_CATALOG = _("Catalog")
_ORDERS = _("Orders")
_ANALYTICS = _("Analytics")
_MARKETING = _("Marketing")
_CONTENT = _("Content")
_CMS = _("Home page and articles")
_SUPPORT = _("Customer service")
_SEGMENTS = _("Segments")
_NOTIFICATIONS = _("Push messages")
_SHARING = _("Sharing and referral")
_RECOMMENDATIONS = _("Recommendations")

_W = Kind.WRITE

PERMISSIONS: dict[P, PermissionDef] = {
    definition.code: definition
    for definition in [
        PermissionDef(P.DASHBOARD_VIEW, _SYSTEM, _("See the console home dashboard")),
        PermissionDef(P.SYSTEM_MANAGE_SETTINGS, _SYSTEM, _("Change system settings"), _W),
        PermissionDef(P.SYSTEM_VIEW_HEALTH, _SYSTEM, _("See system health")),
        PermissionDef(P.ACCOUNTS_VIEW_OPERATORS, _ACCOUNTS, _("See operators and roles")),
        PermissionDef(
            P.ACCOUNTS_MANAGE_OPERATORS,
            _ACCOUNTS,
            _("Create, change and disable operators"),
            _W,
        ),
        PermissionDef(P.ACCOUNTS_MANAGE_ROLES, _ACCOUNTS, _("Create and change custom roles"), _W),
        PermissionDef(P.AUDIT_VIEW, _SYSTEM, _("Read the audit log")),
        PermissionDef(
            P.API_TOKENS_USE,
            _SYSTEM,
            _("Create management API tokens for oneself"),
            Kind.OWN,
        ),
        PermissionDef(P.MEMBERS_VIEW, _MEMBERS, _("See members (personal data masked)")),
        PermissionDef(P.MEMBERS_MANAGE, _MEMBERS, _("Tag, block and unblock members"), _W),
        PermissionDef(
            P.MEMBERS_VIEW_SENSITIVE,
            _MEMBERS,
            _("See members' full phone numbers, names and addresses (each view is logged)"),
        ),
        PermissionDef(P.MEMBERS_EXPORT, _MEMBERS, _("Export member lists")),
        PermissionDef(P.CATALOG_VIEW, _CATALOG, _("See categories, brands and products")),
        PermissionDef(
            P.CATALOG_MANAGE,
            _CATALOG,
            _("Create and change products, list and delist them"),
            _W,
        ),
        PermissionDef(P.CATALOG_MANAGE_STOCK, _CATALOG, _("Adjust stock"), _W),
        PermissionDef(
            P.CATALOG_IMPORT_EXPORT, _CATALOG, _("Import and export products (CSV / XLSX)"), _W
        ),
        PermissionDef(P.ORDERS_VIEW, _ORDERS, _("See orders, payments and after-sales")),
        PermissionDef(P.ORDERS_MANAGE, _ORDERS, _("Cancel unpaid orders, add internal notes"), _W),
        PermissionDef(P.ORDERS_SHIP, _ORDERS, _("Ship orders (also in bulk)"), _W),
        PermissionDef(P.ORDERS_REFUND, _ORDERS, _("Approve or reject after-sales and refund"), _W),
        PermissionDef(P.ORDERS_EXPORT, _ORDERS, _("Finance exports and the reconciliation report")),
        PermissionDef(
            P.ORDERS_RECONCILE,
            _ORDERS,
            _("Resolve payment anomalies (with a note)"),
            _W,
        ),
        PermissionDef(P.ORDERS_SETTINGS, _ORDERS, _("Change freight templates"), _W),
        PermissionDef(
            P.MARKETING_VIEW,
            _MARKETING,
            _("See coupons, points, levels, flash sales, group buys, discounts and their results"),
        ),
        PermissionDef(
            P.MARKETING_MANAGE,
            _MARKETING,
            _(
                "Create, change and end coupons, flash sales, group buys and discounts; "
                "issue coupons"
            ),
            _W,
        ),
        PermissionDef(
            P.MARKETING_POINTS,
            _MARKETING,
            _("Change points rules, levels and the points shop; adjust a member's points"),
            _W,
        ),
        PermissionDef(
            P.ANALYTICS_VIEW,
            _ANALYTICS,
            _("See behaviour analytics: overview, trends, retention, funnels, sources, live"),
        ),
        PermissionDef(P.ANALYTICS_EXPORT, _ANALYTICS, _("Export analytics reports (CSV / XLSX)")),
        PermissionDef(
            P.ANALYTICS_ALERTS,
            _ANALYTICS,
            _("Create and change alert rules and saved funnels"),
            _W,
        ),
        PermissionDef(P.ANALYTICS_ACKNOWLEDGE, _ANALYTICS, _("Acknowledge fired alerts"), _W),
        PermissionDef(P.CONTENT_VIEW, _CONTENT, _("See posts, comments, reviews and reports")),
        PermissionDef(
            P.CONTENT_REVIEW,
            _CONTENT,
            _("Work the review queue: approve, reject, decide appeals"),
            _W,
        ),
        PermissionDef(
            P.CONTENT_MANAGE,
            _CONTENT,
            _("Hide, pin and feature posts; manage the lexicon and topics"),
            _W,
        ),
        PermissionDef(P.CMS_VIEW, _CMS, _("See banners, articles and the home layout")),
        PermissionDef(P.CMS_MANAGE, _CMS, _("Change banners, articles and the home layout"), _W),
        PermissionDef(
            P.SUPPORT_VIEW, _SUPPORT, _("See conversations, tickets and service figures")
        ),
        PermissionDef(P.SUPPORT_CHAT, _SUPPORT, _("Answer conversations in the inbox"), _W),
        PermissionDef(
            P.SUPPORT_MANAGE_TICKETS, _SUPPORT, _("Create, assign and resolve tickets"), _W
        ),
        PermissionDef(
            P.SUPPORT_SUPERVISE,
            _SUPPORT,
            _("Supervise the service desk: reassign, transfer any conversation, see every queue"),
            _W,
        ),
        PermissionDef(
            P.SUPPORT_MANAGE_SETTINGS,
            _SUPPORT,
            _("Change queues, SLA policies, business hours and shared quick replies"),
            _W,
        ),
        PermissionDef(P.SEGMENTS_VIEW, _SEGMENTS, _("See segments and their members")),
        PermissionDef(P.SEGMENTS_MANAGE, _SEGMENTS, _("Create, change and recompute segments"), _W),
        PermissionDef(P.SEGMENTS_EXPORT, _SEGMENTS, _("Export segment members (CSV / XLSX)")),
        PermissionDef(
            P.NOTIFICATIONS_VIEW,
            _NOTIFICATIONS,
            _("See push templates, campaigns, deliveries and their results"),
        ),
        PermissionDef(
            P.NOTIFICATIONS_MANAGE,
            _NOTIFICATIONS,
            _("Create and change push campaigns; pause, resume and cancel them"),
            _W,
        ),
        PermissionDef(
            P.NOTIFICATIONS_SEND_CAMPAIGN,
            _NOTIFICATIONS,
            _("Send campaigns to large audiences"),
            _W,
        ),
        PermissionDef(
            P.NOTIFICATIONS_MANAGE_TEMPLATES,
            _NOTIFICATIONS,
            _("Sync subscribe-message templates and change push settings"),
            _W,
        ),
        PermissionDef(
            P.SHARING_VIEW, _SHARING, _("See the sharing report, attributions and rewards")
        ),
        PermissionDef(
            P.SHARING_MANAGE,
            _SHARING,
            _("Change attribution and reward rules; release or block rewards"),
            _W,
        ),
        PermissionDef(
            P.RECOMMENDATIONS_VIEW,
            _RECOMMENDATIONS,
            _("See recommendations, their reasons and evaluation figures"),
        ),
        PermissionDef(
            P.RECOMMENDATIONS_MANAGE,
            _RECOMMENDATIONS,
            _("Pin and exclude recommended products; retrain the recommender"),
            _W,
        ),
    ]
}


class R(StrEnum):
    """Built-in role codes (seeded by a data migration)."""

    SUPER_ADMIN = "super_admin"
    OPS_MANAGER = "ops_manager"
    OPS_STAFF = "ops_staff"
    CUSTOMER_SERVICE = "customer_service"
    CONTENT_REVIEWER = "content_reviewer"
    FINANCE = "finance"
    TECH_STAFF = "tech_staff"
    ANALYST = "analyst"


@dataclass(frozen=True)
class RoleDef:
    code: R
    name: Promise
    description: Promise
    #: "Sensitive" roles always need TOTP two-factor authentication.
    requires_2fa: bool
    permissions: frozenset[P] = field(default_factory=frozenset)


ALL_PERMISSIONS: frozenset[P] = frozenset(P)

ROLES: dict[R, RoleDef] = {
    role.code: role
    for role in [
        RoleDef(
            R.SUPER_ADMIN,
            _("Super admin"),
            _("Everything, including roles and system settings."),
            requires_2fa=True,
            permissions=ALL_PERMISSIONS,
        ),
        RoleDef(
            R.OPS_MANAGER,
            _("Operations manager"),
            _("Runs operations: dashboard, analytics, catalog, marketing, pushes; sees the team."),
            requires_2fa=False,
            permissions=frozenset(
                {
                    P.SUPPORT_VIEW,
                    P.SUPPORT_CHAT,
                    P.SUPPORT_MANAGE_TICKETS,
                    P.CONTENT_VIEW,
                    P.SEGMENTS_VIEW,
                    P.CONTENT_VIEW,
                    P.CONTENT_REVIEW,
                    P.CONTENT_MANAGE,
                    P.CMS_VIEW,
                    P.CMS_MANAGE,
                    P.SUPPORT_VIEW,
                    P.SUPPORT_CHAT,
                    P.SUPPORT_MANAGE_TICKETS,
                    P.SUPPORT_SUPERVISE,
                    P.SUPPORT_MANAGE_SETTINGS,
                    P.SEGMENTS_VIEW,
                    P.SEGMENTS_MANAGE,
                    P.SEGMENTS_EXPORT,
                    P.NOTIFICATIONS_VIEW,
                    P.NOTIFICATIONS_MANAGE,
                    P.NOTIFICATIONS_SEND_CAMPAIGN,
                    P.NOTIFICATIONS_MANAGE_TEMPLATES,
                    P.SHARING_VIEW,
                    P.SHARING_MANAGE,
                    P.RECOMMENDATIONS_VIEW,
                    P.RECOMMENDATIONS_MANAGE,
                    P.MARKETING_VIEW,
                    P.MARKETING_MANAGE,
                    P.MARKETING_POINTS,
                    P.ANALYTICS_VIEW,
                    P.ANALYTICS_EXPORT,
                    P.ANALYTICS_ALERTS,
                    P.ANALYTICS_ACKNOWLEDGE,
                    P.ORDERS_VIEW,
                    P.ORDERS_MANAGE,
                    P.ORDERS_SHIP,
                    P.ORDERS_EXPORT,
                    P.ORDERS_SETTINGS,
                    P.DASHBOARD_VIEW,
                    P.ACCOUNTS_VIEW_OPERATORS,
                    P.AUDIT_VIEW,
                    P.API_TOKENS_USE,
                    P.MEMBERS_VIEW,
                    P.MEMBERS_MANAGE,
                    P.MEMBERS_EXPORT,
                    P.CATALOG_VIEW,
                    P.CATALOG_MANAGE,
                    P.CATALOG_MANAGE_STOCK,
                    P.CATALOG_IMPORT_EXPORT,
                }
            ),
        ),
        RoleDef(
            R.OPS_STAFF,
            _("Operations staff"),
            _("Day-to-day operations: catalog, marketing tools, pushes."),
            requires_2fa=False,
            permissions=frozenset(
                {
                    P.CONTENT_VIEW,
                    P.CMS_VIEW,
                    P.CMS_MANAGE,
                    P.SEGMENTS_VIEW,
                    P.SEGMENTS_MANAGE,
                    P.NOTIFICATIONS_VIEW,
                    P.NOTIFICATIONS_MANAGE,
                    P.SHARING_VIEW,
                    P.RECOMMENDATIONS_VIEW,
                    P.RECOMMENDATIONS_MANAGE,
                    P.MARKETING_VIEW,
                    P.MARKETING_MANAGE,
                    P.ANALYTICS_VIEW,
                    P.ANALYTICS_ACKNOWLEDGE,
                    P.ORDERS_VIEW,
                    P.ORDERS_MANAGE,
                    P.ORDERS_SHIP,
                    P.DASHBOARD_VIEW,
                    P.MEMBERS_VIEW,
                    P.MEMBERS_MANAGE,
                    P.CATALOG_VIEW,
                    P.CATALOG_MANAGE,
                    P.CATALOG_MANAGE_STOCK,
                    P.CATALOG_IMPORT_EXPORT,
                }
            ),
        ),
        RoleDef(
            R.CUSTOMER_SERVICE,
            _("Customer service"),
            _("Conversations, complaints, order look-up and refunds by rule."),
            requires_2fa=False,
            permissions=frozenset(
                {
                    P.SUPPORT_VIEW,
                    P.SUPPORT_CHAT,
                    P.SUPPORT_MANAGE_TICKETS,
                    P.MARKETING_VIEW,
                    P.ORDERS_VIEW,
                    P.ORDERS_MANAGE,
                    P.ORDERS_REFUND,
                    P.DASHBOARD_VIEW,
                    P.MEMBERS_VIEW,
                    P.MEMBERS_VIEW_SENSITIVE,
                    P.CATALOG_VIEW,
                }
            ),
        ),
        RoleDef(
            R.CONTENT_REVIEWER,
            _("Content reviewer"),
            _("The review queue for posts, comments and product reviews."),
            requires_2fa=False,
            permissions=frozenset(
                {P.DASHBOARD_VIEW, P.CATALOG_VIEW, P.CONTENT_VIEW, P.CONTENT_REVIEW, P.CMS_VIEW}
            ),
        ),
        RoleDef(
            R.FINANCE,
            _("Finance"),
            _("Payments, refunds and reconciliation exports."),
            requires_2fa=True,
            permissions=frozenset(
                {
                    P.MARKETING_VIEW,
                    P.ANALYTICS_VIEW,
                    P.ANALYTICS_EXPORT,
                    P.ORDERS_VIEW,
                    P.ORDERS_REFUND,
                    P.ORDERS_EXPORT,
                    P.ORDERS_RECONCILE,
                    P.DASHBOARD_VIEW,
                    P.API_TOKENS_USE,
                    P.MEMBERS_VIEW,
                    P.CATALOG_VIEW,
                }
            ),
        ),
        RoleDef(
            R.TECH_STAFF,
            _("Technical staff"),
            _("System settings, integrations, monitoring and the audit log."),
            requires_2fa=True,
            permissions=frozenset(
                {
                    P.NOTIFICATIONS_VIEW,
                    P.NOTIFICATIONS_MANAGE_TEMPLATES,
                    P.SUPPORT_VIEW,
                    P.ANALYTICS_VIEW,
                    P.ANALYTICS_ALERTS,
                    P.ANALYTICS_ACKNOWLEDGE,
                    P.DASHBOARD_VIEW,
                    P.SYSTEM_MANAGE_SETTINGS,
                    P.SYSTEM_VIEW_HEALTH,
                    P.ACCOUNTS_VIEW_OPERATORS,
                    P.AUDIT_VIEW,
                    P.API_TOKENS_USE,
                    P.CATALOG_VIEW,
                }
            ),
        ),
        RoleDef(
            R.ANALYST,
            _("Analyst (read-only)"),
            _("Reads dashboards and reports; changes nothing."),
            requires_2fa=False,
            permissions=frozenset(
                {
                    P.CONTENT_VIEW,
                    P.CMS_VIEW,
                    P.SUPPORT_VIEW,
                    P.SEGMENTS_VIEW,
                    P.SEGMENTS_EXPORT,
                    P.NOTIFICATIONS_VIEW,
                    P.SHARING_VIEW,
                    P.RECOMMENDATIONS_VIEW,
                    P.MARKETING_VIEW,
                    P.ANALYTICS_VIEW,
                    P.ANALYTICS_EXPORT,
                    P.ORDERS_VIEW,
                    P.DASHBOARD_VIEW,
                    P.API_TOKENS_USE,
                    P.MEMBERS_VIEW,
                    P.CATALOG_VIEW,
                }
            ),
        ),
    ]
}


def is_known(code: str) -> bool:
    return code in PERMISSIONS


def kind(code: str) -> Kind:
    """What ``code`` lets its holder do; an unknown code counts as a write."""
    definition = PERMISSIONS.get(P(code)) if code in PERMISSIONS else None
    return definition.kind if definition else Kind.WRITE


def label(code: str) -> str:
    definition = PERMISSIONS.get(P(code)) if code in PERMISSIONS else None
    return str(definition.label) if definition else code


def require(actor: Any, code: str) -> None:
    """The service-side check of an operator's action: refuse (``Forbidden``, 403)
    unless ``actor`` is an active operator holding ``code``. The console and the API
    check the same code at the door; this one holds whoever calls the service."""
    if not (getattr(actor, "is_operator", False) and actor.has_permission(str(code))):
        raise Forbidden()


def require_if_operator(actor: Any, code: str) -> None:
    """``require`` for services that others call too: an operator needs ``code``;
    the system (``None``: a periodic task, an import, a command) and a member acting
    on their own account (checked by the API, which scopes to the member) pass."""
    if getattr(actor, "is_operator", False):
        require(actor, code)
