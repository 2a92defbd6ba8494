"""The consent import end to end: PostgreSQL, Redis and a real Celery worker process."""
from __future__ import annotations

import pytest

from consent import services
from consent.models import ConsentEvent, ConsentState, Contact
from consent.selectors import ledger_verify
from registry.job_kinds import handler_for
from tests.factories import ContactFactory, PurposeFactory, channel, record_consent
from tests.integration.test_jobs_worker import wait_for_job

pytestmark = pytest.mark.integration

HEADER = "email;phone;first_name;last_name;purpose;channel;status;date;method;source"


@pytest.fixture
def import_worker(start_worker):
    """A real worker: consent.apps registers the consent_import job kind at start-up."""
    return start_worker()


@pytest.fixture
def purposes(transactional_db, reference_data, roles):
    newsletter = PurposeFactory(slug="int-newsletter", legal_basis="consent", consent_validity_months=24,
                                channels=[channel("email"), channel("sms")])
    return {"newsletter": newsletter}


def test_import_job_runs_on_the_worker_and_the_ledger_verifies(purposes, import_worker, settings):
    assert handler_for("consent_import") is not None
    # An event written by the API before the import: the chain goes on from it.
    record_consent(ContactFactory(email="before@example.org"), purposes["newsletter"], "email")
    settings.CONSENT_IMPORT_BATCH_SIZE = 3  # this process only; the worker uses its default
    lines = [f"p{n}@example.org;;P{n};Import;int-newsletter;email;granted;01/0{1 + n % 9}/2024 10:00;paper;Salon"
             for n in range(7)]
    lines.append("before@example.org;06 12 34 56 78;;;int-newsletter;sms;granted;2024-02-01T08:00:00+01:00;event;Forum")
    content = ("\n".join([HEADER, *lines]) + "\n").encode()

    # Autocommit (transactional test): the on_commit enqueue fires at once, to the real Redis.
    job = services.consent_import_start(file_name="salon.csv", content=content, valid_rows_only=False,
                                        requested_by=None)
    job = wait_for_job(job.pk)

    assert (job.status, job.progress, job.error) == ("done", 100, ""), job.error
    assert job.counts == {"rows": 8, "valid": 8, "rejected": 0, "written": 8, "last_row": 9}
    assert "Task registry.tasks.run_job[" in import_worker.log()  # it ran there, not in this process
    imported = ConsentEvent.objects.filter(idempotency_key__startswith=f"import:{job.pk}:")
    assert imported.count() == 8
    assert set(imported.values_list("collection_form", flat=True)) == {"import:salon.csv"}
    assert Contact.objects.count() == 8  # "before@" reused, not duplicated
    assert ConsentState.objects.filter(status="granted").count() == 9
    checked, broken = ledger_verify()
    assert (checked, broken) == (9, None)
    with job.output.open("rb") as handle:
        report = handle.read().decode("utf-8-sig")
    assert report.splitlines()[0] == "line;status;reason;label" and report.count(";written;") == 8


def test_a_refused_file_writes_nothing_on_the_worker(purposes, import_worker):
    content = (f"{HEADER}\n"
               "a@example.org;;;;int-newsletter;email;granted;2024-01-01;paper;x\n"
               "b@example.org;;;;int-newsletter;email;granted;;paper;x\n").encode()
    job = services.consent_import_start(file_name="bad.csv", content=content, valid_rows_only=False,
                                        requested_by=None)
    job = wait_for_job(job.pk)

    assert job.status == "done", job.error
    assert job.counts == {"rows": 2, "valid": 1, "rejected": 1, "written": 0, "last_row": 0}
    assert not ConsentEvent.objects.exists() and not Contact.objects.exists()
