"""consent_record_many: the same events, chain, refusals and current consent as consent_record
called once per request, in one transaction; and the import's batch path equals its line-by-line one."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent import services
from consent.ledger import event_hash
from consent.models import Action, ConsentEvent, ConsentState, Contact, Method
from consent.selectors import ledger_verify
from consent.state import fold
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _requests(contacts, newsletter, postal_appeals, channels, now):
    a, b = contacts
    email, sms, postal = channels["email"], channels["sms"], channels["postal"]
    R = services.EventRequest
    return [
        R(contact=a, purpose=newsletter, channel=email, action=Action.GRANTED, method=Method.API,
          effective_at=now - timedelta(days=3), idempotency_key="k1", evidence_ip="127.0.0.1"),
        R(contact=a, purpose=newsletter, channel=email, action=Action.WITHDRAWN, method=Method.API,
          effective_at=now - timedelta(days=2)),
        # dated before the withdrawal: in the ledger, but the current consent stays withdrawn
        R(contact=a, purpose=newsletter, channel=email, action=Action.GRANTED, method=Method.PAPER,
          effective_at=now - timedelta(days=5), evidence_note="old form"),
        R(contact=b, purpose=newsletter, channel=sms, action=Action.PENDING, method=Method.WEB_FORM,
          effective_at=now - timedelta(hours=2)),
        R(contact=b, purpose=newsletter, channel=sms, action=Action.GRANTED, method=Method.DOUBLE_OPT_IN,
          effective_at=now - timedelta(hours=1)),
        R(contact=b, purpose=newsletter, channel=email, action=Action.GRANTED, method=Method.DOUBLE_OPT_IN),  # refused
        R(contact=b, purpose=postal_appeals, channel=email, action=Action.OBJECTED, method=Method.API),  # refused
        R(contact=b, purpose=postal_appeals, channel=postal, action=Action.OBJECTED, method=Method.API,
          effective_at=now - timedelta(hours=2)),
        R(contact=b, purpose=postal_appeals, channel=postal, action=Action.OBJECTION_LIFTED, method=Method.API,
          effective_at=now - timedelta(hours=1)),
        R(contact=a, purpose=newsletter, channel=email, action=Action.GRANTED, method=Method.API,
          idempotency_key="k1"),  # a replay of the first
        R(contact=a, purpose=newsletter, channel=email, action=Action.GRANTED, method=Method.API,
          evidence_ip="not an ip"),  # refused
    ]


def _outcome(results):
    return [("refused", sorted(r.message_dict)) if isinstance(r, ValidationError)
            else (r.created, r.event.action, r.event.sequence) for r in results]


def _snapshot():
    events = [(e.sequence, e.contact_id, e.purpose_id, e.channel_id, e.action, e.method, e.effective_at,
               e.notice.sha256 if e.notice_id else "", e.evidence_digest, e.idempotency_key)
              for e in ConsentEvent.objects.select_related("notice").order_by("sequence")]
    states = sorted((s.contact_id, s.purpose_id, s.channel_id, s.status, s.since, s.expires_at,
                     ConsentEvent.objects.get(pk=s.last_event_id).sequence) for s in ConsentState.objects.all())
    return events, states


def _one_by_one(requests):
    results = []
    for request in requests:
        try:
            results.append(services.consent_record(**vars(request)))
        except ValidationError as exc:
            results.append(exc)
    return results



def _wipe_ledger() -> None:
    """Start this test's second pass on an empty ledger. On PostgreSQL the append-only trigger
    refuses the DELETE: triggers are off for that one statement (the test's own reset, not the app)."""
    from django.db import connection

    ConsentState.objects.all().delete()
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("SET session_replication_role = replica")
        try:
            ConsentEvent.objects.all()._raw_delete(ConsentEvent.objects.db)
        finally:
            if postgres:
                cursor.execute("SET session_replication_role = DEFAULT")

def test_many_equals_one_by_one(newsletter, postal_appeals, channels, django_db_blocker):
    contacts = [ContactFactory(email="a@example.org"), ContactFactory(email="b@example.org")]
    now = timezone.now()
    many = services.consent_record_many(requests=_requests(contacts, newsletter, postal_appeals, channels, now))
    many_snapshot = _snapshot()
    assert ledger_verify()[1] is None
    for event in ConsentEvent.objects.select_related("notice"):
        assert event_hash(event, event.previous_hash) == event.hash
    # every current consent is the fold of its events
    for state in ConsentState.objects.all():
        events = ConsentEvent.objects.filter(contact=state.contact, purpose=state.purpose, channel=state.channel)
        value = fold(events, validity_months=state.purpose.consent_validity_months)
        assert (value.status, value.since, value.expires_at, value.last_event_id) == (
            state.status, state.since, state.expires_at, state.last_event_id)

    # The same requests one by one on a fresh ledger give the same outcomes, events and states.
    _wipe_ledger()
    one = _one_by_one(_requests(contacts, newsletter, postal_appeals, channels, now))
    strip = lambda snapshot: ([e[1:] for e in snapshot[0]], [s[:-1] for s in snapshot[1]])  # noqa: E731
    assert _outcome(many) == _outcome(one)
    assert [o[0] for o in _outcome(many)].count("refused") == 3
    one_snapshot = _snapshot()
    assert [e[1:6] for e in many_snapshot[0]] == [e[1:6] for e in one_snapshot[0]]
    assert [e[7:] for e in many_snapshot[0]] == [e[7:] for e in one_snapshot[0]]
    assert [e[6] for e in many_snapshot[0]] == [e[6] for e in one_snapshot[0]]
    assert strip(many_snapshot)[1] == strip(one_snapshot)[1]


def test_refusal_messages_are_consent_records(newsletter, channels):
    contact = ContactFactory()
    Contact.objects.filter(pk=contact.pk).update(anonymised_at=timezone.now())
    contact.refresh_from_db()
    request = services.EventRequest(contact=contact, purpose=newsletter, channel=channels["postal"],
                                    action=Action.GRANTED, method=Method.EXPIRY)
    [refused] = services.consent_record_many(requests=[request])
    with pytest.raises(ValidationError) as caught:
        services.consent_record(**vars(request))
    assert refused.message_dict == caught.value.message_dict
    assert set(refused.message_dict) == {"contact", "channel", "method"}
    assert not ConsentEvent.objects.exists()


def test_import_batch_equals_line_by_line(newsletter, postal_appeals, monkeypatch, django_capture_on_commit_callbacks,
                                          settings):
    """The import's batch path writes what the line-by-line path writes (contacts, their history,
    events, states); a batch with a line refused at write time falls back to line by line."""
    from consent import imports
    from registry.models import Job

    settings.CONSENT_IMPORT_BATCH_SIZE = 3
    ContactFactory(email="known@example.org", phone="+33612345678")
    lines = [
        "known@example.org;;;;newsletter;email;granted;2024-01-01;paper;x",
        "new1@example.org;06 12 34 56 78;N;One;newsletter;sms;granted;2024-01-02;paper;x",  # email wins: new
        ";06 12 34 56 78;;;newsletter;sms;withdrawn;2024-01-03;paper;x",  # the known (oldest) phone
        "new2@example.org;;;;newsletter;email;granted;2024-01-04;event;",
        "new2@example.org;;;;newsletter;email;withdrawn;2024-01-05;event;",
        "new3@example.org;;;;postal-appeals;postal;objected;2024-01-05;event;",
    ]
    content = ("email;phone;first_name;last_name;purpose;channel;status;date;method;source\n"
               + "\n".join(lines) + "\n").encode()

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            job = services.consent_import_start(file_name="crm.csv", content=content, valid_rows_only=False,
                                                requested_by=None)
        job.refresh_from_db()
        return job

    def snapshot(job):
        contacts = sorted((c.email, c.phone, c.first_name, c.last_name, c.source, c.history.count())
                          for c in Contact.objects.all())
        events = [(e.contact.email, e.contact.phone, e.action, e.method, e.effective_at, e.collection_form,
                   e.evidence_note, e.idempotency_key.split(":")[-1])
                  for e in ConsentEvent.objects.select_related("contact").order_by("sequence")]
        states = sorted((s.contact.email, s.contact.phone, s.channel_id, s.status, s.since)
                        for s in ConsentState.objects.select_related("contact"))
        return contacts, events, states, {k: v for k, v in job.counts.items()}

    job = run()
    assert job.status == "done" and job.counts["written"] == 6
    batched = snapshot(job)
    assert ledger_verify()[1] is None

    _wipe_ledger()
    Contact.history.model.objects.exclude(email="known@example.org").delete()
    Contact.objects.exclude(email="known@example.org").delete()
    Job.objects.all().delete()

    def no_batches(rows):
        raise imports._BatchRefused()

    monkeypatch.setattr(imports._Batch, "__init__", lambda self, rows: no_batches(rows))
    job = run()
    assert snapshot(job) == batched
    assert ledger_verify()[1] is None
