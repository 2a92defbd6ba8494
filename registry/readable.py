"""Stored JSON as people read it on admin pages: a job's parameters and counts, the details of a
rights request's timeline event. Each key shows under its label where it has a natural one (else
the key itself), each value through its key's formatter (a choice's label, a date, an id as #12),
a boolean as yes or no, an object as a nested list. The stored data is left as it is."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

Formatter = Callable[[Any], str]
EMPTY = ("", None, {}, [])


def ids(value: Any) -> str:
    """An id, or a list of them, as #12, #13."""
    return ", ".join(f"#{item}" for item in (value if isinstance(value, (list, tuple)) else [value]))


def choice(choices: type[models.Choices]) -> Formatter:
    """The label of a code of ``choices``; an unknown code as it is."""
    return lambda code: str(choices(code).label) if code in choices.values else str(code)


def moment(value: Any) -> str:
    """An ISO date or date-time, in the active language's format (a date-time in local time)."""
    text = str(value)
    try:
        day = parse_date(text)  # first: parse_datetime reads a date alone as its midnight
        at = None if day else parse_datetime(text)
    except ValueError:
        return text
    if day:
        return formats.date_format(day)
    if at:
        return formats.localize(timezone.localtime(at) if timezone.is_aware(at) else at)
    return text


def language(code: Any) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


def model_names(label: Any) -> str:
    """A model given as "app.Model", by its plural name ("consent.Contact": contacts)."""
    try:
        return str(apps.get_model(str(label))._meta.verbose_name_plural)
    except (LookupError, ValueError):
        return str(label)


# What a rights request's job did to a source's records (the "action" of its counts, written by
# rights.fulfilment): the admin and the certificate show the label, the counts keep the code.
ACTION_LABELS: dict[str, Any] = {
    "exported": _("exported"),
    "anonymised": _("anonymised"),
    "erased": _("erased"),
    "deleted": _("deleted"),
    "updated": _("corrected"),
    "rectified": _("corrected"),
    "flagged": _("restricted"),
    "restricted": _("restricted"),
    "objected": _("objection recorded"),
    "withdrawn": _("consent withdrawn"),
}


def action(code: Any) -> str:
    """The label of an action code; an unknown code as it is."""
    return str(ACTION_LABELS.get(code, code))


def how_many(value: Any) -> str:
    """A count, or the length of a list (the files a job still has to delete)."""
    return str(len(value)) if isinstance(value, (list, tuple)) else str(value)


# The keys of the jobs' parameters and counts, every kind (strings only: registry imports no app).
JOB_LABELS: dict[str, Any] = {
    # parameters
    "language": _("language"),
    "include_drafts": _("drafts included"),
    "purpose": _("purpose"),
    "request_id": _("rights request"),
    "file": _("stored file"),
    "file_name": _("file name"),
    "valid_rows_only": _("valid lines only"),
    "batch_size": _("lines per batch"),
    "files": _("files"),
    "attempt": _("attempt"),
    # counts
    "changed": _("grants updated"),
    "rows": _("lines read"),
    "valid": _("valid lines"),
    "rejected": _("rejected lines"),
    "written": _("lines written"),
    "last_row": _("last line written"),
    "deleted": _("files deleted"),
    "failed": _("files not deleted"),
    "retry_job": _("retry job"),
    # what carrying out a rights request did
    "erasure": _("erasure"),
    "at": _("at"),
    "contacts": _("contacts"),
    "purpose_ids": _("purposes"),
    "sources": _("data processed"),
    "kept": _("data kept (legal obligation)"),
    "source": _("data"),
    "count": _("count"),
    "action": _("action"),
    "reason": _("reason"),
    "withdrawn": _("consents withdrawn"),
    "suppressed": _("added to a suppression list"),
}
JOB_VALUES: dict[str, Formatter] = {
    "language": language, "purpose": ids, "request_id": ids, "retry_job": ids, "contacts": ids,
    "purpose_ids": ids, "files": how_many, "at": moment, "source": model_names, "action": action,
}


def readable_html(data: Any, *, labels: Mapping[str, Any] = JOB_LABELS,
                  values: Mapping[str, Formatter] = JOB_VALUES) -> SafeString:
    """``data`` (a JSON object) as a list of "label: value", empty values left out; "" when nothing is left."""
    if not isinstance(data, Mapping):
        return conditional_escape("" if data in EMPTY else str(data))
    items = _items(data, labels, values)
    if not items:
        return SafeString("")
    return format_html('<ul class="readable-values">{}</ul>', format_html_join("", "<li>{}: {}</li>", items))


def _items(data: Mapping, labels: Mapping[str, Any], values: Mapping[str, Formatter]) -> list[tuple[str, Any]]:
    return [(str(labels.get(key, key)), _value(key, value, labels, values))
            for key, value in data.items() if value not in EMPTY]


def _value(key: str, value: Any, labels: Mapping[str, Any], values: Mapping[str, Formatter]) -> Any:
    if key in values:
        return values[key](value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Mapping):
        return readable_html(value, labels=labels, values=values)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, Mapping) for item in value):  # rows, e.g. one per data source: one line each
            rows = [format_html_join(", ", "{}: {}", _items(item, labels, values)) for item in value]
            return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((row,) for row in rows)))
        return ", ".join(str(item) for item in value)
    return str(value)
