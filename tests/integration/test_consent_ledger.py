"""The consent ledger on real PostgreSQL: the append-only trigger, and concurrent appends.

What SQLite cannot show: the trigger of migration consent 0002 refuses UPDATE and DELETE from any
client (raw SQL included) except erasure's clearing of the evidence; the deferred constraint trigger
of migration rights 0003 refuses that clearing, at COMMIT, unless the contact is anonymised or an
erasure request in progress (or completed) covers it; and the advisory lock taken by
``consent_record`` keeps two writers in two connections from forking the hash chain. No Celery
worker is needed; the skip when DATABASE_URL/REDIS_URL are missing comes from this folder's conftest.

A test's transaction never commits: ``check_now()`` fires the deferred check at once (SET
CONSTRAINTS … IMMEDIATE), as the COMMIT would. (pytest-django's teardown fires it too: Django's
TestCase checks deferred constraints before its rollback.)
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from consent import ledger
from consent.models import ConsentEvent, ConsentState, Contact
from rights.models import Kind, RequestContact, RightsRequest, Status
from tests.factories import ContactFactory, channel, consent_purpose, record_consent

pytestmark = pytest.mark.integration

THREADS = 4
APPENDS_PER_THREAD = 10
LOCK_WAIT_TIMEOUT = 15.0


def verify() -> str:
    out = StringIO()
    call_command("verify_consent_ledger", stdout=out)
    return out.getvalue()


def execute(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def refused(sql: str, params=()) -> IntegrityError:
    """The statement fails in its own savepoint, so the test's transaction stays usable."""
    with pytest.raises(IntegrityError, match="append-only") as excinfo, transaction.atomic():
        execute(sql, params)
    return excinfo.value


EVIDENCE_CHECK = "consent_event_evidence_cleared_by_erasure"  # migration rights 0003
CLEAR_EVIDENCE = ("UPDATE consent_consentevent SET evidence_ip = NULL, evidence_user_agent = '', evidence_note = '', "
                  "evidence_document = '' WHERE contact_id = %s")
NOT_BY_ERASURE = "can only be cleared by an erasure"


def check_now() -> None:
    """Fire the deferred evidence check for what this transaction changed so far, as its COMMIT would."""
    execute(f"SET CONSTRAINTS {EVIDENCE_CHECK} IMMEDIATE")
    execute(f"SET CONSTRAINTS {EVIDENCE_CHECK} DEFERRED")


def refused_at_commit(sql: str, params=()) -> IntegrityError:
    """The statement passes, its deferred check refuses it; in a savepoint, so the test goes on."""
    with pytest.raises(IntegrityError, match=NOT_BY_ERASURE) as excinfo, transaction.atomic():
        execute(sql, params)
        check_now()
    return excinfo.value


def anonymise(contact) -> None:
    Contact.objects.filter(pk=contact.pk).update(anonymised_at=timezone.now())


def request_covering(contact, *, status: str = Status.IN_PROGRESS, kind: str = Kind.ERASURE) -> RightsRequest:
    request = RightsRequest.objects.create(kind=kind, status=status, requester_name="Inès",
                                           due_on=timezone.localdate() + timedelta(days=30))
    RequestContact.objects.create(request=request, contact=contact, matched_by=RequestContact.MatchedBy.STAFF)
    return request


def evidence_of(event) -> tuple:
    event.refresh_from_db()
    return event.evidence_ip, event.evidence_user_agent, event.evidence_note, event.evidence_document.name


@pytest.fixture
def purpose(db, reference_data):
    return consent_purpose("int-ledger-newsletter", channels=("email", "sms"))


@pytest.fixture
def events(purpose):
    contact = ContactFactory(email="ines@example.org")
    return [
        record_consent(contact, purpose, "email", "granted", method="web_form", evidence_ip="203.0.113.9",
                       evidence_user_agent="Mozilla/5.0", evidence_note="Newsletter box ticked"),
        record_consent(contact, purpose, "email", "withdrawn", method="unsubscribe"),
    ]


def test_the_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_trigger_refuses_update_of_an_event(events):
    withdrawn = events[1]
    error = refused("UPDATE consent_consentevent SET action = 'granted' WHERE id = %s", [withdrawn.pk])
    # ERRCODE integrity_constraint_violation: psycopg's IntegrityError, which Django re-raises as its own.
    assert error.__cause__.sqlstate == "23000"
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentEvent.objects.filter(pk=withdrawn.pk).update(action="granted")
    withdrawn.refresh_from_db()
    assert withdrawn.action == "withdrawn"
    assert "Ledger verified: 2 event(s)" in verify()


def test_trigger_refuses_delete(events):
    refused("DELETE FROM consent_consentevent WHERE id = %s", [events[0].pk])
    refused("DELETE FROM consent_consentevent")
    assert ConsentEvent.objects.count() == 2


def test_trigger_allows_clearing_the_evidence_and_the_ledger_still_verifies(events):
    granted = events[0]
    digest = granted.evidence_digest
    anonymise(granted.contact)  # erased: the one contact whose evidence may be cleared without a request
    cleared = execute(CLEAR_EVIDENCE, [granted.contact_id])
    assert cleared == 2
    check_now()
    granted.refresh_from_db()
    assert (granted.evidence_ip, granted.evidence_user_agent, granted.evidence_note, granted.evidence_document.name) \
        == (None, "", "", "")
    assert granted.evidence_digest == digest
    assert "Ledger verified: 2 event(s)" in verify()


def test_trigger_refuses_writing_new_evidence(events):
    granted = events[0]
    request_covering(granted.contact)  # an erasure in progress: clearing is allowed, nothing else
    refused("UPDATE consent_consentevent SET evidence_note = 'forged' WHERE id = %s", [granted.pk])
    # Clearing is allowed only as such: not with another column, not back to a value afterwards.
    refused("UPDATE consent_consentevent SET evidence_ip = NULL, evidence_user_agent = '', evidence_note = '', "
            "evidence_digest = '' WHERE id = %s", [granted.pk])
    execute("UPDATE consent_consentevent SET evidence_ip = NULL, evidence_user_agent = '', evidence_note = '' "
            "WHERE id = %s", [granted.pk])
    check_now()
    refused("UPDATE consent_consentevent SET evidence_ip = '192.0.2.1' WHERE id = %s", [granted.pk])
    refused("UPDATE consent_consentevent SET evidence_user_agent = 'curl/8' WHERE id = %s", [granted.pk])
    refused("UPDATE consent_consentevent SET evidence_document = 'consent/evidence/other.pdf' WHERE id = %s",
            [granted.pk])
    granted.refresh_from_db()
    assert (granted.evidence_ip, granted.evidence_note, granted.evidence_document.name) == (None, "", "")
    assert "Ledger verified: 2 event(s)" in verify()


# --- evidence cleared only by an erasure (rights 0003) -------------------------------------------


def test_clearing_the_evidence_of_a_live_contact_is_refused(events):
    granted = events[0]
    before = evidence_of(granted)
    error = refused_at_commit(CLEAR_EVIDENCE, [granted.contact_id])
    assert error.__cause__.sqlstate == "23000"  # integrity_constraint_violation
    assert f"evidence of event {granted.pk} can only be cleared by an erasure" in str(error)
    # Through the ORM alike (erasure's own statement).
    with pytest.raises(IntegrityError, match=NOT_BY_ERASURE), transaction.atomic():
        ConsentEvent.objects.filter(pk=granted.pk).update(evidence_ip=None, evidence_user_agent="", evidence_note="",
                                                          evidence_document="")
        check_now()
    assert evidence_of(granted) == before
    # Clearing evidence already empty changes nothing: no check is queued (the trigger's WHEN clause).
    withdrawn = events[1]
    assert evidence_of(withdrawn) == (None, "", "", "")
    assert execute(CLEAR_EVIDENCE.replace("contact_id", "id"), [withdrawn.pk]) == 1
    check_now()
    assert "Ledger verified: 2 event(s)" in verify()


@pytest.mark.parametrize("status", [s for s in Status.values if s not in (Status.IN_PROGRESS, Status.COMPLETED)])
def test_an_erasure_request_not_yet_carried_out_or_closed_otherwise_does_not_allow_clearing(events, status):
    """Received, awaiting verification or the requester, verified but not started; rejected, withdrawn, expired."""
    granted = events[0]
    request_covering(granted.contact, status=status)
    refused_at_commit(CLEAR_EVIDENCE, [granted.contact_id])
    assert evidence_of(granted)[2] == "Newsletter box ticked"


@pytest.mark.parametrize("kind", [k for k in Kind.values if k != Kind.ERASURE])
def test_another_kind_of_request_in_progress_does_not_allow_clearing(events, kind):
    granted = events[0]
    request_covering(granted.contact, kind=kind)
    refused_at_commit(CLEAR_EVIDENCE, [granted.contact_id])
    assert evidence_of(granted)[2] == "Newsletter box ticked"


@pytest.mark.parametrize("status", [Status.IN_PROGRESS, Status.COMPLETED])
def test_an_erasure_request_in_progress_or_completed_allows_clearing(events, status):
    granted = events[0]
    other = ContactFactory(email="not-erased@example.org")  # the request covers only its own contacts
    theirs = record_consent(other, granted.purpose, "email", "granted", evidence_note="Signed at the desk")
    request_covering(granted.contact, status=status)
    assert execute(CLEAR_EVIDENCE, [granted.contact_id]) == 2
    check_now()
    assert evidence_of(granted) == (None, "", "", "")
    refused_at_commit(CLEAR_EVIDENCE, [other.pk])
    assert evidence_of(theirs)[2] == "Signed at the desk"
    assert "Ledger verified: 3 event(s)" in verify()


def test_the_check_reads_the_contact_at_commit_not_at_the_update(events):
    """Erasure clears the events first and anonymises the contact afterwards, in the same transaction."""
    granted = events[0]
    with transaction.atomic():
        execute(CLEAR_EVIDENCE, [granted.contact_id])
        anonymise(granted.contact)
        check_now()
    assert evidence_of(granted) == (None, "", "", "")


def test_clearing_the_evidence_of_a_live_contact_is_refused_at_commit(transactional_db, reference_data):
    """Committed for real (no test transaction): the UPDATE passes, its COMMIT fails, nothing is cleared."""
    purpose = consent_purpose("int-ledger-commit", channels=("email",))
    contact = ContactFactory(email="live@example.org")
    event = record_consent(contact, purpose, "email", "granted", evidence_ip="203.0.113.9", evidence_note="Ticked")
    with pytest.raises(IntegrityError, match=NOT_BY_ERASURE):
        with transaction.atomic():
            execute(CLEAR_EVIDENCE, [contact.pk])  # accepted here...
    assert evidence_of(event)[:3] == ("203.0.113.9", "", "Ticked")  # ...refused at the commit
    with pytest.raises(IntegrityError, match=NOT_BY_ERASURE):
        execute(CLEAR_EVIDENCE, [contact.pk])  # autocommit: the statement's own commit
    assert evidence_of(event)[:3] == ("203.0.113.9", "", "Ticked")
    request_covering(contact, status=Status.AWAITING_VERIFICATION)
    with pytest.raises(IntegrityError, match=NOT_BY_ERASURE):
        execute(CLEAR_EVIDENCE, [contact.pk])
    RightsRequest.objects.filter(kind=Kind.ERASURE).update(status=Status.IN_PROGRESS)
    assert execute(CLEAR_EVIDENCE, [contact.pk]) == 1
    assert evidence_of(event) == (None, "", "", "")
    assert "Ledger verified: 1 event(s)" in verify()


def test_a_notice_can_be_neither_changed_nor_deleted(events):
    notice_id = events[0].notice_id
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        execute("UPDATE consent_notice SET text = 'Rien à voir' WHERE id = %s", [notice_id])
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        execute("DELETE FROM consent_notice WHERE id = %s", [notice_id])
    assert "Ledger verified: 2 event(s)" in verify()


# --- concurrent appends ---------------------------------------------------------------------


def in_own_connection(target, errors: list, *args) -> threading.Thread:
    """A thread with its own database connection (Django's are per thread), closed at its end."""

    def run():
        try:
            target(*args)
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)
        finally:
            connections.close_all()

    return threading.Thread(target=run, daemon=True)


def run_to_the_end(threads: list[threading.Thread], errors: list) -> None:
    """Start the threads, wait for each (2 minutes at most) and fail on a thread still running or an error."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an append never finished"
    assert not errors, errors


def assert_one_unforked_chain(expected: int) -> list[ConsentEvent]:
    stored = list(ConsentEvent.objects.order_by("sequence"))
    assert [e.sequence for e in stored] == list(range(1, expected + 1))
    previous = ledger.GENESIS_HASH
    for event in stored:
        assert event.previous_hash == previous, f"event #{event.sequence} forks the chain"
        previous = event.hash
    assert f"Ledger verified: {expected} event(s)" in verify()
    return stored


def test_concurrent_appends_never_fork_the_chain(transactional_db, reference_data):
    purpose = consent_purpose("int-ledger-concurrent", channels=("email",))
    email = channel("email")
    contacts = [ContactFactory(email=f"writer{n}@example.org") for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append_many(contact):
        start.wait(timeout=LOCK_WAIT_TIMEOUT)
        for n in range(APPENDS_PER_THREAD):
            action, method = ("granted", "web_form") if n % 2 == 0 else ("withdrawn", "unsubscribe")
            record_consent(contact, purpose, email.code, action, method=method)

    run_to_the_end([in_own_connection(append_many, errors, contact) for contact in contacts], errors)

    stored = assert_one_unforked_chain(THREADS * APPENDS_PER_THREAD)
    for contact in contacts:
        mine = [e for e in stored if e.contact_id == contact.pk]
        assert len(mine) == APPENDS_PER_THREAD
        state = ConsentState.objects.get(contact=contact, purpose=purpose, channel=email)
        assert state.last_event_id == mine[-1].pk and state.status == "withdrawn"


def advisory_lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [ledger.APPEND_LOCK_KEY])
        return cursor.fetchone()[0]


def test_a_second_writer_waits_for_the_first_to_commit(transactional_db, reference_data):
    purpose = consent_purpose("int-ledger-wait", channels=("email", "sms"))
    first_contact = ContactFactory(email="first@example.org")
    second_contact = ContactFactory(email="second@example.org")
    first_appended, release_first, second_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_writer():
        with transaction.atomic():
            record_consent(first_contact, purpose, "email", "granted")
            first_appended.set()
            release_first.wait(timeout=LOCK_WAIT_TIMEOUT)

    def second_writer():
        first_appended.wait(timeout=LOCK_WAIT_TIMEOUT)
        record_consent(second_contact, purpose, "sms", "granted")
        second_done.set()

    threads = [in_own_connection(first_writer, errors), in_own_connection(second_writer, errors)]
    for thread in threads:
        thread.start()
    try:
        assert first_appended.wait(timeout=LOCK_WAIT_TIMEOUT), errors
        deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
        while advisory_lock_waiters() < 1:
            assert time.monotonic() < deadline, "the second writer never waited for the append lock"
            assert not second_done.is_set(), "the second writer appended while the first was uncommitted"
            time.sleep(0.05)
        assert not second_done.is_set()
    finally:
        release_first.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert second_done.is_set()
    first, second = assert_one_unforked_chain(2)
    assert (first.contact_id, second.contact_id) == (first_contact.pk, second_contact.pk)


@pytest.mark.django_db
def test_the_ledger_keeps_its_unique_constraints_after_losing_its_redundant_indexes():
    """Migration 0007 drops single-column indexes; on PostgreSQL, Django's removal of the key's own
    index also drops the conditional unique index of that column, which the migration restores.
    Migration 0008 drops the hash's index: nothing else is indexed on the hash."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ConsentEvent._meta.db_table)
    unique = {name for name, info in constraints.items() if info["unique"]}
    assert {"consent_event_idempotency_per_author", "consent_event_idempotency_unattributed",
            "consent_consentevent_sequence_key"} <= unique
    assert not [name for name, info in constraints.items() if info["columns"] == ["hash"]]
    # A second unattributed event with the same key is refused by the database itself.
    contact, purpose = ContactFactory(), consent_purpose()
    first = record_consent(contact, purpose, "email", "granted", idempotency_key="retry-1")
    duplicate = ConsentEvent.objects.filter(pk=first.pk).values().get()
    duplicate.update(id=None, sequence=first.sequence + 1000, hash="f" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentEvent.objects.create(**duplicate)
