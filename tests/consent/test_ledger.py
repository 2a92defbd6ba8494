"""The consent ledger's hash chain and its verifier (SQLite by default, PostgreSQL with DATABASE_URL)."""
from contextlib import contextmanager
from io import StringIO
from itertools import pairwise

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from consent import ledger, services
from consent.models import ConsentEvent, Contact
from tests.factories import ContactFactory, channel, consent_purpose, record_consent

pytestmark = pytest.mark.django_db


@contextmanager
def append_only_trigger_disabled():
    """Tampering as someone with direct database access would: on PostgreSQL, around the trigger."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # ALTER TABLE refuses while the test's deferred foreign-key checks are pending: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE consent_consentevent DISABLE TRIGGER consent_event_append_only")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE consent_consentevent ENABLE TRIGGER consent_event_append_only")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def verify() -> str:
    out = StringIO()
    call_command("verify_consent_ledger", stdout=out)
    return out.getvalue()


@pytest.fixture
def purpose(reference_data):
    return consent_purpose("ledger-newsletter", channels=("email", "sms"))


@pytest.fixture
def events(purpose):
    """Four events: grant, withdrawal and grant again on email for one contact, a grant on SMS for another."""
    alice = ContactFactory(email="alice@example.org", phone="+33612345678")
    bob = ContactFactory(email="bob@example.org")
    return [
        record_consent(alice, purpose, "email", "granted", evidence_ip="203.0.113.7", evidence_user_agent="UA/1"),
        record_consent(alice, purpose, "email", "withdrawn", method="unsubscribe"),
        record_consent(alice, purpose, "email", "granted", method="preference_centre"),
        record_consent(bob, purpose, "sms", "granted", method="api", idempotency_key="crm-7"),
    ]


def test_each_event_links_to_the_one_before_from_a_genesis_of_zeros(events):
    stored = list(ConsentEvent.objects.order_by("sequence"))
    assert [e.sequence for e in stored] == [1, 2, 3, 4]
    assert stored[0].previous_hash == ledger.GENESIS_HASH == "0" * 64
    for before, event in pairwise(stored):
        assert event.previous_hash == before.hash
    for event in stored:
        assert event.hash == ledger.event_hash(event, event.previous_hash)
    assert len({e.hash for e in stored}) == 4


def test_verify_passes_on_an_intact_ledger(events):
    assert "Ledger verified: 4 event(s)" in verify()


def test_verify_passes_on_an_empty_ledger(db):
    assert "Ledger verified: 0 event(s)" in verify()


def test_an_altered_event_is_named_by_its_sequence(events):
    with append_only_trigger_disabled():
        ConsentEvent.objects.filter(pk=events[1].pk).update(action="granted")
    with pytest.raises(CommandError, match=r"#2 .*content does not match its hash"):
        verify()


def test_an_altered_event_with_its_hash_recomputed_breaks_the_next_link(events):
    forged = ConsentEvent.objects.get(pk=events[1].pk)
    forged.action = "granted"
    with append_only_trigger_disabled():
        ConsentEvent.objects.filter(pk=forged.pk).update(
            action="granted", hash=ledger.event_hash(forged, forged.previous_hash))
    with pytest.raises(CommandError, match=r"#3 .*previous_hash does not match"):
        verify()


def test_clearing_the_evidence_keeps_the_chain_verifying(purpose):
    contact = ContactFactory(email="carol@example.org")
    record_consent(contact, purpose, "email", "granted")
    scanned = record_consent(
        contact, purpose, "sms", "granted", method="paper", evidence_ip="198.51.100.4", evidence_user_agent="Scanner",
        evidence_note="Signed at the desk",
        evidence_document=SimpleUploadedFile("form.pdf", b"%PDF-1.4 paper form", content_type="application/pdf"),
    )
    record_consent(contact, purpose, "email", "withdrawn", method="unsubscribe")
    assert scanned.evidence_document.name
    # Erasure's update: the triggers allow it on PostgreSQL too, the contact being erased (rights 0003,
    # checked at the commit: at the end of this test, when Django's TestCase checks deferred constraints).
    Contact.objects.filter(pk=contact.pk).update(anonymised_at=timezone.now())
    ConsentEvent.objects.filter(contact=contact).update(
        evidence_ip=None, evidence_user_agent="", evidence_note="", evidence_document="")
    scanned.refresh_from_db()
    assert (scanned.evidence_ip, scanned.evidence_user_agent, scanned.evidence_note, scanned.evidence_document.name) \
        == (None, "", "", "")
    assert scanned.evidence_digest  # the keyed digest stays, and the hash covers it
    assert "Ledger verified: 3 event(s)" in verify()


def test_a_deleted_event_is_reported_as_a_sequence_gap(purpose):
    alice = ContactFactory(email="dave@example.org")
    bob = ContactFactory(email="erin@example.org")
    record_consent(alice, purpose, "email", "granted")
    middle = record_consent(bob, purpose, "email", "granted")
    record_consent(bob, purpose, "email", "withdrawn", method="unsubscribe")  # bob's state now points here
    with append_only_trigger_disabled():
        ConsentEvent.objects.filter(pk=middle.pk).delete()
    with pytest.raises(CommandError, match=r"#3 .*sequence gap: expected 2"):
        verify()


def test_a_deleted_first_event_breaks_the_genesis_link(purpose):
    fay = ContactFactory(email="fay@example.org")
    first = record_consent(fay, purpose, "email", "granted")
    record_consent(ContactFactory(email="gus@example.org"), purpose, "email", "granted")
    record_consent(fay, purpose, "email", "withdrawn", method="unsubscribe")  # fay's state now points here
    with append_only_trigger_disabled():
        ConsentEvent.objects.filter(pk=first.pk).delete()
    with pytest.raises(CommandError, match=r"#2 .*previous_hash does not match"):
        verify()


def test_an_idempotency_key_replay_returns_the_first_event(purpose):
    contact = ContactFactory(email="hana@example.org")
    email = channel("email")
    first = services.consent_record(contact=contact, purpose=purpose, channel=email, action="granted",
                                    method="api", idempotency_key="crm-req-42")
    assert first.created
    replay = services.consent_record(contact=contact, purpose=purpose, channel=email, action="granted",
                                     method="api", idempotency_key="crm-req-42")
    assert not replay.created
    assert replay.event.pk == first.event.pk and replay.event.action == "granted"
    assert ConsentEvent.objects.count() == 1
    other = services.consent_record(contact=contact, purpose=purpose, channel=email, action="withdrawn",
                                    method="api", idempotency_key="crm-req-43")
    assert other.created and other.event.sequence == 2 and other.event.previous_hash == first.event.hash
    assert "Ledger verified: 2 event(s)" in verify()


def test_verifier_catches_edited_evidence(db, newsletter, channels):
    """The hash covers a keyed digest of the evidence: an edited note no longer matches it."""
    from django.core.management import CommandError, call_command
    from django.db import connection

    from consent import services
    from consent.models import ConsentEvent

    contact = services.contact_create(email="evidence@example.org")
    event = services.consent_record(contact=contact, purpose=newsletter, channel=channels["email"], action="granted",
                                    method="paper", evidence_note="Signed at the desk").event
    call_command("verify_consent_ledger")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # The forger turns off both of the ledger's triggers (rights 0003's would refuse new evidence).
            cursor.execute("ALTER TABLE consent_consentevent DISABLE TRIGGER USER")
            cursor.execute("UPDATE consent_consentevent SET evidence_note = 'Forged' WHERE id = %s", [event.pk])
            cursor.execute("ALTER TABLE consent_consentevent ENABLE TRIGGER USER")
    else:
        ConsentEvent.objects.filter(pk=event.pk).update(evidence_note="Forged")
    with pytest.raises(CommandError, match=f"#{event.sequence}.*evidence"):
        call_command("verify_consent_ledger")


def test_verifier_catches_an_edited_notice_text(events):
    """The event's hash covers the notice's SHA-256, and the verifier recomputes it from the text."""
    granted = events[0]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE consent_notice DISABLE TRIGGER consent_notice_immutable")
        cursor.execute("UPDATE consent_notice SET text = 'Rien à voir' WHERE id = %s", [granted.notice_id])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE consent_notice ENABLE TRIGGER consent_notice_immutable")
    with pytest.raises(CommandError, match=f"#{granted.sequence}.*notice"):
        verify()


def test_verifier_names_an_event_whose_scanned_document_is_missing(purpose):
    contact = ContactFactory(email="scan@example.org")
    scanned = services.consent_record(
        contact=contact, purpose=purpose, channel=channel("email"), action="granted", method="paper",
        evidence_document=SimpleUploadedFile("form.pdf", b"%PDF-1.4 signed form", content_type="application/pdf"),
    ).event
    assert "Ledger verified: 1 event(s)" in verify()
    scanned.evidence_document.storage.delete(scanned.evidence_document.name)
    with pytest.raises(CommandError, match=f"#{scanned.sequence}.*missing"):
        verify()


def test_stored_address_digest_equals_the_normalising_digest():
    from consent.normalise import normalise_email, normalise_phone, stored_address_digest, suppression_digest

    for channel, raw, stored in (("email", " Alice@XN--BCHER-KVA.de ", normalise_email("Alice@XN--BCHER-KVA.de")),
                                 ("sms", "06 12 34 56 78", normalise_phone("06 12 34 56 78")),
                                 ("postal", "1 Rue  de la Paix 75002 PARIS", "1 Rue  de la Paix 75002 PARIS")):
        assert stored_address_digest(channel, stored) == suppression_digest(channel, raw)
