"""Import contacts and their consents from an existing CSV file, as a ``consent_import`` job.

Two passes. :func:`validate_rows` reads the whole file and checks every line without writing
anything: a consent without a date or a method of collection is rejected (a consent you cannot
date and explain is no proof), as is anything ``consent_record`` would refuse. Then, unless the
job says ``valid_rows_only``, nothing is written when one line is rejected. :func:`write_rows`
appends the valid lines in batches, each batch one transaction (the ledger's append lock is held
for one batch only, so API writes wait at most that long), and stores ``counts["last_row"]`` in the
same transaction: a job that stops resumes after its last committed line, and the idempotency key
``import:<job>:<line>`` makes a replayed line return its first event instead of a second one.

The per-line report (CSV: line, status, reason, label) is the job's output file. Its header and
the ``status`` codes stay the same in every language (the ``import_consents`` command and scripts
read them); ``reason`` and ``label`` (the status in words) are in the job's language
(``params["language"]``, else the active one: LANGUAGE_CODE in a worker), as are the job's error and the file-level errors.
"""
from __future__ import annotations

import csv
import io
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import get_language, override, pgettext_lazy

from registry.job_kinds import ProgressReporter, job_handler
from registry.models import Channel, Job, LegalBasis, Purpose
from registry.queries import in_values

from . import selectors
from .csvfiles import decode, detect_delimiter
from .models import Action, ConsentEvent, Method
from .normalise import normalise_email, normalise_phone
from .services import CLOCK_TOLERANCE, EARLIEST_EFFECTIVE_AT

JOB_KIND = "consent_import"
COLUMNS = ("email", "phone", "first_name", "last_name", "purpose", "channel", "status", "date", "method", "source")
REQUIRED_COLUMNS = ("purpose", "channel", "status", "date", "method")
IMPORT_ACTIONS = (Action.GRANTED, Action.REFUSED, Action.WITHDRAWN, Action.OBJECTED)
CONSENT_IMPORT_ACTIONS = {Action.GRANTED, Action.REFUSED, Action.WITHDRAWN}
# Methods only DPO Desk itself writes (expiry, lapse, erasure) or that need a pending double
# opt-in in this ledger: a file cannot claim them. Every other method is a way of collecting.
NOT_IMPORTABLE_METHODS = {Method.EXPIRY, Method.REGISTER_CHANGE, Method.ERASURE, Method.DOUBLE_OPT_IN}
IMPORT_METHODS = tuple(m for m in Method.values if m not in NOT_IMPORTABLE_METHODS)
DEFAULT_BATCH_SIZE = 500  # about 0.1 s of the append lock a batch at ~5,000 events/s
NAIVE_TIMEZONE = ZoneInfo("Europe/Paris")
CLOCK_TOLERANCE_SECONDS = CLOCK_TOLERANCE.total_seconds()
MAX_LENGTHS = {"first_name": 150, "last_name": 150, "source": 255}

STATUS_WRITTEN = "written"
STATUS_REJECTED = "rejected"
STATUS_NOT_WRITTEN = "not written"
STATUS_VALID = "valid"
# In context: the status of a line of the file (feminine in French, "ligne").
STATUS_LABELS = {STATUS_WRITTEN: pgettext_lazy("import line", "written"),
                 STATUS_REJECTED: pgettext_lazy("import line", "rejected"),
                 STATUS_NOT_WRITTEN: pgettext_lazy("import line", "not written"),
                 STATUS_VALID: pgettext_lazy("import line", "valid")}
REPORT_COLUMNS = ("line", "status", "reason", "label")


@dataclass
class ImportRow:
    line: int
    email: str
    phone: str
    first_name: str
    last_name: str
    purpose: Purpose
    channel: Channel
    action: str
    method: str
    effective_at: datetime
    source: str


@dataclass
class Validation:
    rows: int = 0
    valid: list[ImportRow] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)  # line -> reason
    file_error: str = ""


# --- Reading ------------------------------------------------------------------------------


# The French form as spreadsheets write it, read without strptime (~20 µs a value); anything
# else, or an impossible date, goes through the patterns below, which say what is wrong.
_FRENCH_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?\Z", re.ASCII)


def _french_date(value: str) -> datetime | None:
    match = _FRENCH_DATE.match(value)
    if match is None:
        return None
    day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None


def parse_date(value: str) -> datetime:
    """ISO 8601 (date or date-time) or dd/mm/yyyy [HH:MM[:SS]]; naive values are Europe/Paris."""
    value = value.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = _french_date(value)
    if parsed is None:
        for pattern in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
            try:
                parsed = datetime.strptime(value, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        try:
            parsed = datetime.combine(date.fromisoformat(value), time())
        except ValueError:
            raise ValueError(_("unreadable date %(value)s (expected ISO 8601 or dd/mm/yyyy [HH:MM])")
                             % {"value": repr(value)}) from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=NAIVE_TIMEZONE)
    return parsed


def read_records(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(normalised header, [(line number, record)]); blank lines are skipped."""
    first_line = text.splitlines()[0] if text.strip() else ""
    reader = csv.reader(io.StringIO(text), delimiter=detect_delimiter(first_line))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        return [], []
    records = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        record = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(header) if name}
        if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
            record["__extra__"] = "1"
        records.append((reader.line_num, record))
    return header, records


# --- Validation (no writes) ---------------------------------------------------------------


class _Lookups:
    """Purposes and channels read once per file."""

    def __init__(self) -> None:
        self.purposes: dict[str, Purpose | None] = {}
        self.channels = {channel.code: channel for channel in Channel.objects.all()}
        self.purpose_channels: dict[int, set[int]] = {}

    def purpose(self, slug: str) -> Purpose | None:
        if slug not in self.purposes:
            purpose = Purpose.objects.filter(slug=slug).first()
            self.purposes[slug] = purpose
            if purpose is not None:
                self.purpose_channels[purpose.pk] = set(purpose.channels.values_list("pk", flat=True))
        return self.purposes[slug]


def _row_errors(record: dict[str, str], lookups: _Lookups, now: datetime) -> tuple[list[str], dict[str, Any]]:
    errors: list[str] = []
    values: dict[str, Any] = {}
    if record.get("__extra__"):
        errors.append(_("more values than columns"))
    if not record.get("date"):
        errors.append(_("no date of collection: a consent that cannot be dated is no proof"))
    if not record.get("method"):
        errors.append(_("no method of collection: a consent that cannot be explained is no proof"))
    for name, normalise in (("email", normalise_email), ("phone", normalise_phone)):
        try:
            values[name] = normalise(record.get(name, ""))
        except ValidationError as exc:
            errors.append(f"{name}: {' '.join(exc.messages)}")
            values[name] = None
    if values.get("email") == "" and values.get("phone") == "":
        errors.append(_("no email nor phone: the contact cannot be identified"))
    for name, limit in MAX_LENGTHS.items():
        values[name] = record.get(name, "")
        if len(values[name]) > limit:
            errors.append(_("%(column)s: longer than %(limit)s characters") % {"column": name, "limit": limit})

    purpose = lookups.purpose(record.get("purpose", "")) if record.get("purpose") else None
    if not record.get("purpose"):
        errors.append(_("no purpose"))
    elif purpose is None:
        errors.append(_("unknown purpose %(value)s") % {"value": repr(record["purpose"])})
    channel = lookups.channels.get(record.get("channel", "").lower()) if record.get("channel") else None
    if not record.get("channel"):
        errors.append(_("no channel"))
    elif channel is None:
        errors.append(_("unknown channel %(value)s") % {"value": repr(record["channel"])})
    action = record.get("status", "").lower()
    if not action:
        errors.append(_("no status"))
    elif action not in IMPORT_ACTIONS:
        errors.append(_("unknown status %(value)s (expected one of %(codes)s)")
                      % {"value": repr(record["status"]), "codes": ", ".join(IMPORT_ACTIONS)})
        action = ""
    method = record.get("method", "").lower()
    if method and method not in IMPORT_METHODS:
        errors.append(_("unknown method %(value)s (expected one of %(codes)s)")
                      % {"value": repr(record["method"]), "codes": ", ".join(IMPORT_METHODS)})
        method = ""
    effective_at = None
    if record.get("date"):
        try:
            effective_at = parse_date(record["date"])
        except ValueError as exc:
            errors.append(str(exc))
        else:
            if (effective_at - now).total_seconds() > CLOCK_TOLERANCE_SECONDS:
                errors.append(_("the date is in the future"))
            elif effective_at < EARLIEST_EFFECTIVE_AT:
                errors.append(_("the date is before 1970: it cannot be the date of a consent"))

    # The rules of consent_rule_errors that do not depend on the contact's current state.
    if purpose is not None and channel is not None:
        if channel.pk not in lookups.purpose_channels[purpose.pk]:
            errors.append(_("the purpose %(purpose)s does not use the channel %(channel)s")
                          % {"purpose": purpose.slug, "channel": channel.code})
        if channel.code == "email" and values.get("email") == "":
            errors.append(_("a consent on the email channel needs an email"))
        if channel.code in ("sms", "phone") and values.get("phone") == "":
            errors.append(_("a consent on the %(channel)s channel needs a phone") % {"channel": channel.code})
    if purpose is not None and action:
        if action in CONSENT_IMPORT_ACTIONS and purpose.legal_basis != LegalBasis.CONSENT:
            errors.append(_("the purpose %(purpose)s is not based on consent: only 'objected' can be imported")
                          % {"purpose": purpose.slug})
        if action == Action.OBJECTED and purpose.legal_basis == LegalBasis.CONSENT:
            errors.append(_("the purpose %(purpose)s is based on consent: import a withdrawal instead")
                          % {"purpose": purpose.slug})
        if action == Action.GRANTED and purpose.status != Purpose.Status.ACTIVE:
            errors.append(_("the purpose %(purpose)s is retired: consent can no longer be given to it")
                          % {"purpose": purpose.slug})
    values.update(purpose=purpose, channel=channel, action=action, method=method, effective_at=effective_at)
    return errors, values


def validate_rows(content: bytes) -> Validation:
    """Check every line of the file; writes nothing."""
    result = Validation()
    try:
        text = decode(content)
    except UnicodeDecodeError:  # five bytes mean nothing in Windows-1252
        result.file_error = _("the file is not text (UTF-8 or Windows-1252)")
        return result
    header, records = read_records(text)
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if not header or missing or not ({"email", "phone"} & set(header)):
        needed = missing + ([] if {"email", "phone"} & set(header) else [_("email or phone")])
        result.file_error = _("missing columns: %(missing)s (expected %(columns)s)") % {
            "missing": ", ".join(needed), "columns": ", ".join(COLUMNS)}
        return result
    lookups = _Lookups()
    now = timezone.now()
    for line, record in records:
        result.rows += 1
        errors, values = _row_errors(record, lookups, now)
        if errors:
            result.rejected[line] = "; ".join(errors)
        else:
            result.valid.append(ImportRow(line=line, **values))
    return result


# --- Writing ------------------------------------------------------------------------------


def idempotency_key(job: Job, line: int) -> str:
    return f"import:{job.pk}:{line}"


def _event_request(*, job: Job, row: ImportRow, file_name: str, contact: Any) -> Any:
    from . import services

    note = f"Imported from {file_name}, line {row.line}; source: {row.source or '—'}; method: {row.method}."
    return services.EventRequest(
        contact=contact, purpose=row.purpose, channel=row.channel, action=row.action, method=row.method,
        effective_at=row.effective_at, recorded_by=job.requested_by, collection_form=f"import:{file_name}"[:80],
        evidence_note=note, idempotency_key=idempotency_key(job, row.line),
    )


def _contact_defaults(row: ImportRow, file_name: str) -> dict[str, Any]:
    return {"first_name": row.first_name, "last_name": row.last_name,
            "source": row.source or f"import:{file_name}"[:255]}


def write_row(*, job: Job, row: ImportRow, file_name: str, batch: _Batch | None = None) -> bool:
    """Append one line through consent_record (contact via contact_get_or_create). True when a
    new event was written, False when this line's event already existed (a replay).

    With a ``batch``, the line is only added to it (its contact found or planned there); the
    batch writes its lines together (:meth:`_Batch.write`) and this returns True."""
    from . import services

    if batch is not None:
        batch.add(job=job, row=row, file_name=file_name)
        return True
    contact, created = services.contact_get_or_create(email=row.email, phone=row.phone,
                                                      **_contact_defaults(row, file_name))
    missing = {} if created else _missing_addresses(contact, row)
    if missing:
        services.contact_update(contact=contact, **missing)
    recorded = services.consent_record(**vars(_event_request(job=job, row=row, file_name=file_name, contact=contact)))
    return recorded.created


def _missing_addresses(contact: Any, row: ImportRow) -> dict[str, str]:
    """The addresses the line gives that its existing contact lacks: filled in, so that the consent the
    line records can reach them (an SMS grant needs the number) and the file's data is not lost. An
    address the contact already has is kept: the file does not overwrite it."""
    return {name: getattr(row, name) for name in ("email", "phone") if getattr(row, name) and not getattr(contact, name)}


# The fields an import sets on a new contact; the others keep their (valid) defaults.
_CONTACT_FIELDS_SET = ("email", "phone", "first_name", "last_name", "source")


def _contact_fields_valid(contact: Any) -> bool:
    """What ``full_clean`` (run by contact_create) checks of a new contact, but uniqueness, which the
    batch's look-ups settled: the validators of the fields the import sets (blank ones are allowed)."""
    meta = contact._meta
    for name in _CONTACT_FIELDS_SET:
        value = getattr(contact, name)
        if value:
            try:
                meta.get_field(name).run_validators(value)
            except ValidationError:
                return False
    return True


class _BatchRefused(Exception):
    """A line of the batch cannot be written as planned: write the batch line by line instead."""


class _Batch:
    """The lines of one batch written together: their contacts read in two queries (by email, and by
    phone for the lines without one, as contact_get_or_create looks them up), the missing ones created together with
    their history rows (``contacts_bulk_create``), then every event appended by
    ``consent_record_many`` (one hold of the ledger's lock; on PostgreSQL a batch's events and
    current consent go by COPY)."""

    def __init__(self, rows: list[ImportRow]) -> None:
        from .models import Contact

        emails = {row.email for row in rows if row.email}
        phones = {row.phone for row in rows if row.phone and not row.email}  # the lines found by phone
        # email <> '' lets PostgreSQL use the partial unique index, whatever the batch size.
        self.by_email: dict[str, Contact] = (
            {contact.email: contact for contact in Contact.objects.filter(in_values("email", emails)).exclude(email="")}
            if emails else {})
        self.by_phone: dict[str, list[Contact]] = {}  # the holders of each phone, oldest first
        if phones:
            for contact in Contact.objects.filter(in_values("phone", phones)).order_by("pk"):
                self.by_phone.setdefault(contact.phone, []).append(contact)
        self.new_contacts: list[Contact] = []
        # Existing contacts given addresses they lacked (add): contact id -> (contact, those fields).
        self.filled: dict[int, tuple[Contact, dict[str, str]]] = {}
        self.requests: list[Any] = []
        self.plan: Any = None  # services.AppendPlan, when the batch was prepared ahead

    def add(self, *, job: Job, row: ImportRow, file_name: str) -> None:
        from . import services

        # As contact_get_or_create: by phone only for a line without an email (a phone is shared), the
        # oldest holder whose names the line does not contradict.
        contact = self.by_email.get(row.email) if row.email else selectors.holder_named(
            self.by_phone.get(row.phone, ()), first_name=row.first_name, last_name=row.last_name)
        if contact is not None and (missing := _missing_addresses(contact, row)):
            vars(contact).update(missing)  # saved by write(), before the events; read by the plan meanwhile
            self.filled.setdefault(contact.pk, (contact, {}))[1].update(missing)
        if contact is None:
            contact = services.contact_build(email=row.email, phone=row.phone, external_ref="",
                                             **_contact_defaults(row, file_name))
            if not _contact_fields_valid(contact):
                raise _BatchRefused()
            self.new_contacts.append(contact)
            if row.email:
                self.by_email[row.email] = contact
            if row.phone:
                self.by_phone.setdefault(row.phone, []).append(contact)
        self.requests.append(_event_request(job=job, row=row, file_name=file_name, contact=contact))

    def read_ahead(self) -> None:
        """PostgreSQL, in the transaction of the batch before (whose writes it sees): key the new
        contacts and read what their appends need, so that ``services.append_plan_chain`` can build
        this batch's chain while that transaction commits."""
        from . import services

        services.contacts_draw_ids(contacts=self.new_contacts)
        # Lines past the job's last committed row: their keys (idempotency_key) were never written,
        # as each batch commits with its last row (write_rows).
        self.plan = services.append_plan_read(requests=self.requests, keys_unused=True,
                                              new_contact_ids=frozenset(c.id for c in self.new_contacts))

    def write(self) -> None:
        from . import services

        if self.new_contacts:
            services.contacts_bulk_create(contacts=self.new_contacts)
            if any(contact.pk is None for contact in self.new_contacts):  # pragma: no cover - no RETURNING
                raise _BatchRefused()
        for contact, missing in self.filled.values():  # as write_row: validated, with a history row
            try:
                services.contact_update(contact=contact, **missing)
            except ValidationError:
                raise _BatchRefused() from None  # line by line: the line alone is refused, with why
        # The chain built ahead, if no other writer appended meanwhile; else the usual append.
        if self.plan is not None and services.append_plan_write(plan=self.plan) is not None:
            return
        outcomes = services.consent_record_many(requests=self.requests)
        if any(isinstance(outcome, ValidationError) for outcome in outcomes):
            raise _BatchRefused()


def _save_counts(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(counts=job.counts, heartbeat_at=timezone.now())


def _pipelined() -> bool:
    """Prepare each batch while the one before commits: PostgreSQL (whose wait for the commit
    releases the GIL), and the job's own transactions (not inside a caller's, e.g. a test's)."""
    from django.db import connection

    return (connection.vendor == "postgresql" and not connection.in_atomic_block
            and getattr(settings, "CONSENT_IMPORT_PIPELINE", True))


class _Chaining:
    """A thread building a batch's chain (``services.append_plan_chain``) once ``go`` is set, just
    before the transaction commits: started earlier, it would hold the GIL while the commit is
    still to be sent (a thread gives it up only every few milliseconds)."""

    def __init__(self, *, plan: Any, tail: tuple[int, str], name: str) -> None:
        import threading

        self.plan, self.tail = plan, tail
        self.go = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from . import services

        self.go.wait()
        try:
            services.append_plan_chain(plan=self.plan, tail=self.tail)
        except Exception:  # noqa: BLE001 - the plan stays unchained: the usual append will say what is wrong
            self.plan.chained = False

    def join(self) -> None:
        self.go.set()
        self.thread.join()


def _batch_ahead(*, job: Job, rows: list[ImportRow], file_name: str) -> tuple[_Batch | None, _Chaining | None]:
    """The next batch, read in the current transaction, and the thread that will build its chain
    while this transaction commits (None: the batch will be written the usual way)."""
    from . import services

    ahead = _Batch(rows)
    try:
        for row in rows:
            ahead.add(job=job, row=row, file_name=file_name)
    except _BatchRefused:
        return None, None
    ahead.read_ahead()
    if ahead.plan is None:
        return ahead, None
    tail = services.ledger_tail()  # this transaction's last event, the append lock held
    return ahead, _Chaining(plan=ahead.plan, tail=tail, name=f"import-{job.pk}-chain")


def write_rows(*, job: Job, rows: list[ImportRow], file_name: str, report: ProgressReporter,
               batch_size: int, write_rejected: dict[int, str]) -> None:
    """Write ``rows`` (valid, in file order) in batches of ``batch_size``; each batch and the
    new ``counts["last_row"]`` commit together. A line refused at write time (the ledger changed
    since the validation) is rolled back alone and reported.

    Pipelined (``_pipelined``): at the end of each batch's transaction the next batch is read
    (contacts, keys, current consent: seeing this batch's writes) and a thread builds its chain
    while this transaction commits; the next transaction writes that chain only if the ledger's
    tail and those consents did not move in between (``services.append_plan_write``)."""
    last_row = int(job.counts.get("last_row") or 0)
    pending = [row for row in rows if row.line > last_row]
    total = max(len(pending), 1)
    done = 0
    pipelined = _pipelined()
    ahead: _Batch | None = None
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        following = pending[start + batch_size:start + 2 * batch_size]
        chaining = None
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():  # the whole batch at once, when every line goes through
                        together, ahead = ahead, None
                        if together is None:
                            together = _Batch(batch)
                            for row in batch:
                                write_row(job=job, row=row, file_name=file_name, batch=together)
                        together.write()
                except (_BatchRefused, IntegrityError):
                    # A line refused at write time, or a contact created meanwhile: line by line,
                    # each in its own savepoint, so the refused line alone is rolled back and reported.
                    for row in batch:
                        try:
                            with transaction.atomic():
                                write_row(job=job, row=row, file_name=file_name)
                        except ValidationError as exc:
                            write_rejected[row.line] = _("refused when written: %(reason)s") % {"reason": " ".join(exc.messages)}
                job.counts["last_row"] = batch[-1].line
                _save_counts(job)
                if pipelined and following:
                    ahead, chaining = _batch_ahead(job=job, rows=following, file_name=file_name)
                    if chaining is not None:
                        chaining.go.set()  # the commit is the next thing this thread does
        finally:
            if chaining is not None:
                chaining.join()
        done += len(batch)
        report(10 + int(85 * done / total))


def _written_lines(job: Job) -> set[int]:
    prefix = f"import:{job.pk}:"
    keys = ConsentEvent.objects.filter(idempotency_key__startswith=prefix).values_list("idempotency_key", flat=True)
    return {int(key[len(prefix):]) for key in keys}


def report_csv(lines: Iterable[tuple[int, str, str]]) -> bytes:
    """(line, status code, reason) rows as the report, written for Excel as the register's CSV is
    (``excel_csv``); the label column is the status in the active language (the reasons were
    written in it). A reason quotes the file's own values: made ``excel_safe``, a cell of the
    uploaded file cannot become a formula in the report."""
    from registry.exports.csv_export import excel_csv, excel_safe

    labels = {status: str(label) for status, label in STATUS_LABELS.items()}  # translated once, not per line
    return excel_csv([REPORT_COLUMNS, *((line, status, excel_safe(reason), labels[status])
                                        for line, status, reason in sorted(lines))])


def read_import_file(job: Job) -> bytes:
    storage = Job._meta.get_field("output").storage  # private storage
    with storage.open(job.params["file"], "rb") as handle:
        return handle.read()


@job_handler(JOB_KIND, label=pgettext_lazy("job kind", "Consent import"))
def run_consent_import(job: Job, report: ProgressReporter) -> None:
    """Job ``consent_import``; params: ``file`` (its name in private storage), ``file_name``
    (as uploaded), ``valid_rows_only`` (bool), optional ``batch_size``. Resumable and idempotent."""
    import gc

    # The objects alive before the job (Django, the app) are left out of the cyclic collector's
    # full passes, which would otherwise walk them again and again (~70 ms each) while the job
    # allocates its rows and events; they go back to it when the job ends. The job's own objects
    # (rows, contacts, events: hardly any cycle) are collected every 100,000 allocations instead
    # of every 700: about 0.3 s less of a 20,000-line job's ~6 s on a 2-core machine.
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        # Every reason, label and error in the language the job was asked in (as register_pdf).
        # A worker has no language active: get_language() is then LANGUAGE_CODE; run eagerly in a
        # request (the embedded default), it is the request's.
        with override(job.params.get("language") or get_language() or settings.LANGUAGE_CODE):
            _run_consent_import(job, report)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _run_consent_import(job: Job, report: ProgressReporter) -> None:
    from registry import services as registry_services

    file_name = job.params.get("file_name") or posixpath.basename(job.params["file"])
    batch_size = int(job.params.get("batch_size") or getattr(settings, "CONSENT_IMPORT_BATCH_SIZE",
                                                             DEFAULT_BATCH_SIZE))
    last_row = int(job.counts.get("last_row") or 0)
    resumed = last_row > 0
    report(1)
    validation = validate_rows(read_import_file(job))
    report(10)
    stem = posixpath.splitext(file_name)[0]
    report_name = f"{stem}-report.csv"
    if validation.file_error:
        job.counts = {"rows": 0, "valid": 0, "rejected": 0, "written": 0, "last_row": 0}
        _save_counts(job)
        registry_services.job_attach_output(job=job, filename=report_name,
                                            content=report_csv([(1, STATUS_REJECTED, validation.file_error)]))
        raise ValueError(_("Nothing imported: %(error)s.") % {"error": validation.file_error})

    # A line already written by an earlier attempt stays written, whatever the ledger says now.
    written_before = _written_lines(job) if resumed else set()
    for line in written_before:
        validation.rejected.pop(line, None)
    valid_lines = {row.line for row in validation.valid} | written_before
    job.counts = {"rows": validation.rows, "valid": len(valid_lines),
                  "rejected": len(validation.rejected), "written": len(written_before), "last_row": last_row}
    _save_counts(job)
    refuse_all = validation.rejected and not job.params.get("valid_rows_only") and not resumed
    write_rejected: dict[int, str] = {}
    if not refuse_all:
        write_rows(job=job, rows=validation.valid, file_name=file_name, report=report, batch_size=batch_size,
                   write_rejected=write_rejected)
    written = _written_lines(job)
    job.counts.update(written=len(written), rejected=len(validation.rejected) + len(write_rejected))
    _save_counts(job)

    lines: list[tuple[int, str, str]] = [(line, STATUS_REJECTED, reason) for line, reason in validation.rejected.items()]
    lines += [(line, STATUS_REJECTED, reason) for line, reason in write_rejected.items()]
    lines += [(line, STATUS_WRITTEN, "") for line in written if line not in write_rejected]
    if refuse_all:
        not_written = _("valid, but the file has rejected lines and nothing was imported")
        lines += [(row.line, STATUS_NOT_WRITTEN, not_written) for row in validation.valid]
    # A refused file still ends "done": the report (downloadable from a done job only) is the
    # result the DPO needs, and counts say written 0 with the rejected lines.
    registry_services.job_attach_output(job=job, filename=report_name, content=report_csv(lines))
    report(100)
