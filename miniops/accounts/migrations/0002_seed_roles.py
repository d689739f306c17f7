"""Seed the built-in roles. Their permissions are read from
``miniops.core.permissions.ROLES`` at run time, so only the rows live here."""

from django.db import migrations

BUILT_IN = [
    # code, English name, description, requires_2fa
    ("super_admin", "Super admin", "Everything, including roles and system settings.", True),
    ("ops_manager", "Operations manager", "Runs operations; sees the team.", False),
    (
        "ops_staff",
        "Operations staff",
        "Day-to-day operations: catalog, marketing tools, pushes.",
        False,
    ),
    (
        "customer_service",
        "Customer service",
        "Conversations, complaints, order look-up, refunds by rule.",
        False,
    ),
    (
        "content_reviewer",
        "Content reviewer",
        "The review queue for posts, comments and product reviews.",
        False,
    ),
    ("finance", "Finance", "Payments, refunds and reconciliation exports.", True),
    (
        "tech_staff",
        "Technical staff",
        "System settings, integrations, monitoring and the audit log.",
        True,
    ),
    ("analyst", "Analyst (read-only)", "Reads dashboards and reports; changes nothing.", False),
]


def seed(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for code, name, description, requires_2fa in BUILT_IN:
        Role.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "is_system": True,
                "requires_2fa": requires_2fa,
                "permissions": [],
            },
        )


def unseed(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    Role.objects.filter(code__in=[row[0] for row in BUILT_IN], is_system=True).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
