"""Every write on contacts, the consent ledger and suppression lists.

``consent_record`` is the only code that appends to the ledger and the only code that writes
``ConsentState``, both in one transaction.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import ipaddress
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, Callable, Iterable, Iterator

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, signals
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from registry.models import Channel, LegalBasis, Purpose, PurposeVersion
from registry.queries import in_values
from registry.validators import validate_scanned_document

from . import csvfiles, dbvalues, ledger, selectors
from .models import (
    Action,
    AudienceCountDelta,
    CollectionForm,
    CollectionFormItem,
    ConsentEvent,
    ConsentState,
    Contact,
    Method,
    Notice,
    RetirementNotice,
    SuppressionEntry,
)
from .normalise import (normalise_country, normalise_email, normalise_phone, stored_address_digest,
                        suppression_digest)
from .state import StateValue, apply_event, grant_expiry

logger = logging.getLogger(__name__)

CONSENT_ACTIONS = {Action.PENDING, Action.GRANTED, Action.REFUSED, Action.WITHDRAWN}
OBJECTION_ACTIONS = {Action.OBJECTED, Action.OBJECTION_LIFTED}
# Actions only the system writes, each with the one method that explains it.
SYSTEM_ACTIONS = {Action.EXPIRED: {Method.EXPIRY, Method.ERASURE}, Action.LAPSED: {Method.REGISTER_CHANGE}}
SYSTEM_METHODS = {Method.EXPIRY, Method.REGISTER_CHANGE}
# What a person, a member of staff or another system may record: never an event of DPO Desk's own
# jobs (expiry, lapse, erasure), which the ledger would then attribute to them.
CLIENT_ACTION_CHOICES = [(value, label) for value, label in Action.choices if value not in SYSTEM_ACTIONS]
CLIENT_METHOD_CHOICES = [(value, label) for value, label in Method.choices
                         if value not in SYSTEM_METHODS | {Method.ERASURE}]
# How far in the future an effective date may be (clocks of other systems drift).
CLOCK_TOLERANCE = timedelta(minutes=5)
# The earliest effective date: before it, a date is a typing or a default value, not a consent's.
EARLIEST_EFFECTIVE_AT = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "address_line1", "address_line2", "postal_code",
                  "city", "country", "language", "external_ref", "source", "collected_at")


# --- Contacts -----------------------------------------------------------------------------


def _normalised(fields: dict[str, Any], *, country: str = "") -> dict[str, Any]:
    """The contact's fields in normal form; a national phone number is read in the contact's
    ``country`` (ISO 3166 code), else in PHONE_DEFAULT_REGION."""
    errors: dict[str, list[str]] = {}
    normalisers = {"email": normalise_email, "country": normalise_country,
                   "phone": lambda value: normalise_phone(value, region=country.strip().upper() or None)}
    for name, normalise in normalisers.items():
        if name in fields:
            try:
                fields[name] = normalise(fields[name] or "")
            except ValidationError as exc:
                errors[name] = exc.messages
    if "external_ref" in fields:
        fields["external_ref"] = (fields["external_ref"] or "").strip()
    if errors:
        raise ValidationError(errors)
    return fields


def contact_field_check(*, field: str, value: Any, country: str = "") -> Any:
    """One contact field's value as contact_create and contact_update would store it (its normal
    form, then the model field's own checks: length, email, choices), or the ValidationError (a
    list of messages) they would raise for it. What depends on other contacts (an email another
    contact holds) is only known when writing. A national phone number is read in ``country``
    (an ISO 3166 code; else PHONE_DEFAULT_REGION)."""
    if field not in CONTACT_FIELDS:
        raise TypeError(f"unknown contact field: {field}")
    try:
        value = _normalised({field: value}, country=country or "")[field]
    except ValidationError as exc:
        raise ValidationError(exc.message_dict[field]) from None
    model_field = Contact._meta.get_field(field)
    try:
        return model_field.clean(value, None)  # what full_clean runs for this field (_save_contact)
    except ValidationError as exc:
        if model_field.choices and getattr(exc, "code", None) == "invalid_choice":
            raise ValidationError(_("Enter one of: %(choices)s.") % {"choices": ", ".join(
                f"{code} ({label})" for code, label in model_field.flatchoices)}, code="invalid_choice") from None
        raise


def _save_contact(contact: Contact, categories: Iterable | None) -> Contact:
    if not (contact.email or contact.phone or contact.external_ref or contact.last_name):
        raise ValidationError({"email": [_("Give at least an email, a phone, a name or an external reference.")]})
    others = Contact.objects.exclude(pk=contact.pk)
    if contact.email and others.filter(email=contact.email).exists():
        raise ValidationError({"email": [_("A contact with this email already exists.")]})
    if contact.external_ref and others.filter(external_ref=contact.external_ref).exists():
        raise ValidationError({"external_ref": [_("A contact with this external reference already exists.")]})
    contact.full_clean()
    created = contact._state.adding
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:  # two writers raced past full_clean's uniqueness check
        raise ValidationError({"email": [_("A contact with this email or external reference already exists.")]})
    if categories is not None:
        contact.data_subject_categories.set(categories)
    if not created:  # a new contact has no current consent yet
        consent_states_refresh_reachable(contact_ids=[contact.pk])
    return contact


@transaction.atomic
def contact_create(*, data_subject_categories: Iterable | None = None, **fields: Any) -> Contact:
    """Create a contact with its email and phone in normal form. The same email never makes a
    second contact (a ValidationError says so); a shared phone is accepted."""
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise TypeError(f"unknown contact fields: {', '.join(sorted(unknown))}")
    return _save_contact(Contact(**_normalised(dict(fields), country=fields.get("country") or "")),
                         data_subject_categories)


@transaction.atomic
def contact_update(*, contact: Contact, data_subject_categories: Iterable | None = None, **fields: Any) -> Contact:
    unknown = set(fields) - set(CONTACT_FIELDS + ("restricted",))
    if unknown:
        raise TypeError(f"unknown contact fields: {', '.join(sorted(unknown))}")
    if contact.anonymised_at:
        raise ValidationError(_("This contact was anonymised and can no longer be changed."))
    for name, value in _normalised(dict(fields), country=fields.get("country", contact.country) or "").items():
        setattr(contact, name, value)
    return _save_contact(contact, data_subject_categories)


@transaction.atomic
def contact_get_or_create(*, email: str = "", phone: str = "", external_ref: str = "",
                          **defaults: Any) -> tuple[Contact, bool]:
    """Find by email, then external reference, and by phone only when neither is given (the oldest
    holder whose names do not contradict the given ones); create when none matches. A phone is
    shared (a landline, a family mobile): a new email, or other names, with a phone already on file
    is another person, whose new contact is a duplicate candidate of the first, never the first
    contact itself.

    When another request creates the same contact between the look-up and the insert, the
    contact it created is returned (the insert fails in its own savepoint, then we read again)."""
    names = {name: defaults.get(name) or "" for name in ("first_name", "last_name")}
    found = _contact_lookup(email=email, phone=phone, external_ref=external_ref, **names)
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            return contact_create(email=email, phone=phone, external_ref=external_ref, **defaults), True
    except ValidationError:
        # A unique email or external reference taken meanwhile; any other error finds nothing here.
        found = _contact_lookup(email=email, phone=phone, external_ref=external_ref, **names)
        if found is None:
            raise
        return found, False


def _contact_lookup(*, email: str, phone: str, external_ref: str, first_name: str = "",
                    last_name: str = "") -> Contact | None:
    for lookup in ({"email": email}, {"external_ref": external_ref}):
        value = next(iter(lookup.values()))
        if value:
            found = selectors.contact_find(**lookup)
            if found is not None:
                return found
    if phone and not email and not external_ref:
        return selectors.contact_find_by_phone(phone=phone, first_name=first_name, last_name=last_name)
    return None


def contacts_bulk_create(*, contacts: list[Contact]) -> None:
    """Insert new contacts (already checked, without categories) and their creation history rows,
    as ``simple_history``'s ``bulk_create_with_history`` does: on PostgreSQL a big batch goes by
    COPY with keys drawn from the table's sequence, otherwise through the ORM. Sets each ``pk``."""
    from simple_history.utils import bulk_create_with_history

    if not contacts:
        return
    now = timezone.now()
    if not _use_copy(len(contacts)):
        bulk_create_with_history(contacts, Contact, default_date=now)
        return
    history = Contact.history.model
    contacts_draw_ids(contacts=contacts)
    for contact in contacts:
        contact.created_at = contact.updated_at = now  # auto_now_add / auto_now, as an insert sets them
    _copy_objects(Contact, contacts)
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    user = history.get_default_history_user(contacts[0])  # the request's user, if any: the same for all
    tracked = tuple(history.tracked_fields)  # Contact's own fields
    extra = (now, None, "+", getattr(user, "pk", None))  # history_date, change reason, type, user
    _copy_rows(history, [*(field.attname for field in tracked), "history_date", "history_change_reason",
                         "history_type", "history_user_id"],
               (values + extra for values in dbvalues.rows(contacts, tracked)))


def contacts_draw_ids(*, contacts: list[Contact]) -> None:
    """PostgreSQL: give the new contacts without one a key from the table's sequence, as their
    inserts would (an import numbers its next batch ahead, so its events can be chained first).
    ``contacts_bulk_create`` keeps the keys set."""
    missing = [contact for contact in contacts if contact.pk is None]
    if missing and connection.vendor == "postgresql":
        for contact, pk in zip(missing, _next_ids(Contact, len(missing))):
            contact.pk = pk


# --- Bulk inserts -------------------------------------------------------------------------

# From this many rows, a PostgreSQL insert goes by COPY (an import's batch); below (one API event),
# through the ORM. Both write the same rows.
COPY_MIN_ROWS = 50
_sequences: dict[tuple[str, str], str] = {}


def _use_copy(rows: int) -> bool:
    from django.db import connection

    return connection.vendor == "postgresql" and rows >= COPY_MIN_ROWS


def _next_ids(model, count: int) -> list[int]:
    """``count`` primary keys from the table's own sequence, as ``count`` inserts would take them."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        key = (connection.settings_dict["NAME"], table)
        if key not in _sequences:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, model._meta.pk.column])
            _sequences[key] = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [_sequences[key], count])
        return sorted(row[0] for row in cursor.fetchall())


def _copy_rows(model, columns: list[str], rows: Iterable[tuple], *, meanwhile: Callable[[], Any] | None = None) -> Any:
    """COPY the rows; ``meanwhile`` (no query) runs once they are sent, while PostgreSQL is still
    writing them and their indexes. Returns what ``meanwhile`` returns."""
    from django.db import connection

    quote = connection.ops.quote_name
    statement = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    result = None
    with connection.wrap_database_errors, connection.cursor() as cursor:  # IntegrityError, as an INSERT raises
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
            if meanwhile is not None:
                result = meanwhile()
    return result


def _copy_objects(model, objects: list, *, meanwhile: Callable[[], Any] | None = None) -> Any:
    """COPY these new objects (their ``pk`` set) into the model's table; they count as saved."""
    from django.db import connection

    fields = model._meta.concrete_fields
    result = _copy_rows(model, [field.column for field in fields],
                        dbvalues.rows(objects, tuple(fields)), meanwhile=meanwhile)
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias
    return result


def _events_insert(events: list[ConsentEvent], *, meanwhile: Callable[[], Any] | None = None) -> Any:
    """Insert new ledger events (sequence and hashes set) and set their ``pk``. ``meanwhile`` (no
    query, may read the keys) runs while PostgreSQL writes a COPY, else after the insert; returns
    what it returns."""
    if not _use_copy(len(events)):
        ConsentEvent.objects.bulk_create(events)
        return meanwhile() if meanwhile is not None else None
    for event, pk in zip(events, _next_ids(ConsentEvent, len(events))):
        event.pk = pk
    return _copy_objects(ConsentEvent, events, meanwhile=meanwhile)


# --- The ledger ---------------------------------------------------------------------------


def notice_for(*, text: str, language: str) -> Notice:
    """The stored notice with exactly this text (kept once, keyed by its hash)."""
    digest = ledger.notice_digest(text=text, language=language)
    notice, _created = Notice.objects.get_or_create(sha256=digest, defaults={"language": language, "text": text})
    ledger.remember_notice(sha256=digest, notice_id=notice.pk)  # a hint the unlocked append checks
    return notice


def purpose_notice_text(*, purpose: Purpose, language: str, version: PurposeVersion | None = None) -> str:
    """The purpose's name and text in ``language``: its current ones, or those of an earlier ``version``."""
    shown = version or purpose
    with override(language):
        return f"{shown.name}\n\n{shown.text}"


# Action.values and Method.values build their lists (labels included) on every access: ~8 µs an event.
_ACTION_VALUES = frozenset(Action.values)
_METHOD_VALUES = frozenset(Method.values)


def consent_rule_errors(*, contact: Contact, purpose: Purpose, channel: Channel, action: str, method: str,
                        effective_at: datetime, current: ConsentState | None,
                        channel_ids: set[int] | None = None, now: datetime | None = None) -> dict[str, list[str]]:
    """Why this event may not be recorded (empty when it may). ``channel_ids``: the purpose's
    channels when the caller already read them; ``now``: the time of the append, when the caller
    has it."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if action not in _ACTION_VALUES:
        add("action", _("Unknown action."))
        return errors
    if method not in _METHOD_VALUES:
        add("method", _("Unknown method."))
        return errors
    # Expiry and lapse end a consent already given: also one of a contact erased since, or on a
    # channel its purpose has dropped since (the periodic jobs must never stop on one of them).
    ending = action in SYSTEM_ACTIONS
    if contact.anonymised_at and not ending:
        add("contact", _("This contact was anonymised."))
    if not ending and not (
            channel.id in channel_ids if channel_ids is not None else purpose.channels.filter(pk=channel.pk).exists()):
        add("channel", _("The purpose %(purpose)s does not use the channel %(channel)s.")
            % {"purpose": purpose.slug, "channel": channel.code})
    if action in SYSTEM_ACTIONS:
        if method not in SYSTEM_ACTIONS[action]:
            add("method", _("This action is written by DPO Desk itself."))
    elif method in SYSTEM_METHODS:
        add("method", _("This method is reserved to DPO Desk's own jobs."))
    if action in CONSENT_ACTIONS and purpose.legal_basis != LegalBasis.CONSENT:
        add("action", _("The purpose %(purpose)s is not based on consent: record an objection instead.")
            % {"purpose": purpose.slug})
    if action in OBJECTION_ACTIONS and purpose.legal_basis == LegalBasis.CONSENT:
        add("action", _("The purpose %(purpose)s is based on consent: record a withdrawal instead.")
            % {"purpose": purpose.slug})
    if action == Action.OBJECTION_LIFTED and (current is None or current.status != Action.OBJECTED):
        add("action", _("There is no objection to lift."))
    if action == Action.GRANTED and method == Method.DOUBLE_OPT_IN and (
        current is None or current.status != Action.PENDING
    ):
        add("action", _("There is no pending consent to confirm."))
    if action in (Action.PENDING, Action.GRANTED) and purpose.status != Purpose.Status.ACTIVE:
        add("purpose", _("This purpose is retired: consent can no longer be given to it."))
    if effective_at > (now or timezone.now()) + CLOCK_TOLERANCE:
        add("effective_at", _("The effective date is in the future."))
    if effective_at < EARLIEST_EFFECTIVE_AT:
        add("effective_at", _("The effective date is before 1970: it cannot be the date of a consent."))
    return errors


@dataclass(frozen=True)
class Recorded:
    event: ConsentEvent
    created: bool
    # The current consent of the pair right after this event, when the append knows it for sure
    # (None: read it). The API answers with it instead of checking again.
    state: StateValue | None = None
    # The channel's suppression entries (source, created_at) of the contact's address, read with
    # the ledger's tail (None: not read); the same answer's check uses them.
    suppression: tuple[tuple[str, datetime], ...] | None = None


@dataclass
class EventRequest:
    """The arguments of one ``consent_record`` call, for ``consent_record_many``."""

    contact: Contact
    purpose: Purpose
    channel: Channel
    action: str
    method: str
    effective_at: datetime | None = None
    recorded_by: AbstractBaseUser | None = None
    collection_form: str = ""
    notice_text: str | None = None
    language: str | None = None
    evidence_ip: str | None = None
    evidence_user_agent: str = ""
    evidence_note: str = ""
    evidence_document: UploadedFile | None = None
    idempotency_key: str | None = None
    # The ledger's tail read ahead by the caller's own first query (PostgreSQL; the API's), used
    # when it was read for this very append (ledger.Tail.asked).
    read_ahead: ledger.Tail | None = None


class _NeedsLock(Exception):
    """An unlocked append would have to write something else first (a new notice): take the lock."""


class _WriteCache:
    """Look-ups that do not change within one append transaction: the channels of each purpose
    and the notices by their hash. ``unlocked``: an append without the lock, whose notice was read
    with the ledger's tail; a notice not stored yet is created under the lock, never outside it."""

    def __init__(self, *, unlocked: bool = False) -> None:
        self.purpose_channels: dict[int, set[int]] = {}
        self.purpose_versions: dict[int, list[PurposeVersion]] = {}
        self.notices: dict[tuple[str, str], Notice] = {}
        # The purpose's own notice per (purpose, version, language): _notice_shown's.
        self.purpose_notices: dict[tuple[int, int, str], Notice] = {}
        self.unlocked = unlocked

    def versions(self, purpose: Purpose) -> list[PurposeVersion]:
        """The purpose's versions, oldest first (for events dated in the past)."""
        if purpose.pk not in self.purpose_versions:
            if self.unlocked:
                raise _NeedsLock
            self.purpose_versions[purpose.pk] = list(purpose.versions.order_by("version"))
        return self.purpose_versions[purpose.pk]

    def channels_read(self, purposes: Iterable[Purpose]) -> None:
        """The channels of these purposes not read yet, in one query (a batch's purposes at once)."""
        wanted = {purpose.id for purpose in purposes if purpose.id not in self.purpose_channels}
        if not wanted:
            return
        links = Purpose.channels.through.objects.filter(purpose_id__in=wanted)
        for purpose_id in wanted:
            self.purpose_channels[purpose_id] = set()
        for purpose_id, channel_id in links.values_list("purpose_id", "channel_id"):
            self.purpose_channels[purpose_id].add(channel_id)

    def channel_ids(self, purpose: Purpose) -> set[int]:
        channels = self.purpose_channels.get(purpose.id)
        if channels is None:
            if self.unlocked:  # read with the tail (or the plan), never by a thread of its own
                raise _NeedsLock
            self.channels_read([purpose])
            channels = self.purpose_channels[purpose.id]
        return channels

    def notice(self, *, text: str, language: str) -> Notice:
        if (language, text) not in self.notices:
            if self.unlocked:
                raise _NeedsLock
            self.notices[(language, text)] = notice_for(text=text, language=language)
        return self.notices[(language, text)]


def consent_record(
    *,
    contact: Contact,
    purpose: Purpose,
    channel: Channel,
    action: str,
    method: str,
    effective_at: datetime | None = None,
    recorded_by: AbstractBaseUser | None = None,
    collection_form: str = "",
    notice_text: str | None = None,
    language: str | None = None,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
    evidence_note: str = "",
    evidence_document: UploadedFile | None = None,
    idempotency_key: str | None = None,
    read_ahead: ledger.Tail | None = None,
) -> Recorded:
    """Append one event to the ledger and update the contact's current consent with it.

    With an ``idempotency_key`` already used by the same ``recorded_by`` (each API client has its
    own keys), returns the first event instead of a second one.
    The notice shown is stored in full (``notice_text``, or else the purpose's current text in
    the contact's language) for actions that follow from a notice. ``read_ahead``: the ledger's
    tail read with the caller's own query (``consent.api.serializers.event_rows``), saving a read
    when it fits.
    One transaction (that of ``consent_record_many``)."""
    request = EventRequest(
        contact=contact, purpose=purpose, channel=channel, action=action, method=method, effective_at=effective_at,
        recorded_by=recorded_by, collection_form=collection_form, notice_text=notice_text, language=language,
        evidence_ip=evidence_ip, evidence_user_agent=evidence_user_agent, evidence_note=evidence_note,
        evidence_document=evidence_document, idempotency_key=idempotency_key, read_ahead=read_ahead,
    )
    outcome = consent_record_many(requests=[request])[0]
    if isinstance(outcome, ValidationError):
        raise outcome
    return outcome


def consent_record_many(*, requests: list[EventRequest]) -> list[Recorded | ValidationError]:
    """Append many events in one transaction, in order, under one hold of the append lock: what
    ``consent_record`` does for each, with the same rules, chain and current consent, but reading
    the ledger's tail, the idempotency keys and the current states once and writing the events and
    the states in bulk. Returns, per request, its ``Recorded`` or the ``ValidationError`` that
    refused it (a refused request writes nothing; the others are written).

    On PostgreSQL a single event whose rules do not depend on the current consent is appended
    optimistically instead (``_record_one_unlocked``: one read, one statement); the same loop
    places it in the chain."""
    if len(requests) == 1 and _may_append_unlocked(requests[0]):
        recorded = _record_one_unlocked(requests[0])
        if recorded is not None:
            return [recorded]
    return _record_many_locked(requests)


@transaction.atomic
def _record_many_locked(requests: list[EventRequest]) -> list[Recorded | ValidationError]:
    ledger.lock_for_append()
    _validity_refreshed(requests)
    cache = _WriteCache()
    results: list[Recorded | ValidationError | None] = [None] * len(requests)
    firsts = _firsts_read(requests)
    states, current = _states_read(requests, for_update=True)
    sequence, previous_hash = ledger_tail()
    after: dict[int, StateValue | None] = {}
    pending = _chain(requests, firsts=firsts, current=current, cache=cache, results=results, after=after,
                     sequence=sequence, previous_hash=previous_hash)
    return _pending_write(requests, pending, states=states, after=after, results=results)


def _validity_refreshed(requests: list[EventRequest]) -> bool:
    """Under the append lock: set on the requests' purposes their consent validity as committed
    now (an import read its purposes when it started; a change since is applied to the grants
    already written by ``consent_validity_apply``, which takes this lock too). True when one
    had changed."""
    purposes = {request.purpose.pk: request.purpose for request in requests}
    changed = False
    for pk, months in Purpose.objects.filter(pk__in=purposes).values_list("pk", "consent_validity_months"):
        if purposes[pk].consent_validity_months != months:
            purposes[pk].consent_validity_months, changed = months, True
    for request in requests:
        purpose = purposes[request.purpose.pk]
        if request.purpose is not purpose:  # another object of the same purpose
            request.purpose.consent_validity_months = purpose.consent_validity_months
    return changed


def _firsts_read(requests: list[EventRequest]) -> dict[tuple[str, int | None], ConsentEvent]:
    """Idempotency: the first event of each (key, author) in the ledger."""
    firsts: dict[tuple[str, int | None], ConsentEvent] = {}
    keys = {request.idempotency_key for request in requests if request.idempotency_key}
    if keys:
        for event in ConsentEvent.objects.filter(idempotency_key__in=keys).order_by("sequence"):
            firsts.setdefault((event.idempotency_key, event.recorded_by_id), event)
    return firsts


def _states_read(requests: list[EventRequest], *, for_update: bool,
                 new_contact_ids: frozenset[int] = frozenset()) -> tuple[dict, dict]:
    """(rows, values) of the current consent of every pair written; ``for_update`` locks the rows
    for the transaction (with a single pair, exactly its row; with many, the rows of their
    contacts x purposes x channels). ``new_contact_ids``: contacts this transaction numbered from
    the table's sequence (an import's new ones), whose pairs cannot have a row yet: not read."""
    triples = {(request.contact.pk, request.purpose.pk, request.channel.pk) for request in requests}
    states: dict[tuple[int, int, int], ConsentState] = {}
    read = [triple for triple in triples if triple[0] not in new_contact_ids]
    if read:
        contact_ids, purpose_ids, channel_ids = (set(ids) for ids in zip(*read))
        rows = ConsentState.objects.filter(in_values("contact_id", contact_ids), purpose_id__in=purpose_ids,
                                           channel_id__in=channel_ids)
        for state in (rows.select_for_update() if for_update else rows):
            if (state.contact_id, state.purpose_id, state.channel_id) in triples:
                states[(state.contact_id, state.purpose_id, state.channel_id)] = state
    current: dict[tuple[int, int, int], StateValue | None] = {
        triple: (StateValue(s.status, s.purpose_version, s.since, s.expires_at, s.last_event_id)
                 if (s := states.get(triple)) is not None else None)
        for triple in triples
    }
    return states, current


def ledger_tail() -> tuple[int, str]:
    """(sequence, hash) of the ledger's last event."""
    last = ConsentEvent.objects.order_by("-sequence").only("sequence", "hash").first()
    return (last.sequence, last.hash) if last else (0, ledger.GENESIS_HASH)


def _pending_write(requests: list[EventRequest], pending, *, states: dict, after: dict,
                   results: list) -> list[Recorded | ValidationError]:
    """Write the events ``_chain`` placed, and the current consent they change."""
    if pending:
        # The new consent rows are computed while PostgreSQL writes the events.
        rows = _events_insert([event for _index, event, _triple in pending],
                              meanwhile=lambda: _state_rows(requests, pending, states, folded=after))
        _states_write(rows, states)
    for index, event, _triple in pending:
        results[index] = Recorded(event, True, after[index])
    return results  # type: ignore[return-value]


@dataclass
class AppendPlan:
    """A batch of appends read and placed in the chain ahead of the transaction that writes them:
    an import prepares its next batch (``append_plan_read`` in the transaction of the batch before,
    ``append_plan_chain`` without queries while that transaction commits), then writes it
    (``append_plan_write``) only if the ledger and the pairs' consent are still what the plan read.
    ``chained``: every request became a new event after ``tail``."""

    requests: list[EventRequest]
    firsts: dict
    current: dict  # the pairs' consent as read (kept: _chain folds a copy)
    cache: _WriteCache
    new_contact_ids: frozenset[int] = frozenset()  # see _states_read
    tail: tuple[int, str] = (0, "")
    results: list = field(default_factory=list)
    after: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)
    chained: bool = False


def append_plan_read(*, requests: list[EventRequest], keys_unused: bool = False,
                     new_contact_ids: frozenset[int] = frozenset()) -> AppendPlan | None:
    """The reads of ``_record_many_locked`` for these requests (their contacts' keys set), without
    the lock, plus the purposes' channels and the notices their events will store, so that
    ``append_plan_chain`` runs no query. None when the plan cannot go without one (a scanned
    document, a notice not stored yet: the usual path does these). ``keys_unused``: the caller
    knows no event carries the requests' idempotency keys yet (an import's lines past its last
    committed one), so their first events are not looked up; should one exist after all, the
    key's unique constraint refuses the write (IntegrityError) and nothing is written twice.
    ``new_contact_ids``: the requests' contacts numbered ahead and not inserted yet (``_states_read``:
    they have no current consent, and ``append_plan_write`` inserts nothing else for them)."""
    if any(request.evidence_document is not None for request in requests):
        return None
    cache = _WriteCache()
    purposes = {request.purpose.pk: request.purpose for request in requests}
    cache.channels_read(purposes.values())
    for purpose in purposes.values():
        if purpose.version > 1:  # for the events dated before a change of its text (_version_shown)
            cache.versions(purpose)
    cache.unlocked = True  # from here on, no query: a missing notice or channel list stops the plan
    wanted: set[tuple[str, str]] = set()
    seen: set[tuple] = set()
    for request in requests:  # _notice_wanted once per kind of request, not per line
        kind = (request.notice_text, request.action in (Action.PENDING, Action.GRANTED, Action.REFUSED),
                request.language or request.contact.language or "fr", request.purpose.pk, request.purpose.version)
        if kind not in seen:
            seen.add(kind)
            if (want := _notice_wanted(request)) is not None:
                wanted.add(want)
    digests = {ledger.notice_digest(text=text, language=language): (language, text) for language, text in wanted}
    for notice in Notice.objects.filter(sha256__in=digests):
        cache.notices[digests[notice.sha256]] = notice
    if len(cache.notices) < len(wanted):
        return None
    _states, current = _states_read(requests, for_update=False, new_contact_ids=new_contact_ids)
    return AppendPlan(requests=requests, firsts={} if keys_unused else _firsts_read(requests), current=current,
                      cache=cache, new_contact_ids=new_contact_ids)


def append_plan_chain(*, plan: AppendPlan, tail: tuple[int, str]) -> bool:
    """Place the plan's requests in the chain after ``tail`` (sequence, hash): ``_chain``, no query
    (a thread may run it while the connection commits). True when every request is a new event."""
    plan.tail = tail
    plan.results = [None] * len(plan.requests)
    plan.after = {}
    try:
        plan.pending = _chain(plan.requests, firsts=dict(plan.firsts), current=dict(plan.current),
                              cache=plan.cache, results=plan.results, after=plan.after,
                              sequence=tail[0], previous_hash=tail[1])
    except _NeedsLock:
        return False
    plan.chained = len(plan.pending) == len(plan.requests)
    return plan.chained


def append_plan_write(*, plan: AppendPlan) -> list[Recorded] | None:
    """In a transaction: take the append lock and write the chained plan when the ledger's tail and
    the pairs' consent are still those the plan was built on (no other writer appended since);
    None, with nothing written, when they moved (the caller appends the usual way)."""
    if not plan.chained:
        return None
    ledger.lock_for_append()
    if ledger_tail() != plan.tail or _validity_refreshed(plan.requests):
        return None
    states, current = _states_read(plan.requests, for_update=True, new_contact_ids=plan.new_contact_ids)
    if current != plan.current:
        return None
    return _pending_write(plan.requests, plan.pending, states=states, after=plan.after,  # type: ignore[return-value]
                          results=plan.results)


def _chain(requests: list[EventRequest], *, firsts: dict[tuple[str, int | None], ConsentEvent],
           current: dict[tuple[int, int, int], StateValue | None], cache: _WriteCache,
           results: list, after: dict[int, StateValue | None], sequence: int,
           previous_hash: str) -> list[tuple[int, ConsentEvent, tuple[int, int, int]]]:
    """The one place events get their place in the chain: in order, each request either returns the
    first event of its idempotency key, is refused (its ValidationError in ``results``) or becomes
    the next event after (``sequence``, ``previous_hash``). ``current`` (the state of each pair) is
    folded along, and ``after`` gets each new event's state. Returns the events to write."""
    pending: list[tuple[int, ConsentEvent, tuple[int, int, int]]] = []
    # Ids are read as .id, not .pk (a property: ~0.5 µs, about fifteen times an event on this path).
    for index, request in enumerate(requests):
        recorded_by = request.recorded_by if getattr(request.recorded_by, "id", None) else None
        author_id = recorded_by.id if recorded_by is not None else None
        key = request.idempotency_key
        if key:
            first = firsts.get((key, author_id))
            if first is not None:
                results[index] = _replayed(request, first)
                continue
        triple = (request.contact.id, request.purpose.id, request.channel.id)
        event = _event_for(request, recorded_by=recorded_by, current=current[triple], cache=cache)
        if isinstance(event, ValidationError):
            results[index] = event
            continue
        sequence += 1
        event.sequence = sequence
        event.previous_hash = previous_hash
        event.hash = previous_hash = ledger.event_hash(event, previous_hash)
        if key:
            firsts[(key, author_id)] = event
        # What the next request on this pair is checked against (its last_event_id waits for the pk).
        current[triple] = after[index] = apply_event(current[triple], event,
                                                     validity_months=request.purpose.consent_validity_months)
        pending.append((index, event, triple))
    return pending


def _replayed(request: EventRequest, first: ConsentEvent) -> Recorded | ValidationError:
    """The answer to a request whose idempotency key its author already used: the first event when
    the request is that one retried (same contact, purpose, channel, action and method); else the
    key was reused for another request, which is refused rather than answered with an event it did
    not ask for (a withdrawal sent with a granted's key would otherwise be lost)."""
    if (first.contact_id, first.purpose_id, first.channel_id, first.action, first.method) != (
            request.contact.pk, request.purpose.pk, request.channel.pk, request.action, request.method):
        return ValidationError({"idempotency_key": [
            _("This Idempotency-Key was already used for another event (#%(sequence)s, %(action)s): "
              "send each new event with a new key.") % {"sequence": first.sequence, "action": first.action}
        ]})
    return Recorded(first, False)


# Actions whose rules read the current consent (consent_rule_errors): appended under the lock,
# which holds that consent still while the event is written.
_RULES_READ_STATE = {Action.OBJECTION_LIFTED, Action.GRANTED}
# Tries of the unlocked append before falling back on the lock (each lost race costs one).
_UNLOCKED_TRIES = 3


def _may_append_unlocked(request: EventRequest) -> bool:
    """PostgreSQL, no scanned document (its file is saved with the event), and rules that hold
    whatever the current consent (a grant reads it only when it confirms a double opt-in)."""
    if connection.vendor != "postgresql" or request.evidence_document is not None:
        return False
    return request.action not in _RULES_READ_STATE or (
        request.action == Action.GRANTED and request.method != Method.DOUBLE_OPT_IN)


def _notice_wanted(request: EventRequest) -> tuple[str, str] | None:
    """(language, text) of the notice _event_for will store with this request, read with the
    ledger's tail. Only a hint for _WriteCache: a wrong guess costs a look-up, never a wrong notice."""
    if request.notice_text is None and request.action not in (Action.PENDING, Action.GRANTED, Action.REFUSED):
        return None
    language = request.language or request.contact.language or "fr"
    text = (request.notice_text if request.notice_text is not None
            else purpose_notice_text(purpose=request.purpose, language=language))
    return language, text


def _record_one_unlocked(request: EventRequest) -> Recorded | None:
    """Append one event without holding the append lock between reading and writing: read the
    ledger's tail, the pair's current consent, the idempotency key and the notice in one query
    (or take ``request.read_ahead``, the same read made with the caller's own first query, when it
    was made for this append), place the event in the chain (``_chain``), then write it with its
    current consent in one statement (``ledger.append_one``). The statement takes the append
    lock, so it waits for a locked append in progress; the unique sequence (and idempotency key)
    refuses it when another writer appended since the read: then read again. None (the caller
    takes the lock) after too many lost races, or when the notice shown is not stored yet (it is
    created under the lock). Runs in a savepoint inside a transaction, alone (one commit) outside."""
    contact, purpose, channel = request.contact, request.purpose, request.channel
    author = request.recorded_by if getattr(request.recorded_by, "pk", None) else None
    wanted = _notice_wanted(request)
    digest = ledger.notice_digest(text=wanted[1], language=wanted[0]) if wanted else None
    address = selectors.contact_addresses(contact=contact).get(channel.code, "")
    address_digest = stored_address_digest(channel.code, address) if address else None
    asked = (contact.pk, purpose.pk, channel.pk, request.idempotency_key, getattr(author, "pk", None), address_digest)
    read_ahead = request.read_ahead if request.read_ahead is not None and request.read_ahead.asked == asked else None
    for _try in range(_UNLOCKED_TRIES):
        if read_ahead is not None:
            tail, read_ahead = read_ahead, None  # good for the first try only
        else:
            tail = ledger.read_tail(contact_id=contact.pk, purpose_id=purpose.pk, channel_id=channel.pk,
                                    idempotency_key=request.idempotency_key, recorded_by_id=asked[4],
                                    notice_sha256=digest, address_digest=address_digest)
        if tail.first_event_id is not None:
            first = ConsentEvent.objects.select_related("contact", "purpose", "channel", "notice").get(
                pk=tail.first_event_id)
            return _replayed(request, first)
        cache = _WriteCache(unlocked=True)
        cache.purpose_channels[purpose.pk] = {channel.pk} if tail.channel_allowed else set()
        notice_id = tail.notice_id or (ledger.known_notice_id(digest) if digest else None)
        if notice_id is not None:  # append_one writes it only if it is still this notice's id
            cache.notices[wanted] = Notice(pk=notice_id, sha256=digest, language=wanted[0], text=wanted[1])
        triple = (contact.pk, purpose.pk, channel.pk)
        before = tail.state
        results: list = [None]
        after: dict[int, StateValue | None] = {}
        try:
            pending = _chain([request], firsts={}, current={triple: before}, cache=cache, results=results,
                             after=after, sequence=tail.sequence, previous_hash=tail.hash)
        except _NeedsLock:
            return None
        if not pending:
            return results[0]
        event, value = pending[0][1], after[0]
        state = None
        if value is not before:  # an event dated before the current consent changes nothing
            state = ConsentState(contact=contact, purpose=purpose, channel=channel, status=value.status,
                                 purpose_version=value.purpose_version, since=value.since,
                                 expires_at=value.expires_at,
                                 reachable=selectors.contact_reachable_on(contact=contact, channel_code=channel.code))
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                state_written = ledger.append_one(event, state, validity_months=purpose.consent_validity_months)
        except IntegrityError:  # another writer took this sequence (or this idempotency key) meanwhile
            event.pk = None
            continue
        if state_written is None:  # a stale notice id, or validity: the locked path reads them again
            ledger.forget_notice(digest)
            return None
        if digest is not None and event.notice_id:
            ledger.remember_notice(sha256=digest, notice_id=event.notice_id)
        # The state after the event is known when the statement wrote it; when it did not (an older
        # event, or a newer one written meanwhile), whoever needs it reads it.
        return Recorded(event, True, value if state is not None and state_written else None,
                        tail.suppression if address else ())
    return None


# --- The direct append (PostgreSQL): the API's common case in one statement ---------------------


@dataclass(frozen=True)
class _AppendTarget:
    """A purpose and a channel as this process read them, with a digest of each row (the direct
    append's statement writes only while both rows are still these) and what the append and the
    API's answer need of the purpose: its versions (events dated in the past) and its latest
    material version."""

    purpose: Purpose
    channel: Channel
    purpose_row: str
    channel_row: str
    versions: list[PurposeVersion]
    material_version: int
    # The purpose's current notice per stored contact language, once its id is known (an action
    # that follows from a notice); what _notice_wanted and _notice_shown give for such a contact.
    notices: dict[str, Notice] = field(default_factory=dict)


_TARGETS: dict[tuple[str, str], _AppendTarget] = {}
_TARGETS_MAX = 256
# Stored contact languages the direct append prepares an event for (blank: the default, French).
_CONTACT_LANGUAGES = (*(code for code, _label in settings.LANGUAGES), "")


def _append_target(*, purpose_slug: str, channel_code: str) -> _AppendTarget | None:
    key = (purpose_slug, channel_code)
    target = _TARGETS.get(key)  # one look-up: another thread may drop the entry at any time
    if target is None:
        purpose = Purpose.objects.annotate(row_digest=_row_digest(Purpose)).filter(slug=purpose_slug).first()
        channel = Channel.objects.annotate(row_digest=_row_digest(Channel)).filter(code=channel_code).first()
        if purpose is None or channel is None:
            return None
        if len(_TARGETS) >= _TARGETS_MAX:
            _TARGETS.clear()
        target = _TARGETS[key] = _AppendTarget(
            purpose, channel, purpose.row_digest, channel.row_digest,
            list(purpose.versions.order_by("version")) if purpose.version > 1 else [],
            selectors.purpose_material_version(purpose=purpose))
    return target


def _row_digest(model) -> RawSQL:
    """md5 of the whole row as PostgreSQL writes it as text: any change of any column changes it."""
    table = connection.ops.quote_name(model._meta.db_table)
    return RawSQL(f"md5({table}::text)", [])


@dataclass(frozen=True)
class DirectRecorded:
    recorded: Recorded
    material_version: int


def consent_record_direct(*, identifier: tuple[str, str], purpose_slug: str, channel_code: str, action: str,
                          method: str, recorded_by: AbstractBaseUser | None,
                          idempotency_key: str | None) -> DirectRecorded | None:
    """``consent_record`` for the API's most common request, in ONE statement (PostgreSQL): the
    contact named by its address on the channel (``identifier``: ("email", e-mail) on the email
    channel, ("phone", number) on SMS or phone, in stored form), an action whose rules do not
    read the current consent, no date, notice, language or evidence of its own. The event is built
    here, by the same rules and code as every append, for a contact such as the statement must
    then find (not anonymised, not restricted, reachable there), once per contact language; the
    statement checks that, looks the contact up, places the event after the ledger's tail and
    writes it with the pair's consent (``ledger.append_direct``). None, with nothing written,
    when this request is not such a case or the statement's checks fail (unknown contact,
    restricted, changed purpose, used idempotency key...): the caller then takes the usual path,
    which answers each of those."""
    field, stored = identifier
    if connection.vendor != "postgresql" or field not in ("email", "phone"):
        return None
    target = _append_target(purpose_slug=purpose_slug, channel_code=channel_code)
    if target is None:
        return None
    purpose, channel = target.purpose, target.channel
    author = recorded_by if getattr(recorded_by, "pk", None) else None
    contact = contact_build(id=0, language="fr", **{field: stored})  # such as the statement must find
    if selectors.contact_addresses(contact=contact).get(channel.code) != stored:
        return None
    request = EventRequest(contact=contact, purpose=purpose, channel=channel, action=action, method=method,
                           recorded_by=author, idempotency_key=idempotency_key)
    if not _may_append_unlocked(request):
        return None
    cache = _WriteCache(unlocked=True)
    cache.purpose_channels[purpose.pk] = {channel.pk}  # the statement checks it
    cache.purpose_versions[purpose.pk] = target.versions
    notices = {language: _direct_notice(target, request, language) for language in _CONTACT_LANGUAGES}
    if notices["fr"] is not None:  # what _event_for looks up for this (French) contact
        cache.purpose_notices[(id(purpose), purpose.version, notices["fr"].language)] = notices["fr"]
    try:
        event = _event_for(request, recorded_by=author, current=None, cache=cache)
    except _NeedsLock:
        return None
    if isinstance(event, ValidationError) or event.notice_id != getattr(notices["fr"], "pk", None):
        return None  # the usual path answers (with the same error)
    part_a, part_b = ledger.payload_parts(event)
    variants = [ledger.Variant(language, notice.pk if notice else None, notice.sha256 if notice else None,
                               ledger.with_notice(part_b, notice.sha256 if notice else ""))
                for language, notice in notices.items()]
    value = apply_event(None, event, validity_months=purpose.consent_validity_months)
    state = {"purpose_id": purpose.pk, "channel_id": channel.pk, "status": value.status,
             "purpose_version": value.purpose_version, "since": value.since, "expires_at": value.expires_at,
             "reachable": selectors.contact_reachable_on(contact=contact, channel_code=channel.code)}
    address_digest = stored_address_digest(channel.code, stored)
    for _try in range(_UNLOCKED_TRIES):
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                written = ledger.append_direct(
                    contact_column=field, identifier=stored, event=event, part_a=part_a, state=state,
                    variants=variants, purpose_row=target.purpose_row, channel_row=target.channel_row,
                    address_digest=address_digest)
        except IntegrityError:  # another writer took this sequence (or this idempotency key) meanwhile
            continue
        if written.event_id is None:
            if written.contact is not None and _stale_target_possible(written.contact):
                _TARGETS.pop((purpose_slug, channel_code), None)  # read the purpose and channel again
            return None
        found = _new_instance(Contact, **{attname: written.contact[column]
                                          for column, attname in _contact_columns().items()})
        found._state.adding, found._state.db = False, connection.alias
        event.pk, event.sequence, event.previous_hash, event.hash = (
            written.event_id, written.sequence, written.previous_hash, written.hash)
        event.contact_id = found.pk
        event._state.fields_cache["contact"] = found
        event.notice = next((n for n in notices.values() if n is not None and n.pk == written.notice_id), None)
        event._state.adding, event._state.db = False, connection.alias
        after = StateValue(value.status, value.purpose_version, value.since, value.expires_at, event.pk)
        return DirectRecorded(Recorded(event, True, after if written.state_written else None, written.suppression),
                              target.material_version)
    return None


def _stale_target_possible(contact_row: dict[str, Any]) -> bool:
    """Whether a direct append refused for this contact may have been refused for the purpose or
    channel as this process read them (or their notices): not when the contact itself explains it
    (restricted, anonymised, a language without a prepared event). Else, an idempotency key used
    already among them, the purpose is read again: cheap, and rare."""
    return not (contact_row["restricted"] or contact_row["anonymised_at"] is not None
                or contact_row["language"] not in _CONTACT_LANGUAGES)


def _direct_notice(target: _AppendTarget, request: EventRequest, language: str) -> Notice | None:
    """The notice an event of ``request`` (no text of its own, no language) stores for a contact of
    this stored ``language``: the purpose's current text in it, for the actions that follow from a
    notice. Its id is this process's hint (None when not known: the statement then writes nothing
    for such a contact and the usual path stores the notice); remembered on the target once known."""
    if request.action not in (Action.PENDING, Action.GRANTED, Action.REFUSED):
        return None
    if language in target.notices:
        return target.notices[language]
    request.contact.language = language
    shown_in, text = _notice_wanted(request)
    request.contact.language = "fr"
    digest = ledger.notice_digest(text=text, language=shown_in)
    notice = Notice(pk=ledger.known_notice_id(digest), sha256=digest, language=shown_in, text=text)
    if notice.pk is not None:
        target.notices[language] = notice
    return notice


@functools.cache
def _contact_columns() -> dict[str, str]:
    """Contact's attribute names by column."""
    return {field.column: field.attname for field in Contact._meta.concrete_fields}


def _event_for(request: EventRequest, *, recorded_by, current, cache: _WriteCache) -> ConsentEvent | ValidationError:
    """The event of one request (without its place in the chain), or why it is refused."""
    contact, purpose, channel, action = request.contact, request.purpose, request.channel, request.action
    now = timezone.now()
    effective_at = request.effective_at or now
    errors = consent_rule_errors(contact=contact, purpose=purpose, channel=channel, action=action,
                                 method=request.method, effective_at=effective_at, current=current,
                                 channel_ids=cache.channel_ids(purpose), now=now)
    if errors:
        return ValidationError(errors)
    evidence_ip = request.evidence_ip
    if evidence_ip:
        try:  # one canonical form, the one the database gives back, so the digest re-verifies
            address = ipaddress.ip_address(str(evidence_ip).strip())
        except ValueError:
            return ValidationError({"evidence_ip": [_("Enter a valid IPv4 or IPv6 address.")]})
        # An IPv6 zone ("fe80::1%eth0") names an interface of the sender's own machine: no evidence,
        # and PostgreSQL's inet refuses it. The address is kept without it.
        evidence_ip = str(address).partition("%")[0]
    shown = _version_shown(purpose=purpose, at=request.effective_at, cache=cache)
    version = shown.version if shown is not None else purpose.version
    notice = _notice_shown(request, language=request.language or contact.language or "fr", shown=shown,
                           cache=cache)

    evidence_document = request.evidence_document
    document_sha = ""
    if evidence_document is not None:
        try:  # kept as proof of consent: a PDF, JPEG or PNG scan, never any file (the forms say so first)
            validate_scanned_document(evidence_document)
        except ValidationError as exc:
            return ValidationError({"evidence_document": exc.messages})
        hasher = hashlib.sha256()
        for chunk in evidence_document.chunks():
            hasher.update(chunk)
        document_sha = hasher.hexdigest()
        evidence_document.seek(0)
    user_agent = (request.evidence_user_agent or "")[:512]
    event = _new_event(
        contact_id=contact.id, purpose_id=purpose.id, purpose_version=version, channel_id=channel.id,
        action=action, method=request.method, effective_at=effective_at, recorded_at=now,
        notice_id=notice.id if notice is not None else None, collection_form=request.collection_form,
        recorded_by_id=recorded_by.id if recorded_by is not None else None,
        evidence_ip=evidence_ip or None, evidence_user_agent=user_agent,
        evidence_note=request.evidence_note or "", idempotency_key=request.idempotency_key or None,
        evidence_digest=ledger.evidence_digest(ip=evidence_ip, user_agent=user_agent,
                                               note=request.evidence_note or "", document_sha256=document_sha),
    )
    event._state.fields_cache.update(contact=contact, purpose=purpose, channel=channel, notice=notice,
                                     recorded_by=recorded_by)
    if evidence_document is not None:
        event.evidence_document.save(evidence_document.name, evidence_document, save=False)
    return event


def _notice_shown(request: EventRequest, *, language: str, shown: PurposeVersion | None,
                  cache: _WriteCache) -> Notice | None:
    """The notice an event of ``request`` stores, shown in ``language``: the text given, else for
    the actions that follow from a notice the purpose's own text (of the version ``shown``, None:
    the current one), built once per version and language in the cache's transaction."""
    purpose = request.purpose
    if request.notice_text is not None:
        return cache.notice(text=request.notice_text, language=language)
    if request.action not in (Action.PENDING, Action.GRANTED, Action.REFUSED):
        return None
    key = (id(purpose), shown.version if shown is not None else purpose.version, language)
    if key not in cache.purpose_notices:
        cache.purpose_notices[key] = cache.notice(
            text=purpose_notice_text(purpose=purpose, language=language, version=shown), language=language)
    return cache.purpose_notices[key]


def _version_shown(*, purpose: Purpose, at: datetime | None, cache: _WriteCache) -> PurposeVersion | None:
    """The earlier version of the purpose's text that an event dated ``at`` answered, when the text
    changed materially after ``at`` (a paper form signed before the change: the event is stamped with
    that version, so its grant lapses as the ones given then do); None: the current version. A
    purpose never changed (version 1) needs no look-up."""
    if at is None or purpose.version == 1:
        return None
    versions = cache.versions(purpose)
    if not any(v.change_kind == PurposeVersion.ChangeKind.MATERIAL and v.created_at > at for v in versions):
        return None
    in_force = [v for v in versions if v.created_at <= at]
    return in_force[-1] if in_force else versions[0]


@functools.cache
def _column_defaults(model) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """Every column of ``model`` by attname, in the model's order, at its default; and the columns
    whose default is a callable (called per instance, as Model.__init__ does)."""
    fields = model._meta.concrete_fields
    computed = [field for field in fields if field.has_default() and callable(field.default)]
    return ({field.attname: None if field in computed else field.get_default() for field in fields},
            tuple((field.attname, field.default) for field in computed))


def _new_instance(model, **values: Any):
    """``model(**values)`` with columns by attname (keys for the related objects), which matters at
    thousands of rows a second. With no pre_init/post_init receiver for the model (none for events
    and contacts), the instance is built as ``Model.__init__`` with positional values builds it (a
    fresh ModelState, each column's attribute set in ``__dict__``: what the descriptors of a new
    instance do), without its per-field loop; with one, through ``__init__``. The caller puts the
    related objects in its cache."""
    defaults, callables = _column_defaults(model)
    if not values.keys() <= defaults.keys():  # what __init__ raises with one value too many
        raise IndexError(f"Not fields of {model.__name__}: {sorted(values.keys() - defaults.keys())}")
    columns = {**defaults, **{name: default() for name, default in callables if name not in values}, **values}
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return model(*columns.values())
    instance = model.__new__(model)
    instance._state = ModelState()
    instance.__dict__.update(columns)
    return instance


def _new_event(**values: Any) -> ConsentEvent:
    return _new_instance(ConsentEvent, **values)


def contact_build(**values: Any) -> Contact:
    """An unsaved contact, as ``Contact(**values)`` builds it (columns by attname), for the bulk
    writes (contacts_bulk_create): the import builds one per new contact of a batch."""
    return _new_instance(Contact, **values)


STATE_FIELDS = ("status", "purpose_version", "since", "expires_at", "last_event")


def _states_apply(requests: list[EventRequest], pending, states: dict) -> None:
    """Fold the new events, in order, into the current consent of their pairs; one upsert."""
    _states_write(_state_rows(requests, pending, states), states)


def _state_rows(requests: list[EventRequest], pending, states: dict, *,
                folded: dict[int, StateValue | None] | None = None) -> list[tuple]:
    """The current-consent rows the new events change: (contact, purpose, channel, status,
    purpose_version, since, expires_at, last_event, reachable), folded in order. No query.
    ``folded``: each new event's state as the chain already folded it (request index -> value),
    maybe before the events had their keys; then only the events that changed a pair are sought."""
    after: dict[tuple[int, int, int], StateValue | None] = {}
    changed: dict[tuple[int, int, int], tuple[EventRequest, ConsentEvent]] = {}
    for index, event, triple in pending:
        state = states.get(triple)
        if folded is not None:
            value = folded[index]
            # apply_event hands back the state it was given when the event changes nothing.
            moved = (value is not after[triple] if triple in after
                     else state is None or value.last_event_id != state.last_event_id)
        else:
            before = after[triple] if triple in after else (
                StateValue(state.status, state.purpose_version, state.since, state.expires_at, state.last_event_id)
                if state is not None else None)
            value = apply_event(before, event, validity_months=requests[index].purpose.consent_validity_months)
            moved = value is not before
        after[triple] = value
        if moved:
            changed[triple] = (requests[index], event)
    rows = []
    for triple, (request, event) in changed.items():
        value = after[triple]
        rows.append((*triple, value.status, value.purpose_version, value.since, value.expires_at, event.pk,
                     selectors.contact_reachable_on(contact=request.contact, channel_code=request.channel.code)))
    return rows


_STATE_COLUMNS = ["contact_id", "purpose_id", "channel_id", "status", "purpose_version", "since", "expires_at",
                  "last_event_id", "reachable"]


def _states_write(rows: list[tuple], states: dict) -> None:
    """Write the rows of ``_state_rows``: what ``bulk_create(update_conflicts=True)`` does. On
    PostgreSQL a big batch COPYs the pairs that had no row (``states``, read under the lock: none
    can appear meanwhile) and upserts the others in one statement."""
    if _use_copy(len(rows)):
        new = [row for row in rows if row[:3] not in states]
        if new:
            _copy_rows(ConsentState, _STATE_COLUMNS, new)
        if len(new) < len(rows):
            _states_upsert([row for row in rows if row[:3] in states])
    elif rows:
        ConsentState.objects.bulk_create(
            [ConsentState(contact_id=contact_id, purpose_id=purpose_id, channel_id=channel_id, status=status,
                          purpose_version=version, since=since, expires_at=expires_at, last_event_id=last_event_id,
                          reachable=reachable)
             for contact_id, purpose_id, channel_id, status, version, since, expires_at, last_event_id, reachable
             in rows],
            update_conflicts=True, unique_fields=["contact", "purpose", "channel"],
            update_fields=[*STATE_FIELDS, "reachable"])


# The upsert bulk_create(update_conflicts=True) sends, with the rows as arrays: one statement
# whatever their number, and no model instance.
_STATES_UPSERT = """
INSERT INTO consent_consentstate
    (contact_id, purpose_id, channel_id, status, purpose_version, since, expires_at, last_event_id, reachable)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::integer[],
                     %s::timestamptz[], %s::timestamptz[], %s::bigint[], %s::boolean[])
ON CONFLICT (contact_id, purpose_id, channel_id) DO UPDATE SET
    status = EXCLUDED.status, purpose_version = EXCLUDED.purpose_version, since = EXCLUDED.since,
    expires_at = EXCLUDED.expires_at, last_event_id = EXCLUDED.last_event_id, reachable = EXCLUDED.reachable
"""


def _states_upsert(rows: list[tuple]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_STATES_UPSERT, [list(column) for column in zip(*rows)])


def consent_states_refresh_reachable(*, contact_ids: Iterable[int]) -> int:
    """Recompute ``ConsentState.reachable`` for these contacts after their address, restriction or
    anonymisation changed (every service that changes one calls this in its transaction). Returns
    how many rows changed."""
    contact_ids = list(contact_ids)
    if not contact_ids:
        return 0
    ledger.lock_for_append()  # before the rows, as every writer of them (no two wait on each other)
    contacts = Contact.objects.in_bulk(contact_ids)
    stale = []
    for state in ConsentState.objects.filter(contact_id__in=contact_ids).select_related("channel"):
        reachable = selectors.contact_reachable_on(contact=contacts[state.contact_id],
                                                   channel_code=state.channel.code)
        if state.reachable != reachable:
            state.reachable = reachable
            stale.append(state)
    ConsentState.objects.bulk_update(stale, ["reachable"], batch_size=1000)
    return len(stale)


def audience_count_deltas_compact() -> int:
    """PostgreSQL: replace the AudienceCountDelta rows of each purpose x channel x version by their
    sum, so that an audience count adds up a few rows. One statement: deltas committed meanwhile are
    not in its snapshot and stay for the next run; a concurrent run skips the rows this one deletes.
    Returns how many rows went."""
    if connection.vendor != "postgresql":
        return 0  # no triggers, no deltas: counts are counted (selectors.audience_count)
    table = connection.ops.quote_name(AudienceCountDelta._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH gone AS (DELETE FROM {table} RETURNING purpose_id, channel_id, purpose_version, delta),
                 summed AS (INSERT INTO {table} (purpose_id, channel_id, purpose_version, delta)
                            SELECT purpose_id, channel_id, purpose_version, sum(delta) FROM gone
                             GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
                            RETURNING 1)
            SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM summed)""")
        return cursor.fetchone()[0]


def consent_validity_apply(*, purpose: Purpose, report: Callable[[int], Any] | None = None,
                           chunk_size: int = 2000) -> int:
    """Give every current grant of ``purpose`` the expiry its consent validity now gives (the
    fold's: when the grant took effect plus the validity, ``state.grant_expiry``). Shortened, the
    grants older than the new validity stop being allowed at once and the periodic expiry writes
    their ``expired`` events; lengthened, they last longer; removed, they no longer expire.

    In chunks of ``chunk_size`` rows, each in its own transaction under the append lock (so no
    append waits long, and none rewrites a row between its read and its update), with the
    validity read again in each. Appends re-read the validity under that lock too
    (``_validity_refreshed``; the one-statement ones compare it), except a one-statement append
    whose snapshot was taken before the change: a last pass redoes the grants written since
    the job started. Returns how many rows changed; run again, it changes nothing."""
    grants = ConsentState.objects.filter(purpose_id=purpose.pk, status=Action.GRANTED)
    with transaction.atomic():  # the appends holding the lock when the validity changed have committed
        ledger.lock_for_append()
        written_before = ConsentEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    changed = _expiries_recomputed(grants, purpose_id=purpose.pk, chunk_size=chunk_size, report=report)
    return changed + _expiries_recomputed(grants.filter(last_event_id__gt=written_before), purpose_id=purpose.pk,
                                          chunk_size=chunk_size)


def _expiries_recomputed(grants, *, purpose_id: int, chunk_size: int,
                         report: Callable[[int], Any] | None = None) -> int:
    total = (grants.count() or 1) if report is not None else 1
    changed = done = last_pk = 0
    while True:
        with transaction.atomic():
            ledger.lock_for_append()
            validity = Purpose.objects.values_list("consent_validity_months", flat=True).get(pk=purpose_id)
            rows = list(grants.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "since", "expires_at")[:chunk_size])
            if not rows:
                return changed
            last_pk = rows[-1][0]
            moved = [ConsentState(pk=pk, expires_at=expiry) for pk, since, expires_at in rows
                     if (expiry := grant_expiry(since, validity)) != expires_at]
            ConsentState.objects.bulk_update(moved, ["expires_at"], batch_size=500)
        changed += len(moved)
        done += len(rows)
        if report is not None:
            report(min(99, int(100 * done / total)))


def consent_expire_due(*, now: datetime | None = None) -> int:
    """Write an ``expired`` event for every grant past its purpose's validity. Returns how many."""
    now = now or timezone.now()
    count = 0
    for state in selectors.states_due_to_expire(now=now).select_related("contact", "purpose", "channel"):
        if _job_recorded(state, action=Action.EXPIRED, method=Method.EXPIRY, effective_at=state.expires_at):
            count += 1
    return count


def _job_recorded(state: ConsentState, *, then: Callable[[], Any] | None = None, **event: Any) -> bool:
    """One event of a periodic job (expiry, lapse) on ``state``'s pair, and ``then``, in their own
    transaction. A refusal is logged and skipped, so that one pair never stops the job for every
    other pair, run after run."""
    try:
        with transaction.atomic():
            consent_record(contact=state.contact, purpose=state.purpose, channel=state.channel, **event)
            if then is not None:
                then()
    except ValidationError as exc:
        logger.error("consent state %s: no %s event recorded: %s", state.pk, event["action"], exc.messages)
        return False
    return True


def consent_lapse_outdated() -> int:
    """Write a ``lapsed`` event for every grant given before a material change of its purpose's
    text or to a retired purpose, and for every grant or pending consent on a channel its purpose
    no longer uses (selectors.states_outdated). Contacts whose consent lapsed because the purpose was retired
    are told by email, once per purpose, by a task started after commit. Returns how many lapsed."""
    from .tasks import send_retirement_notices

    count = 0
    for state in selectors.states_outdated().select_related("contact", "purpose", "channel"):
        contact, purpose = state.contact, state.purpose

        def tell_if_retired(contact=contact, purpose=purpose) -> None:
            if purpose.status == Purpose.Status.RETIRED and contact.email and not contact.anonymised_at:
                RetirementNotice.objects.get_or_create(contact=contact, purpose=purpose)

        count += _job_recorded(state, action=Action.LAPSED, method=Method.REGISTER_CHANGE, then=tell_if_retired)
    # Also picks up notices an earlier run could not send (broker down, mail server refusing).
    if selectors.retirement_notices_due().exists():
        transaction.on_commit(send_retirement_notices.delay)
    return count


def retirement_notices_send(*, limit: int | None = None) -> int:
    """Email each contact who has a retired-purpose notice still to send, in their language, and
    mark it sent. Safe to run twice or in parallel: each notice is locked while its email goes
    (rows locked by another worker are skipped) and is sent once. Returns how many were sent."""
    from .emails import send_purpose_retired

    sent = 0
    failed: list[int] = []
    while limit is None or sent < limit:
        with transaction.atomic():
            notice = (selectors.retirement_notices_due().exclude(pk__in=failed)
                      .select_for_update(skip_locked=True, of=("self",)).select_related("contact", "purpose")
                      .first())
            if notice is None:
                break
            contact = notice.contact
            try:
                with transaction.atomic():
                    if contact.email and not contact.anonymised_at:  # erased since: nobody to tell
                        send_purpose_retired(contact=contact, purpose=notice.purpose)
                        sent += 1
                    RetirementNotice.objects.filter(pk=notice.pk).update(sent_at=timezone.now())
            except Exception:  # a refused address must not hold back the others; the next run retries
                logger.exception("could not send the retired-purpose notice %s", notice.pk)
                RetirementNotice.objects.filter(pk=notice.pk).update(attempts=F("attempts") + 1)
                failed.append(notice.pk)
    return sent


# --- Suppression lists --------------------------------------------------------------------


@dataclass
class SuppressionImport:
    added: int = 0
    already_present: int = 0
    rejected: list[tuple[int, str]] | None = None


@transaction.atomic
def suppression_add(*, channel: Channel, value: str, source: str, note: str = "") -> tuple[SuppressionEntry, bool]:
    """Add an address or number to the channel's suppression list (its keyed digest only)."""
    digest = suppression_digest(channel.code, value)
    return SuppressionEntry.objects.get_or_create(channel=channel, digest=digest,
                                                  defaults={"source": source, "note": note})


def _suppression_cells(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, first cell) of each non-blank line of a list file: one column, or a CSV whose
    first column holds the address or number (";", "," or tab; quoted cells, as spreadsheets write
    them). A first line that holds neither an "@" nor a digit is a header ("email", "Numéro"...)."""
    lines = list(lines)
    first = next((line for line in lines if line.strip()), "")
    reader = csv.reader(lines, delimiter=csvfiles.detect_delimiter(first))
    header_checked = False
    for row in reader:
        value = row[0].strip() if row else ""
        if not value:
            continue
        if not header_checked:
            header_checked = True
            if "@" not in value and not any(char.isdigit() for char in value):
                continue
        yield reader.line_num, value


def suppression_import(*, channel: Channel, lines: Iterable[str], source: str = SuppressionEntry.Source.OPPOSITION_LIST,
                       note: str = "") -> SuppressionImport:
    """Import an opposition list, one address or number per line (_suppression_cells). Every line is
    checked first: nothing is written unless every line is valid; the report names each bad line."""
    digests: list[str] = []
    rejected: list[tuple[int, str]] = []
    for number, value in _suppression_cells(lines):
        try:
            digests.append(suppression_digest(channel.code, value))
        except ValidationError as exc:
            rejected.append((number, " ".join(exc.messages)))
    report = SuppressionImport(rejected=rejected)
    if rejected:
        return report
    with transaction.atomic():
        existing = set(SuppressionEntry.objects.filter(channel=channel, digest__in=digests)
                       .values_list("digest", flat=True))
        new = sorted(set(digests) - existing)
        SuppressionEntry.objects.bulk_create(
            [SuppressionEntry(channel=channel, digest=d, source=source, note=note) for d in new],
            batch_size=1000, ignore_conflicts=True,
        )
    report.added = len(new)
    report.already_present = len(set(digests)) - len(new)
    return report


# --- Collection forms and double opt-in ----------------------------------------------------


@dataclass
class FormOutcome:
    contact: Contact
    created_contact: bool
    granted: list[ConsentEvent]
    pending: list[ConsentEvent]
    objected: list[ConsentEvent]
    # Double opt-in boxes whose consent was already given: nothing recorded, the preference link sent.
    already_given: list[CollectionFormItem] = field(default_factory=list)


def _form_missing_addresses(*, items: list[CollectionFormItem], contact_fields: dict[str, Any]) -> dict[str, list]:
    """Field errors for ticked boxes whose channel has no address in the submission.

    A choice about a channel means nothing without its address, and a double opt-in would tell the
    person to check a mailbox we never wrote to: refused, as the import refuses such lines."""
    codes = {item.channel.code for item in items}
    errors: dict[str, list] = {}
    if "email" in codes and not contact_fields.get("email"):
        errors["email"] = [_("Give your email address: you ticked a box about messages by email.")]
    if codes & {"sms", "phone"} and not contact_fields.get("phone"):
        errors["phone"] = [_("Give your phone number: you ticked a box about calls or text messages.")]
    if "postal" in codes and not all(contact_fields.get(name) for name in ("address_line1", "postal_code", "city")):
        errors["address_line1"] = [_(
            "Give your postal address, postal code and city: you ticked a box about postal mail.")]
    return errors


@transaction.atomic
def form_submit(
    *,
    form: CollectionForm,
    contact_fields: dict[str, Any],
    chosen: Iterable[CollectionFormItem],
    method: str,
    language: str,
    recorded_by: AbstractBaseUser | None = None,
    age_confirmed: bool = False,
    evidence_ip: str | None = None,
    evidence_user_agent: str = "",
    evidence_note: str = "",
    evidence_document: UploadedFile | None = None,
    contact: Contact | None = None,
) -> FormOutcome:
    """Record what a person ticked on a collection form, with the form's Art. 13 notice as proof.

    A ticked consent box on the email channel of a double opt-in form stays ``pending`` until the
    person confirms from the emailed link; a ticked box of an opt-out purpose records the objection
    offered at collection (soft opt-in). Unticked boxes record nothing.

    ``contact``: the contact a staff member chose on the staff page (``selectors.contact_search``)
    instead of the one the given email or phone finds (``_chosen_contact_completed``)."""
    from . import tasks
    from .notices import form_notice_text

    if not form.active:
        raise ValidationError(_("This form is closed."))
    if form.require_age_15 and not age_confirmed:
        raise ValidationError({"age_confirmed": [_(
            "We cannot record your consent: under 15, consent to an online service must be given together "
            "with a parent's (loi Informatique et Libertés, art. 45). Ask a parent to fill in the form with you."
        )]})
    items = list(chosen)
    if not items:  # nothing to record: the person's details are not kept for no purpose either
        raise ValidationError(_("Tick at least one box: nothing was recorded, and your details were not kept."))
    foreign = [item for item in items if item.form_id != form.pk]
    if foreign:
        raise ValidationError({"choices": [_("A box does not belong to this form.")]})
    if contact is not None:  # what is on file counts for the addresses the ticked boxes need
        contact_fields = {**{name: getattr(contact, name) for name in contact_fields if name in CONTACT_FIELDS},
                          **{name: value for name, value in contact_fields.items() if value not in ("", None)}}
    missing = _form_missing_addresses(items=items, contact_fields=contact_fields)
    if missing:
        raise ValidationError(missing)
    if contact is not None:
        contact, created = _chosen_contact_completed(contact=contact, contact_fields=contact_fields, form=form), False
    else:
        lookup = {name: contact_fields.get(name, "") for name in ("email", "phone", "external_ref")}
        others = {name: value for name, value in contact_fields.items()
                  if name not in lookup and value not in ("", None)}
        contact, created = contact_get_or_create(**lookup, source=others.pop("source", f"form:{form.slug}"),
                                                 language=language, **others)
    notice_text = form_notice_text(form=form, language=language)
    evidence = {"evidence_ip": evidence_ip, "evidence_user_agent": evidence_user_agent,
                "evidence_note": evidence_note, "evidence_document": evidence_document}
    outcome = FormOutcome(contact, created, [], [], [])
    for item in items:
        purpose, channel = item.purpose, item.channel
        if purpose.legal_basis != LegalBasis.CONSENT:
            action, bucket = Action.OBJECTED, outcome.objected
        elif channel.code == "email" and form.double_opt_in:
            if _double_opt_in_already_asked(contact=contact, item=item, outcome=outcome):
                continue
            action, bucket = Action.PENDING, outcome.pending
        else:
            action, bucket = Action.GRANTED, outcome.granted
        recorded = consent_record(contact=contact, purpose=purpose, channel=channel, action=action, method=method,
                                  recorded_by=recorded_by, collection_form=form.slug, notice_text=notice_text,
                                  language=language, **evidence)
        evidence["evidence_document"] = None  # one scan, kept on the first event of the submission
        bucket.append(recorded.event)
        if action == Action.PENDING:
            after_commit(tasks.send_double_opt_in, recorded.event.pk)
    if outcome.granted:
        after_commit(tasks.send_consent_receipts, [event.pk for event in outcome.granted])
    return outcome


_POSTAL_FIELDS = ("address_line1", "address_line2", "postal_code", "city")


def _chosen_contact_completed(*, contact: Contact, contact_fields: dict[str, Any], form: CollectionForm) -> Contact:
    """The contact a staff member chose, given what the form adds that it lacks (the address a
    ticked box needs, a name), saved with its history. The form never overwrites what is on file:
    an email, phone or postal address (one whole) other than the contact's is refused (changing
    one is a rectification, made on the contact's page). On a double opt-in form a new email is
    refused too: it would be on the person's record before its owner confirmed it."""
    if contact.anonymised_at:
        raise ValidationError(_("This contact was anonymised: nothing can be recorded for them any more."))
    given = _normalised({name: value or "" for name, value in contact_fields.items() if name in CONTACT_FIELDS},
                        country=contact.country or "")
    held_postal = " ".join(filter(None, (getattr(contact, name) for name in _POSTAL_FIELDS)))
    on_file = {"email": (_("email"), contact.email), "phone": (_("phone number"), contact.phone),
               "address_line1": (_("postal address"), held_postal)}
    differs = {"email": given.get("email", "") not in ("", contact.email),
               "phone": given.get("phone", "") not in ("", contact.phone),
               "address_line1": bool(held_postal) and any(
                   given[name] != getattr(contact, name) for name in _POSTAL_FIELDS if given.get(name))}
    errors = {name: [_("This contact has another %(field)s on file (%(held)s): correct it on the contact's page, "
                       "or search again.") % {"field": on_file[name][0], "held": on_file[name][1]}]
              for name, different in differs.items() if different and on_file[name][1]}
    if form.double_opt_in and given.get("email") and not contact.email:
        errors["email"] = [_("This contact has no email on file, and this form asks the owner of a new address to "
                             "confirm it: check the address with the person and add it on the contact's page first.")]
    if errors:
        raise ValidationError(errors)
    lacking = {name: value for name, value in given.items() if value and not getattr(contact, name)}
    return contact_update(contact=contact, **lacking) if lacking else contact


def _double_opt_in_already_asked(*, contact: Contact, item: CollectionFormItem, outcome: FormOutcome) -> bool:
    """A double opt-in box ticked again, by the person or by anyone who types their address: an
    unconfirmed request never replaces a consent already given, nor stacks a second pending one
    (whose link would make the first email's link say "nothing to confirm"). Still pending, with
    a day of its confirmation window left: the same confirmation link is sent again. Already given:
    the person gets their preference-centre link instead. Either way the page says, as for a new
    request, that an email was sent."""
    from . import tasks

    current = selectors.consent_check(contact=contact, purpose=item.purpose, channel=item.channel)
    window_left = timezone.now() - timedelta(days=settings.DOUBLE_OPT_IN_DAYS - 1)
    if current.status == Action.PENDING and current.since >= window_left:
        pending = ConsentState.objects.select_related("last_event").get(
            contact=contact, purpose=item.purpose, channel=item.channel).last_event
        outcome.pending.append(pending)
        after_commit(tasks.send_double_opt_in, pending.pk)
        return True
    if current.status == Action.GRANTED:
        if not outcome.already_given:  # one link for the whole submission
            after_commit(tasks.send_preference_link, contact.pk)
        outcome.already_given.append(item)
        return True
    return False


def after_commit(task, *args: Any) -> None:
    """Enqueue ``task`` (an email to the person) once the transaction commits. Their consent is
    recorded by then: a broker that is down, or in the embedded default (tasks run eagerly) a mail
    server that refuses, is logged, never an error page for them."""
    def enqueue() -> None:
        try:
            task.delay(*args)
        except Exception:  # noqa: BLE001 - logged; the consent itself is committed
            logger.exception("could not send %s%r", task.name, args)

    transaction.on_commit(enqueue)


@transaction.atomic
def consent_confirm(*, pending_event_id: int, evidence_ip: str | None = None,
                    evidence_user_agent: str = "") -> ConsentEvent | None:
    """Confirm a double opt-in: its own ``granted`` event, under the notice the person saw.
    Returns None when there is nothing (any more) to confirm; confirming twice changes nothing.
    Raises a ValidationError (code ``contact_anonymised``, ``purpose_retired`` or ``not_recordable``)
    whose message tells the person why the consent can no longer be confirmed."""
    pending = ConsentEvent.objects.select_related("contact", "purpose", "channel", "notice").filter(
        pk=pending_event_id, action=Action.PENDING).first()
    if pending is None:
        return None
    # Before the state: once the lapse job has run, a retired purpose explains more than "nothing to confirm".
    if pending.purpose.status != Purpose.Status.ACTIVE:
        raise ValidationError(_("We no longer send “%(purpose)s”, so this subscription can no longer be "
                                "confirmed.") % {"purpose": pending.purpose.name}, code="purpose_retired")
    state = ConsentState.objects.filter(contact=pending.contact, purpose=pending.purpose,
                                        channel=pending.channel).first()
    if state is None or state.status != Action.PENDING or state.last_event_id != pending.pk:
        return None  # confirmed, withdrawn or expired (an expired one's contact may be erased since)
    if pending.contact.anonymised_at:
        raise ValidationError(_("Your details have been erased from our files, so this subscription can no longer "
                                "be confirmed. Fill in the form again if you still wish to subscribe."),
                              code="contact_anonymised")
    if pending.purpose_version < selectors.purpose_material_version(purpose=pending.purpose):
        # The text asked about changed materially since: confirming would grant the new text unseen.
        raise _terms_changed()
    from . import tasks

    try:
        confirmed = consent_record(
            contact=pending.contact, purpose=pending.purpose, channel=pending.channel, action=Action.GRANTED,
            method=Method.DOUBLE_OPT_IN, collection_form=pending.collection_form,
            notice_text=pending.notice.text if pending.notice_id else None,
            language=pending.notice.language if pending.notice_id else None,
            evidence_ip=evidence_ip, evidence_user_agent=evidence_user_agent,
        ).event
    except ValidationError as exc:  # e.g. the purpose no longer uses this channel
        raise _terms_changed() from exc
    after_commit(tasks.send_consent_receipts, [confirmed.pk])
    return confirmed


def _terms_changed() -> ValidationError:
    return ValidationError(_("The terms of this subscription have changed since you asked for it, so it can no "
                             "longer be confirmed. Fill in the form again if you still wish to subscribe."),
                           code="not_recordable")


def consent_expire_pending(*, now: datetime | None = None) -> int:
    """Expire double opt-ins left unconfirmed; erase contacts that exist only for them
    (``created_only_for_double_opt_in``). Returns how many expired."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.DOUBLE_OPT_IN_DAYS)
    # An erased contact's pending consent cannot be recorded against any more, nor reach anyone.
    stale = ConsentState.objects.filter(status=Action.PENDING, since__lt=cutoff,
                                        contact__anonymised_at__isnull=True).select_related(
        "contact", "purpose", "channel")
    touched: set[int] = set()
    count = 0
    for state in stale:
        consent_record(contact=state.contact, purpose=state.purpose, channel=state.channel,
                       action=Action.EXPIRED, method=Method.EXPIRY)
        touched.add(state.contact_id)
        count += 1
    for contact in Contact.objects.filter(pk__in=touched, anonymised_at__isnull=True).order_by("pk"):
        if created_only_for_double_opt_in(contact=contact):
            contact_anonymise(contact=contact)
    return count


# What a double opt-in submission writes for a contact it creates; anything else means other data.
_DOUBLE_OPT_IN_TRACES = (Contact, ConsentEvent, ConsentState)


def created_only_for_double_opt_in(*, contact: Contact) -> bool:
    """Whether the contact was created by a double opt-in form submission and holds nothing else:
    its source is that form, its first event the form's ``pending``, it has only pending or
    expired events and no pending one still awaiting its confirmation, no external reference or
    category, was never edited after its creation, and no other source of the data map has a
    record of it. Erasure must never reach data the organisation held before the submission."""
    from registry.datamap import datamap

    if contact.anonymised_at or contact.restricted or contact.external_ref:
        return False
    events = contact.events.order_by("sequence")
    first = events.first()
    if first is None or first.action != Action.PENDING or contact.source != f"form:{first.collection_form}":
        return False
    if events.exclude(action__in=[Action.PENDING, Action.EXPIRED]).exists():
        return False
    if contact.consent_states.filter(status=Action.PENDING).exists():
        return False  # another double opt-in still awaits its confirmation
    if contact.data_subject_categories.exists() or contact.history.count() > 1:
        return False
    for source in datamap.sources():
        if source.model in _DOUBLE_OPT_IN_TRACES or source.subject is None:
            continue
        if source.subject(contact).exists():
            return False
    return True


@transaction.atomic
def contact_anonymise(*, contact: Contact) -> Contact:
    """Erase the contact's personal data from every source of the data map, history rows included,
    by each field's declared strategy; the ledger keeps its events with their evidence cleared (the
    one UPDATE its trigger allows, which the hash chain survives). Sources under a legal hold are
    kept. The anonymisation is rights erasure's (``registry.erasure``), so both clear the same fields
    the same way; files (scanned evidence) are deleted after the commit by its file-deletion job."""
    from registry import erasure
    from registry import services as registry_services
    from registry.datamap import datamap

    now = timezone.now()
    files = erasure.FileList()
    contact.data_subject_categories.clear()  # before the history rows are scrubbed
    for source in datamap.sources():
        if source.subject is not None:
            records = source.model._default_manager.filter(pk__in=source.subject(contact).values("pk"))
            erasure.anonymise_source(source, records, files=files, now=now)
    if files:
        registry_services.job_create(kind=erasure.DELETE_FILES_JOB_KIND, params={"files": files.items, "attempt": 1})
    contact.refresh_from_db()
    return contact


# --- Preference centre and unsubscribe ------------------------------------------------------

PREFERENCE_ACTIONS = {"grant": Action.GRANTED, "withdraw": Action.WITHDRAWN, "object": Action.OBJECTED,
                      "lift": Action.OBJECTION_LIFTED}


def preference_link_request(*, email: str) -> None:
    """Email the preference-centre link when the address is known. The caller answers the same
    either way, so the page tells no one whether an address is on file; the email goes from a task,
    so the answer does not take longer for a known address either (the mail server's time)."""
    from .tasks import send_preference_link

    try:
        contact = selectors.contact_find(email=email)
    except ValidationError:
        return
    if contact is not None and not contact.anonymised_at:
        after_commit(send_preference_link, contact.pk)


def preference_change(*, contact: Contact, purpose: Purpose, channel: Channel, choice: str, language: str,
                      evidence_ip: str | None = None, evidence_user_agent: str = "") -> Recorded | None:
    """One click in the preference centre: one ledger event (a grant is receipted by email, as on a
    form). None when the choice is already the current one (a click sent twice, a page left open in
    two tabs): nothing changes, nothing is recorded."""
    from . import tasks

    if choice not in PREFERENCE_ACTIONS:
        raise ValidationError({"choice": [_("Unknown choice.")]})
    current = selectors.consent_check(contact=contact, purpose=purpose, channel=channel).status
    if current == PREFERENCE_ACTIONS[choice] or (choice == "lift" and current != Action.OBJECTED):
        return None
    recorded = consent_record(contact=contact, purpose=purpose, channel=channel, action=PREFERENCE_ACTIONS[choice],
                              method=Method.PREFERENCE_CENTRE, language=language, evidence_ip=evidence_ip,
                              evidence_user_agent=evidence_user_agent)
    if recorded.event.action == Action.GRANTED:  # a consent given here is receipted as one given on a form
        after_commit(tasks.send_consent_receipts, [recorded.event.pk])
    return recorded


def unsubscribe(*, contact: Contact, purpose: Purpose, channel: Channel) -> Recorded | None:
    """The one-click unsubscribe of a marketing message: a withdrawal (consent) or an objection
    (opt-out). A consent still pending (double opt-in) is withdrawn too, so its confirmation link
    no longer turns it into a grant. None when the contact is already not reachable there (clicking twice records once),
    and when no one can be reached there any more: the purpose no longer uses the channel, or the
    contact was erased (the ledger takes no event for either; old links must still answer)."""
    result = selectors.consent_check(contact=contact, purpose=purpose, channel=channel)
    if result.reason in (selectors.Reason.CHANNEL_NOT_ALLOWED, selectors.Reason.ANONYMISED):
        return None
    if purpose.needs_consent:
        if result.status not in (Action.GRANTED, Action.PENDING):
            return None
        action = Action.WITHDRAWN
    else:
        if result.status == Action.OBJECTED:
            return None
        action = Action.OBJECTED
    return consent_record(contact=contact, purpose=purpose, channel=channel, action=action, method=Method.UNSUBSCRIBE)


# --- Imports from existing files -------------------------------------------------------------

from registry.models import Job


def consent_import_start(*, file_name: str, content: bytes, valid_rows_only: bool,
                         requested_by: AbstractBaseUser | None, language: str | None = None) -> Job:
    """Keep the file in private storage (``imports/``) and create the ``consent_import`` job that
    validates it and writes it (see consent.imports). The job runs once the transaction commits;
    its report is written in ``language`` (the uploader's; default: the site's)."""
    import posixpath
    import uuid

    from django.core.files.base import ContentFile

    from registry import services as registry_services

    from . import imports

    if not content or not content.strip():
        raise ValidationError({"file": [_("The file is empty.")]})
    name = posixpath.basename((file_name or "").replace("\\", "/")) or "import.csv"
    storage = Job._meta.get_field("output").storage  # the private storage: no URL
    stored = storage.save(f"imports/{timezone.localdate():%Y/%m}/{uuid.uuid4().hex}-{name}"[:200],
                          ContentFile(content))
    return registry_services.job_create(
        kind=imports.JOB_KIND, requested_by=requested_by,
        params={"file": stored, "file_name": name, "valid_rows_only": bool(valid_rows_only),
                **({"language": language} if language else {})},
    )
