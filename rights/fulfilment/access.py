"""Fulfilment of access (Art. 15) and portability (Art. 20) requests: the ZIP of rights.export,
stored as the job's output in private storage. The download link is made afterwards by
services.rights_request_record_fulfilment. Running again builds the ZIP again and replaces it."""
from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from registry.services import job_attach_output

from .. import export
from ..models import Kind
from . import Fulfilment, Job, ProgressReporter, RightsRequest, SourceCount, fulfils


def _export(*, request: RightsRequest, job: Job, report: ProgressReporter, kind: str) -> Fulfilment:
    built = export.build_export(request=request, kind=kind, report=lambda percent: report(int(percent * 0.8)))
    content = export.export_zip(built)
    report(90)
    job_attach_output(job=job, filename=export.export_file_name(built), content=content)
    report(95)
    counts = [SourceCount(source=section.label, count=len(section.records), action="exported")
              for section in built.sections]
    values = {"records": built.record_count(), "sources": len(built.sections), "events": built.event_count(),
              "days": settings.RIGHTS_DOWNLOAD_DAYS}
    if kind == Kind.PORTABILITY:
        outcome = _("Your data was exported in a structured, machine-readable archive (GDPR Art. 20): the data you "
                    "provided that we process on the basis of your consent or of a contract, that is %(records)s "
                    "record(s) from %(sources)s source(s) and %(events)s consent event(s). Download it from the "
                    "status page of your request within %(days)s days.") % values
    else:
        outcome = _("A copy of your data was prepared (GDPR Art. 15): %(records)s record(s) from %(sources)s "
                    "source(s), %(events)s consent event(s), and a summary with the purposes, recipients, "
                    "retention periods and your rights. Download it from the status page of your request "
                    "within %(days)s days.") % values
    return Fulfilment(outcome=outcome, sources=counts)


@fulfils("access")
def fulfil_access(*, request: RightsRequest, job: Job, report: ProgressReporter) -> Fulfilment:
    """Everything held about the contacts of the request: data.json, one CSV per source, the PDF."""
    return _export(request=request, job=job, report=report, kind=Kind.ACCESS)


@fulfils("portability")
def fulfil_portability(*, request: RightsRequest, job: Job, report: ProgressReporter) -> Fulfilment:
    """What Art. 20 covers: data.json and the CSVs of the data processed under consent or contract."""
    return _export(request=request, job=job, report=report, kind=Kind.PORTABILITY)
