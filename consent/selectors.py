"""Reads on contacts and consent: finding a contact, and may we reach them?"""
from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from registry.models import Channel, LegalBasis, Purpose, PurposeVersion, legal_basis_needs_consent

from .folding import Folded, folded
from .models import (AUDIENCE_CONDITION, Action, AudienceCountDelta, ConsentEvent, ConsentState, Contact,
                     RetirementNotice, SuppressionEntry)
from .normalise import normalise_email, normalise_phone, storable, stored_address_digest

# Statuses and reasons of the check, exactly as the API contract (design §4) names them.
STATUS_NONE = "none"


class Reason:
    CONSENT_GRANTED = "consent_granted"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    OUTDATED_VERSION = "outdated_version"
    OBJECTED = "objected"
    NOT_IN_CATEGORY = "not_in_category"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    RESTRICTED = "restricted"
    SUPPRESSED = "suppressed"
    ANONYMISED = "anonymised"
    UNKNOWN_CONTACT = "unknown_contact"


@dataclass(frozen=True)
class CheckResult:
    allowed: bool
    status: str
    reason: str
    since: datetime | None = None
    expires_at: datetime | None = None
    regime: str = "consent"  # "consent" (opt-in) or "opt_out"

    def as_dict(self) -> dict:
        return asdict(self)


def contact_find(*, contact_id: int | None = None, email: str = "", phone: str = "",
                 external_ref: str = "") -> Contact | None:
    """The contact with this id, email, phone or external reference (exactly one given).
    A phone shared by several contacts finds the oldest one."""
    if contact_id is not None:
        return Contact.objects.filter(pk=contact_id).first()
    if email:
        return Contact.objects.filter(email=normalise_email(email)).first()
    if phone:
        return phone_holders(phone=phone).first()
    if external_ref:
        return Contact.objects.filter(external_ref=external_ref.strip()).first()
    return None


def phone_holders(*, phone: str):
    """The contacts holding this phone number (any form normalise_phone takes), oldest first: a
    queryset. An erased contact holds none (its number is a keyed hash)."""
    return Contact.objects.filter(phone=normalise_phone(phone)).order_by("pk")


def contact_find_by_phone(*, phone: str, first_name: str = "", last_name: str = "") -> Contact | None:
    """The oldest contact holding this phone whose names do not contradict the ones given: two people
    sharing a landline (a family, colleagues) are told apart by their names, so one never records
    consent on the other's contact. Without names, the oldest holder (as contact_find)."""
    return holder_named(phone_holders(phone=phone), first_name=first_name, last_name=last_name)


def holder_named(holders: Iterable[Contact], *, first_name: str, last_name: str) -> Contact | None:
    """The first of the holders of one phone (oldest first) whose names do not contradict these."""
    return next((contact for contact in holders
                 if names_agree(contact, first_name=first_name, last_name=last_name)), None)


def names_agree(contact: Contact, *, first_name: str, last_name: str) -> bool:
    """No name given contradicts the contact's (an empty name, on either side, says nothing)."""
    return all(not given.strip() or not held.strip() or given.strip().casefold() == held.strip().casefold()
               for given, held in ((first_name or "", contact.first_name), (last_name or "", contact.last_name)))


CONTACT_SEARCH_LIMIT = 20
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'’-]*")


def contact_search(*, query: str, limit: int = CONTACT_SEARCH_LIMIT) -> list[Contact]:
    """The contacts a staff member may mean by ``query``, for the staff collection page: the one
    with this email, every holder of this phone (landlines are shared), the one with this
    external reference, and those whose last name starts with one word of the query and whose
    first or last name starts with each of the others, case and accents aside ("helene dup" and
    "dupont" find "Hélène Dupont", "helene" alone does not: ``folding``). Anonymised contacts are
    never found. At most ``limit``, by name."""
    query = " ".join(query.split())
    if not query or not storable(query):  # a NUL character matches no contact (and PostgreSQL refuses it)
        return []
    found = Q(external_ref=query)
    if "@" in query:
        try:
            found |= Q(email=normalise_email(query))
        except ValidationError:
            pass
    if sum(character.isdigit() for character in query) >= 6:
        try:
            found |= Q(phone=normalise_phone(query))
        except ValidationError:
            pass
    words = [folded(word) for word in _NAME_TOKEN.findall(query)] if "@" not in query else []
    contacts = Contact.objects.all()
    if words:
        contacts = contacts.alias(first_folded=Folded("first_name"), last_folded=Folded("last_name"))
        # One of the words starts the last name (what the index on the folded last name finds
        # among a million contacts), and each starts the first or the last name.
        by_name = functools.reduce(operator.or_, (Q(last_folded__startswith=word) for word in words))
        for word in words:
            by_name &= Q(first_folded__startswith=word) | Q(last_folded__startswith=word)
        found |= by_name
    return list(contacts.filter(found, anonymised_at__isnull=True).order_by("last_name", "first_name", "pk")[:limit])


def contact_duplicate_candidates(*, contact: Contact) -> list[Contact]:
    """Other contacts holding the same phone number (landlines are shared: a candidate, not an error)."""
    if not contact.phone:
        return []
    return list(Contact.objects.filter(phone=contact.phone).exclude(pk=contact.pk).order_by("pk"))


def contact_addresses(*, contact: Contact) -> dict[str, str]:
    """The contact's address per channel code, in normal form."""
    postal = " ".join(filter(None, [contact.address_line1, contact.address_line2, contact.postal_code, contact.city]))
    return {"email": contact.email, "sms": contact.phone, "phone": contact.phone, "postal": postal}


def contact_reachable_on(*, contact: Contact, channel_code: str) -> bool:
    """What ``ConsentState.reachable`` holds: an address on the channel, no restriction, not anonymised."""
    return (not contact.restricted and contact.anonymised_at is None
            and bool(contact_addresses(contact=contact).get(channel_code)))


def suppression_blocks(entries: Iterable[tuple[str, datetime]], *, granted_since: datetime | None) -> bool:
    """Do these suppression entries (source, created_at) of one address block it? Every entry does,
    except one left by an erasure once the person consents again after it: the entry is there to stop
    a re-import or a re-subscription *without* a new consent (the one rule for check and audience)."""
    for source, created_at in entries:
        if source != SuppressionEntry.Source.ERASURE or granted_since is None or granted_since <= created_at:
            return True
    return False


def is_suppressed(*, contact: Contact, channel: Channel, granted_since: datetime | None = None) -> bool:
    address = contact_addresses(contact=contact).get(channel.code, "")
    return _address_suppressed(channel_id=channel.pk, channel_code=channel.code, address=address,
                               granted_since=granted_since)


def _address_suppressed(*, channel_id: int, channel_code: str, address: str, granted_since: datetime | None) -> bool:
    """Does the channel's suppression list block this stored address? One query when there is an address.
    The digest is taken of the address as stored (already in normal form: no second email_validator pass)."""
    from . import ledger

    if not address:
        return False
    digest = stored_address_digest(channel_code, address)
    if connection.vendor != "postgresql":
        entries = SuppressionEntry.objects.filter(channel_id=channel_id, digest=digest).values_list(
            "source", "created_at")
        return suppression_blocks(entries, granted_since=granted_since)
    # Run by every check and every API write: a prepared statement (ledger.prepared_cursor).
    table = connection.ops.quote_name(SuppressionEntry._meta.db_table)
    with ledger.prepared_cursor() as cursor:
        cursor.execute(f"SELECT source, created_at FROM {table} WHERE channel_id = %s AND digest = %s",
                       [channel_id, digest])
        return suppression_blocks(cursor.fetchall(), granted_since=granted_since)


def purpose_material_version(*, purpose: Purpose) -> int:
    """The version of the latest material change of the purpose's text (grants before it lapse)."""
    return PurposeVersion.objects.filter(purpose=purpose, change_kind=PurposeVersion.ChangeKind.MATERIAL).aggregate(
        v=Max("version"))["v"] or 0


def effective_status(*, state: ConsentState | None, purpose: Purpose, material_version: int,
                     now: datetime) -> str:
    """The state's status as of ``now``: a grant past its validity is expired, a grant given
    before a material change of the purpose's text, or to a purpose since retired, has lapsed
    (even before the jobs write it: consent_stats says the same in SQL)."""
    if state is None:
        return STATUS_NONE
    if state.status == Action.GRANTED:
        if state.expires_at and state.expires_at <= now:
            return Action.EXPIRED
        if state.purpose_version < material_version or purpose.status != Purpose.Status.ACTIVE:
            return Action.LAPSED
    if state.status == Action.OBJECTION_LIFTED:
        return STATUS_NONE
    return state.status


_CONSENT_REASONS = {
    Action.GRANTED: Reason.CONSENT_GRANTED,
    Action.WITHDRAWN: Reason.WITHDRAWN,
    Action.EXPIRED: Reason.EXPIRED,
    Action.LAPSED: Reason.OUTDATED_VERSION,
    Action.OBJECTED: Reason.OBJECTED,
}


def _contact_gate(contact) -> CheckResult | None:
    """The answers that need nothing but the contact: unknown, anonymised."""
    if contact is None:
        return CheckResult(False, STATUS_NONE, Reason.UNKNOWN_CONTACT)
    if contact.anonymised_at:
        return CheckResult(False, STATUS_NONE, Reason.ANONYMISED)
    return None


def _check_rule(*, contact, purpose, state, material_version: int, now: datetime,
                channel_allowed: Callable[[], bool], suppressed: Callable[[datetime | None], bool],
                in_category: Callable[[], bool]) -> CheckResult:
    """The rule of design §4 for a known, not anonymised contact, whatever fetched the facts:
    ``contact`` has ``restricted``, ``purpose`` ``status`` and ``legal_basis``, ``state`` is the
    current-consent row or None. The costlier tests are callables, asked only when the rule reaches
    them: consent_check queries them lazily, consent_check_lookup has them from its one query."""
    status = effective_status(state=state, purpose=purpose, material_version=material_version, now=now)
    since = state.since if state else None
    expires_at = state.expires_at if state else None
    consent_based = legal_basis_needs_consent(purpose.legal_basis)  # a Purpose or a _Row
    regime = "consent" if consent_based else "opt_out"

    def no(reason: str) -> CheckResult:
        return CheckResult(False, status, reason, since, expires_at, regime)

    if purpose.status != Purpose.Status.ACTIVE:
        return no(Reason.OUTDATED_VERSION)
    if not channel_allowed():
        return no(Reason.CHANNEL_NOT_ALLOWED)
    if contact.restricted:
        return no(Reason.RESTRICTED)
    if suppressed(since if consent_based and status == Action.GRANTED else None):
        return no(Reason.SUPPRESSED)
    if consent_based:
        if status == Action.GRANTED:
            return CheckResult(True, status, Reason.CONSENT_GRANTED, since, expires_at, regime)
        return no(_CONSENT_REASONS.get(status, Reason.NO_CONSENT))
    # Opt-out regime: the purpose's people, unless they objected on this channel. No consent is
    # needed, so an allowed answer says "no_consent" with regime "opt_out".
    if status == Action.OBJECTED:
        return no(Reason.OBJECTED)
    if not in_category():
        return no(Reason.NOT_IN_CATEGORY)
    return CheckResult(True, status, Reason.NO_CONSENT, since, expires_at, regime)


def consent_check(*, contact: Contact | None, purpose: Purpose, channel: Channel,
                  now: datetime | None = None) -> CheckResult:
    """May ``contact`` be reached for ``purpose`` on ``channel``? One rule set for the API, the
    audience and the staff pages. Restriction, suppression and anonymisation always say no.
    For model instances in hand; the API's check by slug, code and identifier is consent_check_lookup."""
    now = now or timezone.now()
    gate = _contact_gate(contact)
    if gate is not None:
        return gate

    def in_category() -> bool:
        targeted = purpose.data_subject_categories.all()
        return not targeted.exists() or contact.data_subject_categories.filter(pk__in=targeted).exists()

    return _check_rule(
        contact=contact, purpose=purpose,
        state=ConsentState.objects.filter(contact=contact, purpose=purpose, channel=channel).first(),
        material_version=purpose_material_version(purpose=purpose), now=now,
        channel_allowed=lambda: purpose.channels.filter(pk=channel.pk).exists(),
        suppressed=lambda granted_since: is_suppressed(contact=contact, channel=channel, granted_since=granted_since),
        in_category=in_category,
    )


@dataclass(frozen=True)
class CheckLookup:
    """consent_check_lookup's answer: the result, or (result None) which of purpose and channel is unknown."""

    result: CheckResult | None
    unknown: tuple[str, ...] = ()


# Identifier (as contact_find takes it) -> the contact column it matches, in normal form.
_IDENTIFIER_COLUMNS = {"contact_id": "id", "email": "email", "phone": "phone", "external_ref": "external_ref"}


def contact_identifier_value(*, field: str, value: object) -> object:
    """The stored form of an identifier, as contact_find compares it; ValidationError when it does not parse."""
    if field == "email":
        return normalise_email(value)
    if field == "phone":
        return normalise_phone(value)
    if field == "external_ref":
        return value.strip()
    return value


@functools.cache
def _check_lookup_sql(column: str) -> str:
    """One row, always: the purpose by slug, the channel by code, "channel allowed for the purpose",
    the latest material version, the contact by ``column`` (the oldest first, as contact_find), its
    current-consent row and the category test of the opt-out regime. NULL ids = not found. Plain SQL
    that SQLite and PostgreSQL both run; table and column names from the models."""
    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def col(model, field: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(field).column)

    purpose_channels = Purpose.channels.through
    purpose_categories = Purpose.data_subject_categories.through
    contact_categories = Contact.data_subject_categories.through
    pc_purpose, pc_channel = col(purpose_channels, "purpose"), col(purpose_channels, "channel")
    pt_purpose, pt_category = col(purpose_categories, "purpose"), col(purpose_categories, "datasubjectcategory")
    cl_contact, cl_category = col(contact_categories, "contact"), col(contact_categories, "datasubjectcategory")
    contact_fields = ("anonymised_at", "restricted") + _CHECK_ADDRESS_FIELDS
    return f"""
        SELECT p.id, p.{col(Purpose, "status")}, p.{col(Purpose, "legal_basis")}, ch.id,
               EXISTS (SELECT 1 FROM {table(purpose_channels)} pc
                        WHERE pc.{pc_purpose} = p.id AND pc.{pc_channel} = ch.id),
               COALESCE((SELECT MAX(v.{col(PurposeVersion, "version")}) FROM {table(PurposeVersion)} v
                          WHERE v.{col(PurposeVersion, "purpose")} = p.id
                            AND v.{col(PurposeVersion, "change_kind")} = %s), 0),
               c.id, {", ".join(f"c.{col(Contact, name)}" for name in contact_fields)},
               s.{col(ConsentState, "status")}, s.{col(ConsentState, "purpose_version")},
               s.{col(ConsentState, "since")}, s.{col(ConsentState, "expires_at")},
               NOT EXISTS (SELECT 1 FROM {table(purpose_categories)} t WHERE t.{pt_purpose} = p.id)
               OR EXISTS (SELECT 1 FROM {table(purpose_categories)} t
                            JOIN {table(contact_categories)} l ON l.{cl_category} = t.{pt_category}
                           WHERE t.{pt_purpose} = p.id AND l.{cl_contact} = c.id)
          FROM (SELECT 1 AS one) one
          LEFT JOIN {table(Purpose)} p ON p.{col(Purpose, "slug")} = %s
          LEFT JOIN {table(Channel)} ch ON ch.{col(Channel, "code")} = %s
          LEFT JOIN {table(Contact)} c ON c.{col(Contact, column)} = %s
          LEFT JOIN {table(ConsentState)} s ON s.{col(ConsentState, "contact")} = c.id
                AND s.{col(ConsentState, "purpose")} = p.id AND s.{col(ConsentState, "channel")} = ch.id
         ORDER BY c.id
         LIMIT 1"""


# The contact's address fields, in contact_addresses()'s order.
_CHECK_ADDRESS_FIELDS = ("email", "phone", "address_line1", "address_line2", "postal_code", "city")


@dataclass(frozen=True)
class _Row:
    """Facts read by consent_check_lookup's query, shaped as _check_rule and contact_addresses read them."""

    status: str = ""
    legal_basis: str = ""
    anonymised_at: datetime | None = None
    restricted: bool = False
    email: str = ""
    phone: str = ""
    address_line1: str = ""
    address_line2: str = ""
    postal_code: str = ""
    city: str = ""
    purpose_version: int = 0
    since: datetime | None = None
    expires_at: datetime | None = None


def _db_datetime(value) -> datetime | None:
    """An aware datetime from a raw cursor: PostgreSQL gives one, SQLite a naive UTC one or its text."""
    if value is None or (isinstance(value, datetime) and timezone.is_aware(value)):
        return value
    if not isinstance(value, datetime):
        value = parse_datetime(value)
    return timezone.make_aware(value, connection.timezone)


def consent_check_lookup(*, purpose_slug: str, channel_code: str, identifier: tuple[str, object],
                         now: datetime | None = None) -> CheckLookup:
    """consent_check for a purpose slug, a channel code and a contact identifier (``(field, value)``
    as contact_find takes it): the same rule and answer, from ONE query (register rows, contact,
    current consent, categories) plus, when the rule gets that far and the contact has an address on
    the channel, the suppression look-up. Raises ValidationError when the identifier does not parse."""
    now = now or timezone.now()
    field, value = identifier
    value = contact_identifier_value(field=field, value=value)
    with connection.cursor() as cursor:
        # An empty identifier names nobody (contacts without an email have email = '').
        cursor.execute(_check_lookup_sql(_IDENTIFIER_COLUMNS[field]),
                       [PurposeVersion.ChangeKind.MATERIAL.value, purpose_slug, channel_code, value if value else None])
        (purpose_id, purpose_status, legal_basis, channel_id, channel_allowed, material_version, contact_id,
         anonymised_at, restricted, *address, state_status, state_version, since, expires_at,
         in_category) = cursor.fetchone()
    unknown = tuple(name for name, pk in (("purpose", purpose_id), ("channel", channel_id)) if pk is None)
    if unknown:
        return CheckLookup(None, unknown)
    contact = None if contact_id is None else _Row(
        anonymised_at=anonymised_at, restricted=bool(restricted), **dict(zip(_CHECK_ADDRESS_FIELDS, address)))
    gate = _contact_gate(contact)
    if gate is not None:
        return CheckLookup(gate)
    state = None if state_status is None else _Row(
        status=state_status, purpose_version=state_version, since=_db_datetime(since),
        expires_at=_db_datetime(expires_at))
    address = contact_addresses(contact=contact).get(channel_code, "")
    return CheckLookup(_check_rule(
        contact=contact, purpose=_Row(status=purpose_status, legal_basis=legal_basis), state=state,
        material_version=material_version, now=now,
        channel_allowed=lambda: bool(channel_allowed),
        suppressed=lambda granted_since: _address_suppressed(
            channel_id=channel_id, channel_code=channel_code, address=address, granted_since=granted_since),
        in_category=lambda: bool(in_category),
    ))


def check_codes_unknown(*, purpose_slug: str, channel_code: str) -> tuple[str, ...]:
    """Which of the purpose slug and the channel code name no row (the check's error path)."""
    unknown = ()
    if not Purpose.objects.filter(slug=purpose_slug).exists():
        unknown += ("purpose",)
    if not Channel.objects.filter(code=channel_code).exists():
        unknown += ("channel",)
    return unknown


def events_after(*, cursor: int = 0, contact: Contact | None = None, limit: int = 500):
    """The change feed: events after the ``cursor`` (a sequence number), oldest first."""
    events = ConsentEvent.objects.filter(sequence__gt=cursor).select_related("purpose", "channel", "notice")
    if contact is not None:
        events = events.filter(contact=contact)
    return events.order_by("sequence")[:limit]


def states_due_to_expire(*, now: datetime):
    return ConsentState.objects.filter(status=Action.GRANTED, expires_at__lte=now)


def states_outdated():
    """Grants older than the latest material change of their purpose, or to a retired purpose; and
    grants or pending consents on a channel their purpose no longer uses (were the channel added
    again, they would not answer for the notice shown then)."""
    material = PurposeVersion.objects.filter(change_kind=PurposeVersion.ChangeKind.MATERIAL)
    latest = {row["purpose"]: row["v"] for row in material.values("purpose").annotate(v=Max("version"))}
    query = Q(purpose__status=Purpose.Status.RETIRED)
    for purpose_id, version in latest.items():
        query |= Q(purpose_id=purpose_id, purpose_version__lt=version)
    channel_used = Purpose.channels.through.objects.filter(purpose_id=OuterRef("purpose_id"),
                                                           channel_id=OuterRef("channel_id"))
    return ConsentState.objects.filter(Q(query, status=Action.GRANTED)
                                       | Q(~Exists(channel_used), status__in=(Action.GRANTED, Action.PENDING)))


def retirement_notices_due():
    """Retired-purpose notices not sent yet, oldest first, leaving out those that failed too often."""
    from django.conf import settings

    return RetirementNotice.objects.filter(sent_at__isnull=True, attempts__lt=settings.JOB_MAX_ATTEMPTS).order_by(
        "created_at", "pk")


def ledger_verify():
    """(events verified, first ChainBreak or None) over the whole ledger, streamed."""
    from .ledger import verify_chain

    events = ConsentEvent.objects.select_related("notice").order_by("sequence").iterator(chunk_size=2000)
    return verify_chain(events)


@dataclass(frozen=True)
class PreferenceRow:
    purpose: Purpose
    channel: Channel
    result: CheckResult
    choices: tuple[str, ...]  # what one click may do: grant, withdraw, object, lift


def preference_rows(*, contact: Contact) -> list[PreferenceRow]:
    """Each purpose x channel the contact can decide on, with its status and the one-click choices:
    consent purposes (grant / withdraw) and opt-out marketing purposes they belong to (object / lift)."""
    addresses = contact_addresses(contact=contact)
    purposes = Purpose.objects.filter(status=Purpose.Status.ACTIVE).exclude(legal_basis="").filter(
        Q(legal_basis=LegalBasis.CONSENT) | Q(direct_marketing=True)
    ).select_related("activity").prefetch_related("channels", "data_subject_categories").order_by(
        "activity__reference", "position")
    categories = set(contact.data_subject_categories.values_list("pk", flat=True))
    rows = []
    for purpose in purposes:
        consent_based = purpose.needs_consent
        targeted = {c.pk for c in purpose.data_subject_categories.all()}
        if not consent_based and targeted and not (targeted & categories):
            continue
        for channel in purpose.channels.all():
            if not addresses.get(channel.code):
                continue
            result = consent_check(contact=contact, purpose=purpose, channel=channel)
            if consent_based:
                choices = ("withdraw",) if result.status in (Action.GRANTED, Action.PENDING) else ("grant",)
            else:
                choices = ("lift",) if result.status == Action.OBJECTED else ("object",)
            rows.append(PreferenceRow(purpose, channel, result, choices))
    return rows


def contact_consent_timeline(*, contact: Contact) -> list[ConsentEvent]:
    """Every ledger event of the contact, newest first (by when it took effect, then sequence)."""
    return list(
        ConsentEvent.objects.filter(contact=contact)
        .select_related("purpose", "channel", "recorded_by", "notice")
        .order_by("-effective_at", "-sequence")
    )


@dataclass(frozen=True)
class ConsentOverviewRow:
    purpose: Purpose
    channel: Channel
    state: ConsentState | None
    result: CheckResult


def contact_consent_overview(*, contact: Contact, now: datetime | None = None) -> list[ConsentOverviewRow]:
    """One row per purpose x channel: every active purpose's channels, and any pair the contact has
    a state for (a retired purpose, a channel since removed), with the answer of consent_check."""
    now = now or timezone.now()
    pairs: dict[tuple[int, int], tuple[Purpose, Channel]] = {}
    for purpose in Purpose.objects.filter(status=Purpose.Status.ACTIVE).prefetch_related("channels"):
        for channel in purpose.channels.all():
            pairs[(purpose.pk, channel.pk)] = (purpose, channel)
    states = {}
    for state in ConsentState.objects.filter(contact=contact).select_related("purpose", "channel", "last_event"):
        pairs.setdefault((state.purpose_id, state.channel_id), (state.purpose, state.channel))
        states[(state.purpose_id, state.channel_id)] = state
    return [
        ConsentOverviewRow(purpose, channel, states.get(key),
                           consent_check(contact=contact, purpose=purpose, channel=channel, now=now))
        for key, (purpose, channel) in pairs.items()
    ]


# --- Audience (design §4: consent/audience/) ------------------------------------------------

AUDIENCE_COLUMNS = ("contact_id", "external_ref", "address", "language", "unsubscribe_url")
# The fields the audience reads: enough for contact_addresses(), nothing deferred is touched.
_AUDIENCE_FIELDS = ("pk", "external_ref", "language", "email", "phone", "address_line1", "address_line2",
                    "postal_code", "city")


def _has_address_on(channel: Channel) -> Q:
    """SQL twin of ``contact_addresses(...)[channel.code]`` being non-empty."""
    if channel.code == "email":
        return ~Q(email="")
    if channel.code in ("sms", "phone"):
        return ~Q(phone="")
    if channel.code == "postal":
        return ~Q(address_line1="") | ~Q(address_line2="") | ~Q(postal_code="") | ~Q(city="")
    return Q(pk__in=[])  # a channel without an address field: nobody to reach


def _audience_states(*, purpose: Purpose, channel: Channel, material: int):
    """The current-consent rows of a consent-based purpose x channel whose contact is in its audience
    (suppression lists aside), whatever their expiry date; ``material``: purpose_material_version."""
    states = ConsentState.objects.filter(AUDIENCE_CONDITION, purpose=purpose, channel=channel)
    # Versions start at 1: before any material change every grant is current, and a test per index
    # entry would only cost time (a quarter of a count of half a million rows).
    return states.filter(purpose_version__gte=material) if material > 1 else states


def _current_grants(*, purpose: Purpose, channel: Channel, now: datetime):
    """_audience_states not past their expiry date. The covering partial index consent_state_granted_idx
    answers alone."""
    states = _audience_states(purpose=purpose, channel=channel, material=purpose_material_version(purpose=purpose))
    return states.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def _counted_grants(*, purpose: Purpose, channel: Channel, now: datetime) -> int:
    """PostgreSQL: ``_current_grants(...).count()`` from the sums of AudienceCountDelta (the rows in
    AUDIENCE_CONDITION by purpose version, kept by migration 0009's triggers) less the rows past
    their expiry date that the expiry job has not turned into events yet (an index range of
    consent_state_grant_expiry_idx). One statement, so both parts see the same snapshot."""
    from django.db.models import Count, Subquery, Sum
    from django.db.models.functions import Coalesce

    material = purpose_material_version(purpose=purpose)
    expired = (_audience_states(purpose=purpose, channel=channel, material=material).filter(expires_at__lte=now)
               .order_by().values("purpose").annotate(n=Count("pk")).values("n"))
    deltas = AudienceCountDelta.objects.filter(purpose=purpose, channel=channel, purpose_version__gte=material)
    return deltas.aggregate(n=Coalesce(Sum("delta"), 0) - Coalesce(Subquery(expired), 0))["n"]


def audience_count(*, purpose: Purpose, channel: Channel, now: datetime | None = None) -> int:
    """How many contacts ``audience_queryset`` holds. For a consent-based purpose the current-consent
    table alone answers (one row per contact, ``reachable`` standing for the contact's own tests),
    on PostgreSQL from the sums its triggers keep (_counted_grants) instead of counting the rows."""
    now = now or timezone.now()
    if not purpose.needs_consent:
        return audience_queryset(purpose=purpose, channel=channel, now=now).count()
    if purpose.status != Purpose.Status.ACTIVE or not purpose.channels.filter(pk=channel.pk).exists():
        return 0
    if connection.vendor == "postgresql":
        return _counted_grants(purpose=purpose, channel=channel, now=now)
    return _current_grants(purpose=purpose, channel=channel, now=now).count()


def audience_queryset(*, purpose: Purpose, channel: Channel, now: datetime | None = None):
    """The contacts consent_check allows for ``purpose`` on ``channel`` and who have an address on
    it, suppression lists aside (they are keyed digests: see audience_rows). All in SQL."""
    from django.db.models import Exists, OuterRef

    now = now or timezone.now()
    if purpose.status != Purpose.Status.ACTIVE or not purpose.channels.filter(pk=channel.pk).exists():
        return Contact.objects.none()
    contacts = Contact.objects.filter(_has_address_on(channel), anonymised_at__isnull=True, restricted=False)
    states = ConsentState.objects.filter(contact=OuterRef("pk"), purpose=purpose, channel=channel)
    if purpose.needs_consent:
        contacts = contacts.filter(Exists(_current_grants(purpose=purpose, channel=channel, now=now).filter(
            contact=OuterRef("pk"))))
    else:
        contacts = contacts.filter(~Exists(states.filter(status=Action.OBJECTED)))
        targeted = list(purpose.data_subject_categories.values_list("pk", flat=True))
        if targeted:
            through = Contact.data_subject_categories.through
            contacts = contacts.filter(Exists(through.objects.filter(
                contact_id=OuterRef("pk"), datasubjectcategory_id__in=targeted)))
    return contacts.only(*_AUDIENCE_FIELDS).order_by("pk")


def _suppressed_contacts(purpose: Purpose, channel: Channel, addresses: dict[int, str]) -> set[int]:
    """The contacts of a chunk whose address the channel's suppression list blocks (two queries at
    most: the entries, then the grant dates of the few contacts only an erasure entry names). The
    digest is taken on the stored address, already in normal form (stored_address_digest): no
    second validation per row."""
    digests = {contact_id: stored_address_digest(channel.code, address)
               for contact_id, address in addresses.items() if address}
    if not digests:
        return set()
    entries: dict[str, list[tuple[str, datetime]]] = {}
    for digest, source, created_at in SuppressionEntry.objects.filter(
            channel=channel, digest__in=set(digests.values())).values_list("digest", "source", "created_at"):
        entries.setdefault(digest, []).append((source, created_at))
    listed = {contact_id for contact_id, digest in digests.items() if digest in entries}
    granted_since: dict[int, datetime] = {}
    if listed and purpose.needs_consent:
        granted_since = dict(ConsentState.objects.filter(contact_id__in=listed, purpose=purpose, channel=channel,
                                                         status=Action.GRANTED).values_list("contact_id", "since"))
    return {contact_id for contact_id in listed
            if suppression_blocks(entries[digests[contact_id]], granted_since=granted_since.get(contact_id))}


# audience_rows reads tuples (no model instances): these fields, in this order.
_AUDIENCE_ROW_FIELDS = ("pk", "external_ref", "language", "email", "phone", "address_line1", "address_line2",
                        "postal_code", "city")


def _audience_address(channel_code: str, email: str, phone: str, *postal: str) -> str:
    """``contact_addresses(...)[channel_code]`` from the row's fields (no model instance)."""
    if channel_code == "email":
        return email
    if channel_code in ("sms", "phone"):
        return phone
    if channel_code == "postal":
        return " ".join(filter(None, postal))
    return ""


def _unsubscribe_url_parts(*, purpose: Purpose, channel: Channel):
    """(the unsubscribe URL's (head, tail) per language, the default language's, the token maker):
    reverse() runs once per language, not per row. A language the site does not have gets the
    default language's link."""
    from django.conf import settings

    from .emails import unsubscribe_url_parts_by_language
    from .tokens import unsubscribe_token_maker

    parts = unsubscribe_url_parts_by_language()
    default = parts.get(settings.LANGUAGE_CODE) or next(iter(parts.values()))
    return parts, default, unsubscribe_token_maker(purpose_id=purpose.pk, channel_id=channel.pk)


def audience_rows(*, purpose: Purpose, channel: Channel, chunk_size: int = 2000, now: datetime | None = None):
    """Yield one dict per contact that may be reached (AUDIENCE_COLUMNS), streamed from a
    server-side cursor: the list is never held in memory. Suppression is checked per chunk with
    one query, as its entries are keyed digests of the normalised address. The portable path of
    the export (PostgreSQL streams the same rows with audience_copy_chunks)."""
    from itertools import islice

    parts, default, make_token = _unsubscribe_url_parts(purpose=purpose, channel=channel)
    code = channel.code
    rows = audience_queryset(purpose=purpose, channel=channel, now=now).values_list(*_AUDIENCE_ROW_FIELDS).iterator(
        chunk_size=chunk_size)
    while batch := list(islice(rows, chunk_size)):
        addresses = {row[0]: _audience_address(code, *row[3:]) for row in batch}
        suppressed = _suppressed_contacts(purpose, channel, addresses)
        for contact_id, external_ref, language, *_fields in batch:
            if contact_id in suppressed:
                continue
            head, tail = parts.get(language, default)
            yield {
                "contact_id": contact_id,
                "external_ref": external_ref,
                "address": addresses[contact_id],
                "language": language,
                "unsubscribe_url": head + make_token(contact_id) + tail,
            }


# The PostgreSQL export: the same rows built by the database and streamed by COPY. Only for channels
# whose stored address is already the digest's normal form (emails, E.164 numbers): a postal address
# needs Python's Unicode lower() and split(), which PostgreSQL's lower() under the database's locale
# does not reproduce (a C locale leaves "É" as it is), so postal audiences take audience_rows.
_COPY_ADDRESS_FIELD = {"email": "email", "sms": "phone", "phone": "phone"}
_COPY_BATCH_ROWS = 1000  # rows per chunk handed to the HTTP response
# The keys reach the COPY through session settings, set just before and cleared after: the statement,
# which runs for seconds, shows in pg_stat_activity and in a slow-statement log (log_min_duration_statement)
# without them.
_COPY_KEY_SETTINGS = {"digest": "dpodesk.audience_digest_key", "token": "dpodesk.audience_token_key"}


def audience_copy_supported(*, channel: Channel) -> bool:
    from django.db import connection

    return connection.vendor == "postgresql" and channel.code in _COPY_ADDRESS_FIELD


def _excel_safe_needs_prefix(value: str) -> bool:
    from registry.exports.csv_export import excel_safe

    return excel_safe(value) != value


def _sql_excel_safe(value: str, lit) -> str:
    """SQL twin of registry.exports.csv_export.excel_safe on the text expression ``value`` (a plain
    column: it is repeated), with its two rules read from there so that they stay written once."""
    from registry.exports.csv_export import _E164, _FORMULA_TRIGGERS

    e164 = lit(f"^(?:{_E164.pattern})$")
    return (f"CASE WHEN left({value}, 1) = ANY({lit(list(_FORMULA_TRIGGERS))}) AND {value} !~ {e164} "
            f"THEN '''' || {value} ELSE {value} END")


def audience_copy_sql(*, purpose: Purpose, channel: Channel, fmt: str, now: datetime | None = None) -> str | None:
    """``COPY (SELECT ...) TO STDOUT`` of the audience in ``fmt`` ("csv": the rows without the header,
    each line ended by "\\n"; "ndjson": one JSON object a line); None when nobody can be in it.
    The contacts are audience_queryset's own SQL (the rule stays in one place); suppression is
    suppression_blocks' rule in SQL on pgcrypto's hmac() of the stored address (= stored_address_digest);
    the unsubscribe token is tokens.unsubscribe_token, by hmac() too. COPY takes no server-side
    parameters, so the values are bound here (psycopg's client-side quoting); the two keys are read
    from the session settings audience_copy_chunks sets (_COPY_KEY_SETTINGS), never written in it."""
    import json

    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    from .tokens import UNSUBSCRIBE_MAC_BYTES

    queryset = audience_queryset(purpose=purpose, channel=channel, now=now).order_by().values_list(
        "pk", "external_ref", "language", _COPY_ADDRESS_FIELD[channel.code])
    try:
        contacts_sql, contacts_params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None

    def lit(value) -> str:
        return connection.ops.compose_sql("%s", [value])

    def key(name: str) -> str:  # an InitPlan: read once per statement
        return f"(SELECT decode(current_setting({lit(_COPY_KEY_SETTINGS[name])}), 'hex'))"

    parts, default, _maker = _unsubscribe_url_parts(purpose=purpose, channel=channel)
    suffix = f".{int(purpose.pk)}.{int(channel.pk)}"

    def by_language(index: int) -> str:
        whens = " ".join(f"WHEN {lit(code)} THEN {lit(pair[index])}" for code, pair in parts.items())
        return f"CASE a.language {whens} ELSE {lit(default[index])} END"

    mac = (f"encode(substring(hmac(convert_to(a.id::text || {lit(suffix)}, 'UTF8'), {key('token')}, "
           f"'sha256') from 1 for {int(UNSUBSCRIBE_MAC_BYTES)}), 'hex')")
    url = f"{by_language(0)} || a.id::text || {lit(suffix + '.')} || {mac} || {by_language(1)}"
    if fmt == "csv":
        # Empty text goes out as NULL, which COPY writes unquoted, as csv.writer writes "".
        cells = ["a.id", *(f"NULLIF({_sql_excel_safe(f'a.{column}', lit)}, '')"
                           for column in ("external_ref", "address", "language"))]
        # Every URL starts with the site's address: excel_safe's answer is that of its head.
        if any(_excel_safe_needs_prefix(head) for head, _tail in parts.values()):
            url = f"{lit(chr(39))} || {url}"
        select, options = ", ".join([*cells, url]), "FORMAT csv"
    else:
        # json.dumps(row, ensure_ascii=False): PostgreSQL's to_json(text) escapes as Python does.
        values = {"contact_id": "a.id::text", "unsubscribe_url": f"to_json({url})::text"}
        select = " || ".join(
            f"{lit(('{' if index == 0 else ', ') + json.dumps(column) + ': ')} || "
            f"{values.get(column, f'to_json(a.{column})::text')}"
            for index, column in enumerate(AUDIENCE_COLUMNS)) + " || '}'"
        # One column of JSON, which never holds a raw control character: COPY writes it as it is.
        options = r"FORMAT csv, DELIMITER E'\x01', QUOTE E'\x02'"
    if purpose.needs_consent:
        granted_since = (f"(SELECT s.since FROM {ConsentState._meta.db_table} s WHERE s.contact_id = c.id "
                         f"AND s.purpose_id = {int(purpose.pk)} AND s.channel_id = {int(channel.pk)} "
                         f"AND s.status = {lit(Action.GRANTED.value)})")
    else:
        granted_since = "NULL::timestamptz"  # suppression_blocks(..., granted_since=None): every entry blocks
    digest = (f"encode(hmac(convert_to({lit(channel.code + ':')} || c.address, 'UTF8'), "
              f"{key('digest')}, 'sha256'), 'hex')")
    suppressed = (f"SELECT 1 FROM {SuppressionEntry._meta.db_table} e WHERE e.channel_id = {int(channel.pk)} "
                  f"AND e.digest = {digest} AND (e.source <> {lit(SuppressionEntry.Source.ERASURE.value)} "
                  f"OR NOT coalesce({granted_since} > e.created_at, false))")
    contacts = connection.ops.compose_sql(contacts_sql, contacts_params)
    # The narrow rows are filtered and sorted first (OFFSET 0 keeps that subquery apart), then
    # formatted: the sort does not carry the long lines, nor the hmac() of suppressed contacts.
    return (f"COPY (SELECT {select} FROM (SELECT * FROM ({contacts}) AS c(id, external_ref, language, address) "
            f"WHERE NOT EXISTS ({suppressed}) ORDER BY c.id OFFSET 0) AS a ORDER BY a.id) "
            f"TO STDOUT WITH ({options})")


def audience_copy_chunks(*, purpose: Purpose, channel: Channel, fmt: str, now: datetime | None = None):
    """The audience as audience_copy_sql writes it, in chunks of bytes read from PostgreSQL's COPY as
    they come (never the whole list in memory). CSV lines get csv.writer's "\\r\\n": COPY sends one
    message per row, so a message's last byte is the row's own "\\n", never one inside a quoted cell."""
    from django.conf import settings
    from django.db import connection
    from psycopg.pq import TransactionStatus

    from .tokens import unsubscribe_key

    sql = audience_copy_sql(purpose=purpose, channel=channel, fmt=fmt, now=now)
    if sql is None:
        return
    end = b"\r\n" if fmt == "csv" else b""
    keys = {"digest": settings.PSEUDONYMISATION_KEY.encode(), "token": unsubscribe_key()}
    set_keys = "SELECT " + ", ".join(f"set_config('{name}', %s, false)" for name in _COPY_KEY_SETTINGS.values())
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: the keys stay out of Django's query log
        raw.execute(set_keys, [keys[name].hex() for name in _COPY_KEY_SETTINGS])
        try:
            with raw.copy(sql) as copy:
                batch: list = []
                for row in copy:
                    batch.append(row[:-1] if end else row)
                    if len(batch) >= _COPY_BATCH_ROWS:
                        yield end.join(batch) + end
                        batch = []
                if batch:
                    yield end.join(batch) + end
        finally:
            if raw.connection.info.transaction_status != TransactionStatus.INERROR:
                raw.execute(set_keys, [""] * len(_COPY_KEY_SETTINGS))
            # else the transaction's rollback undoes the settings (they are transactional)


# --- Consent statistics for the DPO ---------------------------------------------------------

# The statuses counted now (effective, as consent_check sees them) and the actions counted per month.
STATS_STATUSES = (Action.GRANTED, Action.PENDING, Action.REFUSED, Action.WITHDRAWN, Action.EXPIRED,
                  Action.LAPSED, Action.OBJECTED, Action.OBJECTION_LIFTED)
STATS_ACTIONS = STATS_STATUSES


@dataclass
class PairStats:
    """One purpose x channel: current consents by status, and ledger events by month and action."""

    purpose: Purpose
    channel: Channel
    current: dict[str, int]
    monthly: dict  # month (date, first day) -> {action: count}

    @property
    def total(self) -> int:
        return sum(self.current.values())

    def current_row(self) -> list[int]:
        return [self.current.get(status, 0) for status in STATS_STATUSES]


@dataclass
class ConsentStats:
    months: list  # first days of the months shown, oldest first (in TIME_ZONE)
    rows: list[PairStats]
    now: datetime


def _stats_months(*, months: int, now: datetime):
    from datetime import date, time
    from zoneinfo import ZoneInfo

    from dateutil.relativedelta import relativedelta
    from django.conf import settings

    tz = ZoneInfo(settings.TIME_ZONE)
    this_month = timezone.localtime(now, tz).date().replace(day=1)
    first: date = this_month - relativedelta(months=months - 1)
    month_list = [first + relativedelta(months=i) for i in range(months)]
    return tz, month_list, datetime.combine(first, time.min, tzinfo=tz)


def consent_stats(*, months: int = 12, now: datetime | None = None) -> ConsentStats:
    """Per purpose x channel, the current consents by (effective) status and, for the last
    ``months`` months (in Europe/Paris), the ledger's events by action. Five queries in all."""
    from django.db.models import Case, CharField, Count, F, OuterRef, Subquery, Value, When
    from django.db.models.functions import Coalesce, TruncMonth

    now = now or timezone.now()
    months = max(1, int(months))
    tz, month_list, start = _stats_months(months=months, now=now)

    latest_material = PurposeVersion.objects.filter(
        purpose=OuterRef("purpose"), change_kind=PurposeVersion.ChangeKind.MATERIAL
    ).order_by("-version").values("version")[:1]
    # effective_status() in SQL: a grant past its validity is expired, one older than the
    # purpose's latest material change, or to a retired purpose, has lapsed.
    current_rows = (
        ConsentState.objects.annotate(material=Coalesce(Subquery(latest_material), Value(0)))
        .annotate(effective=Case(
            When(status=Action.GRANTED, expires_at__lte=now, then=Value(Action.EXPIRED.value)),
            When(status=Action.GRANTED, purpose_version__lt=F("material"), then=Value(Action.LAPSED.value)),
            When(Q(status=Action.GRANTED) & ~Q(purpose__status=Purpose.Status.ACTIVE),
                 then=Value(Action.LAPSED.value)),
            default=F("status"), output_field=CharField(),
        ))
        .values("purpose_id", "channel_id", "effective").annotate(n=Count("pk")).order_by()
    )
    event_rows = (
        ConsentEvent.objects.filter(effective_at__gte=start)
        .annotate(month=TruncMonth("effective_at", tzinfo=tz))
        .values("purpose_id", "channel_id", "month", "action").annotate(n=Count("pk")).order_by()
    )

    current: dict[tuple[int, int], dict[str, int]] = {}
    for row in current_rows:
        counts = current.setdefault((row["purpose_id"], row["channel_id"]), {})
        counts[row["effective"]] = counts.get(row["effective"], 0) + row["n"]
    monthly: dict[tuple[int, int], dict] = {}
    shown = set(month_list)
    for row in event_rows:
        month = row["month"]
        if isinstance(month, datetime):
            month = timezone.localtime(month, tz).date() if timezone.is_aware(month) else month.date()
        if month not in shown:  # an event dated in the future (clock tolerance) is left out
            continue
        per_action = monthly.setdefault((row["purpose_id"], row["channel_id"]), {}).setdefault(month, {})
        per_action[row["action"]] = per_action.get(row["action"], 0) + row["n"]

    pairs = set(current) | set(monthly)
    purpose_ids = {purpose_id for purpose_id, _channel_id in pairs}
    purposes = Purpose.objects.filter(Q(status=Purpose.Status.ACTIVE) | Q(pk__in=purpose_ids)).select_related(
        "activity").prefetch_related("channels")
    channels = {c.pk: c for c in Channel.objects.filter(pk__in={channel_id for _p, channel_id in pairs})}
    rows = []
    for purpose in sorted(purposes, key=lambda p: (p.activity.reference or "", p.position, p.slug)):
        keys = {(purpose.pk, c.pk) for c in purpose.channels.all()} if purpose.status == Purpose.Status.ACTIVE \
            else set()
        for channel in purpose.channels.all():
            channels.setdefault(channel.pk, channel)
        keys |= {key for key in pairs if key[0] == purpose.pk}
        for key in sorted(keys, key=lambda k: (channels[k[1]].code if k[1] in channels else "", k[1])):
            if key[1] not in channels:
                continue
            rows.append(PairStats(purpose, channels[key[1]], current.get(key, {}), monthly.get(key, {})))
    return ConsentStats(months=month_list, rows=rows, now=now)


def consent_check_after_append(*, event: ConsentEvent, state, material_version: int | None,
                               suppression: tuple[tuple[str, datetime], ...] | None = None) -> CheckResult | None:
    """consent_check's answer just after ``event`` was appended, from the consent the append wrote
    (``state``, a StateValue: Recorded.state) instead of reading it again; the same rule
    (_check_rule). None when the state is not known (then call consent_check). The event's channel
    is allowed for its purpose: the append refuses it otherwise. ``suppression``: the address's
    suppression entries when the append read them (Recorded.suppression), else they are read here."""
    contact, purpose, channel = event.contact, event.purpose, event.channel
    if state is None:
        return None
    gate = _contact_gate(contact)
    if gate is not None:
        return gate
    if material_version is None:
        material_version = purpose_material_version(purpose=purpose)

    def in_category() -> bool:
        targeted = purpose.data_subject_categories.all()
        return not targeted.exists() or contact.data_subject_categories.filter(pk__in=targeted).exists()

    address = contact_addresses(contact=contact).get(channel.code, "")
    return _check_rule(
        contact=contact, purpose=purpose, state=state, material_version=material_version, now=timezone.now(),
        channel_allowed=lambda: True,
        suppressed=lambda granted_since: (
            suppression_blocks(suppression, granted_since=granted_since) if suppression is not None
            else _address_suppressed(channel_id=channel.pk, channel_code=channel.code, address=address,
                                     granted_since=granted_since)),
        in_category=in_category,
    )
