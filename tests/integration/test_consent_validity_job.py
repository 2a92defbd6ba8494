"""A change of a purpose's consent validity, end to end: the change commits with its job row, the
job reaches a real Celery worker through Redis, and the grants already given expire as the new
validity says (PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent import selectors, services
from consent.models import ConsentEvent, ConsentState
from consent.state import fold
from registry import services as registry_services
from registry.models import Job
from tests.factories import ContactFactory, PurposeFactory, channel
from tests.integration.test_jobs_worker import wait_for_job

pytestmark = pytest.mark.integration


def test_shortened_validity_expires_older_grants_on_the_worker(transactional_db, reference_data, roles,
                                                               start_worker, dpo_user):
    email = channel("email")
    newsletter = PurposeFactory(slug="int-validity", legal_basis="consent", consent_validity_months=24,
                                channels=[email])
    people = [ContactFactory(email=f"v{n}@example.org") for n in range(3)]
    for person, days in zip(people, (600, 420, 30)):
        services.consent_record(contact=person, purpose=newsletter, channel=email, action="granted",
                                method="web_form", effective_at=timezone.now() - timedelta(days=days))
    worker = start_worker()

    # Autocommit (transactional test): the purpose, its job and the enqueue commit together.
    registry_services.purpose_update(purpose=newsletter, consent_validity_months=12, user=dpo_user)
    job = wait_for_job(Job.objects.get(kind="consent_validity").pk)

    assert (job.status, job.progress, job.error, job.counts) == ("done", 100, "", {"changed": 3}), job.error
    assert "Task registry.tasks.run_job[" in worker.log()  # it ran there, not in this process
    newsletter.refresh_from_db()
    allowed = [selectors.consent_check(contact=p, purpose=newsletter, channel=email).allowed for p in people]
    assert allowed == [False, False, True]
    for state in ConsentState.objects.filter(purpose=newsletter):
        events = ConsentEvent.objects.filter(contact_id=state.contact_id, purpose=newsletter, channel=email)
        assert state.expires_at == fold(events, validity_months=12).expires_at
    assert services.consent_expire_due() == 2
