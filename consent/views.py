"""Public pages (collection forms, a purpose's privacy notice, double opt-in, preference centre,
unsubscribe) and the staff collection page. They parse input and call consent.services; the rules live there."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from registry.models import Channel, Purpose
from registry.ratelimit import rate_limited, too_many_requests

from . import notices, selectors, services, tokens
from .forms_public import CollectionSubmissionForm, PreferenceLinkForm
from .models import CollectionForm, Contact, Method


def _evidence(request) -> dict:
    return {"evidence_ip": request.META.get("REMOTE_ADDR"),
            "evidence_user_agent": request.META.get("HTTP_USER_AGENT", "")[:512]}


def _language() -> str:
    return (get_language() or "fr")[:2]


def _collect(request, collection_form: CollectionForm, *, staff: bool):
    search = _StaffSearch(request) if staff else None
    form = CollectionSubmissionForm(request.POST or None, request.FILES or None, collection_form=collection_form,
                                    staff=staff, may_choose_contact=bool(search and search.allowed),
                                    chosen_contact=search.contact if search else None,
                                    initial=search.initial() if search else None)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = services.form_submit(
                form=collection_form, contact_fields=form.contact_fields(), chosen=form.chosen_items(),
                method=form.cleaned_data["method"] if staff else Method.WEB_FORM, language=_language(),
                recorded_by=request.user if staff else None,
                age_confirmed=form.cleaned_data.get("age_confirmed", False),
                evidence_note=form.cleaned_data.get("evidence_note", "") if staff else "",
                evidence_document=form.cleaned_data.get("evidence_document") if staff else None,
                contact=form.cleaned_data.get("contact"),
                **_evidence(request),
            )
        except ValidationError as exc:
            for field, errors in (exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]):
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            return render(request, "consent/form_done.html", {"collection_form": collection_form,
                                                              "outcome": outcome, "staff": staff})
    return render(request, "consent/form.html", {
        "collection_form": collection_form, "form": form, "staff": staff, "search": search,
        "notice": notices.form_notice_text(form=collection_form, language=_language()),
    })


class _StaffSearch:
    """The staff page's contact search (``?q=``) and the contact chosen from it (``?contact=`` on the
    page, the hidden ``contact`` field once posted), for staff who may read contacts."""

    def __init__(self, request) -> None:
        self.allowed = request.user.has_perm("consent.view_contact")
        self.query = request.GET.get("q", "").strip()[:200] if self.allowed else ""
        found = (selectors.contact_search(query=self.query, limit=selectors.CONTACT_SEARCH_LIMIT + 1)
                 if self.query else [])
        self.results = found[:selectors.CONTACT_SEARCH_LIMIT]
        self.more = len(found) > len(self.results)  # the page says to narrow the search
        chosen = (request.POST.get("contact") if request.method == "POST" else request.GET.get("contact")) or ""
        self.contact = (Contact.objects.filter(pk=int(chosen), anonymised_at__isnull=True).first()
                        if self.allowed and chosen.isdecimal() and len(chosen) < 19 else None)

    def initial(self) -> dict:
        if self.contact is None:
            return {}
        fields = ("email", "phone", "first_name", "last_name", "address_line1", "postal_code", "city")
        return {"contact": self.contact.pk, **{name: getattr(self.contact, name) for name in fields}}


@require_http_methods(["GET", "POST"])
def public_form(request, slug: str):
    collection_form = get_object_or_404(CollectionForm, slug=slug, public=True, active=True)
    if request.method == "POST" and rate_limited(request, group="consent.public_form",
                                                 email=request.POST.get("email", "")):
        return too_many_requests(request)
    return _collect(request, collection_form, staff=False)


@login_required
@permission_required("consent.add_consentevent", raise_exception=True)
@require_http_methods(["GET", "POST"])
def staff_form(request, slug: str):
    collection_form = get_object_or_404(CollectionForm, slug=slug, active=True)
    return _collect(request, collection_form, staff=True)


@require_GET
def privacy_notice(request, slug: str):
    """A purpose's Art. 13 notice, public: where a consent receipt's policy link leads."""
    purpose = notices.published_purpose(slug=slug)
    if purpose is None:
        raise Http404
    return render(request, "consent/privacy_notice.html", {
        "purpose": purpose, "retired": notices.purpose_retired(purpose),
        "notice": notices.purpose_privacy_notice_text(purpose=purpose, language=_language()),
    })


@require_http_methods(["GET", "POST"])
def confirm(request, token: str):
    """Double opt-in. GET only shows a button: mail scanners that open links must not confirm."""
    event_id = tokens.read_confirm_token(token)
    if event_id is None:
        return render(request, "consent/confirm.html", {"state": "invalid"}, status=400)
    if request.method == "POST":
        try:
            event = services.consent_confirm(pending_event_id=event_id, **_evidence(request))
        except ValidationError as exc:  # the contact was erased or the purpose retired meanwhile
            return render(request, "consent/confirm.html", {"state": "gone", "reason": " ".join(exc.messages),
                                                             "code": exc.code or ""}, status=410)
        return render(request, "consent/confirm.html", {"state": "confirmed" if event else "nothing"})
    return render(request, "consent/confirm.html", {"state": "ask"})


@require_http_methods(["GET", "POST"])
def preferences_request(request):
    # Counted per email too, known or not: the answer must not tell whether an address is on file.
    if request.method == "POST" and rate_limited(request, group="consent.preference_link",
                                                 email=request.POST.get("email", "")):
        return too_many_requests(request)
    form = PreferenceLinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.preference_link_request(email=form.cleaned_data["email"])
        return render(request, "consent/preferences_request.html", {"sent": True})
    return render(request, "consent/preferences_request.html", {"form": form})


@require_http_methods(["GET", "POST"])
def preferences(request, token: str):
    contact_id = tokens.read_preferences_token(token)
    contact = Contact.objects.filter(pk=contact_id, anonymised_at__isnull=True).first() if contact_id else None
    if contact is None:
        return render(request, "consent/preferences.html", {"invalid": True}, status=400)
    if request.method == "POST":
        try:
            purpose_id, channel_id = int(request.POST.get("purpose", "")), int(request.POST.get("channel", ""))
        except ValueError:
            # Tampered or truncated input is the sender's error (400), never a 500 from the lookup.
            messages.error(request, _("This choice is no longer available."))
            return render(request, "consent/preferences.html", {
                "contact": contact, "rows": selectors.preference_rows(contact=contact), "token": token}, status=400)
        purpose = Purpose.objects.filter(pk=purpose_id).first()
        channel = Channel.objects.filter(pk=channel_id).first()
        if purpose is None or channel is None:
            messages.error(request, _("This choice is no longer available."))
        else:
            try:
                services.preference_change(contact=contact, purpose=purpose, channel=channel,
                                           choice=request.POST.get("choice", ""), language=_language(),
                                           **_evidence(request))
                messages.success(request, _("Your choice is saved."))
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
        return redirect(request.path)
    return render(request, "consent/preferences.html", {
        "contact": contact, "rows": selectors.preference_rows(contact=contact), "token": token})


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" without a CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    targets = _unsubscribe_targets(token)
    if targets is None:  # say so and offer a new link, still as a 404
        return render(request, "consent/unsubscribe.html", {"invalid": True}, status=404)
    contact, purpose, channel = targets
    if request.method == "POST":
        try:
            with transaction.atomic():
                services.unsubscribe(contact=contact, purpose=purpose, channel=channel)
        except ValidationError as exc:  # a rule of the ledger refused it: say why, never a 500
            return render(request, "consent/unsubscribe.html", {"purpose": purpose, "channel": channel,
                                                                "refused": " ".join(exc.messages)}, status=409)
        return render(request, "consent/unsubscribe.html", {"done": True, "purpose": purpose, "channel": channel})
    return render(request, "consent/unsubscribe.html", {"purpose": purpose, "channel": channel})


def _unsubscribe_targets(token: str) -> tuple[Contact, Purpose, Channel] | None:
    """What an unsubscribe link names; None when it is forged or damaged, or names a row since deleted."""
    ids = tokens.read_unsubscribe_token(token)
    if ids is None:
        return None
    contact = Contact.objects.filter(pk=ids[0]).first()
    purpose = Purpose.objects.filter(pk=ids[1]).first()
    channel = Channel.objects.filter(pk=ids[2]).first()
    return (contact, purpose, channel) if contact and purpose and channel else None
