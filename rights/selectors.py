"""Reads on rights requests that are more than a lookup."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from consent.models import Contact
from registry.selectors import organisation_dpo_emails, organisation_get

from .models import OPEN_STATUSES, RectificationChange, RequestContact, RequestEvent, RightsRequest


def request_contacts(*, request: RightsRequest) -> QuerySet[Contact]:
    """The contacts the request covers (verified email, or added by staff)."""
    return Contact.objects.filter(pk__in=RequestContact.objects.filter(request=request).values("contact"))


@dataclass(frozen=True)
class Candidate:
    contact: Contact
    reasons: list[str]  # "email", "phone", "name", "customer_reference"


def request_candidates(*, request: RightsRequest) -> list[Candidate]:
    """Contacts that might be the requester but are not in the request: staff must check the identity
    before adding any (a shared phone or a common name proves nothing)."""
    included = RequestContact.objects.filter(request=request).values("contact")
    query = Q()
    if request.requester_email:
        query |= Q(email=request.requester_email)
    if request.requester_phone:
        query |= Q(phone=request.requester_phone)
    if request.customer_reference:
        query |= Q(external_ref=request.customer_reference)
    name = (request.subject_name if request.on_behalf else request.requester_name).strip()
    parts = name.split()
    if len(parts) >= 2:
        query |= Q(first_name__iexact=parts[0], last_name__iexact=" ".join(parts[1:]))
        query |= Q(last_name__iexact=parts[0], first_name__iexact=" ".join(parts[1:]))
    if not query:
        return []
    candidates = []
    for contact in Contact.objects.filter(query, anonymised_at__isnull=True).exclude(pk__in=included).order_by("pk")[:50]:
        reasons = []
        if request.requester_email and contact.email == request.requester_email:
            reasons.append("email")
        if request.requester_phone and contact.phone == request.requester_phone:
            reasons.append("phone")
        if request.customer_reference and contact.external_ref == request.customer_reference:
            reasons.append("customer_reference")
        if len(parts) >= 2 and {contact.first_name.lower(), contact.last_name.lower()} <= {p.lower() for p in [parts[0], " ".join(parts[1:])]}:
            reasons.append("name")
        candidates.append(Candidate(contact, reasons or ["name"]))
    return candidates


def request_timeline(*, request: RightsRequest) -> QuerySet[RequestEvent]:
    return request.events.select_related("user").order_by("at", "pk")


@dataclass(frozen=True)
class RectificationRow:
    change: RectificationChange
    contact: Contact
    current: str


def rectification_diff(*, request: RightsRequest) -> list[RectificationRow]:
    """Each requested correction next to the current value, per contact the request covers."""
    rows = []
    contacts = list(request_contacts(request=request))
    for change in request.rectifications.all():
        for contact in contacts:
            rows.append(RectificationRow(change, contact, str(getattr(contact, change.field, "") or "")))
    return rows


def requests_open() -> QuerySet[RightsRequest]:
    return RightsRequest.objects.filter(status__in=OPEN_STATUSES)


def dpo_emails() -> set[str]:
    """The DPO's addresses: the organisation's DPO email and the active users of the dpo group."""
    emails = set(organisation_dpo_emails(organisation_get()))
    emails |= set(get_user_model().objects.filter(groups__name="dpo", is_active=True).exclude(email="")
                  .values_list("email", flat=True))
    return emails


def request_staff_emails(*, request: RightsRequest) -> tuple[list[str], bool]:
    """Who hears of what the requester did on a request, and whether that is its assignee: the
    assignee, or the DPO when nobody (active, with an email) is assigned."""
    assignee = request.assignee
    if assignee is not None and assignee.is_active and assignee.email:
        return [assignee.email], True
    return sorted(dpo_emails()), False


def deadline_reminders(*, today: date) -> dict[str, list[int]]:
    """Email address → open requests due within RIGHTS_REMINDER_DAYS days or overdue, for each
    assignee and for the DPO (who hears of every one)."""
    horizon = today + timedelta(days=settings.RIGHTS_REMINDER_DAYS)
    due = requests_open().filter(due_on__lte=horizon).select_related("assignee").order_by("due_on", "pk")
    people: dict[str, list[int]] = {}
    dpo = dpo_emails()
    for request in due:
        recipients = set(dpo)
        if request.assignee and request.assignee.email:
            recipients.add(request.assignee.email)
        for email in recipients:
            people.setdefault(email, []).append(request.pk)
    return people


# --- Urgency (staff admin list and API) ---------------------------------------------------------
# The same horizon as the daily reminders: overdue, due within RIGHTS_REMINDER_DAYS days, or later.


class Urgency:
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OK = "ok"
    CLOSED = "closed"
    ORDER = (OVERDUE, DUE_SOON, OK, CLOSED)  # most urgent first


def today_local() -> date:
    from django.utils import timezone

    from .deadlines import local_day

    return local_day(timezone.now())


def request_urgency(*, request: RightsRequest, today: date | None = None) -> str:
    if not request.is_open:
        return Urgency.CLOSED
    today = today or today_local()
    if request.due_on < today:
        return Urgency.OVERDUE
    if request.due_on <= today + timedelta(days=settings.RIGHTS_REMINDER_DAYS):
        return Urgency.DUE_SOON
    return Urgency.OK


def requests_by_urgency(queryset: QuerySet[RightsRequest], *, urgency: str,
                        today: date | None = None) -> QuerySet[RightsRequest]:
    """The requests of ``queryset`` whose urgency is ``urgency`` (the rule of request_urgency)."""
    today = today or today_local()
    horizon = today + timedelta(days=settings.RIGHTS_REMINDER_DAYS)
    if urgency == Urgency.CLOSED:
        return queryset.exclude(status__in=OPEN_STATUSES)
    queryset = queryset.filter(status__in=OPEN_STATUSES)
    if urgency == Urgency.OVERDUE:
        return queryset.filter(due_on__lt=today)
    if urgency == Urgency.DUE_SOON:
        return queryset.filter(due_on__gte=today, due_on__lte=horizon)
    return queryset.filter(due_on__gt=horizon)


def requests_with_urgency_rank(queryset: QuerySet[RightsRequest], *, today: date | None = None
                               ) -> QuerySet[RightsRequest]:
    """``queryset`` annotated with ``urgency_rank`` (0 overdue … 3 closed), to sort by urgency."""
    from django.db.models import Case, IntegerField, Value, When

    today = today or today_local()
    horizon = today + timedelta(days=settings.RIGHTS_REMINDER_DAYS)
    rank = Urgency.ORDER.index
    return queryset.annotate(urgency_rank=Case(
        When(~Q(status__in=OPEN_STATUSES), then=Value(rank(Urgency.CLOSED))),
        When(due_on__lt=today, then=Value(rank(Urgency.OVERDUE))),
        When(due_on__lte=horizon, then=Value(rank(Urgency.DUE_SOON))),
        default=Value(rank(Urgency.OK)), output_field=IntegerField()))


def request_carried_out(*, request: RightsRequest) -> bool:
    """Whether a fulfilment job has carried the request out (its result is on the timeline): from
    then on it can only be completed, not refused or withdrawn, whatever recipient tasks are left."""
    return request.events.filter(code=RequestEvent.Code.JOB_FINISHED).exists()


def request_fulfil_jobs(*, request: RightsRequest) -> QuerySet:
    """The jobs that carried the request out (or are carrying it out), newest first."""
    from registry.models import Job

    from .services import FULFIL_JOB_KIND

    return Job.objects.filter(kind=FULFIL_JOB_KIND, params__request_id=request.pk).order_by("-created_at", "-pk")
