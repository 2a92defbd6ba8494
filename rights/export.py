"""What an access (GDPR Art. 15) or portability (Art. 20) export holds, built from the data map.

Reads and pure functions only: ``rights.fulfilment.access`` runs :func:`build_export` inside the
``rights_fulfil`` job and stores :func:`export_zip`'s bytes in private storage.

**The walk.** Every source of ``registry.datamap.datamap.sources()`` is read through its own
``subject(contact)`` lookup, for every contact the request covers (``rights.selectors.request_contacts``),
and so is its simple-history table (``source.history_model``): the history rows of the subject's
records (``HistoricalContact`` rows whose ``id`` is the contact's). A many-to-many history table
(e.g. the history of a contact's categories) is a source of its own with its own lookup. Nothing
here names a table: a source declared later is exported as it is declared. Each record gives:

- ``fields``: its declared personal fields (``PersonalField.export``), each with its value, its
  data category and the purposes it serves;
- ``context``: its other columns (dates, statuses, links to the register), which describe the
  record rather than hold a category of data. Left out everywhere: the primary key (given as
  ``pk``), fields declared ``export=False`` (keyed digests), links to staff accounts (other
  people's data) and :data:`SECRET_COLUMNS`. A link to a register row is given by its natural key
  (slug, code, reference, sequence, notice hash), in one query per linked table.

**Purposes of a record and of its fields.** A source that exists for a purpose of its own declares
its slug (the rights app's sources: the register's ``rights-requests``); the contact's own records
say ``purposes=[]``, and theirs are derived from what the person's data is used for:

1. when the source declares purposes (slugs), those the register holds, for every field (a slug
   the register lacks names nothing: the rules below are for the person's data, not for these);
2. otherwise, when the record points at a purpose (a ledger event, a current consent, a notice
   of retirement), that purpose, for every field: the record exists for it;
3. otherwise, the *subject's purposes*: those of the contact's consent states and ledger events,
   and the active purposes whose data-subject categories include one of the contact's categories;
   a field serves those of them whose activity lists the field's data category in the register
   (an activity that lists no category at all is taken to use every category: an incomplete
   register must not hide a purpose from the person).

**Portability (Art. 20).** ``registry.legal_basis_rules.kind_applies(kind="portability", ...)`` — the
W3C DPV table — gives the right for consent and contract only. The portability export keeps a field
when one of its purposes rests on such a basis, and a record when it keeps one of its fields (a
record without declared fields: when one of its purposes does); sections left empty are dropped.
The consent history and receipts keep the events of those purposes. The data map does not tell
data the person provided from data derived from it, so the legal basis is the only filter; a
source that declares its purposes narrows it. The access export keeps everything, and only it
carries the PDF (``summary.pdf``).

**The ZIP.** ``data.json`` (valid against ``rights/schemas/data-export.schema.json``: one section
per source and history table; the consent history — the current choice per purpose x channel as
``consent_check`` answers it, every ledger event, the notices shown; the ISO/IEC TS 27560 receipt of
every consent transaction, as ``consent.receipts`` makes it; the Art. 15(1) information drawn from
the register), ``csv/<slug>.csv`` (one per section, named by the source's data-map slug — e.g.
``contact.csv``, ``contact-history.csv``, ``consent-events.csv`` — the same in every language; the
header holds the field names; cells protected against formula injection by the register CSV's
``excel_safe``), ``files/<name>`` (documents held in file fields: scanned
evidence, proofs) and, for access, ``summary.pdf`` (the latest PDF_LATEST_EVENTS consent events and
PDF_RECORDS_PER_SOURCE records per source; data.json holds them all).

**Language.** Every label and description the data subject reads (section titles, the data map's
descriptions, field and column labels, category and purpose names) is in the request's language
(``request.language``), whoever calls: as for the request's proofs. Keys, codes, slugs and the CSV
headers stay the same in every language (machine-readable).

**Speed.** A contact with 10,000 consent events and 1,000 history rows is exported in a few seconds
(bench/rights_export.py): a fixed number of queries whatever the number of events, rows read as
values rather than model instances, the receipts built and encoded once per group of similar
events, the cyclic garbage collector paused while millions of small objects are made.
"""
from __future__ import annotations

import gc
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.fields.files import FieldFile
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import override as translation_override

from consent import receipts
from consent.models import ConsentEvent, ConsentState, Contact
from consent.selectors import consent_check
from registry import selectors as registry_selectors
from registry.datamap import Source, datamap
from registry.exports.csv_export import excel_csv, excel_safe
from registry.legal_basis_rules import kind_applies
from registry.models import (
    Channel,
    DataCategory,
    Organisation,
    ProcessingActivity,
    Purpose,
)

from .models import Kind, RightsRequest
from .selectors import request_contacts

SCHEMA_VERSION = "1.1.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "data-export.schema.json"
PDF_TEMPLATE = "pdf/rights_access.html"
PDF_NAME = "summary.pdf"
# The PDF is for reading: the latest consent events and records only; data.json and the CSV hold them all.
PDF_LATEST_EVENTS = 50
PDF_RECORDS_PER_SOURCE = 10
PDF_VALUE_CHARS = 120
PDF_CONTEXT_CHARS = 40
# Columns never exported: a secret binding the emailed links to the request (no data about anyone).
SECRET_COLUMNS = frozenset({"link_key"})
# The columns simple-history adds to a history table: it gives them no verbose name to translate.
HISTORY_COLUMN_LABELS = {
    "history_date": gettext_lazy("date of the change"),
    "history_type": gettext_lazy("type of change"),
    "history_change_reason": gettext_lazy("reason for the change"),
    "history": gettext_lazy("change"),  # a many-to-many history row's link to its change
}
# A linked row is shown by the first of these it has (its natural key), else by its id.
NATURAL_KEYS = ("reference", "slug", "code", "sequence", "sha256")
ID_CHUNK = 2000
PORTABLE_KINDS = frozenset({Kind.PORTABILITY})


# --- What the export holds ----------------------------------------------------------------------


@dataclass
class PurposeInfo:
    """A purpose the person's data serves, as the export needs it."""

    pk: int
    slug: str
    name: str
    legal_basis: str
    portable: bool
    categories: frozenset[str] | None  # data categories its activity lists; None: lists none (uses all)
    purpose: Purpose


@dataclass
class FieldSpec:
    name: str
    label: str
    category: str
    category_label: str


@dataclass
class ColumnSpec:
    name: str  # the key in ``context`` and the CSV header
    label: str
    model_field: models.Field
    choices: dict | None
    natural: dict | None = None  # FK id -> natural key, filled once the records are read


@dataclass
class Record:
    pk: Any
    contact_id: int
    row: dict[str, Any]  # the record's columns by attname (a queryset's .values(): no model instances)
    purposes: list[str] = field(default_factory=list)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    when: Any = None  # for "latest first" in the PDF


@dataclass
class Section:
    label: str  # the model label, e.g. consent.HistoricalContact
    model: type[models.Model]
    slug: str  # the data map's, e.g. contact-history: names the CSV file in every language
    title: str
    description: str
    history_of: str | None
    declared_purposes: list[str]
    fields: list[FieldSpec]
    columns: list[ColumnSpec]
    records: list[Record] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"csv/{self.slug}.csv"


@dataclass
class ContactSummary:
    contact: Contact
    rows: list[dict[str, Any]]  # purpose x channel with the answer of consent_check


@dataclass
class Export:
    request: RightsRequest
    kind: str
    generated_at: datetime
    organisation: Organisation | None
    contacts: list[Contact]
    purposes: dict[str, PurposeInfo]  # by slug
    sections: list[Section]
    consent: dict[str, Any]  # current choices, every ledger event, the notices shown
    receipts: Receipts
    summaries: list[ContactSummary]
    information: list[dict[str, Any]]
    files: dict[str, tuple[Any, str]] = field(default_factory=dict)  # zip path -> (storage, name)

    @property
    def portable_only(self) -> bool:
        return self.kind in PORTABLE_KINDS

    def event_count(self) -> int:
        return len(self.consent["events"])

    def record_count(self) -> int:
        return sum(len(section.records) for section in self.sections)


# --- Small helpers ------------------------------------------------------------------------------


def _utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as consent.receipts writes dates (called for every date of every row)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the database's datetimes are in UTC already: the common case is quick
        if value.tzinfo is None:
            value = timezone.make_aware(value)
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def json_value(value: Any) -> Any:
    """A column's value as JSON: datetimes in UTC (ISO 8601, Z), files by their stored name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (dict, list)):
        return value
    return str(value)


def _portable(legal_basis: str) -> bool:
    try:
        return kind_applies(kind="portability", legal_basis=legal_basis)
    except ValueError:  # no legal basis entered yet: no right can be derived from it
        return False


def _chunks(values: list, size: int = ID_CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@contextmanager
def _without_gc_pauses():
    """The export allocates millions of small, acyclic objects (10,000 receipts…): the cyclic garbage
    collector would walk them all again and again, for nothing. It is off while the export is built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _in_language_of(request: RightsRequest):
    """The request's language, whoever calls (as its proofs, rights.proofs): the data subject reads
    every label and description of the export in the language of their request."""
    return translation_override(request.language or settings.LANGUAGE_CODE)


@lru_cache(maxsize=1)
def export_schema() -> dict:
    """The JSON Schema (draft 2020-12) of data.json."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def export_validator():
    """A validator of data.json; it resolves the consent receipt schema it refers to."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    receipt = receipts.receipt_schema()
    registry = Registry().with_resource(receipt["$id"], Resource.from_contents(receipt))
    return Draft202012Validator(export_schema(), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- Sections: walking the data map ---------------------------------------------------------------


def _is_user_link(model_field: models.Field) -> bool:
    return model_field.is_relation and model_field.related_model is get_user_model()


def _natural_key_name(model: type[models.Model]) -> str | None:
    names = {f.name for f in model._meta.concrete_fields}
    return next((name for name in NATURAL_KEYS if name in names), None)


def _purpose_link(model: type[models.Model]) -> str | None:
    """The attname of the record's link to a purpose, when it has one (rule 2 of the module doc)."""
    for model_field in model._meta.concrete_fields:
        if model_field.is_relation and model_field.related_model is Purpose:
            return model_field.attname
    return None


def _column_label(model_field: models.Field) -> str:
    """A column's label in the current language. A field left with Django's default verbose name (its
    name: simple-history's columns, the links of a many-to-many table, an unnamed foreign key) is
    named by HISTORY_COLUMN_LABELS, else, for a link, by the verbose name of what it points at."""
    label = str(model_field.verbose_name)
    if label != model_field.name.replace("_", " "):
        return label
    if model_field.name in HISTORY_COLUMN_LABELS:
        return str(HISTORY_COLUMN_LABELS[model_field.name])
    if model_field.is_relation and model_field.related_model is not None:
        return str(model_field.related_model._meta.verbose_name)
    return label


def _section_for(source: Source, model: type[models.Model], history_of: str | None,
                 categories: dict[str, str]) -> Section:
    present = {f.name: f for f in model._meta.concrete_fields}
    pk_name = model._meta.pk.name
    fields = []
    for name, spec in source.fields.items():
        if spec.export and name in present:
            fields.append(FieldSpec(name, _column_label(present[name]), spec.category,
                                    categories.get(spec.category, spec.category)))
    hidden = {name for name, spec in source.fields.items() if not spec.export} | SECRET_COLUMNS | {pk_name}
    declared = {f.name for f in fields}
    columns = []
    for model_field in model._meta.concrete_fields:
        name = model_field.name
        if name in hidden or name in declared or _is_user_link(model_field):
            continue
        choices = dict(model_field.flatchoices) if model_field.choices else None
        columns.append(ColumnSpec(name, _column_label(model_field), model_field, choices))
    return Section(label=model._meta.label, model=model, slug=source.slug_for(model), title=source.title_for(model),
                   description=str(source.description), history_of=history_of,
                   declared_purposes=list(source.purposes), fields=fields, columns=columns)


def _attnames(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _read_subject_records(source: Source, contacts: list[Contact]) -> dict[Any, tuple[dict, int]]:
    """The source's records for each contact, once each (the first contact that reaches it)."""
    found: dict[Any, tuple[dict, int]] = {}
    if source.subject is None:
        return found
    pk, attnames = source.model._meta.pk.attname, _attnames(source.model)
    for contact in contacts:
        for row in source.subject(contact).order_by("pk").values(*attnames):
            found.setdefault(row[pk], (row, contact.pk))
    return found


def _read_history(source: Source, found: dict[Any, tuple[dict, int]]) -> dict[Any, tuple[dict, int]]:
    """The simple-history rows of the subject's records, oldest first."""
    history = source.history_model
    pk_attname = source.model._meta.pk.attname
    history_pk, attnames = history._meta.pk.attname, _attnames(history)
    owner = {pk: contact_id for pk, (_row, contact_id) in found.items()}
    rows: dict[Any, tuple[dict, int]] = {}
    for chunk in _chunks(sorted(owner)):
        queryset = history.objects.filter(**{f"{pk_attname}__in": chunk}).order_by("history_date", "pk")
        for row in queryset.values(*attnames):
            rows[row[history_pk]] = (row, owner[row[pk_attname]])
    return rows


def _fill_natural_keys(section: Section) -> None:
    """One query per linked table: the natural key of every linked row the records point at."""
    for column in section.columns:
        model_field = column.model_field
        if not model_field.is_relation:
            continue
        related = model_field.related_model
        key = _natural_key_name(related)
        if key is None:
            continue
        ids = sorted({r.row[model_field.attname] for r in section.records} - {None})
        column.natural = {}
        for chunk in _chunks(ids):
            column.natural.update(related._default_manager.filter(pk__in=chunk).values_list("pk", key))


def _reader(model_field: models.Field, natural: dict | None = None) -> Callable[[dict], Any]:
    """A reader of one column's JSON value from a row (called for every record: 10,000 ledger events…)."""
    attname = model_field.attname
    if natural is not None:
        return lambda row: natural.get(row[attname], row[attname])
    if isinstance(model_field, models.DateTimeField):
        return lambda row: _utc(row[attname])
    if isinstance(model_field, (models.BooleanField, models.IntegerField, models.CharField, models.TextField)):
        return lambda row: row[attname]
    return lambda row: json_value(row[attname])


def _context_readers(columns: list[ColumnSpec]) -> list[tuple[str, Callable[[dict], Any]]]:
    return [(column.name, _reader(column.model_field, column.natural)) for column in columns]


# --- Purposes -------------------------------------------------------------------------------------


def _subject_purpose_ids(contacts: list[Contact]) -> dict[int, set[int]]:
    """Rule 3's purposes per contact: their consent states and events, and the active purposes
    aimed at one of their data-subject categories."""
    per_contact: dict[int, set[int]] = {c.pk: set() for c in contacts}
    for model in (ConsentState, ConsentEvent):
        rows = model.objects.filter(contact__in=contacts).values_list("contact_id", "purpose_id").distinct()
        for contact_id, purpose_id in rows:
            per_contact[contact_id].add(purpose_id)
    categories = {c.pk: {cat.pk for cat in c.data_subject_categories.all()} for c in contacts}
    wanted = set().union(*categories.values()) if categories else set()
    if wanted:
        aimed = Purpose.objects.filter(status=Purpose.Status.ACTIVE, data_subject_categories__in=wanted).values_list(
            "pk", "data_subject_categories")
        for purpose_id, category_id in aimed:
            for contact_id, mine in categories.items():
                if category_id in mine:
                    per_contact[contact_id].add(purpose_id)
    return per_contact


def _purpose_infos(purpose_ids: set[int], slugs: set[str]) -> tuple[dict[int, PurposeInfo], dict[str, PurposeInfo],
                                                                     dict[int, ProcessingActivity]]:
    """The purposes by id and by slug, and their activities with what the register says of them. A slug
    a source declares that the register does not hold (yet) names nothing: no purpose is made up."""
    purposes = list(Purpose.objects.filter(models.Q(pk__in=purpose_ids) | models.Q(slug__in=slugs))
                    .select_related("activity"))
    activity_ids = {p.activity_id for p in purposes}
    activities = {a.pk: a for a in registry_selectors.activities_for_export(include_drafts=True)
                  .filter(pk__in=activity_ids)}
    by_id, by_slug = {}, {}
    for purpose in purposes:
        activity = activities.get(purpose.activity_id)
        links = activity.data_category_links.all() if activity else []
        codes = frozenset(link.category.code for link in links)
        info = PurposeInfo(purpose.pk, purpose.slug, purpose.name, purpose.legal_basis,
                           _portable(purpose.legal_basis), codes or None, purpose)
        by_id[purpose.pk] = info
        by_slug[purpose.slug] = info
    return by_id, by_slug, activities


# --- Consent: the history, the current choices and the receipts -----------------------------------


class _Labels:
    """Action and method labels by language, looked up once each (they are asked 10,000 times)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, str] = {}

    def __call__(self, choices: type[models.TextChoices], code: str, language: str) -> str:
        key = (choices, code, language)
        if key not in self._cache:
            with translation_override(language):
                self._cache[key] = str(choices(code).label)
        return self._cache[key]


def _ledger(contacts: list[Contact], rows: list[dict[str, Any]] | None) -> list[ConsentEvent]:
    """Every ledger event of the contacts, in ledger order, with its notice (what its proof needs).

    ``rows`` are the events the walk of the data map already read (the ConsentEvent source's rows, all
    columns): they become model instances without reading and parsing 10,000 rows a second time."""
    if rows is None:
        return list(ConsentEvent.objects.filter(contact__in=contacts).select_related("notice").order_by("sequence"))
    from consent.models import Notice

    attnames = _attnames(ConsentEvent)
    notices = {n.pk: n for n in Notice.objects.filter(pk__in={row["notice_id"] for row in rows} - {None})}
    notice_field = ConsentEvent._meta.get_field("notice")
    database = ConsentEvent.objects.db
    events = []
    for row in sorted(rows, key=lambda row: row["sequence"]):
        event = ConsentEvent.from_db(database, attnames, [row[name] for name in attnames])
        notice_field.set_cached_value(event, notices.get(row["notice_id"]))
        events.append(event)
    return events


# What belongs to each event in a receipt; the rest is the same for every event of a group.
RECEIPT_EVENT_KEYS = ("receipt_id", "event_id", "timestamp", "recorded_at", "collection_method",
                      "collection_method_label", "collection_form")
PURPOSE_EVENT_KEYS = ("action", "action_label", "expires_at", "termination", "proof")


@dataclass
class Receipts:
    """The receipts in ledger order, the group template each was made from (see :func:`_receipts`)."""

    items: list[dict[str, Any]]
    templates: list[dict[str, Any]]
    template_of: list[int]  # for each item, the index of its template

    def keep(self, wanted: list[bool]) -> Receipts:
        pairs = [(item, index) for item, index, keep in zip(self.items, self.template_of, wanted) if keep]
        return Receipts([item for item, _i in pairs], self.templates, [index for _item, index in pairs])


def _receipts(events: list[ConsentEvent], organisation: Organisation | None, labels: _Labels) -> Receipts:
    """The receipt of every event: exactly ``consent.receipts.receipt_json(event=...)`` of each, in ledger order.

    ``receipt_json`` reads the register again for each event (seconds for 10,000 events), so the
    receipt is built by ``consent.receipts`` once per contact x purpose x version x channel x notice,
    and the other events of that group take its register part and change only what belongs to the
    event itself (RECEIPT_EVENT_KEYS, PURPOSE_EVENT_KEYS). tests/rights/test_export.py compares every
    receipt with receipt_json's, so a field added to receipts shows up there."""
    from consent.models import Action, Method
    from consent.state import apply_event

    groups: dict[tuple, list[ConsentEvent]] = {}
    for event in events:
        key = (event.contact_id, event.purpose_id, event.purpose_version, event.channel_id, event.notice_id)
        groups.setdefault(key, []).append(event)
    firsts = [group[0].pk for group in groups.values()]
    loaded = {e.pk: e for e in receipts._events_with_register(ConsentEvent.objects.filter(pk__in=firsts))}
    versions = receipts._purpose_versions((e.purpose_id, e.purpose_version) for e in loaded.values())
    templates: list[dict[str, Any]] = []
    by_event: dict[int, tuple[dict[str, Any], int]] = {}
    for group in groups.values():
        first = loaded[group[0].pk]
        language = receipts._receipt_language(first)
        template = receipts._build_receipt(first, organisation,
                                           versions.get((first.purpose_id, first.purpose_version)), language)
        index = len(templates)
        templates.append(template)
        by_event[first.pk] = (template, index)
        entry = template["purposes"][0]
        validity = first.purpose.consent_validity_months
        for event in group[1:]:
            after = apply_event(None, event, validity_months=validity)
            own = {
                "receipt_id": receipts.receipt_id(event=event),
                "event_id": event.pk,
                "timestamp": receipts._utc(event.effective_at),
                "recorded_at": receipts._utc(event.recorded_at),
                "collection_method": event.method,
                "collection_method_label": labels(Method, event.method, language),
                "collection_form": event.collection_form,
            }
            event.purpose = first.purpose  # the register rows the termination reads, loaded once
            with translation_override(language):
                termination = receipts._termination(event, validity, after.expires_at if after is not None else None)
            own_purpose = {
                "action": event.action,
                "action_label": labels(Action, event.action, language),
                "expires_at": receipts._utc(after.expires_at) if after is not None else None,
                "termination": termination,
                "proof": receipts._proof(event),
            }
            by_event[event.pk] = ({**template, **own, "purposes": [{**entry, **own_purpose}]}, index)
    pairs = [by_event[event.pk] for event in events]
    return Receipts([receipt for receipt, _i in pairs], templates, [index for _receipt, index in pairs])


def _receipts_text(receipts_set: Receipts) -> str:
    """``json.dumps(receipts_set.items)``, made faster: each template is encoded once with tokens where the
    event's own values go, and each receipt fills in its values (a random nonce keeps the tokens apart
    from any real value). 10,000 receipts are 80 MB of JSON that is mostly the same few register parts."""
    nonce = secrets.token_hex(8)
    split = re.compile(f'"@{nonce}#([a-z_]+)@"')
    outer_keys = frozenset(RECEIPT_EVENT_KEYS)
    forms = []
    for template in receipts_set.templates:
        slim = {key: (f"@{nonce}#{key}@" if key in outer_keys else value) for key, value in template.items()}
        slim["purposes"] = [{key: (f"@{nonce}#{key}@" if key in PURPOSE_EVENT_KEYS else value)
                             for key, value in template["purposes"][0].items()}]
        parts = split.split(_dumps(slim))
        forms.append((parts[0], list(zip(parts[1::2], parts[2::2]))))
    encoded = []
    for receipt, index in zip(receipts_set.items, receipts_set.template_of):
        head, rest = forms[index]
        entry = receipt["purposes"][0]
        pieces = [head]
        for key, literal in rest:
            pieces.append(_dumps_value(receipt[key] if key in outer_keys else entry[key]))
            pieces.append(literal)
        encoded.append("".join(pieces))
    return "[" + ",".join(encoded) + "]"


def _history(events: list[ConsentEvent], receipt_items: list[dict[str, Any]], by_id: dict[int, PurposeInfo],
             channels: dict[int, str], labels: _Labels) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every event in ledger order, the notices they showed), labels in the current language."""
    from consent.models import Action, Method

    language = get_language() or settings.LANGUAGE_CODE
    rows, notices = [], {}
    for event, receipt in zip(events, receipt_items, strict=True):
        notice = event.notice.sha256 if event.notice_id else None
        if notice and notice not in notices:
            notices[notice] = {"sha256": notice, "language": event.notice.language, "text": event.notice.text}
        rows.append({
            "contact_id": event.contact_id,
            "event_id": event.pk,
            "sequence": event.sequence,
            "receipt_id": receipt["receipt_id"],
            "timestamp": _utc(event.effective_at),
            "recorded_at": _utc(event.recorded_at),
            "purpose": by_id[event.purpose_id].slug,
            "purpose_version": event.purpose_version,
            "channel": channels[event.channel_id],
            "action": event.action,
            "action_label": labels(Action, event.action, language),
            "method": event.method,
            "method_label": labels(Method, event.method, language),
            "collection_form": event.collection_form,
            "notice": notice,
            "hash": event.hash,
        })
    return rows, list(notices.values())


def _current(summaries: list[ContactSummary]) -> list[dict[str, Any]]:
    return [{
        "contact_id": summary.contact.pk,
        "purpose": row["purpose"].slug,
        "channel": row["channel"].code,
        "status": row["check"].status,
        "status_label": row["status_label"],
        "allowed": row["check"].allowed,
        "reason": row["check"].reason,
        "regime": row["check"].regime,
        "since": _utc(row["check"].since),
        "expires_at": _utc(row["check"].expires_at),
    } for summary in summaries for row in summary.rows]


def _summary(contact: Contact, purpose_ids: set[int], by_id: dict[int, PurposeInfo],
             now: datetime) -> ContactSummary:
    """The person's data per purpose x channel: their consent states, and the channels of the purposes
    aimed at them, each with the answer of consent_check (status, since when, may we reach them)."""
    pairs: dict[tuple[int, int], tuple[Purpose, Any]] = {}
    for state in ConsentState.objects.filter(contact=contact).select_related("purpose", "channel").order_by(
            "purpose__position", "purpose__slug", "channel__position", "channel__code"):
        pairs[(state.purpose_id, state.channel_id)] = (state.purpose, state.channel)
    aimed = Purpose.objects.filter(pk__in=purpose_ids, status=Purpose.Status.ACTIVE).prefetch_related(
        "channels").order_by("position", "slug")
    for purpose in aimed:
        for channel in purpose.channels.all():
            pairs.setdefault((purpose.pk, channel.pk), (purpose, channel))
    rows = []
    for (purpose_id, _channel_id), (purpose, channel) in pairs.items():
        check = consent_check(contact=contact, purpose=purpose, channel=channel, now=now)
        info = by_id.get(purpose_id)
        rows.append({
            "purpose": purpose, "channel": channel, "check": check,
            "legal_basis": purpose.get_legal_basis_display() if purpose.legal_basis else "",
            "status_label": _status_label(check.status),
            "portable": info.portable if info else False,
        })
    return ContactSummary(contact, rows)


def _status_label(status: str) -> str:
    from consent.models import Action

    return str(Action(status).label) if status in Action.values else _("No choice recorded")


# --- Art. 15(1) information -----------------------------------------------------------------------


def _transfer_safeguard(transfer) -> str:
    if transfer.safeguard is not None:
        text = transfer.safeguard.label
        if not transfer.safeguard.is_valid:
            text = _("%(safeguard)s (no longer valid)") % {"safeguard": text}
        return text
    if not registry_selectors.transfer_needs_safeguard(transfer=transfer):
        return str(transfer.country.get_adequacy_display())
    return _("No safeguard recorded")


def _information(infos: list[PurposeInfo], activities: dict[int, ProcessingActivity]) -> list[dict[str, Any]]:
    """What Art. 15(1)(a)-(h) asks, per purpose the person's data serves, from the register."""
    out = []
    for info in infos:
        purpose = info.purpose
        activity = activities.get(purpose.activity_id)
        links = list(activity.data_category_links.all()) if activity else []
        out.append({
            "slug": purpose.slug,
            "name": purpose.name,
            "activity": {"reference": purpose.activity.reference, "name": purpose.activity.shown_name},
            "status": purpose.status,
            "legal_basis": {"code": purpose.legal_basis, "dpv": purpose.legal_basis_dpv,
                            "label": purpose.get_legal_basis_display() if purpose.legal_basis else ""},
            "legitimate_interest": purpose.shown_legitimate_interest,
            "direct_marketing": purpose.direct_marketing,
            "portable": info.portable,
            "data_categories": [link.shown_data() for link in links],
            "recipients": [{"name": r.name, "type": r.recipient_type.label,
                            "country": r.country.label if r.country else ""}
                           for r in (activity.recipients.all() if activity else [])],
            "processors": [{"name": p.name, "service": p.service, "country": p.country.label if p.country else ""}
                           for p in (activity.processors.all() if activity else [])],
            "transfers": [{"recipient": t.recipient_name, "country": t.country.label,
                           "safeguard": _transfer_safeguard(t)}
                          for t in sorted(activity.transfers.all(), key=lambda t: t.pk)] if activity else [],
            "retention": purpose.shown_retention,
        })
    return out


def rights_information() -> list[dict[str, str]]:
    """The rights the person has (Art. 15(1)(e)-(f)), in the current language."""
    return [
        {"code": "rectification", "article": "16",
         "text": _("Have inaccurate data corrected and incomplete data completed.")},
        {"code": "erasure", "article": "17",
         "text": _("Have your data erased, unless the law requires us to keep it.")},
        {"code": "restriction", "article": "18", "text": _("Have the processing of your data restricted while a "
                                                          "dispute about it is settled.")},
        {"code": "objection", "article": "21", "text": _("Object to a processing based on our legitimate interests, "
                                                        "and at any time to direct marketing.")},
        {"code": "portability", "article": "20", "text": _("Receive the data you provided, processed on the basis of "
                                                          "your consent or of a contract, in a machine-readable "
                                                          "format, or have it sent to another organisation.")},
        {"code": "withdrawal", "article": "7(3)", "text": _("Withdraw a consent at any time, as easily as you gave "
                                                           "it; what was done before stays lawful.")},
        {"code": "complaint", "article": "77", "text": _("You have the right to lodge a complaint with the CNIL "
                                                        "(Commission nationale de l'informatique et des libertés, "
                                                        "3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, "
                                                        "www.cnil.fr).")},
    ]


# --- Building ------------------------------------------------------------------------------------


def build_export(*, request: RightsRequest, kind: str | None = None,
                 report: Callable[[int], None] | None = None) -> Export:
    """Everything the export of ``request`` holds, for ``kind`` (access or portability; default the
    request's kind), labels in the request's language. Reads only."""
    with _without_gc_pauses(), _in_language_of(request):
        return _build_export(request=request, kind=kind, report=report)


def _build_export(*, request: RightsRequest, kind: str | None,
                  report: Callable[[int], None] | None) -> Export:
    kind = kind or request.kind
    if kind not in (Kind.ACCESS, Kind.PORTABILITY):
        raise ValueError(f"no export for requests of kind {kind!r}")
    report = report or (lambda percent: None)
    now = timezone.now()
    organisation = registry_selectors.organisation_get()
    contacts = list(request_contacts(request=request).prefetch_related("data_subject_categories").order_by("pk"))
    subject_purposes = _subject_purpose_ids(contacts)
    categories = {c.code: c.label for c in DataCategory.objects.all()}
    report(5)

    # 1. Read every source and its history, for every contact.
    sources = datamap.sources()
    event_rows: list[dict[str, Any]] | None = None
    sections: list[Section] = []
    for index, source in enumerate(sources):
        found = _read_subject_records(source, contacts)
        section = _section_for(source, source.model, None, categories)
        section.records = [Record(pk, contact_id, row) for pk, (row, contact_id) in found.items()]
        sections.append(section)
        if source.model is ConsentEvent:  # the ledger, read once: the consent history and receipts reuse it
            event_rows = [record.row for record in section.records]
        if source.history_model is not None:
            history = _section_for(source, source.history_model, source.label, categories)
            history.records = [Record(pk, contact_id, row, when=row["history_date"])
                               for pk, (row, contact_id) in _read_history(source, found).items()]
            sections.append(history)
        report(5 + int(45 * (index + 1) / max(1, len(sources))))

    # 2. The purposes: the subject's, those the records point at, those the sources declare.
    purpose_ids = set().union(*subject_purposes.values()) if subject_purposes else set()
    declared = {slug for section in sections for slug in section.declared_purposes}
    for section in sections:
        link = _purpose_link(section.model)
        if link:
            purpose_ids |= {r.row[link] for r in section.records} - {None}
    by_id, by_slug, activities = _purpose_infos(purpose_ids, declared)

    # 3. Fields with their purposes, context, portability.
    files: dict[str, tuple[Any, str]] = {}
    portable_only = kind in PORTABLE_KINDS
    for section in sections:
        _fill_natural_keys(section)
        _resolve_section(section, by_id, by_slug, subject_purposes, portable_only)
        _collect_files(section, files)
    if portable_only:
        sections = [s for s in sections if s.records]
    report(60)

    # 4. Consent: every ledger event, the current choices, the receipt of each transaction.
    def portable(purpose_id: int) -> bool:
        info = by_id.get(purpose_id)
        return bool(info and info.portable)

    labels = _Labels()
    events = _ledger(contacts, event_rows)
    receipt_set = _receipts(events, organisation, labels)
    if portable_only:
        wanted = [portable(event.purpose_id) for event in events]
        events = [event for event, keep in zip(events, wanted) if keep]
        receipt_set = receipt_set.keep(wanted)
    channels = dict(Channel.objects.values_list("pk", "code"))
    history, notices = _history(events, receipt_set.items, by_id, channels, labels)
    summaries = [_summary(contact, subject_purposes[contact.pk], by_id, now) for contact in contacts]
    if portable_only:
        for summary in summaries:
            summary.rows = [row for row in summary.rows if row["portable"]]
    consent = {"current": _current(summaries), "events": history, "notices": notices}
    report(75)

    used = sorted({slug for section in sections for record in section.records for slug in record.purposes},
                  key=lambda slug: (by_slug[slug].purpose.activity.reference, slug))
    infos = [by_slug[slug] for slug in used]
    return Export(request=request, kind=kind, generated_at=now, organisation=organisation, contacts=contacts,
                  purposes={info.slug: info for info in infos}, sections=sections, consent=consent,
                  receipts=receipt_set, summaries=summaries,
                  information=_information(infos, activities), files=files)


def _resolve_section(section: Section, by_id: dict[int, PurposeInfo], by_slug: dict[str, PurposeInfo],
                     subject_purposes: dict[int, set[int]], portable_only: bool) -> None:
    """Each record's purposes, its fields (value, category, purposes) and context; for portability,
    only what a consent or contract purpose covers (see the module doc)."""
    link = _purpose_link(section.model)
    cache: dict[tuple, tuple[list[str], dict[str, list[str]]]] = {}

    def purposes_of(record: Record) -> tuple[list[str], dict[str, list[str]]]:
        if section.declared_purposes:
            key: tuple = ("declared",)
            infos = [by_slug[slug] for slug in section.declared_purposes if slug in by_slug]
            filtered = False
        elif link and record.row[link] is not None:
            key = ("record", record.row[link])
            infos = [by_id[key[1]]] if key[1] in by_id else []
            filtered = False
        else:
            key = ("subject", record.contact_id)
            infos = sorted((by_id[pk] for pk in subject_purposes.get(record.contact_id, ()) if pk in by_id),
                           key=lambda info: info.slug)
            filtered = True
        if key not in cache:
            if portable_only:
                infos = [info for info in infos if info.portable]
            per_field = {}
            for spec in section.fields:
                per_field[spec.name] = [info.slug for info in infos
                                        if not filtered or info.categories is None or spec.category in info.categories]
            cache[key] = ([info.slug for info in infos], per_field)
        return cache[key]

    readers = [(spec.name, spec.category, _reader(section.model._meta.get_field(spec.name)))
               for spec in section.fields]
    context_readers = _context_readers(section.columns)
    kept = []
    for record in section.records:
        purposes, per_field = purposes_of(record)
        record.purposes = purposes
        row = record.row
        fields = record.fields
        for name, category, read in readers:
            if portable_only and not per_field[name]:
                continue
            fields[name] = {"value": read(row), "category": category, "purposes": per_field[name]}
        if portable_only and not (fields or (not section.fields and purposes)):
            continue
        record.context = {name: read(row) for name, read in context_readers}
        kept.append(record)
    if portable_only:
        section.fields = [spec for spec in section.fields if any(spec.name in r.fields for r in kept)]
    section.records = kept


def _collect_files(section: Section, files: dict[str, tuple[Any, str]]) -> None:
    """The documents the records hold in file fields (scanned evidence, proofs…), copied into the ZIP."""
    declared = {spec.name for spec in section.fields}
    file_fields = [f for f in section.model._meta.concrete_fields if isinstance(f, models.FileField)]
    for record in section.records:
        for model_field in file_fields:
            if model_field.name in declared:
                name = record.fields.get(model_field.name, {}).get("value")
            else:
                name = record.context.get(model_field.name)
            if name:
                files.setdefault(f"files/{name}", (model_field.storage, name))


# --- data.json, CSV, PDF, ZIP -----------------------------------------------------------------------


def _controller(organisation: Organisation | None) -> dict[str, Any] | None:
    if organisation is None:
        return None
    town = f"{organisation.postal_code} {organisation.city}".strip()
    dpo_town = f"{organisation.dpo_postal_code} {organisation.dpo_city}".strip()
    return {
        "name": organisation.name,
        "address": ", ".join(filter(None, [organisation.address, town, organisation.country])),
        "email": organisation.email,
        "phone": organisation.phone,
        "siren": organisation.siren,
        "dpo": {"name": organisation.dpo_name, "company": organisation.dpo_company, "email": organisation.dpo_email,
                "phone": organisation.dpo_phone,
                "address": ", ".join(filter(None, [organisation.dpo_address, dpo_town]))},
    }


def _section_json(section: Section) -> dict[str, Any]:
    return {
        "source": section.label,
        "slug": section.slug,
        "csv": section.file_name,
        "label": section.title,
        "description": section.description,
        "history_of": section.history_of,
        "declared_purposes": section.declared_purposes,
        "fields": [{"name": f.name, "label": f.label, "category": {"code": f.category, "label": f.category_label},
                    "purposes": sorted({slug for r in section.records for slug in r.fields.get(f.name, {}).get(
                        "purposes", ())})}
                   for f in section.fields],
        "context_columns": [{"name": c.name, "label": c.label} for c in section.columns],
        "count": len(section.records),
        "records": [{"pk": json_value(r.pk), "contact_id": r.contact_id, "purposes": r.purposes, "fields": r.fields,
                     "context": r.context} for r in section.records],
    }


def data_json(export: Export) -> dict[str, Any]:
    """data.json as a dict (valid against :func:`export_schema`), in the request's language."""
    with _in_language_of(export.request):
        return _data_json(export)


def _data_json(export: Export) -> dict[str, Any]:
    request = export.request
    return {
        "meta": {
            "schema_version": SCHEMA_VERSION,
            "kind": export.kind,
            "request_reference": request.reference,
            "generated_at": _utc(export.generated_at),
            "language": get_language() or settings.LANGUAGE_CODE,
            "controller": _controller(export.organisation),
            "scope": (_("The data you provided that we process on the basis of your consent or of a contract "
                        "(GDPR Art. 20).") if export.portable_only
                      else _("All the personal data we hold about you (GDPR Art. 15).")),
            "generator": "DPO Desk",
        },
        "subjects": [{"contact_id": c.pk} for c in export.contacts],
        "purposes": [{"slug": info.slug, "name": info.name, "legal_basis": info.legal_basis,
                      "portable": info.portable} for info in export.purposes.values()],
        "sources": [_section_json(section) for section in export.sections],
        "consent": export.consent,
        "consent_receipts": export.receipts.items,
        "information": {
            "purposes": export.information,
            "collection": [{"contact_id": c.pk, "source": c.source, "collected_at": _utc(c.collected_at)}
                           for c in export.contacts],
            "rights": rights_information(),
        },
        "files": sorted(export.files),
    }


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    """data.json's encoding: UTF-8 text, compact (a machine-readable file of tens of megabytes)."""
    return _ENCODER.encode(value)


def _dumps_value(value: Any) -> str:
    """_dumps, with a shortcut for the scalars a receipt's own values mostly are."""
    if type(value) is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    return _ENCODER.encode(value)


def data_json_text(export: Export) -> str:
    """data.json as text: exactly ``_dumps(data_json(export))``, with the receipts
    encoded by :func:`_receipts_text` (most of the file, and of the time, otherwise)."""
    with _without_gc_pauses():
        data = data_json(export)
        placeholder = f"@{secrets.token_hex(8)}#receipts@"
        data["consent_receipts"] = placeholder
        return _dumps(data).replace(f'"{placeholder}"', _receipts_text(export.receipts), 1)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _csv_cell(value: Any) -> str:
    """A CSV cell: strings go through the register CSV's excel_safe (formula injection), others as text."""
    if type(value) is str:
        return excel_safe(value) if value else value
    if type(value) is int or value is None:
        return "" if value is None else str(value)
    return excel_safe(_cell(value))


def section_csv(section: Section) -> bytes:
    """One row per record: pk, the declared fields, the context columns, the purposes. Written as the
    register's CSV is (``excel_csv``: ";" separator, UTF-8 with BOM for Excel; formula triggers neutralised)."""
    def row(record) -> list[str]:
        values = [record.pk, record.contact_id]
        values += [record.fields[f.name]["value"] if f.name in record.fields else "" for f in section.fields]
        values += [record.context.get(c.name) for c in section.columns]
        values.append(" ".join(record.purposes))
        return [_csv_cell(value) for value in values]

    header = ["pk", "contact_id", *(f.name for f in section.fields), *(c.name for c in section.columns), "purposes"]
    return excel_csv([header, *(row(record) for record in section.records)])


def _display(value: Any, choices: dict | None = None) -> str:
    if choices and value in choices:
        return str(choices[value])
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    text = _cell(value)
    return text if len(text) <= PDF_VALUE_CHARS else text[:PDF_VALUE_CHARS - 1] + "…"


def _pdf_value(record: Record, model_field: models.Field, value: Any, choices: dict | None = None) -> str:
    """A value as the summary shows it: dates as the request's language writes them (local time),
    choices by their label; data.json keeps the ISO 8601 values and the codes."""
    if isinstance(model_field, (models.DateTimeField, models.DateField)):
        raw = record.row[model_field.attname]
        if not raw:
            return ""
        if isinstance(model_field, models.DateTimeField):
            return date_format(timezone.localtime(raw), "SHORT_DATETIME_FORMAT")
        return date_format(raw, "DATE_FORMAT")
    return _display(value, choices)


def _pdf_legend(export: Export, section: Section) -> list[dict[str, Any]]:
    """The section's fields grouped by data category and purposes: "Email, Phone — contact details — A, B"."""
    groups: dict[tuple, list[str]] = {}
    for spec in section.fields:
        slugs = sorted({slug for r in section.records for slug in r.fields.get(spec.name, {}).get("purposes", ())})
        groups.setdefault((spec.category_label, tuple(slugs)), []).append(str(capfirst(spec.label)))
    return [{"fields": labels, "category": category,
             "purposes": [export.purposes[s].name for s in slugs if s in export.purposes]}
            for (category, slugs), labels in groups.items()]


def _pdf_sections(export: Export) -> list[dict[str, Any]]:
    """Per section: a legend (categories and purposes of its fields) and the latest records, each on one
    line of "label value" pairs; a history row shows only what changed since the previous one. Context
    values longer than PDF_CONTEXT_CHARS (hashes, JSON) are left to data.json: the PDF is for reading."""
    out = []
    for section in export.sections:
        model_fields = {spec.name: section.model._meta.get_field(spec.name) for spec in section.fields}
        previous: dict[Any, dict[str, Any]] = {}
        changes: dict[Any, set[str]] = {}
        if section.history_of:  # oldest first, per original record: what each row changed
            for record in sorted(section.records, key=lambda r: (r.when.timestamp() if r.when else 0, r.pk)):
                origin = record.context.get("id")
                values = {name: entry["value"] for name, entry in record.fields.items()}
                values.update(record.context)
                before = previous.get(origin)
                changes[record.pk] = (set(values) if before is None
                                      else {k for k, v in values.items() if before.get(k) != v})
                previous[origin] = values
        latest = sorted(section.records, key=lambda r: (r.when.timestamp() if r.when else 0, r.pk),
                        reverse=True)[:PDF_RECORDS_PER_SOURCE]
        rows = []
        for record in latest:
            shown = changes.get(record.pk)
            values = [{"label": f.label, "value": _pdf_value(record, model_fields[f.name],
                                                             record.fields[f.name]["value"])}
                      for f in section.fields
                      if f.name in record.fields and record.fields[f.name]["value"] not in (None, "")
                      and (shown is None or f.name in shown)]
            context = []
            for column in section.columns:
                value = record.context.get(column.name)
                if value in (None, "", [], {}) or isinstance(value, (dict, list)):
                    continue
                if shown is not None and column.name not in shown and not column.name.startswith("history_"):
                    continue
                text = _pdf_value(record, column.model_field, value, column.choices)
                if len(text) <= PDF_CONTEXT_CHARS:
                    context.append({"label": column.label, "value": text})
            rows.append({"pk": record.pk,
                         "values": " · ".join(f"{capfirst(v['label'])}: {v['value']}" for v in values),
                         "context": " · ".join(f"{capfirst(v['label'])}: {v['value']}" for v in context)})
        out.append({"section": section, "legend": _pdf_legend(export, section), "rows": rows,
                    "count": len(section.records), "truncated": len(section.records) > PDF_RECORDS_PER_SOURCE})
    return out


def export_pdf(export: Export) -> bytes:
    """The human-readable summary (A4, in the request's language): controller and DPO, the data per
    purpose x channel, the latest consent events, the records of each source (each with the name of its
    CSV file), the Art. 15(1) information."""
    with _in_language_of(export.request):
        return _export_pdf(export)


def _export_pdf(export: Export) -> bytes:
    from weasyprint import HTML  # heavy import: only where a PDF is made
    from weasyprint.urls import URLFetcher

    sections = _pdf_sections(export)
    latest = list(ConsentEvent.objects.filter(contact__in=export.contacts).select_related("purpose", "channel")
                  .order_by("-effective_at", "-sequence")[:PDF_LATEST_EVENTS])
    html = render_to_string(PDF_TEMPLATE, {
        "export": export,
        "request": export.request,
        "organisation": export.organisation,
        "generated_at": timezone.localtime(export.generated_at),
        "summaries": export.summaries,
        "latest_events": latest,
        "event_total": export.event_count(),
        "latest_limit": PDF_LATEST_EVENTS,
        "sections": sections,
        "empty_sections": [item for item in sections if not item["rows"]],
        "records_limit": PDF_RECORDS_PER_SOURCE,
        "information": export.information,
        "rights": rights_information(),
    })
    # No resource comes from a URL (as for the register and the receipts): system fonts, inline styles.
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set())).write_pdf()


def export_zip(export: Export, *, pdf: bool | None = None) -> bytes:
    """The ZIP the requester downloads: data.json, one CSV per section, the files, and for access the PDF."""
    pdf = (not export.portable_only) if pdf is None else pdf
    stamp = timezone.localtime(export.generated_at).timetuple()[:6]
    buffer = io.BytesIO()
    with _without_gc_pauses(), zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, content: bytes) -> None:
            # Level 1: speed over size (data.json still shrinks about tenfold); the archive lives a few days.
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, compress_type=zipfile.ZIP_DEFLATED,
                             compresslevel=1)

        add("data.json", data_json_text(export).encode("utf-8"))
        for section in export.sections:
            add(section.file_name, section_csv(section))
        for path, (storage, name) in sorted(export.files.items()):
            try:
                with storage.open(name, "rb") as handle:
                    add(path, handle.read())
            except (FileNotFoundError, OSError):
                continue  # deleted meanwhile (e.g. an erased document): data.json still names it
        if pdf:
            add(PDF_NAME, export_pdf(export))
    return buffer.getvalue()


def export_file_name(export: Export) -> str:
    return f"{export.request.reference}-{export.kind}.zip"


__all__ = [
    "Export",
    "build_export",
    "data_json",
    "export_pdf",
    "export_schema",
    "export_validator",
    "export_zip",
    "rights_information",
    "section_csv",
]
