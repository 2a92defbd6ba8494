"""The requester's public pages: the request form, the email-ownership link, the status page
(answer, withdraw) and the export download. They parse input and call rights.services.

Every page carrying a token or showing a request is sent with ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (``private_page``), and a token that is tampered, expired or
bound to another request reads as 404, whatever the reason.

CSRF: under ``no-referrer`` browsers send ``Origin: null`` with a form POST, which Django's CSRF
check refuses. The POSTs of token pages are therefore CSRF-exempt (``token_post``): what they act
on is named by the unguessable signed token in the URL, not by a cookie a forged cross-site request
would carry along, so there is no ambient authority for CSRF to abuse. The request form itself has
no token in its URL: it keeps CSRF and sends ``Referrer-Policy: same-origin`` instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry.models import Purpose
from registry.ratelimit import rate_limited, too_many_requests

from . import selectors, services, tokens
from .forms import AnswerForm, RightsRequestForm, rectifiable_field_choices
from .models import DownloadLink, Kind, RectificationChange, RejectionReason, RequestEvent, RightsRequest, Status

Code = RequestEvent.Code
Actor = RequestEvent.Actor
RATE_LIMIT_GROUP = "rights.request_form"


def _private(referrer_policy: str):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                response = render(request, "rights/invalid_link.html", status=404)
            response["Cache-Control"] = "no-store"
            response["Referrer-Policy"] = referrer_policy
            return response

        return wrapper

    return decorator


# No cache may keep these pages and no link on them may leak the token in a Referer header.
# A bad link answers 404 with a page saying so, with the same headers.
private_page = _private("no-referrer")
# The request form and its "check your mailbox" page: nothing secret in the URL, CSRF kept.
form_page = _private("same-origin")


def token_post(view):
    """CSRF-exempt POST on a page whose URL token is the credential (see the module docstring)."""
    return csrf_exempt(view)


def _language() -> str:
    return (get_language() or "fr")[:2]


def _status_url(request: RightsRequest) -> str:
    return reverse("rights:status", args=[tokens.status_token(request=request)])


def _request_from_status_token(token: str) -> RightsRequest:
    found = tokens.read_status_token(token)
    if found is None:
        raise Http404
    return found


# --- Filing ------------------------------------------------------------------------------------


@form_page
@require_http_methods(["GET", "POST"])
def request_new(request):
    if request.method == "POST" and rate_limited(request, group=RATE_LIMIT_GROUP,
                                                 email=request.POST.get("requester_email", "")):
        return too_many_requests(request)
    posted = request.method == "POST"
    form = RightsRequestForm(request.POST if posted else None, request.FILES if posted else None)
    if posted:
        if form.is_honeypot_filled():
            return redirect("rights:sent")
        if form.is_valid():
            try:
                services.rights_request_create(received_via="web_form", language=_language(),
                                               **form.service_arguments())
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                # Whatever the address, known or not: the same page, and the mail goes from a task.
                return redirect("rights:sent")
    return render(request, "rights/request_form.html", {
        "form": form,
        "has_purposes": form.fields["purposes"].queryset.exists(), "verify_days": settings.RIGHTS_VERIFY_LINK_DAYS,
    })


@form_page
@require_GET
def request_sent(request):
    return render(request, "rights/request_sent.html", {"days": settings.RIGHTS_VERIFY_LINK_DAYS})


# --- Email ownership ------------------------------------------------------------------------------


@token_post
@private_page
@require_http_methods(["GET", "POST"])
def verify(request, token: str):
    """GET only shows a button: mail scanners that open links must not verify anything."""
    rights_request = tokens.read_verify_token(token)
    if rights_request is None:
        raise Http404
    if request.method == "POST":
        rights_request = services.rights_request_verify_email(request=rights_request)
        return redirect(_status_url(rights_request))
    return render(request, "rights/verify.html", {"rights_request": rights_request})


# --- Status page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    label: str
    actor: str
    text: str = ""
    detail: str = ""
    code: str = ""


# What the requester reads for each event they may see. Staff-internal events (contacts matched,
# assignment, notes, recipient tasks, reminders, pseudonymisation) are not shown: they may name
# other people or staff, and say nothing the requester needs.
PUBLIC_EVENT_LABELS = {
    Code.RECEIVED: gettext_lazy("Request received"),
    Code.VERIFICATION_SENT: gettext_lazy("Confirmation link sent to your email address"),
    Code.VERIFIED: gettext_lazy("Identity confirmed"),
    Code.MANDATE_CHECKED: gettext_lazy("Proof of mandate checked"),
    Code.STARTED: gettext_lazy("Handling started"),
    Code.JOB_STARTED: gettext_lazy("Your request is being carried out"),
    Code.ASKED: gettext_lazy("Question from us"),
    Code.ANSWERED: gettext_lazy("Your answer"),
    Code.SUSPENDED: gettext_lazy("Deadline suspended until you answer"),
    Code.RESUMED: gettext_lazy("Deadline running again"),
    Code.EXTENDED: gettext_lazy("Deadline extended"),
    Code.RECTIFICATION_DECIDED: gettext_lazy("Correction decided"),
    Code.RESTRICTION_LIFTED: gettext_lazy("Restriction lifted"),
    Code.OBJECTION_DECIDED: gettext_lazy("Objection decided"),
    Code.DOWNLOADED: gettext_lazy("Export downloaded"),
    Code.COMPLETED: gettext_lazy("Request completed"),
    Code.REJECTED: gettext_lazy("Request refused"),
    Code.WITHDRAWN: gettext_lazy("Request withdrawn"),
}
# Events whose text is written for the requester (their own answer, our question, the reason of
# an extension or of a refused correction). Other texts are staff notes and stay in the admin.
PUBLIC_EVENT_TEXTS = {Code.ASKED, Code.ANSWERED, Code.EXTENDED, Code.RECTIFICATION_DECIDED, Code.OBJECTION_DECIDED,
                      Code.REJECTED}
ACTOR_LABELS = {
    Actor.REQUESTER: gettext_lazy("You"),
    Actor.STAFF: gettext_lazy("Our team"),
    Actor.SYSTEM: gettext_lazy("Automatic"),
}


def _event_detail(event: RequestEvent) -> str:
    if event.code == Code.EXTENDED and event.data.get("due_on"):
        day = datetime.fromisoformat(event.data["due_on"]).date()
        return _("New due date: %(day)s") % {"day": date_format(day, "DATE_FORMAT")}
    if event.code == Code.RECTIFICATION_DECIDED:
        field = dict(rectifiable_field_choices()).get(event.data.get("field"), event.data.get("field", ""))
        decision = RectificationChange.Decision(event.data["decision"]).label \
            if event.data.get("decision") in RectificationChange.Decision.values else ""
        return f"{field}: {decision}"
    if event.code == Code.OBJECTION_DECIDED:
        purpose = Purpose.objects.filter(pk=event.data.get("purpose")).first()
        decision = (_("compelling legitimate grounds override your objection") if event.data.get("overriding_grounds")
                    else _("your objection applies"))
        return f"{purpose.name}: {decision}" if purpose else decision
    if event.code == Code.REJECTED:
        code = event.data.get("reason_code")
        return RejectionReason(code).label if code in RejectionReason.values else ""
    return ""


def public_timeline(rights_request: RightsRequest) -> list[TimelineEntry]:
    entries = []
    for event in rights_request.events.order_by("at", "pk"):
        label = PUBLIC_EVENT_LABELS.get(event.code)
        if label is None:
            continue
        entries.append(TimelineEntry(
            at=event.at, label=str(label), actor=str(ACTOR_LABELS.get(event.actor, "")), code=event.code,
            text=event.text if event.code in PUBLIC_EVENT_TEXTS else "", detail=_event_detail(event)))
    return entries


def _open_downloads(rights_request: RightsRequest) -> list[dict]:
    links = rights_request.download_links.filter(
        expires_at__gt=timezone.now(), uses__lt=F("max_uses"), file_deleted_at__isnull=True,
    ).select_related("job", "request")
    return [{"link": link, "url": reverse("rights:download", args=[tokens.download_token(link=link)]),
             "remaining": link.max_uses - link.uses} for link in links if link.job.output]


def _status_page(request, rights_request: RightsRequest, token: str, *, answer_form: AnswerForm | None = None,
                 status: int = 200):
    awaiting = rights_request.status == Status.AWAITING_REQUESTER
    question = None
    if awaiting:
        question = rights_request.events.filter(code=Code.ASKED).order_by("-at", "-pk").first()
    return render(request, "rights/status.html", {
        "rights_request": rights_request,
        "token": token,
        "timeline": public_timeline(rights_request),
        "question": question,
        "answer_form": answer_form or (AnswerForm() if awaiting else None),
        "can_withdraw": rights_request.is_open and not selectors.request_carried_out(request=rights_request),
        "downloads": _open_downloads(rights_request),
        "export_kind": rights_request.kind in (Kind.ACCESS, Kind.PORTABILITY),
    }, status=status)


@private_page
@require_GET
def status(request, token: str):
    return _status_page(request, _request_from_status_token(token), token)


@token_post
@private_page
@require_POST
def answer(request, token: str):
    rights_request = _request_from_status_token(token)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            services.rights_request_answer(request=rights_request, answer=form.cleaned_data["answer"])
        except ValidationError as exc:
            on_answer = exc.message_dict.get("answer") if hasattr(exc, "error_dict") else None
            form.add_error("answer" if on_answer else None, on_answer or exc.messages)
        else:
            messages.success(request, _("Thank you: your answer was sent."))
            return redirect("rights:status", token=token)
    rights_request.refresh_from_db()
    return _status_page(request, rights_request, token, answer_form=form, status=400)


@token_post
@private_page
@require_http_methods(["GET", "POST"])
def withdraw(request, token: str):
    """GET asks for confirmation; POST withdraws."""
    rights_request = _request_from_status_token(token)
    if request.method == "POST":
        try:
            services.rights_request_withdraw(request=rights_request)
        except ValidationError:
            messages.error(request, _("This request is already closed or carried out: it cannot be withdrawn."))
        else:
            messages.success(request, _("Your request is withdrawn."))
        return redirect("rights:status", token=token)
    if not rights_request.is_open or selectors.request_carried_out(request=rights_request):
        return redirect("rights:status", token=token)
    return render(request, "rights/withdraw.html", {"rights_request": rights_request, "token": token})


# --- Download -------------------------------------------------------------------------------------


@private_page
@require_GET
def download(request, token: str):
    """Stream the export and count one use; an expired or used-up link says so (410)."""
    link = tokens.read_download_token(token)
    if link is None:
        raise Http404
    link = DownloadLink.objects.select_related("job", "request").get(pk=link.pk)
    if not link.job.output or services.download_link_use(link=link) is None:
        return render(request, "rights/download_gone.html", {"rights_request": link.request}, status=410)
    try:
        handle = link.job.output.open("rb")
    except FileNotFoundError:
        return render(request, "rights/download_gone.html", {"rights_request": link.request}, status=410)
    filename = link.job.output_name or f"{link.request.reference}.zip"
    response = FileResponse(handle, as_attachment=True, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
