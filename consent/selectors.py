"""Reads on contacts and consent: finding a contact, and may we reach them?"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Max, Q
from django.utils import timezone

from registry.models import Channel, LegalBasis, Purpose, PurposeVersion

from .models import Action, ConsentEvent, ConsentState, Contact, RetirementNotice, SuppressionEntry
from .normalise import normalise_email, normalise_phone, suppression_digest

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
        return Contact.objects.filter(phone=normalise_phone(phone)).order_by("pk").first()
    if external_ref:
        return Contact.objects.filter(external_ref=external_ref.strip()).first()
    return None


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
    if not address:
        return False
    try:
        digest = suppression_digest(channel.code, address)
    except ValidationError:  # an address that no longer parses cannot match a normalised entry
        return False
    entries = SuppressionEntry.objects.filter(channel=channel, digest=digest).values_list("source", "created_at")
    return suppression_blocks(entries, granted_since=granted_since)


def purpose_material_version(*, purpose: Purpose) -> int:
    """The version of the latest material change of the purpose's text (grants before it lapse)."""
    return PurposeVersion.objects.filter(purpose=purpose, change_kind=PurposeVersion.ChangeKind.MATERIAL).aggregate(
        v=Max("version"))["v"] or 0


def effective_status(*, state: ConsentState | None, purpose: Purpose, material_version: int,
                     now: datetime) -> str:
    """The state's status as of ``now``: a grant past its validity is expired, a grant given
    before a material change of the purpose's text has lapsed (even before the periodic jobs write it)."""
    if state is None:
        return STATUS_NONE
    if state.status == Action.GRANTED:
        if state.expires_at and state.expires_at <= now:
            return Action.EXPIRED
        if state.purpose_version < material_version:
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


def consent_check(*, contact: Contact | None, purpose: Purpose, channel: Channel,
                  now: datetime | None = None) -> CheckResult:
    """May ``contact`` be reached for ``purpose`` on ``channel``? One rule set for the API, the
    audience and the staff pages. Restriction, suppression and anonymisation always say no."""
    now = now or timezone.now()
    if contact is None:
        return CheckResult(False, STATUS_NONE, Reason.UNKNOWN_CONTACT)
    if contact.anonymised_at:
        return CheckResult(False, STATUS_NONE, Reason.ANONYMISED)
    state = ConsentState.objects.filter(contact=contact, purpose=purpose, channel=channel).first()
    status = effective_status(state=state, purpose=purpose, material_version=purpose_material_version(purpose=purpose),
                              now=now)
    since = state.since if state else None
    expires_at = state.expires_at if state else None
    consent_based = purpose.legal_basis == LegalBasis.CONSENT
    regime = "consent" if consent_based else "opt_out"

    def no(reason: str) -> CheckResult:
        return CheckResult(False, status, reason, since, expires_at, regime)

    if purpose.status != Purpose.Status.ACTIVE:
        return no(Reason.OUTDATED_VERSION)
    if not purpose.channels.filter(pk=channel.pk).exists():
        return no(Reason.CHANNEL_NOT_ALLOWED)
    if contact.restricted:
        return no(Reason.RESTRICTED)
    granted_since = since if consent_based and status == Action.GRANTED else None
    if is_suppressed(contact=contact, channel=channel, granted_since=granted_since):
        return no(Reason.SUPPRESSED)
    if consent_based:
        if status == Action.GRANTED:
            return CheckResult(True, status, Reason.CONSENT_GRANTED, since, expires_at, regime)
        return no(_CONSENT_REASONS.get(status, Reason.NO_CONSENT))
    # Opt-out regime: the purpose's people, unless they objected on this channel. No consent is
    # needed, so an allowed answer says "no_consent" with regime "opt_out".
    if status == Action.OBJECTED:
        return no(Reason.OBJECTED)
    targeted = purpose.data_subject_categories.all()
    if targeted.exists() and not contact.data_subject_categories.filter(pk__in=targeted).exists():
        return no(Reason.NOT_IN_CATEGORY)
    return CheckResult(True, status, Reason.NO_CONSENT, since, expires_at, regime)


def events_after(*, cursor: int = 0, contact: Contact | None = None, limit: int = 500):
    """The change feed: events after the ``cursor`` (a sequence number), oldest first."""
    events = ConsentEvent.objects.filter(sequence__gt=cursor).select_related("purpose", "channel", "notice")
    if contact is not None:
        events = events.filter(contact=contact)
    return events.order_by("sequence")[:limit]


def states_due_to_expire(*, now: datetime):
    return ConsentState.objects.filter(status=Action.GRANTED, expires_at__lte=now)


def states_outdated():
    """Grants older than the latest material change of their purpose, or to a retired purpose."""
    material = PurposeVersion.objects.filter(change_kind=PurposeVersion.ChangeKind.MATERIAL)
    latest = {row["purpose"]: row["v"] for row in material.values("purpose").annotate(v=Max("version"))}
    query = Q(purpose__status=Purpose.Status.RETIRED)
    for purpose_id, version in latest.items():
        query |= Q(purpose_id=purpose_id, purpose_version__lt=version)
    return ConsentState.objects.filter(query, status=Action.GRANTED)


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
    purposes = Purpose.objects.filter(status=Purpose.Status.ACTIVE).filter(
        Q(legal_basis=LegalBasis.CONSENT) | Q(direct_marketing=True)
    ).select_related("activity").prefetch_related("channels", "data_subject_categories").order_by(
        "activity__reference", "position")
    categories = set(contact.data_subject_categories.values_list("pk", flat=True))
    rows = []
    for purpose in purposes:
        consent_based = purpose.legal_basis == LegalBasis.CONSENT
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


def _current_grants(*, purpose: Purpose, channel: Channel, now: datetime):
    """The current-consent rows of a consent-based purpose x channel whose contact is in its audience
    (suppression lists aside). The covering partial index consent_state_granted_idx answers alone."""
    return ConsentState.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        purpose=purpose, channel=channel, status=Action.GRANTED, reachable=True,
        purpose_version__gte=purpose_material_version(purpose=purpose),
    )


def audience_count(*, purpose: Purpose, channel: Channel, now: datetime | None = None) -> int:
    """How many contacts ``audience_queryset`` holds. For a consent-based purpose the current-consent
    table alone answers (one row per contact, ``reachable`` standing for the contact's own tests):
    an index-only count instead of a join with every contact."""
    now = now or timezone.now()
    if purpose.legal_basis != LegalBasis.CONSENT:
        return audience_queryset(purpose=purpose, channel=channel, now=now).count()
    if purpose.status != Purpose.Status.ACTIVE or not purpose.channels.filter(pk=channel.pk).exists():
        return 0
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
    if purpose.legal_basis == LegalBasis.CONSENT:
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
    most: the entries, then the grant dates of the few contacts only an erasure entry names)."""
    digests: dict[int, str] = {}
    for contact_id, address in addresses.items():
        try:
            digests[contact_id] = suppression_digest(channel.code, address)
        except ValidationError:  # as is_suppressed: an address that no longer parses matches no entry
            continue
    if not digests:
        return set()
    entries: dict[str, list[tuple[str, datetime]]] = {}
    for digest, source, created_at in SuppressionEntry.objects.filter(
            channel=channel, digest__in=set(digests.values())).values_list("digest", "source", "created_at"):
        entries.setdefault(digest, []).append((source, created_at))
    listed = {contact_id for contact_id, digest in digests.items() if digest in entries}
    granted_since: dict[int, datetime] = {}
    if listed and purpose.legal_basis == LegalBasis.CONSENT:
        granted_since = dict(ConsentState.objects.filter(contact_id__in=listed, purpose=purpose, channel=channel,
                                                         status=Action.GRANTED).values_list("contact_id", "since"))
    return {contact_id for contact_id in listed
            if suppression_blocks(entries[digests[contact_id]], granted_since=granted_since.get(contact_id))}


def audience_rows(*, purpose: Purpose, channel: Channel, chunk_size: int = 2000, now: datetime | None = None):
    """Yield one dict per contact that may be reached (AUDIENCE_COLUMNS), streamed from a
    server-side cursor: the list is never held in memory. Suppression is checked per chunk with
    one query, as its entries are keyed digests of the normalised address."""
    from .emails import unsubscribe_url

    chunk: list[Contact] = []

    def flush(batch: list[Contact]):
        addresses = {c.pk: contact_addresses(contact=c).get(channel.code, "") for c in batch}
        suppressed = _suppressed_contacts(purpose, channel, addresses)
        for contact in batch:
            if contact.pk in suppressed:
                continue
            yield {
                "contact_id": contact.pk,
                "external_ref": contact.external_ref,
                "address": addresses[contact.pk],
                "language": contact.language,
                "unsubscribe_url": unsubscribe_url(contact_id=contact.pk, purpose_id=purpose.pk,
                                                   channel_id=channel.pk, language=contact.language),
            }

    for contact in audience_queryset(purpose=purpose, channel=channel, now=now).iterator(chunk_size=chunk_size):
        chunk.append(contact)
        if len(chunk) >= chunk_size:
            yield from flush(chunk)
            chunk = []
    if chunk:
        yield from flush(chunk)


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
    # purpose's latest material change has lapsed.
    current_rows = (
        ConsentState.objects.annotate(material=Coalesce(Subquery(latest_material), Value(0)))
        .annotate(effective=Case(
            When(status=Action.GRANTED, expires_at__lte=now, then=Value(Action.EXPIRED.value)),
            When(status=Action.GRANTED, purpose_version__lt=F("material"), then=Value(Action.LAPSED.value)),
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
