"""PostgreSQL: the import's COPY path writes exactly the rows its ORM fallback writes (the one SQLite
and small batches take): contacts, their history rows, events and current consent."""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

import pytest
from django.db import connection, transaction

import consent.imports  # noqa: F401  (registers the consent_import job kind)
from consent import imports, services
from consent.models import ConsentEvent, ConsentState, Contact
from consent.selectors import contact_reachable_on, ledger_verify
from consent.state import fold
from registry import services as registry_services
from tests.factories import ContactFactory, PurposeFactory, channel, record_consent

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

HEADER = "email;phone;first_name;last_name;purpose;channel;status;date;method;source"
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=dt_timezone.utc)


class _Rollback(Exception):
    pass


def _content(contacts: int) -> bytes:
    lines = []
    for n in range(contacts):
        email, phone = f"copy{n}@example.org", f"+3375{n:07d}"
        lines.append(f"{email};{phone};Copy;N{n};int-newsletter;email;granted;15/04/2024 09:{n % 60:02d};paper;Salon")
        lines.append(f"{email};{phone};Copy;N{n};int-newsletter;sms;{'refused' if n % 3 else 'granted'};"
                     f"2024-04-16T10:00:00;event;")
    lines.append(";+33612345678;;;int-newsletter;sms;withdrawn;2024-05-01;paper;x")  # the known contact, by phone
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def _snapshot() -> dict:
    """Every row the import wrote, keys replaced by what they stand for (the sequences of ids and
    the instants of the auto_now fields differ between two runs; nothing else may)."""
    email_of = dict(Contact.objects.values_list("pk", "email"))
    sequence_of = dict(ConsentEvent.objects.values_list("pk", "sequence"))
    skip_contact = {"id", "created_at", "updated_at", "collected_at"}
    contacts = sorted(tuple((f.attname, getattr(c, f.attname)) for f in Contact._meta.concrete_fields
                            if f.attname not in skip_contact) for c in Contact.objects.all())
    history_model = Contact.history.model
    history = sorted(
        (email_of[row.id], row.history_type, row.history_user_id, row.history_change_reason,
         tuple(getattr(row, f.attname) for f in history_model.tracked_fields if f.attname not in skip_contact))
        for row in history_model.objects.all())
    skip_event = {"id", "contact_id", "previous_hash", "hash", "evidence_document"}
    events = [(email_of[e.contact_id], str(e.evidence_document),
               tuple((f.attname, getattr(e, f.attname)) for f in ConsentEvent._meta.concrete_fields
                     if f.attname not in skip_event))
              for e in ConsentEvent.objects.order_by("sequence")]
    states = sorted((email_of[s.contact_id], s.purpose_id, s.channel_id, s.status, s.purpose_version, s.since,
                     s.expires_at, sequence_of[s.last_event_id], s.reachable) for s in ConsentState.objects.all())
    return {"contacts": contacts, "history": history, "events": events, "states": states}


def _check_ledger() -> None:
    assert ledger_verify()[1] is None
    for state in ConsentState.objects.select_related("purpose", "channel", "contact"):
        events = ConsentEvent.objects.filter(contact=state.contact, purpose=state.purpose, channel=state.channel)
        value = fold(events, validity_months=state.purpose.consent_validity_months)
        assert (state.status, state.since, state.expires_at, state.last_event_id) == (
            value.status, value.since, value.expires_at, value.last_event_id)
        assert state.reachable == contact_reachable_on(contact=state.contact, channel_code=state.channel.code)


def _write_and_roll_back(job, rows, *, file_name: str, batch_size: int) -> dict:
    """``write_rows`` inside a transaction rolled back at the end: the snapshot of what it wrote,
    after checking the ledger; the job's counts reset for the next write."""
    try:
        with transaction.atomic():
            imports.write_rows(job=job, rows=rows, file_name=file_name, report=lambda percent: None,
                               batch_size=batch_size, write_rejected={})
            _check_ledger()
            snapshot = _snapshot()
            raise _Rollback
    except _Rollback:
        pass
    job.counts = {}
    return snapshot


def test_copy_and_orm_paths_write_the_same_rows(reference_data, roles, dpo_user, monkeypatch):
    assert connection.vendor == "postgresql"
    newsletter = PurposeFactory(slug="int-newsletter", legal_basis="consent", consent_validity_months=24,
                                channels=[channel("email"), channel("sms")])
    known = ContactFactory(email="known@example.org", phone="+33612345678")
    record_consent(known, newsletter, "sms", effective_at=datetime(2024, 1, 1, tzinfo=dt_timezone.utc))
    job = registry_services.job_create(kind=imports.JOB_KIND, requested_by=dpo_user,
                                       params={"file": "x", "file_name": "copy.csv"})
    rows = imports.validate_rows(_content(60)).valid
    assert len(rows) == 121
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)  # recorded_at, history dates

    def write(copy_min_rows: int) -> dict:
        calls = []
        original = services._copy_rows
        monkeypatch.setattr(services, "COPY_MIN_ROWS", copy_min_rows)
        monkeypatch.setattr(services, "_copy_rows", lambda *a, **k: calls.append(a[0]) or original(*a, **k))
        snapshot = _write_and_roll_back(job, rows, file_name="copy.csv", batch_size=500)
        return snapshot, {model._meta.model_name for model in calls}

    by_copy, copied = write(1)
    by_orm, not_copied = write(10**9)

    assert copied == {"contact", "historicalcontact", "consentevent", "consentstate"} and not not_copied
    assert by_copy == by_orm
    assert len(by_copy["contacts"]) == 61 and len(by_copy["history"]) == 61 and len(by_copy["events"]) == 122
    assert len(by_copy["states"]) == 121  # the known contact's SMS row updated in place
