"""The job that carries a request out: looks up the kind's fulfilment and records what it did."""
from __future__ import annotations

from django.utils import translation
from django.utils.translation import pgettext_lazy

from registry.job_kinds import ProgressReporter, job_handler
from registry.models import Job

from . import services
from .fulfilment import fulfilment_for


@job_handler(services.FULFIL_JOB_KIND, label=pgettext_lazy("job kind", "Rights request fulfilment"))
def fulfil_request(job: Job, report: ProgressReporter) -> None:
    request = services.rights_request_fulfilment_begin(request_id=job.params["request_id"], job=job)
    if request is None:
        return  # closed before the job ran: nothing to carry out
    fulfil = fulfilment_for(request.kind)
    if fulfil is None:
        raise LookupError(f"no fulfilment for requests of kind {request.kind}")
    with translation.override(request.language):
        result = fulfil(request=request, job=job, report=report)
        services.rights_request_record_fulfilment(request=request, job=job, outcome=result.outcome,
                                                  purpose_ids=result.purpose_ids, counts=result.counts())
