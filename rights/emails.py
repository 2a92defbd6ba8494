"""Emails about rights requests, sent by Celery tasks once the transaction commits (rights.tasks):
to the requester at each step, in their language; Art. 19 notices to recipients and processors;
to staff, the daily digest of coming deadlines and the requester's answer to a question. Each is a
plain-text message with an HTML alternative, from templates/rights/emails/."""
from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from registry.selectors import organisation_get, organisation_dpo_emails

from . import selectors, services, tokens
from .forms import rectifiable_field_choices
from .models import OPEN_STATUSES, Kind, Proof, RecipientTask, RectificationChange, RequestContact, RightsRequest

TEMPLATE_DIR = "rights/emails"

# message → (subject, the proof attached). Subjects are translated when the email is built.
REQUEST_MESSAGES = {
    "verification": (gettext_noop("Confirm your request %(reference)s"), None),
    "acknowledgement": (gettext_noop("We have received your request %(reference)s"), Proof.ProofKind.ACKNOWLEDGEMENT),
    "question": (gettext_noop("A question about your request %(reference)s"), None),
    "extension": (gettext_noop("We need more time for your request %(reference)s"), None),
    "refusal": (gettext_noop("Our answer to your request %(reference)s"), Proof.ProofKind.REFUSAL),
    "withdrawn": (gettext_noop("Your request %(reference)s is withdrawn"), None),
    "completed": (gettext_noop("Your request %(reference)s has been carried out"), Proof.ProofKind.CERTIFICATE),
    "restriction_lifting": (gettext_noop("The restriction of your data will be lifted (request %(reference)s)"),
                            None),
}


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


def _localised(language: str, name: str, *args) -> str:
    with override(language):
        return reverse(name, args=args)


def verify_url(*, request: RightsRequest) -> str:
    return public_url(_localised(request.language, "rights:verify", tokens.verify_token(request=request)))


def status_url(*, request: RightsRequest) -> str:
    return public_url(_localised(request.language, "rights:status", tokens.status_token(request=request)))


def _message(*, subject: str, template: str, context: dict, to: list[str], reply_to: list[str] | None = None
             ) -> EmailMultiAlternatives:
    """Both bodies rendered in the active language."""
    text = render_to_string(f"{TEMPLATE_DIR}/{template}.txt", context)
    html = render_to_string(f"{TEMPLATE_DIR}/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=to, reply_to=reply_to or None)
    message.attach_alternative(html, "text/html")
    return message


def send_request_email(*, request_id: int, message: str, extra: dict | None = None) -> None:
    """One step of the request told to the requester (see REQUEST_MESSAGES). A request without an
    email (filed by post and entered by staff) is answered by post: nothing is sent. A request
    deleted since (never verified, expired) is skipped."""
    if message not in REQUEST_MESSAGES:
        raise ValueError(f"unknown rights-request message: {message}")
    extra = extra or {}
    request = RightsRequest.objects.filter(pk=request_id).first()
    if request is None:
        return
    # A completed erasure request is pseudonymised in the transaction that completes it: its
    # address then travels only in the task's arguments (services._complete_erasure).
    to_email = request.requester_email or str(extra.get("to_email") or "")
    if not to_email:
        return
    subject, proof_kind = REQUEST_MESSAGES[message]
    organisation = organisation_get()
    with override(request.language):
        context = {
            "rights_request": request,
            "name": str(extra.get("to_name") or "") if request.pseudonymised_at else request.requester_name,
            "reference": request.reference,
            "kind": request.get_kind_display(),
            "organisation": organisation,
            "extra": extra,
            "status_url": status_url(request=request),
            "export_kind": request.kind in (Kind.ACCESS, Kind.PORTABILITY),
        }
        if message == "verification":
            context.update(verify_url=verify_url(request=request), days=settings.RIGHTS_VERIFY_LINK_DAYS)
        elif message == "extension":
            context["reason"] = extra.get("reason") or request.extension_reason
        elif message == "restriction_lifting" and extra.get("date"):
            context["lifting_on"] = date.fromisoformat(str(extra["date"])[:10])
        elif message == "completed" and request.kind == Kind.RECTIFICATION:
            # The values written; what was not corrected is in the outcome, with its reason, once.
            context["changes"] = [row for row in _rectification_rows(request) if row["applied"]]
        email = _message(subject=_(subject) % {"reference": request.reference}, template=message, context=context,
                         to=[to_email], reply_to=organisation_dpo_emails(organisation))
        if proof_kind is not None:
            from .proofs import proof_issue

            proof = proof_issue(request=request, kind=proof_kind)
            if proof.file:  # a pseudonymised request keeps its certificate only
                with proof.file.open("rb") as handle:
                    email.attach(_proof_filename(request, proof_kind), handle.read(), "application/pdf")
    email.send()


def _proof_filename(request: RightsRequest, kind: str) -> str:
    names = {
        Proof.ProofKind.ACKNOWLEDGEMENT: _("acknowledgement"),
        Proof.ProofKind.CERTIFICATE: _("certificate"),
        Proof.ProofKind.REFUSAL: _("refusal"),
    }
    return f"{request.reference}-{names[kind]}.pdf"


def _rectification_rows(request: RightsRequest) -> list[dict]:
    labels = dict(rectifiable_field_choices())
    return [{"field": labels.get(change.field, change.field), "value": change.new_value,
             "applied": change.decision == RectificationChange.Decision.APPLIED,
             "decision": change.get_decision_display(), "reason": change.reason}
            for change in request.rectifications.all()]


# --- Art. 19 notices ----------------------------------------------------------------------------

NOTICE_SUBJECTS = {
    Kind.RECTIFICATION: gettext_noop(
        "Rectification of personal data to carry out (GDPR Art. 16 and 19) — %(reference)s"),
    Kind.ERASURE: gettext_noop("Erasure of personal data to carry out (GDPR Art. 17 and 19) — %(reference)s"),
    Kind.RESTRICTION: gettext_noop("Restriction of processing to apply (GDPR Art. 18 and 19) — %(reference)s"),
}


def _notice_identifiers(request: RightsRequest) -> list[str]:
    """What the recipient needs to find the person's records, and no more: the verified email,
    the contacts' current emails; a phone or customer reference only for a contact without email.
    After an erasure the contacts hold nothing any more: the request's email is what identifies them."""
    found: list[str] = []
    if request.requester_email:
        found.append(request.requester_email)
    links = RequestContact.objects.filter(request=request).select_related("contact").order_by("pk")
    for contact in (link.contact for link in links):
        if contact.anonymised_at:
            continue
        value = contact.email or contact.phone or contact.external_ref
        if value and value not in found:
            found.append(value)
    return found


def send_recipient_notice(*, task_id: int) -> None:
    """Tell a recipient or processor to rectify, erase or restrict what it received (Art. 19),
    then mark the task notified (staff still confirm it was done). Sent once."""
    task = RecipientTask.objects.select_related("request", "recipient", "processor").filter(pk=task_id).first()
    if task is None or task.notified_at is not None or task.mode != RecipientTask.Mode.EMAIL:
        return
    to = (task.recipient.notification_email if task.recipient else "") or (
        task.processor.notification_email if task.processor else "")
    request = task.request
    if not to or request.kind not in NOTICE_SUBJECTS:
        return
    organisation = organisation_get()
    with override(settings.LANGUAGE_CODE):
        context = {
            "task": task,
            "reference": request.reference,
            "kind": request.kind,
            "kind_label": request.get_kind_display(),
            "identifiers": _notice_identifiers(request),
            "changes": [row for row in _rectification_rows(request) if row["applied"]]
            if request.kind == Kind.RECTIFICATION else [],
            "organisation": organisation,
        }
        email = _message(subject=_(NOTICE_SUBJECTS[request.kind]) % {"reference": request.reference},
                         template="recipient_notice", context=context, to=[to],
                         reply_to=organisation_dpo_emails(organisation))
    email.send()
    services.recipient_task_mark_notified(task=task)


# --- Staff digest -------------------------------------------------------------------------------


def _admin_url(request: RightsRequest) -> str:
    try:
        return public_url(reverse("admin:rights_rightsrequest_change", args=[request.pk]))
    except NoReverseMatch:
        return public_url(reverse("admin:index"))


def send_deadline_digest(*, email: str, request_ids: list[int], day: str | date) -> None:
    """The daily list of open requests due soon or overdue, for an assignee or the DPO: reference,
    kind, status, due date and the admin link; no requester data (it travels by email)."""
    today = date.fromisoformat(day) if isinstance(day, str) else day
    requests = list(RightsRequest.objects.filter(pk__in=request_ids, status__in=OPEN_STATUSES)
                    .order_by("due_on", "pk"))
    if not requests or not email:
        return
    with override(settings.LANGUAGE_CODE):
        rows = [{"reference": r.reference, "kind": r.get_kind_display(), "status": r.get_status_display(),
                 "due_on": r.due_on, "overdue": r.due_on < today, "days_left": (r.due_on - today).days,
                 "url": _admin_url(r)} for r in requests]
        overdue = sum(1 for row in rows if row["overdue"])
        subject = _("Rights requests: %(due)d due soon, %(overdue)d overdue") % {
            "due": len(rows) - overdue, "overdue": overdue}
        message = _message(subject=subject, template="deadline_digest", context={
            "rows": rows, "day": today, "overdue": overdue, "horizon": settings.RIGHTS_REMINDER_DAYS}, to=[email])
    message.send()


def send_answer_notice(*, request_id: int) -> None:
    """Tell the assignee (else the DPO) that the requester answered the question asked, in the
    site's language: reference, kind, status, due date and the admin link; the answer itself is
    read in the admin (no requester data by email, as in the digest)."""
    request = RightsRequest.objects.select_related("assignee").filter(pk=request_id).first()
    if request is None:
        return
    recipients, as_assignee = selectors.request_staff_emails(request=request)
    if not recipients:
        return
    with override(settings.LANGUAGE_CODE):
        subject = _("Request %(reference)s: the requester answered") % {"reference": request.reference}
        context = {"reference": request.reference, "kind": request.get_kind_display(),
                   "status": request.get_status_display(), "due_on": request.due_on, "url": _admin_url(request),
                   "as_assignee": as_assignee}
        messages = [_message(subject=subject, template="requester_answered", context=context, to=[email])
                    for email in recipients]
    get_connection().send_messages(messages)
