"""Make the audit log append-only in the database itself.

PostgreSQL: triggers refuse UPDATE and DELETE of audit rows (TRUNCATE, used only
by test isolation and by a DBA on purpose, is left alone). SQLite: UPDATE is
refused; DELETE cannot be blocked there without breaking the test runner's table
flush, so on the embedded default deletion is prevented by the application only
(no console or API path deletes audit rows).
"""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION miniops_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log entries are append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS miniops_audit_no_update ON auditlog_logentry;
CREATE TRIGGER miniops_audit_no_update BEFORE UPDATE ON auditlog_logentry
    FOR EACH ROW EXECUTE FUNCTION miniops_audit_append_only();
DROP TRIGGER IF EXISTS miniops_audit_no_delete ON auditlog_logentry;
CREATE TRIGGER miniops_audit_no_delete BEFORE DELETE ON auditlog_logentry
    FOR EACH ROW EXECUTE FUNCTION miniops_audit_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS miniops_audit_no_update ON auditlog_logentry;
DROP TRIGGER IF EXISTS miniops_audit_no_delete ON auditlog_logentry;
DROP FUNCTION IF EXISTS miniops_audit_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER IF NOT EXISTS miniops_audit_no_update BEFORE UPDATE ON auditlog_logentry
BEGIN
    SELECT RAISE(ABORT, 'audit log entries are append-only');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS miniops_audit_no_update;"


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
    dependencies = [("accounts", "0002_seed_roles"), ("auditlog", "0017_add_actor_email")]
    operations = [migrations.RunPython(up, down)]
