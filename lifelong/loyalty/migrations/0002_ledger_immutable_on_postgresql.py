"""On PostgreSQL the database itself refuses to change or delete a ledger row.

The models refuse it in code on every database; this trigger also stops raw SQL and
other programs. TRUNCATE (used by test teardown) fires no row trigger.
"""

from django.db import migrations

TABLES = ("loyalty_transaction", "loyalty_entry")

CREATE = """
CREATE OR REPLACE FUNCTION loyalty_ledger_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'points ledger rows are never updated or deleted (%%)', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION loyalty_ledger_immutable()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS loyalty_ledger_immutable()")


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_ledger")]

    operations = [migrations.RunPython(forwards, backwards)]
