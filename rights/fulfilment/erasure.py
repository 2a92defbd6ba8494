"""Fulfilment of erasure requests (Art. 17).

One transaction walks the data map and anonymises every source's records of each contact by its
declared strategy, their simple-history rows included, in batched UPDATEs; consents are withdrawn
(method ``erasure``) through the ledger's own service and the email and phone go on the suppression
lists as keyed HMACs. Rows are anonymised, never deleted, so the ledger's hash chain and the
foreign keys stay whole. The anonymisation of each source, its legal holds and the deletion of the
files after the commit are ``registry.erasure``'s, shared with ``consent.services.contact_anonymise``.

Kept (Art. 17(3)) and listed with the reason: the consent ledger's events (proof of consent and of
its withdrawal, Art. 7(1); their personal evidence cleared) and every source serving a purpose whose
legal basis gives no right to erasure in the DPV table (legal obligation, public task).
Objections already recorded stay as they are: with the suppression entry they are what keeps the
person from being contacted again, and erasing them would make them reachable.

Idempotent: what each run erased is kept in its job's ``counts`` (no personal data); contacts already
erased are skipped, so a second run, or a job re-run after a crash, changes nothing more.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from consent import services as consent_services
from consent.models import Action, ConsentEvent, ConsentState, Contact, Method, SuppressionEntry
from registry.datamap import Source, datamap
from registry.erasure import DELETE_FILES_JOB_KIND, FileList, anonymise_source
from registry.job_kinds import ProgressReporter
from registry.models import Channel, Job, LegalBasis
from registry.readable import model_names

from ..models import DownloadLink, RightsRequest
from ..selectors import request_contacts
from ..services import FULFIL_JOB_KIND
from . import Fulfilment, KeptRecords, SourceCount, fulfils
from .rectification import purposes_served


SUMMARY_KEY = "erasure"

# Actions as the certificate and the admin name them (registry.readable.action).
ANONYMISED, DELETED = "anonymised", "deleted"


def _outside_request(queryset: models.QuerySet, model: type[models.Model], request: RightsRequest) -> models.QuerySet:
    """The request being fulfilled is not erased with the rest: it is pseudonymised once it closes
    (rights.services.rights_request_pseudonymise), as the proof of the erasure."""
    if model is RightsRequest:
        return queryset.exclude(pk=request.pk)
    for field in model._meta.concrete_fields:
        if field.is_relation and field.related_model is RightsRequest:
            queryset = queryset.exclude(**{field.name: request.pk})
    return queryset


def subject_queryset(source: Source, contacts: list[Contact], request: RightsRequest) -> models.QuerySet | None:
    """The source's records of these contacts, as one lazy queryset (subqueries, no list of ids)."""
    if source.subject is None:
        return None
    query = models.Q()
    for contact in contacts:
        query |= models.Q(pk__in=source.subject(contact).values("pk"))
    return _outside_request(source.model._default_manager.filter(query), source.model, request)


def ledger_kept_reason() -> str:
    return _("the consent ledger's events are kept as proof of consent and of its withdrawal (Art. 7(1), "
             "Art. 17(3)(e)); their personal evidence (IP address, browser, note, scanned document) was cleared")


# --- Consents and suppression ----------------------------------------------------------------


def _withdraw_consents(contacts: list[Contact], *, job: Job) -> int:
    """Every consent-based state not already withdrawn gets a ``withdrawn`` event (method erasure),
    through consent_record, so the ledger and the current-consent table stay one."""
    count = 0
    states = (ConsentState.objects.filter(contact__in=contacts, purpose__legal_basis=LegalBasis.CONSENT)
              .exclude(status=Action.WITHDRAWN).select_related("contact", "purpose", "channel").order_by("pk"))
    for state in states:
        if not state.purpose.channels.filter(pk=state.channel_id).exists():
            continue  # the purpose no longer uses this channel: nobody may reach them there anyway
        consent_services.consent_record(contact=state.contact, purpose=state.purpose, channel=state.channel,
                                        action=Action.WITHDRAWN, method=Method.ERASURE,
                                        recorded_by=job.requested_by)
        count += 1
    return count


SUPPRESSED_CHANNELS = {"email": ("email",), "phone": ("sms", "phone")}


def _suppress(contacts: list[Contact], *, request: RightsRequest) -> int:
    channels = {c.code: c for c in Channel.objects.filter(code__in=["email", "sms", "phone"])}
    count = 0
    for contact in contacts:
        for field, codes in SUPPRESSED_CHANNELS.items():
            value = getattr(contact, field)
            if not value:
                continue
            for code in codes:
                if code not in channels:
                    continue
                try:
                    _entry, created = consent_services.suppression_add(
                        channel=channels[code], value=value, source=SuppressionEntry.Source.ERASURE,
                        note=request.reference)
                except ValidationError:  # a stored value that no longer parses: nothing to match later
                    continue
                count += created
    return count


def _expire_exports(contacts: list[Contact], *, request: RightsRequest, files: FileList, now: datetime) -> int:
    """Export ZIPs of the contact's earlier access or portability requests: gone with the rest."""
    earlier = list(RightsRequest.objects.filter(request_contacts__contact__in=contacts).exclude(pk=request.pk)
                   .values_list("pk", flat=True).distinct())
    if not earlier:
        return 0
    jobs = Job.objects.filter(kind=FULFIL_JOB_KIND, params__request_id__in=earlier).exclude(output="")
    count = 0
    for job in jobs:
        files.add(Job, "output", job.output.name)
        count += Job.objects.filter(pk=job.pk).update(output="", output_name="")
    DownloadLink.objects.filter(request_id__in=earlier, file_deleted_at__isnull=True).update(file_deleted_at=now)
    return count


# --- The job ---------------------------------------------------------------------------------


def _erase_source(source: Source, *, contacts: list[Contact], request: RightsRequest, files: FileList,
                  now: datetime, sources: list[dict], kept: list[dict]) -> None:
    """One source of the data map, reported: kept under a legal hold, or anonymised with its history rows."""
    erased = anonymise_source(source, subject_queryset(source, contacts, request), files=files, now=now)
    if erased is None:
        return
    if erased.hold:
        kept.append(vars(KeptRecords(source.label, erased.count, erased.hold)))
        return
    sources.append(vars(SourceCount(source.label, erased.count, ANONYMISED)))
    if erased.history_count:
        sources.append(vars(SourceCount(source.history_model._meta.label, erased.history_count, ANONYMISED)))
    if source.model is ConsentEvent:
        kept.append(vars(KeptRecords(source.label, erased.count, ledger_kept_reason())))


def _erase(*, request: RightsRequest, contacts: list[Contact], job: Job, report: ProgressReporter) -> dict:
    now = timezone.now()
    files = FileList()
    purpose_ids = purposes_served(contacts)  # before the categories go
    withdrawn = _withdraw_consents(contacts, job=job)
    suppressed = _suppress(contacts, request=request)
    for contact in contacts:
        contact.data_subject_categories.clear()  # its history row is scrubbed with the others below
    sources: list[dict] = []
    kept: list[dict] = []
    walk = datamap.sources()
    for index, source in enumerate(walk, start=1):
        _erase_source(source, contacts=contacts, request=request, files=files, now=now, sources=sources, kept=kept)
        report(5 + int(85 * index / len(walk)))
    exports = _expire_exports(contacts, request=request, files=files, now=now)
    if exports:
        sources.append(vars(SourceCount(Job._meta.label, exports, DELETED)))
    if files:
        from registry import services as registry_services

        registry_services.job_create(kind=DELETE_FILES_JOB_KIND, params={"files": files.items, "attempt": 1},
                                     requested_by=job.requested_by)
    return {"contacts": [c.pk for c in contacts], "at": now.isoformat(), "sources": sources, "kept": kept,
            "purpose_ids": purpose_ids, "withdrawn": withdrawn, "suppressed": suppressed, "files": len(files)}


def _summaries(request: RightsRequest) -> list[dict]:
    """What earlier runs for this request erased (one summary per job, in its ``counts``)."""
    jobs = Job.objects.filter(kind=FULFIL_JOB_KIND, params__request_id=request.pk).order_by("pk")
    return [job.counts[SUMMARY_KEY] for job in jobs if isinstance(job.counts, dict) and SUMMARY_KEY in job.counts]


def _merge(summaries: list[dict]) -> dict:
    sources: dict[tuple[str, str], int] = {}
    kept: dict[tuple[str, str], int] = {}
    merged: dict[str, Any] = {"contacts": [], "purpose_ids": set(), "withdrawn": 0, "suppressed": 0, "files": 0}
    for summary in summaries:
        merged["contacts"] += summary["contacts"]
        merged["purpose_ids"] |= set(summary["purpose_ids"])
        for key in ("withdrawn", "suppressed", "files"):
            merged[key] += summary.get(key, 0)
        for row in summary["sources"]:
            sources[(row["source"], row["action"])] = sources.get((row["source"], row["action"]), 0) + row["count"]
        for row in summary["kept"]:
            kept[(row["source"], row["reason"])] = kept.get((row["source"], row["reason"]), 0) + row["count"]
    merged["sources"] = [SourceCount(source, count, action) for (source, action), count in sources.items()]
    merged["kept"] = [KeptRecords(source, count, reason) for (source, reason), count in kept.items()]
    merged["purpose_ids"] = sorted(merged["purpose_ids"])
    return merged


def outcome_text(merged: dict) -> str:
    """What the requester and the certificate read: sources and counts, what was kept and why. No
    personal data: the request itself is pseudonymised once closed."""
    lines = []
    anonymised = merged["sources"]
    total = sum(s.count for s in anonymised)
    lines.append(ngettext("Your personal data was erased: %(count)d record was anonymised, in these sources:",
                          "Your personal data was erased: %(count)d records were anonymised, in these sources:",
                          total) % {"count": total})
    for source in anonymised:
        lines.append(f"- {model_names(source.source)} ({source.source}): {source.count}")
    if merged["withdrawn"]:
        lines.append(ngettext("%(count)d consent was withdrawn.", "%(count)d consents were withdrawn.",
                              merged["withdrawn"]) % {"count": merged["withdrawn"]})
    if merged["suppressed"]:
        lines.append(_("Your email address and phone number are kept only as a keyed fingerprint on our "
                       "suppression lists, so that you are not contacted again without a new consent."))
    if merged["kept"]:
        lines.append(_("Kept, as the law requires:"))
        for kept in merged["kept"]:
            lines.append(f"- {model_names(kept.source)} ({kept.source}): {kept.count} — {kept.reason}")
    return "\n".join(lines)


@fulfils("erasure")
def erase(*, request: RightsRequest, job: Job, report: ProgressReporter) -> Fulfilment:
    """Erase the data of every contact of the request, in one transaction (see the module's docstring)."""
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request.pk)
        summaries = _summaries(request)
        done = {pk for summary in summaries for pk in summary["contacts"]}
        contacts = [c for c in request_contacts(request=request).order_by("pk")
                    if c.pk not in done and c.anonymised_at is None]
        report(2)
        if contacts:
            summary = _erase(request=request, contacts=contacts, job=job, report=report)
            counts = dict(Job.objects.get(pk=job.pk).counts or {})
            previous = counts.get(SUMMARY_KEY)
            counts[SUMMARY_KEY] = _merge_one(previous, summary) if previous else summary
            Job.objects.filter(pk=job.pk).update(counts=counts)
            summaries = _summaries(request)
    merged = _merge(summaries)
    return Fulfilment(outcome=outcome_text(merged), sources=merged["sources"], kept=merged["kept"],
                      purpose_ids=merged["purpose_ids"])


def _merge_one(previous: dict, summary: dict) -> dict:
    both = _merge([previous, summary])
    return {"contacts": both["contacts"], "at": summary["at"], "sources": [vars(s) for s in both["sources"]],
            "kept": [vars(k) for k in both["kept"]], "purpose_ids": both["purpose_ids"],
            "withdrawn": both["withdrawn"], "suppressed": both["suppressed"], "files": both["files"]}
