"""Jobs end to end: PostgreSQL, Redis and a real Celery worker process.

What the unit tests cannot show: the enqueue happens on commit and reaches the broker, another
process sees the committed row, and a job whose message was lost or whose worker died is
recovered by the sweep.
"""
from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

import pypdf
import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from registry import selectors, services
from registry.models import Job
from tests import factories as f

pytestmark = pytest.mark.integration


def wait_for_job(job_id: int, *, timeout: float = 60.0) -> Job:
    """The job once the worker has finished it; fails the test when it has not within ``timeout``."""
    job = selectors.job_wait_finished(job_id=job_id, timeout=timeout, interval=0.2)
    if job.status not in (Job.Status.DONE, Job.Status.FAILED):
        raise AssertionError(f"job {job_id} still {job.status} (progress {job.progress}, "
                             f"attempts {job.attempts}) after {timeout}s")
    return job


def assert_stays(job_id: int, status: str, *, seconds: float = 3.0) -> Job:
    """Nothing happens to the job for a while (no message for any worker to pick up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        assert job.status == status, f"job {job_id} became {job.status}"
        time.sleep(0.25)
    return job


@pytest.fixture
def register(transactional_db, reference_data, roles):
    """Committed rows (the worker is another process); the flush of transactional tests removed the
    migrations' reference data and groups, hence the two fixtures."""
    organisation = f.OrganisationFactory()
    activities = [
        f.ActivityFactory(reference=f"INT-{n}", name=name)
        for n, name in enumerate(["Adhésions", "Dons et reçus fiscaux", "Lettre d'information"], start=1)
    ]
    for n, activity in enumerate(activities):
        f.PurposeFactory(activity=activity, slug=f"int-purpose-{n}")
    return {"organisation": organisation, "activities": activities}


def assert_register_download(client, job: Job, activities) -> None:
    url = selectors.job_download_url(job=job)
    assert url, f"no download link for job {job.pk} ({job.status}, output {job.output.name!r})"
    response = client.get(url)
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert content.startswith(b"%PDF-")
    text = " ".join(" ".join((page.extract_text() or "").split())
                    for page in pypdf.PdfReader(io.BytesIO(content)).pages)
    for activity in activities:
        assert f"{activity.reference} — {activity.name}" in text


def stale() -> datetime:
    return timezone.now() - timedelta(seconds=2 * settings.JOB_STRANDED_AFTER_SECONDS)


def test_register_pdf_job_runs_on_the_worker(register, live_worker, client):
    # Autocommit (transactional test): the on_commit enqueue fires at once, to the real Redis.
    job = services.job_create(kind="register_pdf", params={"language": "en"})

    job = wait_for_job(job.pk)

    assert (job.status, job.progress, job.error, job.attempts) == ("done", 100, "", 1), job.error
    assert job.output_name.startswith("register-") and job.output_name.endswith(".pdf")
    assert "Task registry.tasks.run_job[" in live_worker.log()  # it ran there, not in this process
    assert_register_download(client, job, register["activities"])


def test_lost_message_is_recovered_by_the_sweep(register, start_worker, redis_broker, client, dpo_user):
    job = services.job_create(kind="register_pdf")
    assert Job.objects.get(pk=job.pk).enqueued_at is not None
    # The broker restarts and loses the message (this Redis keeps nothing on disk).
    redis.Redis.from_url(redis_broker).flushdb()
    worker = start_worker()

    job = assert_stays(job.pk, Job.Status.PENDING)
    client.force_login(dpo_user)  # the journal shows it, waiting
    shown = client.get(reverse("jobs-api:job-detail", args=[job.pk])).json()
    assert (shown["status"], shown["progress"], shown["download_url"]) == ("pending", 0, None)
    client.logout()
    assert services.job_sweep_stranded() == []  # not stale yet: it may still be in the queue

    assert "Task registry.tasks.run_job[" not in worker.log()
    Job.objects.filter(pk=job.pk).update(enqueued_at=stale(), created_at=stale())
    assert services.job_sweep_stranded() == [job.pk]

    job = wait_for_job(job.pk)
    assert (job.status, job.attempts) == ("done", 1), job.error
    assert "Task registry.tasks.run_job[" in worker.log()
    assert_register_download(client, job, register["activities"])


def test_job_of_a_dead_worker_is_recovered_by_the_sweep(register, live_worker, client):
    # A worker claimed the job, then died: status running, one attempt, no heartbeat since, and
    # its message gone (acked, or redelivered only after the long visibility timeout).
    job = f.JobFactory(kind="register_pdf", status=Job.Status.RUNNING, attempts=1, progress=40,
                       created_at=stale(), enqueued_at=stale(), started_at=stale(), heartbeat_at=stale())
    alive = f.JobFactory(kind="register_pdf", status=Job.Status.RUNNING, attempts=1, progress=10,
                         created_at=stale(), enqueued_at=stale(), started_at=stale(), heartbeat_at=timezone.now())

    assert_stays(job.pk, Job.Status.RUNNING, seconds=2)
    assert services.job_sweep_stranded() == [job.pk]

    job = wait_for_job(job.pk)
    assert (job.status, job.attempts, job.progress) == ("done", 2, 100), job.error
    assert_register_download(client, job, register["activities"])
    alive.refresh_from_db()
    assert (alive.status, alive.attempts) == ("running", 1)
