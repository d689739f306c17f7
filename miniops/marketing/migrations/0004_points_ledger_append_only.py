"""Points ledger rows cannot be changed in the database itself: a trigger refuses
UPDATE on PostgreSQL and on SQLite. DELETE stays possible (the demo's --reset and
a member's erasure remove whole ledgers); no console or API path deletes rows."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION miniops_points_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'points ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS miniops_points_no_update ON marketing_pointsentry;
CREATE TRIGGER miniops_points_no_update BEFORE UPDATE ON marketing_pointsentry
    FOR EACH ROW EXECUTE FUNCTION miniops_points_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS miniops_points_no_update ON marketing_pointsentry;
DROP FUNCTION IF EXISTS miniops_points_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER IF NOT EXISTS miniops_points_no_update BEFORE UPDATE ON marketing_pointsentry
BEGIN
    SELECT RAISE(ABORT, 'points ledger entries are append-only');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS miniops_points_no_update;"


def up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_UP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)


def down(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DOWN)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("marketing", "0003_coupon_source_32")]
    operations = [migrations.RunPython(up, down)]
