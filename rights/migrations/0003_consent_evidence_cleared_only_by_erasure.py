"""On PostgreSQL, the ledger's evidence is cleared only by an erasure, whoever sends the UPDATE.

Migration consent 0002 lets an UPDATE of consent_consentevent clear the four evidence columns (IP,
user agent, note, scanned document) and nothing else, but of any event: the evidence of a live
contact, the proof of their consent, could be cleared too. This constraint trigger allows it only
for a contact that is anonymised (``anonymised_at`` set: rights erasure, or
``consent.services.contact_anonymise`` for a contact created only for an unconfirmed double opt-in)
or that a rights request of kind ``erasure`` covers while it is ``in_progress`` (its fulfilment job
runs then: rights_request_fulfil moves it there before the job is enqueued) or ``completed`` (the
request pseudonymised, its contacts stay linked). Anything else is refused with
integrity_constraint_violation, the event's id and the reason.

Deferred (DEFERRABLE INITIALLY DEFERRED, checked at COMMIT): erasure walks the data map in label
order, so it clears a contact's events (consent.ConsentEvent) before it sets the contact's
``anonymised_at`` (consent.Contact), in the same transaction; and under a legal hold on the contact
(Art. 17(3)(b)) it clears the evidence yet never sets ``anonymised_at`` at all. A check at the
UPDATE would refuse both; at the commit it reads the contact and its requests as the transaction
leaves them. The WHEN clause queues the check only for rows whose evidence actually changes, and
consent 0002's trigger still refuses every other UPDATE and any DELETE, before this one runs.

In rights, not in consent: the check reads rights_requestcontact and rights_rightsrequest, which
consent knows nothing about (consent never depends on rights, in code as in migrations: rights 0001
depends on consent, so a consent migration depending on rights would make a cycle). Migrating rights
back drops the trigger with the tables it reads.
"""
from django.db import migrations

EVIDENCE = ("evidence_ip", "evidence_user_agent", "evidence_note", "evidence_document")
CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in EVIDENCE)

FORWARD = f"""
CREATE OR REPLACE FUNCTION consent_event_evidence_cleared_by_erasure() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM consent_contact
               WHERE id = NEW.contact_id AND anonymised_at IS NOT NULL)
       OR EXISTS (SELECT 1 FROM rights_requestcontact link
                  JOIN rights_rightsrequest request ON request.id = link.request_id
                  WHERE link.contact_id = NEW.contact_id AND request.kind = 'erasure'
                    AND request.status IN ('in_progress', 'completed'))
    THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'consent ledger: the evidence of event % can only be cleared by an erasure (its contact is '
                    'neither anonymised nor covered by an erasure request in progress or completed)', NEW.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER consent_event_evidence_cleared_by_erasure
    AFTER UPDATE ON consent_consentevent
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN ({CHANGED})
    EXECUTE FUNCTION consent_event_evidence_cleared_by_erasure();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_event_evidence_cleared_by_erasure ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_event_evidence_cleared_by_erasure();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)  # the SQL holds literal % signs


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("rights", "0002_roles"), ("consent", "0013_contact_last_name_folded_ligatures")]
    operations = [migrations.RunPython(forwards, backwards)]
