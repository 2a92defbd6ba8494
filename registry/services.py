"""Every write on the register and the job journal. Admin, API, commands and tasks call these."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from . import signals
from .job_kinds import handler_for
from .models import Channel, Job, ProcessingActivity, Purpose, PurposeVersion

logger = logging.getLogger(__name__)

PURPOSE_TEXT_FIELDS = ("name_fr", "name_en", "text_fr", "text_en")


# --- Purposes and their versioned texts ---------------------------------------------------


def _snapshot(purpose: Purpose, *, change_kind: str, change_note: str, user) -> PurposeVersion:
    version = PurposeVersion(
        purpose=purpose,
        version=purpose.version,
        change_kind=change_kind,
        change_note=change_note,
        created_by=user if getattr(user, "pk", None) else None,
        **{name: getattr(purpose, name) for name in PURPOSE_TEXT_FIELDS},
    )
    version.full_clean()
    version.save()
    return version


@transaction.atomic
def purpose_create(
    *,
    user: AbstractBaseUser | None = None,
    channels: Iterable | None = None,
    data_subject_categories: Iterable | None = None,
    **fields: Any,
) -> Purpose:
    """Create a purpose at version 1 and keep its first text."""
    purpose = Purpose(**fields)
    purpose.version = 1
    purpose_validate(purpose=purpose)
    _check_channel_rules(purpose, channels, data_subject_categories)
    purpose.save()
    if channels is not None:
        purpose.channels.set(channels)
    if data_subject_categories is not None:
        purpose.data_subject_categories.set(data_subject_categories)
    _snapshot(purpose, change_kind=PurposeVersion.ChangeKind.INITIAL, change_note="", user=user)
    return purpose


def purpose_text_changed(*, purpose: Purpose) -> bool:
    if purpose.pk is None:
        return False
    current = purpose.versions.order_by("-version").first()
    if current is None:
        return True
    return any(getattr(current, name) != getattr(purpose, name) for name in PURPOSE_TEXT_FIELDS)


def purpose_rule_errors(*, purpose: Purpose) -> dict[str, list[str]]:
    """The register's rules on a purpose, beyond field validation."""
    errors: dict[str, list[str]] = {}
    if purpose.legal_basis == "legitimate_interests" and not purpose.legitimate_interest.strip():
        errors["legitimate_interest"] = [_("Say which legitimate interest is pursued (Art. 13(1)(d)).")]
    if purpose.retention_months and not purpose.retention_start:
        errors["retention_start"] = [_("Say when the retention period starts.")]
    if purpose.consent_validity_months and purpose.legal_basis not in ("", "consent"):
        errors["consent_validity_months"] = [_("A consent validity only applies to a purpose based on consent.")]
    return errors


# Prospecting without prior consent (opt-out) is lawful only for these people: on an electronic
# channel (email, SMS, push: Channel.electronic), customers about analogous products (soft opt-in)
# and professionals about their profession (CPCE L.34-5); by phone, since 11 August 2026, no
# consumer but existing customers (Code de la consommation L.223-1). Postal prospecting stays opt-out.
OPT_OUT_AUDIENCE = {"customer", "professional_contact"}
PHONE = "phone"


def purpose_channel_rule_errors(*, legal_basis: str, direct_marketing: bool, channels: Iterable[Channel],
                                category_codes: Iterable[str]) -> dict[str, list[str]]:
    """The French prospecting rules on an opt-out (non-consent) marketing purpose."""
    if legal_basis in ("", "consent") or not direct_marketing:
        return {}
    categories = set(category_codes)
    if categories and categories <= OPT_OUT_AUDIENCE:
        return {}
    errors = []
    for channel in sorted(channels, key=lambda channel: channel.code):
        if channel.code == PHONE:
            errors.append(_("Phone prospecting of consumers needs their prior consent since 11 August 2026 "
                            "(Code de la consommation L.223-1): limit this purpose to existing customers or "
                            "professional contacts, or base it on consent."))
        elif channel.electronic:
            errors.append(_("Prospecting by %(channel)s needs prior consent (CPCE L.34-5), unless the purpose "
                            "is limited to existing customers (analogous products) or professional contacts: "
                            "limit its data-subject categories or base it on consent.") % {"channel": channel.code})
    return {"channels": errors} if errors else {}


def _check_channel_rules(purpose: Purpose, channels: Iterable | None, categories: Iterable | None) -> None:
    if channels is None:
        channels = list(purpose.channels.all()) if purpose.pk else []
    category_codes = [c.code for c in categories] if categories is not None else (
        list(purpose.data_subject_categories.values_list("code", flat=True)) if purpose.pk else [])
    errors = purpose_channel_rule_errors(legal_basis=purpose.legal_basis, direct_marketing=purpose.direct_marketing,
                                         channels=channels, category_codes=category_codes)
    if errors:
        raise ValidationError(errors)


def purpose_validate(*, purpose: Purpose) -> None:
    """Field validation plus the register's rules; one ValidationError listing every problem."""
    errors: dict[str, list[str]] = {}
    try:
        purpose.full_clean(exclude=["version"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    for field, messages in purpose_rule_errors(purpose=purpose).items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def purpose_change_kind_error(*, purpose: Purpose, change_kind: str) -> str | None:
    """A message when the shown text changed and the caller did not say how much."""
    if purpose_text_changed(purpose=purpose) and change_kind not in (
        PurposeVersion.ChangeKind.MINOR, PurposeVersion.ChangeKind.MATERIAL
    ):
        return _("The text shown to contacts changed: say whether the change is minor or material.")
    return None


@transaction.atomic
def purpose_update(
    *,
    purpose: Purpose,
    user: AbstractBaseUser | None = None,
    change_kind: str = "",
    change_note: str = "",
    channels: Iterable | None = None,
    data_subject_categories: Iterable | None = None,
    **fields: Any,
) -> Purpose:
    """Change a purpose. A change of the text shown to contacts bumps the version and keeps the
    earlier text; the caller says whether it is ``minor`` or ``material`` (earlier grants lapse).
    A change of its consent validity is announced (``signals.consent_validity_changed``): the
    grants already given then expire as the new validity says."""
    # As stored: the admin's form has already set its values on the instance.
    validity_before = Purpose.objects.filter(pk=purpose.pk).values_list("consent_validity_months", flat=True).first()
    for name, value in fields.items():
        setattr(purpose, name, value)
    purpose_validate(purpose=purpose)
    _check_channel_rules(purpose, channels, data_subject_categories)
    if purpose_text_changed(purpose=purpose):
        error = purpose_change_kind_error(purpose=purpose, change_kind=change_kind)
        if error:
            raise ValidationError({"change_kind": [error]})
        # Lock the row so two editors cannot both make the same version number.
        current = Purpose.objects.select_for_update().get(pk=purpose.pk)
        purpose.version = current.version + 1
        purpose.save()
        _snapshot(purpose, change_kind=change_kind, change_note=change_note, user=user)
    else:
        purpose.save()
    if channels is not None:
        purpose.channels.set(channels)
    if data_subject_categories is not None:
        purpose.data_subject_categories.set(data_subject_categories)
    if purpose.consent_validity_months != validity_before:
        signals.consent_validity_changed.send(sender=Purpose, purpose=purpose, user=user)
    return purpose


# --- Jobs ---------------------------------------------------------------------------------


def job_create(*, kind: str, params: dict | None = None, requested_by: AbstractBaseUser | None = None) -> Job:
    """Record a job and enqueue it once the surrounding transaction commits."""
    if handler_for(kind) is None:
        raise ValidationError({"kind": [_("Unknown job kind: %(kind)s") % {"kind": kind}]})
    job = Job(kind=kind, params=params or {}, requested_by=requested_by if getattr(requested_by, "pk", None) else None)
    job.full_clean()
    job.save()
    transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return job


def job_enqueue(*, job_id: int) -> None:
    from .tasks import run_job

    Job.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    run_job.delay(job_id)


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.JOB_STRANDED_AFTER_SECONDS)


def job_claim(*, job_id: int) -> Job | None:
    """Take the job for this worker with one conditional UPDATE; None when there is nothing to do
    (already done, failed, or running with a live heartbeat elsewhere)."""
    now = timezone.now()
    claimable = Q(status=Job.Status.PENDING) | Q(status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before())
    claimed = Job.objects.filter(claimable, pk=job_id).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, error="",
        progress=0,
    )
    return Job.objects.get(pk=job_id) if claimed else None


def job_report_progress(*, job_id: int, percent: int) -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
        progress=max(0, min(100, int(percent))), heartbeat_at=timezone.now()
    )


def job_attach_output(*, job: Job, filename: str, content: bytes) -> None:
    """Store the job's output in private storage, replacing an output left by an earlier attempt."""
    if job.output:
        job.output.delete(save=False)
    job.output.save(filename, ContentFile(content), save=False)
    job.output_name = filename
    Job.objects.filter(pk=job.pk).update(output=job.output.name, output_name=filename)


def job_run(*, job_id: int) -> Job | None:
    """Claim and run one job. Safe to call twice: a finished job is left as it is."""
    job = job_claim(job_id=job_id)
    if job is None:
        return None
    if job.attempts > settings.JOB_MAX_ATTEMPTS:
        return _job_finish(job, status=Job.Status.FAILED, error=_("Gave up after %(n)d attempts.") % {"n": job.attempts - 1})
    handler = handler_for(job.kind)
    if handler is None:
        return _job_finish(job, status=Job.Status.FAILED, error=_("Unknown job kind: %(kind)s") % {"kind": job.kind})
    try:
        handler(job, lambda percent: job_report_progress(job_id=job.pk, percent=percent))
    except Exception as exc:  # the journal shows it; the broker must not retry a failed job forever
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        return _job_finish(job, status=Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    return _job_finish(job, status=Job.Status.DONE, error="")


def _job_finish(job: Job, *, status: str, error: str) -> Job:
    now = timezone.now()
    progress = 100 if status == Job.Status.DONE else F("progress")
    Job.objects.filter(pk=job.pk).update(status=status, error=error, finished_at=now, heartbeat_at=now, progress=progress)
    job.refresh_from_db()
    return job


def job_sweep_stranded() -> list[int]:
    """Re-enqueue jobs stranded in pending (message lost) or running (worker died). Returns their ids."""
    stale = _stale_before()
    stranded = Job.objects.filter(
        Q(status=Job.Status.PENDING) & (Q(enqueued_at__lt=stale) | Q(enqueued_at__isnull=True, created_at__lt=stale))
        | Q(status=Job.Status.RUNNING, heartbeat_at__lt=stale)
    ).values_list("pk", flat=True)
    job_ids = list(stranded)
    for job_id in job_ids:
        logger.warning("re-enqueueing stranded job %s", job_id)
        job_enqueue(job_id=job_id)
    return job_ids


# --- Activities ---------------------------------------------------------------------------

ACTIVITY_M2M = ("data_subject_categories", "recipients", "processors", "security_measures")


@transaction.atomic
def activity_save(*, activity: ProcessingActivity | None = None, **fields: Any) -> ProcessingActivity:
    """Create (``activity`` None) or change an activity; many-to-many fields are given as iterables.
    A retired activity retires its purposes (activity_retire_purposes)."""
    relations = {name: fields.pop(name) for name in ACTIVITY_M2M if name in fields}
    activity = activity or ProcessingActivity()
    for name, value in fields.items():
        setattr(activity, name, value)
    activity.full_clean()
    activity.save()
    for name, values in relations.items():
        getattr(activity, name).set(values)
    activity_retire_purposes(activity=activity)
    return activity


def activity_retire_purposes(*, activity: ProcessingActivity) -> int:
    """When ``activity`` is retired, retire its purposes still active (each with its history row):
    a processing that stopped reaches no one, and the lapse job ends its consents and tells the
    contacts, as for a purpose retired on its own. Returns how many were retired."""
    if activity.status != ProcessingActivity.Status.RETIRED:
        return 0
    retired = 0
    for purpose in activity.purposes.filter(status=Purpose.Status.ACTIVE):
        purpose.status = Purpose.Status.RETIRED
        purpose.save(update_fields=["status"])
        retired += 1
    return retired
