"""The PostgreSQL guard lets one kind of delete through: `ledger_erase`, which the demo
uses to rebuild its made-up shop, sets `lifelong.ledger_erase` for its own transaction."""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION loyalty_ledger_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('lifelong.ledger_erase', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'points ledger rows are never updated or deleted (%%)', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0003_checkout_holds")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
