"""A purpose's consent validity changed in the register: the ``consent_validity`` job gives its
grants the expiry the new validity says (``services.consent_validity_apply``), as a job row the
DPO sees in the journal, with its progress, re-run if the worker stops."""
from __future__ import annotations

from django.dispatch import receiver
from django.utils.translation import pgettext_lazy

from registry import services as registry_services
from registry.job_kinds import ProgressReporter, job_handler
from registry.models import Job, Purpose
from registry.signals import consent_validity_changed

from . import services

JOB_KIND = "consent_validity"


@receiver(consent_validity_changed, dispatch_uid="consent_validity_changed")
def _validity_changed(sender, *, purpose: Purpose, user=None, **kwargs) -> None:
    # In the transaction that changed the purpose: the job exists if and only if the change does.
    registry_services.job_create(kind=JOB_KIND, params={"purpose": purpose.pk}, requested_by=user)


@job_handler(JOB_KIND, label=pgettext_lazy("job kind", "Consent validity update"))
def run_consent_validity(job: Job, report: ProgressReporter) -> None:
    """Job ``consent_validity``; params: ``purpose`` (its id). Idempotent: a re-run changes nothing more."""
    purpose = Purpose.objects.get(pk=job.params["purpose"])
    changed = services.consent_validity_apply(purpose=purpose, report=report)
    job.counts = {"changed": changed}
    Job.objects.filter(pk=job.pk).update(counts=job.counts)
