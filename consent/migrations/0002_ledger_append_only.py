"""On PostgreSQL, the ledger refuses UPDATE and DELETE at the database, whoever sends them.

The one UPDATE allowed is erasure's: clearing the personal evidence (IP, user agent, note,
scanned document) and nothing else. The hash chain covers a keyed digest of that evidence,
so it still verifies afterwards.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consent ledger is append-only: DELETE refused on event %', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (to_jsonb(NEW) - ARRAY['evidence_ip', 'evidence_user_agent', 'evidence_note', 'evidence_document'])
         IS DISTINCT FROM
       (to_jsonb(OLD) - ARRAY['evidence_ip', 'evidence_user_agent', 'evidence_note', 'evidence_document'])
       OR NEW.evidence_ip IS NOT NULL
       OR NEW.evidence_user_agent <> ''
       OR NEW.evidence_note <> ''
       OR NEW.evidence_document <> ''
    THEN
        RAISE EXCEPTION 'consent ledger is append-only: UPDATE refused on event % (only clearing evidence is allowed)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_event_append_only
    BEFORE UPDATE OR DELETE ON consent_consentevent
    FOR EACH ROW EXECUTE FUNCTION consent_event_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_event_append_only ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_event_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)  # the SQL holds literal % signs


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
