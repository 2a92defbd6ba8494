"""PostgreSQL: a stored notice (the full text a contact was shown) can no longer be changed or
deleted by any client, raw SQL included. Events name it by its hash, which the verifier recomputes
from the text; the trigger stops the change before it happens."""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION consent_notice_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent notices are immutable: % refused on notice %', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_notice_immutable
    BEFORE UPDATE OR DELETE ON consent_notice
    FOR EACH ROW EXECUTE FUNCTION consent_notice_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_notice_immutable ON consent_notice;
DROP FUNCTION IF EXISTS consent_notice_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)  # the SQL holds literal % signs


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0009_audience_count_deltas")]
    operations = [migrations.RunPython(forwards, backwards)]
