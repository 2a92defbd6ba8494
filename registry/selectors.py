"""Reads on the register and the job journal."""
from __future__ import annotations

from django.core import signing
from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from .job_kinds import job_kind_label
from .models import ActivityDataCategory, Job, Organisation, ProcessingActivity, Purpose, Transfer

DOWNLOAD_SALT = "registry.job-download"


def organisation_get() -> Organisation | None:
    return Organisation.objects.order_by("pk").first()


def organisation_dpo_emails(organisation: Organisation | None) -> list[str]:
    """The organisation's DPO address, as a list (empty when none is entered): where a person's answer
    to one of our emails goes (the sender is a no-reply address), and one of those the DPO is told at."""
    return [organisation.dpo_email] if organisation and organisation.dpo_email else []


def activities_for_export(*, include_drafts: bool = False) -> QuerySet[ProcessingActivity]:
    """Every activity of the register with all it refers to, in as few queries as possible."""
    activities = ProcessingActivity.objects.exclude(status=ProcessingActivity.Status.RETIRED)
    if not include_drafts:
        activities = activities.exclude(status=ProcessingActivity.Status.DRAFT)
    return activities.order_by("reference").prefetch_related(
        Prefetch(
            "purposes",
            queryset=Purpose.objects.exclude(status=Purpose.Status.RETIRED).order_by("position", "slug").prefetch_related(
                "channels", "data_subject_categories"
            ),
        ),
        "data_subject_categories",
        Prefetch(
            "data_category_links",
            queryset=ActivityDataCategory.objects.select_related("category").order_by(
                "category__position", "category__code"
            ),
        ),
        "recipients__recipient_type",
        "recipients__country",
        "processors__country",
        "security_measures",
        Prefetch("transfers", queryset=Transfer.objects.select_related("country", "safeguard")),
    )


def activity_completeness_problems(*, activity: ProcessingActivity) -> list[str]:
    """What the register still misses for this activity (shown as a warning to the DPO)."""
    from django.utils.translation import gettext as _

    problems = []
    purposes = list(activity.purposes.all())
    if not purposes:
        problems.append(_("no purpose"))
    if any(not p.legal_basis for p in purposes):
        problems.append(_("a purpose has no legal basis"))
    if any(not p.retention_months and not p.retention_note for p in purposes):
        problems.append(_("a purpose has no retention rule"))
    for transfer in activity.transfers.all():
        if transfer_needs_safeguard(transfer=transfer):
            problems.append(
                _("the transfer to %(recipient)s (%(country)s) has no valid safeguard")
                % {"recipient": transfer.recipient_name, "country": transfer.country}
            )
    return problems


def transfer_needs_safeguard(*, transfer: Transfer) -> bool:
    """True when the destination is not covered by an adequacy decision and no valid safeguard is set."""
    adequacy = transfer.country.adequacy
    if adequacy in ("eea", "adequate"):
        return False
    if adequacy == "adequate_certified" and transfer.dpf_certified:
        return False
    return transfer.safeguard is None or not transfer.safeguard.is_valid


def job_kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every kind the journal holds, by label in the active language: a kind no
    longer registered shows by its code (registry.job_kinds.job_kind_label)."""
    kinds = Job.objects.order_by().values_list("kind", flat=True).distinct()
    return sorted(((kind, job_kind_label(kind)) for kind in kinds), key=lambda choice: choice[1].casefold())


def job_download_token(*, job: Job) -> str:
    return signing.TimestampSigner(salt=DOWNLOAD_SALT).sign(str(job.pk))


def job_download_url(*, job: Job) -> str | None:
    if job.status != Job.Status.DONE or not job.output:
        return None
    return reverse("registry:job-download", args=[job.pk]) + f"?token={job_download_token(job=job)}"


def job_token_valid(*, job_id: int, token: str, max_age: int) -> bool:
    try:
        value = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign(token, max_age=max_age)
    except signing.BadSignature:
        return False
    return value == str(job_id)


def job_wait_finished(*, job_id: int, timeout: float, interval: float = 0.5) -> Job:
    """The job once done or failed (another process runs it), or as it is when ``timeout`` runs out:
    the caller tells by its status."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=job_id)
        if job.status in (Job.Status.DONE, Job.Status.FAILED) or time.monotonic() > deadline:
            return job
        time.sleep(interval)
