"""Rights requests carried out by a real Celery worker on PostgreSQL and Redis: the access export
(ZIP with data.json, CSVs and the PDF) and the erasure (one transaction, ledger still verifying)."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from consent.models import ConsentEvent, Contact, SuppressionEntry
from consent.selectors import consent_check, ledger_verify
from rights import services
from rights.models import RightsRequest
from tests.factories import ContactFactory, OrganisationFactory, channel, consent_purpose, record_consent
from tests.integration.test_jobs_worker import wait_for_job
from tests.rights.factories import verified_request

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
