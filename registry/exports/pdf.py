"""The register as a PDF for the CNIL or an auditor (GDPR Art. 30), built by a job.

Rendering takes seconds on a large register, so the web request only creates a ``register_pdf``
job; a worker runs :func:`build_register_pdf`, which stores the file in private storage.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from django.conf import settings
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import override, pgettext_lazy

from .. import selectors, services
from ..job_kinds import ProgressReporter, job_handler
from ..models import ActivityDataCategory, Job, Organisation, ProcessingActivity, Purpose, Transfer

TEMPLATE = "pdf/register.html"

# The models whose history makes up "the register": any change to one of them is a new version.
_VERSIONED_MODELS = (Organisation, ProcessingActivity, Purpose, ActivityDataCategory, Transfer)


def register_version() -> tuple[int, datetime | None]:
    """The register's version and the time of its latest change.

    We chose the number of simple-history records of the register's own tables rather than the
    latest ``updated_at``: it grows with every change, including a deletion or a change to a purpose
    or a transfer (which leave the activities' ``updated_at`` untouched), so two editions with the
    same number have the same content. It only goes down if history is purged.
    """
    count = 0
    latest: datetime | None = None
    for model in _VERSIONED_MODELS:
        history = model.history.model.objects.aggregate(last=Max("history_date"))
        count += model.history.model.objects.count()
        if history["last"] and (latest is None or history["last"] > latest):
            latest = history["last"]
    return count, latest


def _sections(activities: Iterable[ProcessingActivity]) -> list[dict[str, Any]]:
    """What the template shows per activity, reading the prefetched relations only."""
    sections = []
    for activity in activities:
        data_categories = list(activity.data_category_links.all())
        sections.append({
            "activity": activity,
            "purposes": list(activity.purposes.all()),
            "data_categories": data_categories,
            "has_special_category": any(link.category.special_category for link in data_categories),
            "transfers": [
                {"transfer": transfer, "missing_safeguard": selectors.transfer_needs_safeguard(transfer=transfer)}
                for transfer in activity.transfers.all()
            ],
        })
    return sections


def _refuse_every_url():
    """No resource of the PDF comes from a URL: fonts are the system's, styles are inline."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=set())


def register_pdf(*, organisation: Organisation | None, activities: Iterable[ProcessingActivity],
                 language: str) -> bytes:
    """The register as an A4 PDF in ``language``: cover, contents with page numbers, one section
    per activity."""
    from weasyprint import HTML  # heavy import: only where a PDF is made

    version, last_change = register_version()
    with override(language):
        html = render_to_string(TEMPLATE, {
            "organisation": organisation,
            "sections": _sections(activities),
            "generated_at": timezone.localtime(),
            "register_version": version,
            "last_change": timezone.localtime(last_change) if last_change else None,
        })
        return HTML(string=html, url_fetcher=_refuse_every_url()).write_pdf()


@job_handler("register_pdf", label=pgettext_lazy("job kind", "Register PDF"))
def build_register_pdf(job: Job, report: ProgressReporter) -> None:
    """Job ``register_pdf``; params: ``language`` (default LANGUAGE_CODE), ``include_drafts``.
    A rerun renders again and replaces the earlier output."""
    language = job.params.get("language") or settings.LANGUAGE_CODE
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"unsupported language: {language}")
    report(5)
    organisation = selectors.organisation_get()
    activities = list(selectors.activities_for_export(include_drafts=bool(job.params.get("include_drafts"))))
    report(20)
    content = register_pdf(organisation=organisation, activities=activities, language=language)
    report(90)
    services.job_attach_output(
        job=job, filename=f"register-{timezone.localdate().isoformat()}.pdf", content=content
    )
