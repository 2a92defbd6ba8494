"""Every write on rights requests: plain functions, keyword-only arguments, one transaction each.

The admin, the public pages, the API and the jobs call these; the rules live here only.
Emails go out from a Celery task enqueued once the transaction commits (``_notify``), never
inside the web request: known and unknown addresses get the same answer in the same time.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.models import Contact
from consent.normalise import normalise_email, normalise_phone
from registry import services as registry_services
from registry.models import Job, Purpose
from registry.validators import validate_scanned_document

from . import deadlines, selectors
from .models import (OPEN_STATUSES, Capacity, DownloadLink, Kind, MandateStatus, ReceivedVia, RectificationChange,
                     RecipientTask, RejectionReason, RequestContact, RequestEvent, RightsRequest, Status, Suspension,
                     UnverifiedRequestCount, VerificationMethod)

FULFIL_JOB_KIND = "rights_fulfil"
# Contact fields a requester may ask to correct (Art. 16), in the order the form shows them.
RECTIFIABLE_FIELDS = ("first_name", "last_name", "email", "phone", "address_line1", "address_line2",
                      "postal_code", "city", "country", "language")
Code = RequestEvent.Code
Actor = RequestEvent.Actor


# --- Internals ---------------------------------------------------------------------------------


def _event(request: RightsRequest, code: str, *, user: AbstractBaseUser | None = None, actor: str | None = None,
           text: str = "", data: dict | None = None) -> RequestEvent:
    user = user if getattr(user, "pk", None) else None
    actor = actor or (Actor.STAFF if user else Actor.SYSTEM)
    return RequestEvent.objects.create(request=request, code=code, actor=actor, user=user, text=text,
                                       data=data or {})


def _notify(request: RightsRequest, message: str, **extra: Any) -> None:
    """Email the requester once the transaction commits (see rights.emails for the messages)."""
    from .tasks import send_request_email

    request_id = request.pk
    transaction.on_commit(lambda: send_request_email.delay(request_id, message, extra))


def _notify_staff_of_answer(request: RightsRequest) -> None:
    """Email the assignee (else the DPO) once the transaction commits (rights.emails.send_answer_notice)."""
    from .tasks import send_answer_notice

    request_id = request.pk
    transaction.on_commit(lambda: send_answer_notice.delay(request_id))


def _locked(request: RightsRequest) -> RightsRequest:
    """The request's row, locked for this transaction: two clicks never make two transitions."""
    return RightsRequest.objects.select_for_update().get(pk=request.pk)


def _require_status(request: RightsRequest, allowed: Iterable[str], *, field: str = "status") -> None:
    if request.status not in allowed:
        raise ValidationError({field: [_("Not possible while the request is “%(status)s”.")
                                       % {"status": request.get_status_display()}]})


def _require_not_carried_out(request: RightsRequest) -> None:
    """A request its job has carried out (data erased, sent, corrected) cannot be refused or
    withdrawn any more: the requester would be told nothing was done when it was."""
    if selectors.request_carried_out(request=request):
        raise ValidationError({"status": [_("This request has already been carried out: it can only be completed "
                                            "now, not refused or withdrawn.")]})


def _required_text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: [message]})
    return value


def due_date_of(request: RightsRequest, *, now: datetime | None = None) -> Any:
    """The request's due date from its receipt, its suspensions and its extension (rights.deadlines)."""
    periods = [(s.started_at, s.ended_at) for s in request.suspensions.all()] if request.pk else []
    suspended = deadlines.suspended_days(periods, now=now or timezone.now())
    return deadlines.due_date(received_at=request.received_at, suspended=suspended,
                              extension_months=request.extension_months)


def _refresh_due(request: RightsRequest) -> None:
    request.due_on = due_date_of(request)
    RightsRequest.objects.filter(pk=request.pk).update(due_on=request.due_on)


def _suspend(request: RightsRequest, *, reason: str) -> None:
    if not request.suspensions.filter(ended_at__isnull=True).exists():
        Suspension.objects.create(request=request, started_at=timezone.now(), reason=reason)


def _resume(request: RightsRequest) -> bool:
    return bool(request.suspensions.filter(ended_at__isnull=True).update(ended_at=timezone.now()))


def _close(request: RightsRequest, status: str) -> None:
    request.status = status
    request.closed_at = timezone.now()
    _resume(request)
    request.save(update_fields=["status", "closed_at"])


# --- Filing ------------------------------------------------------------------------------------


def rectification_value_check(*, field: str, value: str, country: str = "") -> str:
    """The value a correction of the contact's ``field`` would write, in the normal form the
    contact's update stores (consent.services.contact_field_check: the same rules as the
    fulfilment's contact_update), or a ValidationError saying why it cannot be applied. Checked
    where a correction is filed (public form, staff, API) and again where staff approve it. A
    national phone number is read in ``country`` (default: PHONE_DEFAULT_REGION)."""
    from consent import services as consent_services

    if field not in RECTIFIABLE_FIELDS:
        raise ValidationError(_("Unknown field: %(field)s") % {"field": field})
    value = str(value or "").strip()
    if not value:
        raise ValidationError(_("Give the new value of each field to correct."))
    return str(consent_services.contact_field_check(field=field, value=value, country=country))


def _field_error(field: str, exc: ValidationError) -> str:
    from .fulfilment.rectification import field_label

    return _("%(field)s: %(error)s") % {"field": field_label(field), "error": " ".join(exc.messages)}


@transaction.atomic
def rights_request_create(
    *,
    kind: str,
    requester_name: str,
    requester_email: str = "",
    requester_phone: str = "",
    customer_reference: str = "",
    details: str = "",
    language: str = "fr",
    received_via: str = ReceivedVia.WEB_FORM,
    purposes: Iterable[Purpose] = (),
    rectifications: Iterable[tuple[str, str]] = (),
    on_behalf: bool = False,
    subject_name: str = "",
    representative_capacity: str = "",
    mandate_document: Any = None,
    received_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> RightsRequest:
    """File a request. From the web form it waits for the email-ownership link (the deadline is
    suspended meanwhile, Art. 12(6)); entered by staff or another system, it waits for staff to
    verify the identity by another means."""
    errors: dict[str, list[str]] = {}
    email, phone = "", ""
    try:
        email = normalise_email(requester_email) if requester_email.strip() else ""
    except ValidationError as exc:
        errors["requester_email"] = exc.messages
    try:
        phone = normalise_phone(requester_phone) if requester_phone.strip() else ""
    except ValidationError as exc:
        errors["requester_phone"] = exc.messages
    if received_via in (ReceivedVia.WEB_FORM, ReceivedVia.API, ReceivedVia.EMAIL) and not email and \
            "requester_email" not in errors:
        errors["requester_email"] = [_("An email address is needed to prove the request is yours and to answer it.")]
    changes = [(field.strip(), str(value).strip()) for field, value in rectifications]
    if kind == Kind.RECTIFICATION:
        if not changes:
            errors["rectifications"] = [_("Say which data to correct and the new value.")]
        checked = []
        for field, value in changes:
            try:
                checked.append((field, rectification_value_check(field=field, value=value)))
            except ValidationError as exc:
                errors.setdefault("rectifications", []).append(
                    _field_error(field, exc) if field in RECTIFIABLE_FIELDS else " ".join(exc.messages))
        changes = checked
    elif changes:
        errors["rectifications"] = [_("Corrections belong to a rectification request.")]
    if on_behalf:
        if not subject_name.strip():
            errors["subject_name"] = [_("Give the name of the person you represent.")]
        if representative_capacity not in Capacity.values:
            errors["representative_capacity"] = [_("Say in what capacity you act.")]
        if not mandate_document and received_via == ReceivedVia.WEB_FORM:
            errors["mandate_document"] = [_("Attach the proof of your mandate (e.g. power of attorney, family "
                                            "record book, certificate of inheritance).")]
        elif mandate_document:  # whoever sends it (the public form, staff), the rule of every kept scan
            try:
                validate_scanned_document(mandate_document)
            except ValidationError as exc:
                errors["mandate_document"] = exc.messages
    if errors:
        raise ValidationError(errors)

    web = received_via == ReceivedVia.WEB_FORM
    request = RightsRequest(
        kind=kind, requester_name=requester_name.strip(), requester_email=email, requester_phone=phone,
        customer_reference=customer_reference.strip(), details=details.strip(), language=language,
        received_via=received_via, on_behalf=on_behalf, subject_name=subject_name.strip() if on_behalf else "",
        representative_capacity=representative_capacity if on_behalf else "",
        mandate_status=MandateStatus.TO_CHECK if on_behalf else MandateStatus.NOT_REQUIRED,
        received_at=received_at or timezone.now(), created_by=created_by if getattr(created_by, "pk", None) else None,
        status=Status.AWAITING_VERIFICATION if web else Status.RECEIVED,
    )
    request.due_on = deadlines.due_date(received_at=request.received_at)
    if mandate_document and on_behalf:
        request.mandate_document = mandate_document
    request.full_clean()
    request.save()
    if purposes:
        request.purposes.set(purposes)
    for field, value in changes:
        RectificationChange.objects.create(request=request, field=field, new_value=value)
    _event(request, Code.RECEIVED, user=created_by, actor=Actor.REQUESTER if web else None,
           data={"via": received_via, "kind": kind})
    if web:
        Suspension.objects.create(request=request, started_at=request.received_at,
                                  reason=_("Waiting for the requester to confirm their email address"))
        _event(request, Code.VERIFICATION_SENT)
        _notify(request, "verification")
    elif email:
        _notify(request, "acknowledgement")
    _refresh_due(request)
    return request


def _match_by_email(request: RightsRequest) -> list[Contact]:
    """The contacts holding the request's (verified) email: the only automatic match."""
    if not request.requester_email:
        return []
    matched = []
    for contact in Contact.objects.filter(email=request.requester_email, anonymised_at__isnull=True):
        _, created = RequestContact.objects.get_or_create(
            request=request, contact=contact, defaults={"matched_by": RequestContact.MatchedBy.EMAIL})
        if created:
            matched.append(contact)
            _event(request, Code.CONTACT_ADDED, data={"contact": contact.pk, "matched_by": "email"})
    return matched


@transaction.atomic
def rights_request_verify_email(*, request: RightsRequest) -> RightsRequest:
    """The requester opened the emailed link: the email is theirs. Opening it again changes nothing."""
    request = _locked(request)
    if request.status != Status.AWAITING_VERIFICATION:
        return request
    request.status = Status.VERIFIED
    request.verified_at = timezone.now()
    request.verification_method = VerificationMethod.EMAIL_LINK
    request.save(update_fields=["status", "verified_at", "verification_method"])
    _resume(request)
    _event(request, Code.VERIFIED, actor=Actor.REQUESTER, data={"method": VerificationMethod.EMAIL_LINK})
    _match_by_email(request)
    _refresh_due(request)
    _notify(request, "acknowledgement")
    return request


@transaction.atomic
def rights_request_verify_identity(*, request: RightsRequest, method: str, note: str,
                                   by: AbstractBaseUser) -> RightsRequest:
    """Staff established the identity by another means (post, phone, desk): who and how are kept.
    The contacts holding the request's email are then matched; others are added one by one."""
    request = _locked(request)
    _require_status(request, (Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.AWAITING_REQUESTER))
    if method not in VerificationMethod.values or method == VerificationMethod.EMAIL_LINK:
        raise ValidationError({"method": [_("Choose how the identity was verified.")]})
    note = _required_text(note, "note", _("Say what was checked (document, call back on a known number…)."))
    request.status = Status.VERIFIED
    request.verified_at = timezone.now()
    request.verification_method = method
    request.verification_note = note
    request.verified_by = by
    request.save(update_fields=["status", "verified_at", "verification_method", "verification_note", "verified_by"])
    _resume(request)
    _event(request, Code.VERIFIED, user=by, text=note, data={"method": method})
    _match_by_email(request)
    _refresh_due(request)
    return request


@transaction.atomic
def rights_request_add_contact(*, request: RightsRequest, contact: Contact, by: AbstractBaseUser,
                               note: str) -> RequestContact:
    """Staff checked that this contact (found by phone, name or customer reference, or a duplicate)
    is the requester: only then does the request reach their data."""
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    if request.verified_at is None:
        raise ValidationError({"contact": [_("Verify the requester's identity first.")]})
    note = _required_text(note, "note", _("Say how you checked that this contact is the requester."))
    link, created = RequestContact.objects.get_or_create(
        request=request, contact=contact,
        defaults={"matched_by": RequestContact.MatchedBy.STAFF, "added_by": by, "note": note})
    if created:
        _event(request, Code.CONTACT_ADDED, user=by, text=note, data={"contact": contact.pk, "matched_by": "staff"})
    return link


@transaction.atomic
def rights_request_remove_contact(*, request: RightsRequest, contact: Contact, by: AbstractBaseUser,
                                  reason: str) -> None:
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    reason = _required_text(reason, "reason", _("Say why this contact is not the requester."))
    if RequestContact.objects.filter(request=request, contact=contact).delete()[0]:
        _event(request, Code.CONTACT_REMOVED, user=by, text=reason, data={"contact": contact.pk})


@transaction.atomic
def rights_request_check_mandate(*, request: RightsRequest, accepted: bool, note: str,
                                 by: AbstractBaseUser) -> RightsRequest:
    """Staff checked the representative's proof of mandate."""
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    if not request.on_behalf:
        raise ValidationError({"mandate_status": [_("This request is not made on someone else's behalf.")]})
    note = _required_text(note, "note", _("Say what the proof is and what you checked."))
    request.mandate_status = MandateStatus.ACCEPTED if accepted else MandateStatus.REFUSED
    request.save(update_fields=["mandate_status"])
    _event(request, Code.MANDATE_CHECKED, user=by, text=note, data={"accepted": bool(accepted)})
    return request


# --- Handling ----------------------------------------------------------------------------------


@transaction.atomic
def rights_request_assign(*, request: RightsRequest, assignee: AbstractBaseUser | None,
                          by: AbstractBaseUser) -> RightsRequest:
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    request.assignee = assignee
    request.save(update_fields=["assignee"])
    _event(request, Code.ASSIGNED, user=by, data={"assignee": getattr(assignee, "pk", None),
                                                  "name": assignee.get_username() if assignee else ""})
    return request


@transaction.atomic
def rights_request_ask(*, request: RightsRequest, question: str, by: AbstractBaseUser,
                       identity_proof: bool = False) -> RightsRequest:
    """Ask the requester something; they answer on their status page. Asking for proof of identity
    (Art. 12(6)) suspends the deadline until they answer; a plain clarification does not."""
    request = _locked(request)
    _require_status(request, (Status.RECEIVED, Status.VERIFIED, Status.IN_PROGRESS))
    question = _required_text(question, "question", _("Write the question."))
    if not request.requester_email:
        raise ValidationError({"question": [_("The requester left no email address: write to them by post.")]})
    previous = request.status
    request.status = Status.AWAITING_REQUESTER
    request.save(update_fields=["status"])
    if identity_proof:
        _suspend(request, reason=_("Proof of identity asked (Art. 12(6))"))
        _event(request, Code.SUSPENDED, user=by)
    _event(request, Code.ASKED, user=by, text=question,
           data={"previous_status": previous, "identity_proof": bool(identity_proof)})
    _refresh_due(request)
    _notify(request, "question", question=question)
    return request


@transaction.atomic
def rights_request_answer(*, request: RightsRequest, answer: str) -> RightsRequest:
    """The requester's answer from the status page: the request goes back to where it was."""
    request = _locked(request)
    _require_status(request, (Status.AWAITING_REQUESTER,))
    answer = _required_text(answer, "answer", _("Write your answer."))
    asked = request.events.filter(code=Code.ASKED).order_by("-at", "-pk").first()
    request.status = (asked.data.get("previous_status") if asked else None) or Status.RECEIVED
    request.save(update_fields=["status"])
    _event(request, Code.ANSWERED, actor=Actor.REQUESTER, text=answer)
    if _resume(request):
        _event(request, Code.RESUMED)
    _refresh_due(request)
    _notify_staff_of_answer(request)
    return request


@transaction.atomic
def rights_request_start(*, request: RightsRequest, by: AbstractBaseUser) -> RightsRequest:
    request = _locked(request)
    _require_status(request, (Status.VERIFIED,))
    request.status = Status.IN_PROGRESS
    request.save(update_fields=["status"])
    _event(request, Code.STARTED, user=by)
    return request


@transaction.atomic
def rights_request_extend(*, request: RightsRequest, months: int, reason: str,
                          by: AbstractBaseUser) -> RightsRequest:
    """Extend by one or two months (Art. 12(3)): at most two in all, decided and told to the
    requester, with the reason, within the first month."""
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    reason = _required_text(reason, "reason", _("Give the reason: the requester will read it."))
    try:
        months = int(months)
    except (TypeError, ValueError):
        raise ValidationError({"months": [_("One or two months.")]}) from None
    if months < 1 or request.extension_months + months > 2:
        raise ValidationError({"months": [_("The deadline can be extended by two months at most in all "
                                            "(%(done)d already).") % {"done": request.extension_months}]})
    periods = [(s.started_at, s.ended_at) for s in request.suspensions.all()]
    first_month_ends = deadlines.extension_notice_deadline(
        received_at=request.received_at, suspended=deadlines.suspended_days(periods, now=timezone.now()))
    if deadlines.local_day(timezone.now()) > first_month_ends:
        raise ValidationError({"months": [_("Too late: an extension must be told to the requester within the "
                                            "first month (by %(day)s).") % {"day": first_month_ends.isoformat()}]})
    request.extension_months += months
    request.extension_reason = "\n".join(filter(None, [request.extension_reason, reason]))
    request.save(update_fields=["extension_months", "extension_reason"])
    _refresh_due(request)
    _event(request, Code.EXTENDED, user=by, text=reason,
           data={"months": months, "due_on": request.due_on.isoformat()})
    _notify(request, "extension", reason=reason)
    return request


@transaction.atomic
def rights_request_reject(*, request: RightsRequest, reason_code: str, text: str,
                          by: AbstractBaseUser) -> RightsRequest:
    """Refuse with a reason; the requester is told why and that they may complain to the CNIL."""
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    _require_not_carried_out(request)
    if reason_code not in RejectionReason.values:
        raise ValidationError({"reason_code": [_("Choose the reason for the refusal.")]})
    text = _required_text(text, "text", _("Explain the refusal: the requester will read it."))
    request.rejection_reason = reason_code
    request.rejection_text = text
    request.save(update_fields=["rejection_reason", "rejection_text"])
    _close(request, Status.REJECTED)
    _event(request, Code.REJECTED, user=by, text=text, data={"reason_code": reason_code})
    _notify(request, "refusal")
    return request


@transaction.atomic
def rights_request_withdraw(*, request: RightsRequest) -> RightsRequest:
    """The requester withdraws the request from their status page."""
    request = _locked(request)
    _require_status(request, OPEN_STATUSES)
    _require_not_carried_out(request)
    _close(request, Status.WITHDRAWN)
    _event(request, Code.WITHDRAWN, actor=Actor.REQUESTER)
    _notify(request, "withdrawn")
    return request


# --- Fulfilment ----------------------------------------------------------------------------------


@transaction.atomic
def rights_request_fulfil(*, request: RightsRequest, by: AbstractBaseUser | None) -> Job:
    """Start the job that carries the request out (export, rectification, erasure, restriction,
    objection: see rights.fulfilment). It runs once this transaction commits."""
    request = _locked(request)
    _require_status(request, (Status.VERIFIED, Status.IN_PROGRESS))
    if request.on_behalf and request.mandate_status != MandateStatus.ACCEPTED:
        raise ValidationError({"mandate_status": [_("Check the proof of mandate first.")]})
    if not request.request_contacts.exists():
        raise ValidationError({"contacts": [_("No contact is linked to this request: add the requester's "
                                              "records, or reject or close it saying no data is held.")]})
    if request.kind == Kind.RECTIFICATION and request.rectifications.filter(
            decision=RectificationChange.Decision.PENDING).exists():
        raise ValidationError({"rectifications": [_("Decide every requested correction first.")]})
    if request.kind == Kind.OBJECTION:
        from .fulfilment.objection import decisions_missing

        missing = decisions_missing(request)
        if missing:
            raise ValidationError({"purposes": [
                _("The DPO must first decide whether compelling legitimate grounds override the objection "
                  "(Art. 21(1)) for: %(purposes)s.") % {"purposes": ", ".join(str(p) for p in missing)}]})
    running = Job.objects.filter(kind=FULFIL_JOB_KIND, params__request_id=request.pk,
                                 status__in=[Job.Status.PENDING, Job.Status.RUNNING]).first()
    if running is not None:
        return running
    job = registry_services.job_create(kind=FULFIL_JOB_KIND, params={"request_id": request.pk}, requested_by=by)
    if request.status == Status.VERIFIED:
        request.status = Status.IN_PROGRESS
        request.save(update_fields=["status"])
    _event(request, Code.JOB_STARTED, user=by, data={"job": job.pk, "kind": request.kind})
    return job


# Closed without being carried out: a fulfilment job queued before the request closed does nothing.
NOT_CARRIED_OUT = (Status.REJECTED, Status.WITHDRAWN, Status.EXPIRED)


@transaction.atomic
def rights_request_fulfilment_begin(*, request_id: int, job: Job) -> RightsRequest | None:
    """The fulfilment job, as it starts: the request to carry out; None when the request was
    rejected, withdrawn or expired after the job was queued (an erasure the requester withdrew must
    not happen). Its timeline then says the job was cancelled and did nothing."""
    request = RightsRequest.objects.select_for_update().get(pk=request_id)
    if request.status not in NOT_CARRIED_OUT:
        return request
    if not request.events.filter(code=Code.JOB_CANCELLED, data__job=job.pk).exists():
        _event(request, Code.JOB_CANCELLED, data={"job": job.pk, "status": request.status})
    return None


@transaction.atomic
def rights_request_decide_rectification(*, change: RectificationChange, apply: bool, reason: str = "",
                                        by: AbstractBaseUser) -> RectificationChange:
    """Approve or refuse one requested correction (a refusal needs a reason the requester will read).
    Approved corrections are applied by the fulfilment job, through the consent services."""
    request = _locked(change.request)
    _require_status(request, (Status.VERIFIED, Status.IN_PROGRESS, Status.AWAITING_REQUESTER))
    change = RectificationChange.objects.select_for_update().get(pk=change.pk)
    if change.decision != RectificationChange.Decision.PENDING and change.decided_at and request.closed_at:
        raise ValidationError({"decision": [_("Already decided.")]})
    if apply:
        _check_applicable(request, change)
    else:
        reason = _required_text(reason, "reason", _("Say why this correction is refused."))
    change.decision = RectificationChange.Decision.APPLIED if apply else RectificationChange.Decision.REFUSED
    change.reason = "" if apply else reason
    change.decided_by = by
    change.decided_at = timezone.now()
    change.save()
    _event(request, Code.RECTIFICATION_DECIDED, user=by, text=change.reason,
           data={"field": change.field, "decision": change.decision})
    return change


def _check_applicable(request: RightsRequest, change: RectificationChange) -> None:
    """Refuse to approve a correction the fulfilment could not apply (a value filed before the
    form checked it): checked as the contact's update would, a national phone number in the
    country of each contact of the request."""
    countries = sorted({contact.country for contact in selectors.request_contacts(request=request)
                        if not contact.anonymised_at}) or [""]
    try:
        for country in countries:
            rectification_value_check(field=change.field, value=change.new_value, country=country)
    except ValidationError as exc:
        raise ValidationError({"decision": [
            _("This correction cannot be applied: %(reason)s Refuse it, saying why, or ask the requester for "
              "the right value.") % {"reason": " ".join(exc.messages)}]}) from None


def _recipient_tasks(request: RightsRequest, purpose_ids: list[int]) -> list[RecipientTask]:
    """Art. 19: one task per recipient and processor the register lists for the purposes concerned.
    An organisation the register lists twice (as a recipient and as a processor, or under two
    activities) with the same notification address gets one task: one email, not two identical ones."""
    purposes = Purpose.objects.filter(pk__in=purpose_ids).select_related("activity")
    seen: set[tuple[str, int]] = set()
    emailed: set[str] = set()
    tasks = []
    for purpose in purposes:
        parties = [("recipient", party) for party in purpose.activity.recipients.all()]
        parties += [("processor", party) for party in purpose.activity.processors.all()]
        for role, party in parties:
            address = party.notification_email.strip().lower()
            if (role, party.pk) in seen or (address and address in emailed):
                continue
            seen.add((role, party.pk))
            if address:
                emailed.add(address)
            mode = RecipientTask.Mode.EMAIL if address else RecipientTask.Mode.MANUAL
            tasks.append(RecipientTask(request=request, name=party.name, mode=mode, **{role: party}))
    return tasks


@transaction.atomic
def rights_request_record_fulfilment(*, request: RightsRequest, job: Job, outcome: str,
                                     purpose_ids: Iterable[int] = (), counts: dict | None = None) -> RightsRequest:
    """What the fulfilment job did: the outcome, the Art. 19 tasks for recipients and processors of
    the purposes concerned (rectification, erasure, restriction), and, when no task is left open,
    the completion. Recording twice changes nothing (the job may run again after a crash)."""
    request = _locked(request)
    if request.events.filter(code=Code.JOB_FINISHED, data__job=job.pk).exists():
        return request
    request.outcome = outcome
    request.save(update_fields=["outcome"])
    _event(request, Code.JOB_FINISHED, data={"job": job.pk, "counts": counts or {}})
    if request.kind in (Kind.RECTIFICATION, Kind.ERASURE, Kind.RESTRICTION):
        for task in _recipient_tasks(request, list(purpose_ids)):
            task.save()
            _event(request, Code.TASK_CREATED, data={"task": task.pk, "name": task.name, "mode": task.mode})
            if task.mode == RecipientTask.Mode.EMAIL:
                # Bound now: a closure over the loop's variable would send the last task's email each time.
                transaction.on_commit(lambda task_id=task.pk: _send_recipient_notice(task_id))
    if request.status in NOT_CARRIED_OUT:
        # Closed while the job ran: what it did is on the timeline (and recipients of an erasure
        # that happened are still told, Art. 19), but the request stays as it was closed: no
        # completion, no download link for a requester who withdrew.
        return request
    if request.kind in (Kind.ACCESS, Kind.PORTABILITY):
        download_link_create(request=request, job=job)
    if not request.recipient_tasks.filter(status=RecipientTask.TaskStatus.OPEN).exists():
        _complete(request, by=None)
    return request


def _send_recipient_notice(task_id: int) -> None:
    from .tasks import send_recipient_notice

    send_recipient_notice.delay(task_id)


@transaction.atomic
def recipient_task_mark_notified(*, task: RecipientTask) -> None:
    RecipientTask.objects.filter(pk=task.pk, notified_at__isnull=True).update(notified_at=timezone.now())


@transaction.atomic
def recipient_task_confirm(*, task: RecipientTask, by: AbstractBaseUser, note: str = "") -> RecipientTask:
    """Staff confirm the recipient acted (or the manual task was done). The last confirmation
    completes a request whose job has finished."""
    request = _locked(task.request)
    task = RecipientTask.objects.select_for_update().get(pk=task.pk)
    if task.status == RecipientTask.TaskStatus.DONE:
        return task
    if task.mode == RecipientTask.Mode.MANUAL and not (note or "").strip():
        raise ValidationError({"note": [_("Say what was done in the other system.")]})
    task.status = RecipientTask.TaskStatus.DONE
    task.confirmed_by = by
    task.confirmed_at = timezone.now()
    task.note = (note or "").strip()
    task.save()
    _event(request, Code.TASK_CONFIRMED, user=by, text=task.note, data={"task": task.pk, "name": task.name})
    fulfilled = selectors.request_carried_out(request=request)
    if fulfilled and request.is_open and not request.recipient_tasks.filter(
            status=RecipientTask.TaskStatus.OPEN).exists():
        _complete(request, by=by)
    return task


def _complete(request: RightsRequest, *, by: AbstractBaseUser | None, override_reason: str = "") -> None:
    _close(request, Status.COMPLETED)
    _event(request, Code.COMPLETED, user=by, text=override_reason)
    if request.kind == Kind.ERASURE:
        _complete_erasure(request)  # tells the requester, then pseudonymises the request (end of file)
        return
    _notify(request, "completed")


def user_may_override_tasks(user: AbstractBaseUser) -> bool:
    return bool(user and (user.is_superuser or user.groups.filter(name="dpo").exists()))


@transaction.atomic
def rights_request_close_with_open_tasks(*, request: RightsRequest, reason: str,
                                         by: AbstractBaseUser) -> RightsRequest:
    """The DPO closes a fulfilled request although some recipient has not confirmed, saying why."""
    request = _locked(request)
    _require_status(request, (Status.IN_PROGRESS,))
    if not user_may_override_tasks(by):
        raise ValidationError({"tasks_override_reason": [_("Only the DPO can close a request with open tasks.")]})
    if not selectors.request_carried_out(request=request):
        raise ValidationError({"status": [_("The request has not been carried out yet.")]})
    reason = _required_text(reason, "tasks_override_reason", _("Say why the request closes with open tasks."))
    request.tasks_override_reason = reason
    request.save(update_fields=["tasks_override_reason"])
    _complete(request, by=by, override_reason=reason)
    return request


# --- Downloads --------------------------------------------------------------------------------


def download_link_create(*, request: RightsRequest, job: Job) -> DownloadLink:
    return DownloadLink.objects.create(
        request=request, job=job, expires_at=timezone.now() + timedelta(days=settings.RIGHTS_DOWNLOAD_DAYS),
        max_uses=settings.RIGHTS_DOWNLOAD_MAX_USES)


@transaction.atomic
def download_link_use(*, link: DownloadLink) -> DownloadLink | None:
    """Count one download; None when the link has expired, is used up or its file is gone."""
    now = timezone.now()
    used = DownloadLink.objects.filter(pk=link.pk, expires_at__gt=now, uses__lt=F("max_uses"),
                                       file_deleted_at__isnull=True).update(uses=F("uses") + 1)
    if not used:
        return None
    link.refresh_from_db()
    _event(link.request, Code.DOWNLOADED, actor=Actor.REQUESTER, data={"link": link.pk, "use": link.uses})
    return link


def download_links_expire(*, now: datetime | None = None) -> int:
    """Delete the export files of expired or used-up links (the ZIP is the person's data)."""
    now = now or timezone.now()
    count = 0
    for link in DownloadLink.objects.filter(file_deleted_at__isnull=True).select_related("job"):
        if link.expires_at > now and link.uses < link.max_uses:
            continue
        with transaction.atomic():
            if link.job.output:
                link.job.output.delete(save=False)
                Job.objects.filter(pk=link.job_id).update(output="", output_name="")
            DownloadLink.objects.filter(pk=link.pk).update(file_deleted_at=now)
        count += 1
    return count


# --- Periodic -------------------------------------------------------------------------------


def rights_request_expire_unverified(*, now: datetime | None = None) -> int:
    """Web requests never confirmed within the link's validity are deleted, history included;
    only their number per month and kind is kept."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RIGHTS_VERIFY_LINK_DAYS)
    count = 0
    for request in RightsRequest.objects.filter(status=Status.AWAITING_VERIFICATION, received_at__lt=cutoff):
        with transaction.atomic():
            locked = RightsRequest.objects.select_for_update().filter(
                pk=request.pk, status=Status.AWAITING_VERIFICATION).first()
            if locked is None:
                continue
            month = deadlines.local_day(locked.received_at).replace(day=1)
            tally, _created = UnverifiedRequestCount.objects.get_or_create(month=month, kind=locked.kind)
            UnverifiedRequestCount.objects.filter(pk=tally.pk).update(count=F("count") + 1)
            document = locked.mandate_document.name
            request_id = locked.pk
            locked.delete()
            RightsRequest.history.model.objects.filter(id=request_id).delete()  # its deletion row too
            if document:
                storage = RightsRequest._meta.get_field("mandate_document").storage
                transaction.on_commit(lambda name=document: storage.delete(name))
        count += 1
    return count


def rights_deadline_reminders_send(*, today: Any = None) -> int:
    """Daily: tell each assignee and the DPO about open requests due within
    RIGHTS_REMINDER_DAYS days or overdue (one email per person, once a day)."""
    from .tasks import send_deadline_digest

    today = today or deadlines.local_day(timezone.now())
    by_person = selectors.deadline_reminders(today=today)
    for email, request_ids in by_person.items():
        transaction.on_commit(lambda email=email, ids=request_ids: send_deadline_digest.delay(email, ids,
                                                                                                today.isoformat()))
    return len(by_person)


# --- Restriction, objection, and the pseudonymisation of erasure requests (rights.fulfilment) ---

RESTRICTION_LIFTING_MARK = "restriction_lifting"  # data key of the NOTE event announcing the lifting


def _require_kind(request: RightsRequest, kind: str) -> None:
    if request.kind != kind:
        raise ValidationError({"kind": [_("Not possible for a request of this kind.")]})


def restriction_lifting_announced(*, request: RightsRequest) -> bool:
    return request.events.filter(code=Code.NOTE, **{f"data__{RESTRICTION_LIFTING_MARK}": "announced"}).exists()


@transaction.atomic
def rights_request_announce_restriction_lifting(*, request: RightsRequest, by: AbstractBaseUser, note: str = "",
                                                lifting_on: Any = None) -> RightsRequest:
    """First step of lifting a restriction: the requester is told before it is lifted (Art. 18(3)),
    by email (with the planned date when given), or, when they left no address, by other means that
    staff describe in ``note``."""
    request = _locked(request)
    _require_kind(request, Kind.RESTRICTION)
    if not selectors.request_carried_out(request=request):
        raise ValidationError({"status": [_("The restriction has not been applied yet.")]})
    if request.events.filter(code=Code.RESTRICTION_LIFTED).exists():
        raise ValidationError({"status": [_("The restriction was already lifted.")]})
    if restriction_lifting_announced(request=request):
        return request
    note = (note or "").strip()
    if not request.requester_email and not note:
        raise ValidationError({"note": [_("The requester left no email address: write to them, then say how and "
                                          "when they were told.")]})
    data = {RESTRICTION_LIFTING_MARK: "announced"}
    if lifting_on:
        data["lifting_on"] = lifting_on.isoformat()
    _event(request, Code.NOTE, user=by, text=note, data=data)
    if request.requester_email:
        _notify(request, "restriction_lifting", **({"date": data["lifting_on"]} if lifting_on else {}))
    return request


@transaction.atomic
def rights_request_lift_restriction(*, request: RightsRequest, by: AbstractBaseUser) -> RightsRequest:
    """Second step: lift the restriction, refused unless the requester was told first (Art. 18(3)).
    A contact still covered by another restriction in force stays restricted. Twice changes nothing."""
    from consent import services as consent_services

    request = _locked(request)
    _require_kind(request, Kind.RESTRICTION)
    if request.events.filter(code=Code.RESTRICTION_LIFTED).exists():
        return request
    if not restriction_lifting_announced(request=request):
        raise ValidationError({"status": [_("Tell the requester that the restriction will be lifted before lifting "
                                            "it (Art. 18(3)).")]})
    in_force = (RightsRequest.objects.filter(kind=Kind.RESTRICTION, events__code=Code.JOB_FINISHED)
                .exclude(pk=request.pk).exclude(events__code=Code.RESTRICTION_LIFTED))
    lifted, kept = [], []
    for contact in request.contacts.filter(restricted=True, anonymised_at__isnull=True).order_by("pk"):
        if in_force.filter(request_contacts__contact=contact).exists():
            kept.append(contact.pk)
            continue
        consent_services.contact_update(contact=contact, restricted=False)
        lifted.append(contact.pk)
    _event(request, Code.RESTRICTION_LIFTED, user=by, data={"contacts": lifted, "still_restricted": kept})
    return request


@transaction.atomic
def rights_request_decide_objection(*, request: RightsRequest, purpose: Purpose, overriding_grounds: bool,
                                    reason: str, by: AbstractBaseUser) -> RequestEvent:
    """The DPO records, for a purpose on legitimate interests or a public task, whether compelling
    legitimate grounds override the objection (Art. 21(1)); the reason is required when they do
    (the requester reads it). Deciding again before the objection is carried out replaces it."""
    from .fulfilment.objection import DECISION, purposes_concerned, treatment

    request = _locked(request)
    _require_kind(request, Kind.OBJECTION)
    _require_status(request, OPEN_STATUSES)
    if not user_may_override_tasks(by):
        raise ValidationError({"overriding_grounds": [_("Only the DPO decides on an objection.")]})
    if selectors.request_carried_out(request=request):
        raise ValidationError({"status": [_("The objection was already carried out.")]})
    if purpose not in purposes_concerned(request):
        raise ValidationError({"purpose": [_("This purpose is not concerned by the request.")]})
    if treatment(purpose) != DECISION:
        raise ValidationError({"purpose": [_("No decision is needed for this purpose: the objection applies "
                                             "(direct marketing, consent) or the legal basis gives no right to "
                                             "object.")]})
    reason = (reason or "").strip()
    if overriding_grounds and not reason:
        raise ValidationError({"reason": [_("Give the compelling legitimate grounds: the requester will read "
                                            "them.")]})
    return _event(request, Code.OBJECTION_DECIDED, user=by, text=reason,
                  data={"purpose": purpose.pk, "slug": purpose.slug, "overriding_grounds": bool(overriding_grounds)})


def _complete_erasure(request: RightsRequest) -> None:
    # The address travels with the message: once the request is pseudonymised, below in the same
    # transaction, the row no longer holds it.
    _notify(request, "completed", to_email=request.requester_email, to_name=request.requester_name)
    rights_request_pseudonymise(request=request)


def _redactor(request: RightsRequest):
    """A function replacing the requester's email, phone (E.164 and national forms), customer
    reference and names in a free text written by staff."""
    import re

    import phonenumbers

    exact = [request.requester_email, request.requester_phone, request.customer_reference,
             request.requester_name.strip(), request.subject_name.strip()]
    if request.requester_phone:
        try:
            number = phonenumbers.parse(request.requester_phone, None)
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            exact += [national, national.replace(" ", ""), national.replace(" ", ".")]
        except phonenumbers.NumberParseException:
            pass
    words = {w for name in (request.requester_name, request.subject_name) for w in re.split(r"[\s,]+", name)
             if len(w) >= 3}
    patterns = [re.escape(v) for v in sorted({v for v in exact if v}, key=len, reverse=True)]
    patterns += [rf"\b{re.escape(w)}\b" for w in sorted(words, key=len, reverse=True)]
    if not patterns:
        return lambda value: value
    pattern = re.compile("|".join(patterns), re.IGNORECASE)

    def redact(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub("[…]", value)
        if isinstance(value, list):
            return [redact(v) for v in value]
        if isinstance(value, dict):
            return {k: redact(v) for k, v in value.items()}
        return value

    return redact


@transaction.atomic
def rights_request_pseudonymise(*, request: RightsRequest) -> RightsRequest:
    """Once an erasure request is completed, keep only what proves it (design §3): reference, dates,
    keyed HMACs of the email and phone (``email_digest``, ``phone_digest``), the sources and counts
    (outcome, job counts). Names, email, phone, customer reference, details, the proof of mandate,
    the timeline's texts and the requested corrections go, in the row and its history rows; staff's
    free texts keep their words but not the requester's identifiers. Files (mandate, proofs but the
    certificate) are deleted after the commit by a job. Twice changes nothing."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    from consent.normalise import keyed_digest
    from registry.datamap import anonymised_values, datamap

    from .fulfilment.erasure import DELETE_FILES_JOB_KIND, FileList
    from .models import Proof

    request = _locked(request)
    if request.pseudonymised_at:
        return request
    if request.kind != Kind.ERASURE or request.status != Status.COMPLETED:
        raise ValidationError({"status": [_("Only a completed erasure request is pseudonymised.")]})
    now = timezone.now()
    redact = _redactor(request)
    source = datamap.source_for(RightsRequest)
    fixed = {
        "requester_email": "", "requester_phone": "", "pseudonymised_at": now,
        "email_digest": keyed_digest(request.requester_email) if request.requester_email else "",
        "phone_digest": keyed_digest(request.requester_phone) if request.requester_phone else "",
    }
    free_texts = ("outcome", "extension_reason", "rejection_text", "tasks_override_reason")
    files = FileList()

    def values_of(record: Any) -> dict[str, Any]:
        values = {**anonymised_values(source, record), **fixed}
        values.update({name: redact(getattr(record, name)) for name in free_texts})
        return values

    files.add(RightsRequest, "mandate_document", request.mandate_document.name or "")
    RightsRequest.objects.filter(pk=request.pk).update(**values_of(request))
    history = RightsRequest.history.model
    for row in history.objects.filter(id=request.pk):
        files.add(RightsRequest, "mandate_document", str(row.mandate_document or ""))
        history.objects.filter(pk=row.pk).update(**values_of(row))

    for event in request.events.all():
        RequestEvent.objects.filter(pk=event.pk).update(text="", data=redact(event.data))
    request.rectifications.update(new_value="", reason="")
    request.request_contacts.update(note="")
    for task in request.recipient_tasks.exclude(note=""):
        RecipientTask.objects.filter(pk=task.pk).update(note=redact(task.note))
    for proof in request.proofs.exclude(kind=Proof.ProofKind.CERTIFICATE).exclude(file=""):
        files.add(Proof, "file", proof.file.name)
        Proof.objects.filter(pk=proof.pk).update(file="")
    for entry in LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(RightsRequest),
                                         object_id=str(request.pk)):
        LogEntry.objects.filter(pk=entry.pk).update(object_repr=redact(entry.object_repr),
                                                    change_message=redact(entry.change_message))
    for job in Job.objects.filter(kind=FULFIL_JOB_KIND, params__request_id=request.pk):
        Job.objects.filter(pk=job.pk).update(params=redact(job.params), error=redact(job.error))
    if files:
        registry_services.job_create(kind=DELETE_FILES_JOB_KIND, params={"files": files.items, "attempt": 1})
    _event(request, Code.PSEUDONYMISED, data={"files": len(files)})
    request.refresh_from_db()
    return request
