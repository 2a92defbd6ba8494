"""Anonymisation of a data subject's records, source by source of the data map.

The primitives erasure uses wherever it happens: rights erasure (``rights.fulfilment.erasure``) and
the erasure of a contact created only for an unconfirmed double opt-in
(``consent.services.contact_anonymise``), so both clear the same fields the same way. Each source's
records are anonymised by their declared strategies, their simple-history rows and admin-log entries
included, in batched UPDATEs, unless the source serves a purpose whose legal basis gives no right to
erasure (Art. 17(3)(b), the W3C DPV table in ``registry.legal_basis_rules``) and is not declared
``legal_hold=False`` (its anonymised form keeps what that law requires, e.g. a rights request's
proof). Files go after the commit, from a ``rights_delete_files`` job (the kind keeps its first
name: jobs of it are stored): its row holds their list, so a crash never loses it, and a failed
deletion is retried.
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
from django.db import models
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from . import legal_basis_rules
from .datamap import Blank, FixedToken, Source, anonymised_values
from .job_kinds import ProgressReporter, job_handler
from .models import Job, Purpose

logger = logging.getLogger(__name__)

DELETE_FILES_JOB_KIND = "rights_delete_files"
BATCH_SIZE = 1000  # rows per statement (ids in a list stay under SQLite's and PostgreSQL's parameter limits)
ERASED_REPR = "[erased]"


def _batches(items: Iterable, size: int = BATCH_SIZE) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Which sources are kept ---------------------------------------------------------------------


def legal_hold_reason(source: Source) -> str:
    """Why erasure does not reach this source (Art. 17(3)(b)): it serves a purpose whose legal basis
    gives no right to erasure in the DPV table. Empty when erasure applies, and for a source declared
    ``legal_hold=False`` (what the law requires keeping survives its anonymisation)."""
    if not source.legal_hold:
        return ""
    reasons = []
    for purpose in Purpose.objects.filter(slug__in=source.purposes).order_by("slug"):
        if purpose.legal_basis and not legal_basis_rules.kind_applies(kind="erasure", legal_basis=purpose.legal_basis):
            reasons.append(_("kept for “%(purpose)s”, processed under %(basis)s: the law requires keeping these "
                             "records (Art. 17(3)(b))") % {"purpose": purpose.name,
                                                           "basis": purpose.get_legal_basis_display()})
    return "; ".join(reasons)


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
    extra = {source.anonymised_marker: now} if source.anonymised_marker else {}
    if not source.fields and not extra:
        return None  # no personal field (e.g. current consents): only linked to a subject now anonymised
    ids = list(queryset.values_list("pk", flat=True)) if source.after_anonymise else []
    # History rows and admin log first, the rows themselves last: a subject looked up by one of its
    # own personal fields still finds its rows while the others are scrubbed.
    history = _history_queryset(source, queryset)
    history_count = history.count() if history is not None else 0
    if history_count:
        _anonymise(source.history_model, source, history, files=files, file_model=source.model, extra=extra)
    _scrub_admin_log(source.model, queryset)
    _anonymise(source.model, source, queryset, files=files, file_model=source.model, extra=extra)
    if ids:
        source.after_anonymise(ids)
    return SourceErasure(count, history_count)


# --- Files, after the commit ------------------------------------------------------------------


@job_handler(DELETE_FILES_JOB_KIND, label=pgettext_lazy("job kind", "Deletion of erased data's files"))
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
