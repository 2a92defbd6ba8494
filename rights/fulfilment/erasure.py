"""Fulfilment of erasure requests (Art. 17).

One transaction walks the data map and anonymises every source's records of each contact by its
declared strategy, their simple-history rows included, in batched UPDATEs; consents are withdrawn
(method ``erasure``) through the ledger's own service and the email and phone go on the suppression
lists as keyed HMACs. Rows are anonymised, never deleted, so the ledger's hash chain and the
foreign keys stay whole. Files go after the commit, from a ``rights_delete_files`` job: its row
holds their list, so a crash never loses it, and a failed deletion is retried.

Kept (Art. 17(3)) and listed with the reason: the consent ledger's events (proof of consent and of
its withdrawal, Art. 7(1); their personal evidence cleared) and every source serving a purpose whose
legal basis gives no right to erasure in the DPV table (legal obligation, public task).
Objections already recorded stay as they are: with the suppression entry they are what keeps the
person from being contacted again, and erasing them would make them reachable.

Idempotent: what each run erased is kept in its job's ``counts`` (no personal data); contacts already
erased are skipped, so a second run, or a job re-run after a crash, changes nothing more.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from consent import services as consent_services
from consent.models import Action, ConsentEvent, ConsentState, Contact, Method, SuppressionEntry
from registry.datamap import Blank, FixedToken, Source, anonymised_values, datamap
from registry.job_kinds import ProgressReporter, job_handler
from registry.models import Channel, Job, LegalBasis, Purpose

from .. import legal_basis_rules
from ..models import DownloadLink, RightsRequest
from ..selectors import request_contacts
from ..services import FULFIL_JOB_KIND
from . import Fulfilment, KeptRecords, SourceCount, fulfils
from .rectification import purposes_served

logger = logging.getLogger(__name__)

DELETE_FILES_JOB_KIND = "rights_delete_files"
BATCH_SIZE = 1000  # rows per statement (ids in a list stay under SQLite's and PostgreSQL's parameter limits)
ERASED_REPR = "[erased]"
SUMMARY_KEY = "erasure"

# Actions as the certificate names them (rights.proofs.ACTION_LABELS).
ANONYMISED, DELETED = "anonymised", "deleted"


def _batches(items: Iterable, size: int = BATCH_SIZE) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Which records, and which are kept ----------------------------------------------------------


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


def legal_hold_reason(source: Source) -> str:
    """Why erasure does not reach this source (Art. 17(3)(b)): it serves a purpose whose legal basis
    gives no right to erasure in the DPV table. Empty when erasure applies."""
    reasons = []
    for purpose in Purpose.objects.filter(slug__in=source.purposes).order_by("slug"):
        if purpose.legal_basis and not legal_basis_rules.kind_applies(kind="erasure", legal_basis=purpose.legal_basis):
            reasons.append(_("kept for “%(purpose)s”, processed under %(basis)s: the law requires keeping these "
                             "records (Art. 17(3)(b))") % {"purpose": purpose.name,
                                                           "basis": purpose.get_legal_basis_display()})
    return "; ".join(reasons)


def ledger_kept_reason() -> str:
    return _("the consent ledger's events are kept as proof of consent and of its withdrawal (Art. 7(1), "
             "Art. 17(3)(e)); their personal evidence (IP address, browser, note, scanned document) was cleared")


# --- Anonymisation in batches ------------------------------------------------------------------


class FileList:
    """Files to delete once the transaction commits: (model label, field name, stored name)."""

    def __init__(self) -> None:
        self.items: list[list[str]] = []
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, model: type[models.Model], field: str, name: str) -> None:
        key = (model._meta.label, field, name)
        if name and key not in self._seen:
            self._seen.add(key)
            self.items.append(list(key))

    def __len__(self) -> int:
        return len(self.items)


# Strategies whose result does not depend on the value: one UPDATE serves every row.
CONSTANT_STRATEGIES = (Blank, FixedToken)


def _anonymise(model: type[models.Model], source: Source, queryset: models.QuerySet, *, files: FileList,
               file_model: type[models.Model], extra: dict[str, Any] | None = None) -> None:
    """Apply the source's strategies to the rows of ``queryset`` (of ``model``: the source's model or
    its history table), in batched UPDATEs. ``queryset.update()`` is safe here: the caller scrubs
    the history rows in the same transaction. Rows already anonymised are left alone."""
    names = list(source.fields)
    extra = extra or {}
    meta = model._meta
    for name in names:
        if isinstance(file_model._meta.get_field(name), models.FileField):
            for value in queryset.exclude(**{name: ""}).exclude(**{f"{name}__isnull": True}).order_by().values_list(
                    name, flat=True).distinct():
                files.add(file_model, name, value)
    if all(isinstance(source.fields[name].anonymise, CONSTANT_STRATEGIES) for name in names):
        target = {name: source.fields[name].anonymise.apply(None, field=meta.get_field(name)) for name in names}
        target.update(extra)
        pending = queryset.exclude(**target)
        # Batches by ranges of primary keys (the index bounds each statement), cut every BATCH_SIZE rows.
        ids = list(pending.order_by("pk").values_list("pk", flat=True))
        for batch in _batches(ids):
            pending.filter(pk__gte=batch[0], pk__lte=batch[-1]).update(**target)
        return
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for row in queryset.values("pk", *names).iterator(chunk_size=2000):
        record = SimpleNamespace(_meta=meta, **{name: row[name] for name in names})
        values = {**anonymised_values(source, record), **extra}
        if all(row.get(name, object()) == value for name, value in values.items()):
            continue
        groups[tuple(sorted(values.items()))].append(row["pk"])
    for values, pks in groups.items():  # rows that end the same (same email, same dates) share an UPDATE
        for batch in _batches(pks):
            model._default_manager.filter(pk__in=batch).update(**dict(values))


def _history_queryset(source: Source, queryset: models.QuerySet) -> models.QuerySet | None:
    if source.history_model is None:
        return None
    key = source.model._meta.pk.attname
    return source.history_model._default_manager.filter(**{f"{key}__in": queryset.values("pk")})


def _scrub_admin_log(model: type[models.Model], queryset: models.QuerySet) -> int:
    """django_admin_log repeats each object's str() (a name) and may hold free text: blank both."""
    ids = queryset.annotate(_as_text=Cast("pk", output_field=models.TextField())).values("_as_text")
    return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), object_id__in=ids).exclude(
        object_repr=ERASED_REPR, change_message="").update(object_repr=ERASED_REPR, change_message="")


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


@dataclass(frozen=True)
class SourceErasure:
    """What ``anonymise_source`` did to one source: ``hold`` says why it was kept (empty: anonymised)."""

    count: int
    history_count: int = 0
    hold: str = ""


def anonymise_source(source: Source, queryset: models.QuerySet | None, *, files: FileList,
                     now: datetime) -> SourceErasure | None:
    """The subjects' records of one source of the data map (``queryset``): kept under a legal hold, or
    anonymised by each field's declared strategy with their history rows and admin-log entries. None
    when there is nothing to do (no record, or no personal field). Rights erasure and the erasure of a
    contact created only for an unconfirmed double opt-in (``consent.services.contact_anonymise``)."""
    count = queryset.count() if queryset is not None else 0
    if not count:
        return None
    hold = legal_hold_reason(source)
    if hold:
        return SourceErasure(count, hold=hold)
    extra = {"anonymised_at": now} if source.model is Contact else {}
    if not source.fields and not extra:
        return None  # no personal field (e.g. current consents): only linked to a contact now anonymised
    contact_ids = list(queryset.values_list("pk", flat=True)) if source.model is Contact else []
    # History rows and admin log first, the rows themselves last: a subject looked up by one of its
    # own personal fields still finds its rows while the others are scrubbed.
    history = _history_queryset(source, queryset)
    history_count = history.count() if history is not None else 0
    if history_count:
        _anonymise(source.history_model, source, history, files=files, file_model=source.model, extra=extra)
    _scrub_admin_log(source.model, queryset)
    _anonymise(source.model, source, queryset, files=files, file_model=source.model, extra=extra)
    if contact_ids:  # their current consents can no longer reach them (the audience index)
        consent_services.consent_states_refresh_reachable(contact_ids=contact_ids)
    return SourceErasure(count, history_count)


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


def _verbose(label: str) -> str:
    try:
        return str(apps.get_model(label)._meta.verbose_name_plural)
    except LookupError:
        return label


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
        lines.append(f"- {_verbose(source.source)} ({source.source}): {source.count}")
    if merged["withdrawn"]:
        lines.append(ngettext("%(count)d consent was withdrawn.", "%(count)d consents were withdrawn.",
                              merged["withdrawn"]) % {"count": merged["withdrawn"]})
    if merged["suppressed"]:
        lines.append(_("Your email address and phone number are kept only as a keyed fingerprint on our "
                       "suppression lists, so that you are not contacted again without a new consent."))
    if merged["kept"]:
        lines.append(_("Kept, as the law requires:"))
        for kept in merged["kept"]:
            lines.append(f"- {_verbose(kept.source)} ({kept.source}): {kept.count} — {kept.reason}")
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


# --- Files, after the commit ------------------------------------------------------------------


@job_handler(DELETE_FILES_JOB_KIND)
def delete_files(job: Job, report: ProgressReporter) -> None:
    """Delete the files an erasure left (params ``files``: [model label, field, name]). Deleting a
    file already gone is fine, so a re-run is harmless. Files that cannot be deleted go to a new job
    that the stranded-job sweep picks up later (a retry with a delay), up to JOB_MAX_ATTEMPTS; the
    names are then dropped from this job's parameters (they may hold a name)."""
    items = job.params.get("files") or []
    attempt = int(job.params.get("attempt") or 1)
    failed = []
    for index, (label, field, name) in enumerate(items, start=1):
        try:
            storage = apps.get_model(label)._meta.get_field(field).storage
            storage.delete(name)
        except (OSError, LookupError) as exc:
            logger.warning("could not delete an erased file (%s.%s): %s", label, field, type(exc).__name__)
            failed.append([label, field, name])
        report(int(100 * index / max(1, len(items))))
    counts = {"deleted": len(items) - len(failed), "failed": len(failed)}
    if failed and attempt >= settings.JOB_MAX_ATTEMPTS:
        Job.objects.filter(pk=job.pk).update(counts=counts, params={**job.params, "files": failed})
        raise OSError(f"{len(failed)} file(s) could not be deleted after {attempt} attempts")
    if failed:
        # Not job_create: enqueued now it would fail again at once. Marked as just enqueued, the
        # sweep re-enqueues it after JOB_STRANDED_AFTER_SECONDS.
        retry = Job.objects.create(kind=DELETE_FILES_JOB_KIND, params={"files": failed, "attempt": attempt + 1},
                                   requested_by=job.requested_by, enqueued_at=timezone.now())
        counts["retry_job"] = retry.pk
    Job.objects.filter(pk=job.pk).update(counts=counts, params={"files": [], "attempt": attempt})
