"""Rights requests carried out by a real Celery worker on PostgreSQL and Redis: the access export
(ZIP with data.json, CSVs and the PDF) and the erasure (one transaction, ledger still verifying).

The erasure's transaction commits for real here, so the deferred check of migration rights 0003
(the ledger's evidence is cleared only for an anonymised contact or one an erasure request in
progress covers) runs at its COMMIT, as in production. A legal hold on the contact (never
anonymised then) is set by patching the data map, which a worker process cannot see: those
erasures run in this process, committed all the same."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.db import transaction

from config.celery_app import app as celery_app
from consent.models import ConsentEvent, Contact, SuppressionEntry
from consent.selectors import consent_check, ledger_verify
from registry.datamap import datamap
from registry.models import Job
from rights import services
from rights.models import RightsRequest, Status
from tests.factories import (ContactFactory, OrganisationFactory, PurposeFactory, channel, consent_purpose,
                             record_consent)
from tests.integration.test_jobs_worker import wait_for_job
from tests.rights.factories import record_notifications, verified_request

pytestmark = pytest.mark.integration

EMAIL = "camille.durand@example.org"


@pytest.fixture
def person(transactional_db, reference_data, roles):
    OrganisationFactory()
    newsletter = consent_purpose("int-rights-newsletter", channels=("email", "sms"))
    contact = ContactFactory(email=EMAIL, first_name="Camille", last_name="Durand", phone="+33612345678")
    for code in ("email", "sms"):
        record_consent(contact, newsletter, code, evidence_ip="192.0.2.10", evidence_user_agent="Firefox",
                       evidence_note="Salon du patrimoine")
    record_consent(contact, newsletter, "sms", action="withdrawn")
    neighbour = ContactFactory(email="dominique.petit@example.org", first_name="Dominique", last_name="Petit",
                               phone="+33612345678")
    record_consent(neighbour, newsletter, "email")
    return contact, neighbour, newsletter


def test_access_export_runs_on_the_worker(person, live_worker, staff_user):
    contact, neighbour, _ = person
    request = verified_request(email=EMAIL)
    assert list(request.contacts.all()) == [contact]

    job = services.rights_request_fulfil(request=request, by=staff_user)  # autocommit: enqueued at once
    job = wait_for_job(job.pk, timeout=120)

    assert (job.status, job.error) == ("done", ""), job.error
    assert "Task registry.tasks.run_job[" in live_worker.log()
    request.refresh_from_db()
    assert request.status == "completed"
    with job.output.open("rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    data = json.loads(archive.read("data.json"))
    text = json.dumps(data)
    assert EMAIL in text and "dominique" not in text.lower()
    assert any(name.endswith(".pdf") for name in archive.namelist())
    assert any(name.endswith(".csv") for name in archive.namelist())
    link = request.download_links.get()
    assert link.uses == 0 and link.job_id == job.pk


def test_erasure_runs_on_the_worker_and_the_ledger_still_verifies(person, live_worker, staff_user):
    contact, neighbour, newsletter = person
    events_before = ConsentEvent.objects.count()
    request = verified_request(kind="erasure", email=EMAIL)

    job = services.rights_request_fulfil(request=request, by=staff_user)
    job = wait_for_job(job.pk, timeout=120)

    assert (job.status, job.error) == ("done", ""), job.error
    contact.refresh_from_db()
    assert contact.anonymised_at is not None
    assert EMAIL not in (contact.email, contact.first_name, contact.last_name)
    assert not Contact.history.filter(id=contact.pk, email=EMAIL).exists()
    evidence = ConsentEvent.objects.filter(contact=contact).values_list("evidence_ip", "evidence_note")
    assert set(evidence) == {(None, "")}
    assert ConsentEvent.objects.count() > events_before  # withdrawals appended, nothing deleted
    checked, broken = ledger_verify()
    assert broken is None and checked == ConsentEvent.objects.count()
    assert SuppressionEntry.objects.filter(source="erasure").count() >= 1
    # The neighbour sharing the phone is untouched and still reachable by email.
    neighbour.refresh_from_db()
    assert neighbour.email == "dominique.petit@example.org" and neighbour.anonymised_at is None
    assert consent_check(contact=neighbour, purpose=newsletter, channel=channel("email")).allowed
    request = RightsRequest.objects.get(pk=request.pk)
    assert request.status == "completed"
    assert request.requester_email == "" or request.pseudonymised_at is not None


# --- Under a legal hold on the contact: erased in this process, committed --------------------------


@pytest.fixture
def contact_held(person, monkeypatch):
    """The contacts serve a purpose under a legal obligation: erasure keeps them (Art. 17(3)(b)), never
    setting anonymised_at, yet clears their consent evidence. Jobs run here, on commit (eager)."""
    held = PurposeFactory(slug="int-rights-accounts", legal_basis="legal_obligation", channels=[channel("postal")])
    monkeypatch.setattr(datamap.source_for(Contact), "purposes", [held.slug])
    record_notifications(monkeypatch)
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield person[0]
    finally:
        celery_app.conf.task_always_eager = previous


def evidence(contact) -> set:
    return set(ConsentEvent.objects.filter(contact=contact).exclude(method="erasure")
               .values_list("evidence_ip", "evidence_note"))


def test_erasure_under_a_legal_hold_commits_with_its_request_in_progress(contact_held, staff_user):
    request = verified_request(kind="erasure", email=EMAIL)
    job = services.rights_request_fulfil(request=request, by=staff_user)  # committed: the job ran on commit
    job.refresh_from_db()
    assert (job.status, job.error) == ("done", ""), job.error
    contact_held.refresh_from_db()
    assert contact_held.anonymised_at is None and contact_held.email == EMAIL  # kept
    assert evidence(contact_held) == {(None, "")}  # cleared, accepted at the commit: the request was in progress
    assert RightsRequest.objects.get(pk=request.pk).status == Status.COMPLETED
    assert ledger_verify()[1] is None


def test_erasure_under_a_legal_hold_is_refused_at_commit_while_the_request_awaits_the_requester(
        contact_held, staff_user):
    """Staff ask the requester a question after starting the job, before a worker ran it: the job's
    transaction is refused at its COMMIT and rolled back whole; once answered, the erasure goes through."""
    request = verified_request(kind="erasure", email=EMAIL)
    with transaction.atomic():  # the job runs once this commits, the request then awaiting the requester
        job = services.rights_request_fulfil(request=request, by=staff_user)
        services.rights_request_ask(request=request, question="Which address?", by=staff_user)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "IntegrityError" in job.error and "can only be cleared by an erasure" in job.error
    assert evidence(contact_held) == {("192.0.2.10", "Salon du patrimoine"), (None, "")}  # nothing cleared...
    assert not ConsentEvent.objects.filter(contact=contact_held, method="erasure").exists()  # ...nor withdrawn
    assert not SuppressionEntry.objects.filter(source="erasure").exists()

    services.rights_request_answer(request=request, answer="The one you have.")
    job = services.rights_request_fulfil(request=RightsRequest.objects.get(pk=request.pk), by=staff_user)
    job.refresh_from_db()
    assert (job.status, job.error) == ("done", ""), job.error
    assert evidence(contact_held) == {(None, "")}
    assert ledger_verify()[1] is None
