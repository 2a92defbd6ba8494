"""The request page of the rights admin: its action forms, the service each one calls, and what
the page shows. Every change to a request is one of these actions, hence one service call and
one line of the timeline; the page itself never saves a model form."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.models import Contact
from registry.models import Job, Purpose
from registry.validators import scanned_document_help_text, validate_scanned_document

from . import selectors, services
from .event_details import event_details
from .models import (
    Capacity,
    Kind,
    MandateStatus,
    ReceivedVia,
    RecipientTask,
    RectificationChange,
    RejectionReason,
    RequestContact,
    RightsRequest,
    Status,
    VerificationMethod,
)

ACT_PERMISSION = "rights.change_rightsrequest"
# Staff-verified identity: the email link is the requester's own proof, never chosen by staff.
STAFF_VERIFICATION_METHODS = [(value, label) for value, label in VerificationMethod.choices
                              if value != VerificationMethod.EMAIL_LINK]
# What staff enter by hand; the web form and the API have their own doors.
STAFF_RECEIVED_VIA = [(value, label) for value, label in ReceivedVia.choices
                      if value not in (ReceivedVia.WEB_FORM, ReceivedVia.API)]
CANDIDATE_REASONS = {
    "email": _("same email address"),
    "phone": _("same phone number"),
    "name": _("same name"),
    "customer_reference": _("same customer reference"),
}
URGENCY_LABELS = {
    selectors.Urgency.OVERDUE: _("Overdue"),
    selectors.Urgency.DUE_SOON: _("Due within 7 days"),
    selectors.Urgency.OK: _("On time"),
    selectors.Urgency.CLOSED: _("Closed"),
}


def urgency_badge(request: RightsRequest, *, today=None):
    urgency = selectors.request_urgency(request=request, today=today)
    return format_html('<span class="rights-urgency rights-urgency-{}" data-urgency="{}">{}</span>',
                       urgency, urgency, URGENCY_LABELS[urgency])


def handlers():
    """Users who may be given a request: active members of the staff or DPO groups, superusers."""
    return (get_user_model().objects.filter(is_active=True)
            .filter(Q(groups__name__in=("staff", "dpo")) | Q(is_superuser=True)).distinct().order_by("username"))


# --- Forms ------------------------------------------------------------------------------------


def _note(label, *, required: bool = True, rows: int = 2):
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": rows, "cols": 60}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=get_user_model().objects.none(), required=False,
                                      empty_label=_("Nobody"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = handlers()


class StartForm(forms.Form):
    pass


class VerifyForm(forms.Form):
    method = forms.ChoiceField(label=_("How the identity was checked"), choices=STAFF_VERIFICATION_METHODS)
    note = _note(_("What was checked"))


class MandateForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), widget=forms.RadioSelect,
                                 choices=[("accept", _("Accept the proof of mandate")),
                                          ("refuse", _("Refuse the proof of mandate"))])
    note = _note(_("What the proof is and what you checked"))


class ContactAddForm(forms.Form):
    contact = forms.IntegerField(label=_("Contact number"), min_value=1)
    note = _note(_("How you checked that this contact is the requester"))


class ContactRemoveForm(forms.Form):
    contact = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(label=_("Why this contact is not the requester"), max_length=500)


class AskForm(forms.Form):
    question = _note(_("Question"), rows=4)
    identity_proof = forms.BooleanField(
        label=_("This asks for proof of identity (Art. 12(6)): the deadline is suspended until the answer"),
        required=False)


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(label=_("Extension"), coerce=int,
                                    choices=[(1, _("One month")), (2, _("Two months"))])
    reason = _note(_("Reason (emailed to the requester)"), rows=3)


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(label=_("Reason"), choices=RejectionReason.choices)
    text = _note(_("Explanation (the requester will read it, with their right to complain to the CNIL)"), rows=4)


class FulfilForm(forms.Form):
    contacts_confirmed = forms.BooleanField(
        label=_("I checked that the contacts listed above, and only they, are the requester"), required=True)


class RectificationForm(forms.Form):
    change = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    decision = forms.ChoiceField(choices=[("apply", _("Approve")), ("refuse", _("Refuse"))],
                                 widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason if refused"), required=False, max_length=1000)


class TaskConfirmForm(forms.Form):
    task = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    note = forms.CharField(label=_("What was done"), required=False, max_length=2000)


class CloseOverrideForm(forms.Form):
    reason = _note(_("Why the request closes although recipients have not all confirmed"), rows=3)


# --- Actions: form → service -------------------------------------------------------------------


def _contact(data: dict, field: str = "contact") -> Contact:
    contact = Contact.objects.filter(pk=data[field]).first()
    if contact is None:
        raise ValidationError({field: [gettext("No contact has this number.")]})
    return contact


def _do_assign(obj, data, user):
    services.rights_request_assign(request=obj, assignee=data["assignee"], by=user)
    if data["assignee"] is None:
        return gettext("The request is no longer assigned.")
    return gettext("Assigned to %(name)s.") % {"name": data["assignee"].get_username()}


def _do_start(obj, data, user):
    services.rights_request_start(request=obj, by=user)
    return gettext("Handling started.")


def _do_verify(obj, data, user):
    services.rights_request_verify_identity(request=obj, method=data["method"], note=data["note"], by=user)
    return gettext("Identity verified: the contacts holding the request's email are now matched; check the "
                   "candidates below.")


def _do_mandate(obj, data, user):
    request = services.rights_request_check_mandate(request=obj, accepted=data["decision"] == "accept",
                                                    note=data["note"], by=user)
    return gettext("Proof of mandate: %(status)s.") % {"status": request.get_mandate_status_display()}


def _do_add_contact(obj, data, user):
    contact = _contact(data)
    if contact.anonymised_at:
        raise ValidationError({"contact": [gettext("This contact is anonymised.")]})
    services.rights_request_add_contact(request=obj, contact=contact, by=user, note=data["note"])
    return gettext("Contact #%(id)d added to the request.") % {"id": contact.pk}


def _do_remove_contact(obj, data, user):
    contact = _contact(data)
    services.rights_request_remove_contact(request=obj, contact=contact, by=user, reason=data["reason"])
    return gettext("Contact #%(id)d removed from the request.") % {"id": contact.pk}


def _do_ask(obj, data, user):
    services.rights_request_ask(request=obj, question=data["question"], by=user,
                                identity_proof=data["identity_proof"])
    return gettext("The question was emailed to the requester.")


def _do_extend(obj, data, user):
    request = services.rights_request_extend(request=obj, months=data["months"], reason=data["reason"], by=user)
    return gettext("Deadline extended to %(day)s; the requester is told why.") % {"day": request.due_on.isoformat()}


def _do_reject(obj, data, user):
    services.rights_request_reject(request=obj, reason_code=data["reason_code"], text=data["text"], by=user)
    return gettext("Request rejected; the requester is told why and of their right to complain to the CNIL.")


def _do_fulfil(obj, data, user):
    job = services.rights_request_fulfil(request=obj, by=user)
    return format_html(gettext("The request is being carried out by job {}."),
                       format_html('<a href="{}">#{}</a>', reverse("admin:registry_job_change", args=[job.pk]),
                                   job.pk))


def _do_rectification(obj, data, user):
    change = RectificationChange.objects.filter(pk=data["change"], request=obj).first()
    if change is None:
        raise ValidationError({"change": [gettext("This correction is not part of the request.")]})
    apply = data["decision"] == "apply"
    services.rights_request_decide_rectification(change=change, apply=apply, reason=data["reason"], by=user)
    return (gettext("Correction of “%(field)s” approved.") if apply
            else gettext("Correction of “%(field)s” refused.")) % {"field": field_label(change.field)}


def _do_confirm_task(obj, data, user):
    task = RecipientTask.objects.filter(pk=data["task"], request=obj).first()
    if task is None:
        raise ValidationError({"task": [gettext("This task is not part of the request.")]})
    services.recipient_task_confirm(task=task, by=user, note=data["note"])
    return gettext("Task for %(name)s confirmed.") % {"name": task.name}


def _do_close_override(obj, data, user):
    services.rights_request_close_with_open_tasks(request=obj, reason=data["reason"], by=user)
    return gettext("Request closed with open recipient tasks; the reason is kept.")


@dataclass(frozen=True)
class Action:
    form: type[forms.Form]
    run: Callable[[RightsRequest, dict, Any], str]
    # The form field whose value tells which row of the page the form belongs to (contact, task…).
    key_field: str = ""
    dpo_only: bool = False


ACTIONS: dict[str, Action] = {
    "assign": Action(AssignForm, _do_assign),
    "start": Action(StartForm, _do_start),
    "verify": Action(VerifyForm, _do_verify),
    "mandate": Action(MandateForm, _do_mandate),
    "add_contact": Action(ContactAddForm, _do_add_contact, key_field="contact"),
    "remove_contact": Action(ContactRemoveForm, _do_remove_contact, key_field="contact"),
    "ask": Action(AskForm, _do_ask),
    "extend": Action(ExtendForm, _do_extend),
    "reject": Action(RejectForm, _do_reject),
    "fulfil": Action(FulfilForm, _do_fulfil),
    "rectification": Action(RectificationForm, _do_rectification, key_field="change"),
    "confirm_task": Action(TaskConfirmForm, _do_confirm_task, key_field="task"),
    "close_override": Action(CloseOverrideForm, _do_close_override, dpo_only=True),
}


def attach_service_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's refusal, on the form field it names (or above the form)."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields and not form.fields[field].widget.is_hidden else None,
                           messages)
    else:
        form.add_error(None, error.messages)


def form_key(action: str, form: forms.Form) -> str:
    """Which row a bound form belongs to: its key field's value ('' for the page-wide forms)."""
    field = ACTIONS[action].key_field
    if not field:
        return ""
    return str(form.data.get(field, "")).strip()


# --- The page -----------------------------------------------------------------------------------


def field_label(name: str) -> str:
    try:
        return str(Contact._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


class _Forms:
    """Unbound forms for the page, except the one the user just posted (kept with its errors)."""

    def __init__(self, bound: tuple[str, str, forms.Form] | None) -> None:
        self.bound = bound

    def get(self, action: str, key: Any = "", initial: dict | None = None) -> forms.Form:
        if self.bound and self.bound[0] == action and self.bound[1] == str(key):
            return self.bound[2]
        return ACTIONS[action].form(initial=initial, auto_id=f"id_{action}{'_' + str(key) if key else ''}_%s")


def request_page_context(http_request, obj: RightsRequest, *,
                         bound: tuple[str, str, forms.Form] | None = None) -> dict:
    user = http_request.user
    can_act = user.has_perm(ACT_PERMISSION)
    is_open = obj.is_open
    status = obj.status
    forms_ = _Forms(bound)
    verified = obj.verified_at is not None

    links = list(RequestContact.objects.filter(request=obj).select_related("contact", "added_by").order_by("pk"))
    contacts = [{"link": link, "contact": link.contact,
                 "remove_form": forms_.get("remove_contact", link.contact_id, {"contact": link.contact_id})}
                for link in links]
    candidates = [{"contact": c.contact, "reasons": [CANDIDATE_REASONS.get(r, r) for r in c.reasons],
                   "phone_only": c.reasons == ["phone"],
                   "form": forms_.get("add_contact", c.contact.pk, {"contact": c.contact.pk})}
                  for c in selectors.request_candidates(request=obj)]
    candidate_ids = {str(c["contact"].pk) for c in candidates}
    other_add_key = ""
    if bound and bound[0] == "add_contact" and bound[1] not in candidate_ids:
        other_add_key = bound[1]  # a contact typed by number, not in the candidates
    add_other_form = forms_.get("add_contact", other_add_key) if other_add_key else ACTIONS["add_contact"].form(
        auto_id="id_add_contact_other_%s")

    rectifications = []
    if obj.kind == Kind.RECTIFICATION:
        rows_by_change: dict[int, list] = {}
        for row in selectors.rectification_diff(request=obj):
            rows_by_change.setdefault(row.change.pk, []).append(row)
        for change in obj.rectifications.select_related("decided_by"):
            rectifications.append({
                "change": change, "field": field_label(change.field), "rows": rows_by_change.get(change.pk, []),
                "form": forms_.get("rectification", change.pk, {"change": change.pk}),
            })
    may_decide = status in (Status.VERIFIED, Status.IN_PROGRESS, Status.AWAITING_REQUESTER)

    tasks = [{"task": task, "form": forms_.get("confirm_task", task.pk, {"task": task.pk})}
             for task in obj.recipient_tasks.select_related("confirmed_by")]
    open_tasks = any(t["task"].status == RecipientTask.TaskStatus.OPEN for t in tasks)
    job_finished = selectors.request_carried_out(request=obj)
    may_override = (can_act and services.user_may_override_tasks(user) and status == Status.IN_PROGRESS
                    and open_tasks and job_finished)

    jobs = list(selectors.request_fulfil_jobs(request=obj))
    timeline = [{"event": event, "details": event_details(event)}
                for event in selectors.request_timeline(request=obj)]
    proofs = list(obj.proofs.all())

    show = {
        "assign": can_act and is_open,
        "start": can_act and status == Status.VERIFIED,
        "verify": can_act and status in (Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.AWAITING_REQUESTER),
        "mandate": can_act and is_open and obj.on_behalf,
        "ask": can_act and status in (Status.RECEIVED, Status.VERIFIED, Status.IN_PROGRESS),
        "extend": can_act and is_open and obj.extension_months < 2,
        "reject": can_act and is_open and not job_finished,
        "fulfil": can_act and status in (Status.VERIFIED, Status.IN_PROGRESS),
        "add_contact": can_act and is_open and verified,
        "remove_contact": can_act and is_open,
        "rectification": can_act and may_decide,
        "confirm_task": can_act,
        "close_override": may_override,
    }
    return {
        "original": obj,
        "rr": obj,
        "can_act": can_act,
        "show": show,
        "urgency": urgency_badge(obj),
        "suspensions": list(obj.suspensions.all()),
        "purposes": list(obj.purposes.all()),
        "contacts": contacts,
        "candidates": candidates,
        "several_contacts": len(contacts) + len(candidates) > 1,
        "add_other_form": add_other_form,
        "rectifications": rectifications,
        "tasks": tasks,
        "open_tasks": open_tasks,
        "jobs": jobs,
        "timeline": timeline,
        "proofs": proofs,
        "pseudonymised": obj.pseudonymised_at is not None,
        "mandate_to_check": obj.on_behalf and obj.mandate_status == MandateStatus.TO_CHECK,
        "forms": {name: forms_.get(name, initial={"assignee": obj.assignee_id} if name == "assign" else None)
                  for name in ("assign", "start", "verify", "mandate", "ask", "extend", "reject", "fulfil",
                               "close_override")},
        "assign_me_allowed": handlers().filter(pk=user.pk).exists(),
        "running_job": next((job for job in jobs if job.status in (Job.Status.PENDING, Job.Status.RUNNING)), None),
    }


# --- Requests entered by staff (post, phone, desk) ------------------------------------------------


class StaffRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Right exercised"), choices=Kind.choices)
    received_via = forms.ChoiceField(label=_("Received via"), choices=STAFF_RECEIVED_VIA)
    received_at = forms.DateTimeField(
        label=_("Received at"), help_text=_("When the letter, call or visit reached us: the deadline runs from it."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    language = forms.ChoiceField(label=_("Language of the answers"), choices=RightsRequest._meta.get_field(
        "language").choices)
    requester_name = forms.CharField(label=_("Requester's name"), max_length=255)
    requester_email = forms.CharField(label=_("Email"), max_length=254, required=False)
    requester_phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    customer_reference = forms.CharField(label=_("Customer reference"), max_length=120, required=False)
    details = forms.CharField(label=_("Details of the request"), required=False,
                              widget=forms.Textarea(attrs={"rows": 4, "cols": 60}))
    purposes = forms.ModelMultipleChoiceField(
        label=_("Purposes concerned"), required=False, queryset=Purpose.objects.none(),
        help_text=_("For an objection or a restriction: the purposes concerned (none: all of them)."))
    on_behalf = forms.BooleanField(label=_("Made on behalf of someone else"), required=False)
    subject_name = forms.CharField(label=_("Person concerned"), max_length=255, required=False)
    representative_capacity = forms.ChoiceField(label=_("Capacity of the representative"), required=False,
                                                choices=[("", "—"), *Capacity.choices])
    mandate_document = forms.FileField(label=_("Proof of mandate (scan)"), required=False,
                                       validators=[validate_scanned_document],
                                       help_text=lazy(scanned_document_help_text, str)())  # in the page's language
    verify_now = forms.BooleanField(label=_("I have already verified the requester's identity"), required=False)
    verification_method = forms.ChoiceField(label=_("How"), required=False,
                                            choices=[("", "—"), *STAFF_VERIFICATION_METHODS])
    verification_note = forms.CharField(label=_("What was checked"), required=False,
                                        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    RECTIFICATION_PREFIX = "new_"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purposes"].queryset = Purpose.objects.filter(status=Purpose.Status.ACTIVE).order_by("slug")
        if not self.is_bound:
            self.initial.setdefault("received_at", timezone.localtime().replace(second=0, microsecond=0))
            self.initial.setdefault("language", "fr")
        for name in services.RECTIFIABLE_FIELDS:
            self.fields[self.RECTIFICATION_PREFIX + name] = forms.CharField(
                label=_("New value: %(field)s") % {"field": field_label(name)}, max_length=255, required=False)

    def rectification_fields(self):
        return [self[self.RECTIFICATION_PREFIX + name] for name in services.RECTIFIABLE_FIELDS]

    def main_fields(self):
        return [self[name] for name in ("kind", "received_via", "received_at", "language", "requester_name",
                                        "requester_email", "requester_phone", "customer_reference", "details",
                                        "purposes")]

    def mandate_fields(self):
        return [self[name] for name in ("on_behalf", "subject_name", "representative_capacity", "mandate_document")]

    def verification_fields(self):
        return [self[name] for name in ("verify_now", "verification_method", "verification_note")]

    def clean_received_at(self):
        value = self.cleaned_data["received_at"]
        if value > timezone.now() + timedelta(minutes=5):
            raise ValidationError(_("A request cannot be received in the future."))
        return value

    def clean(self):
        data = super().clean()
        if data.get("verify_now"):
            if not data.get("verification_method"):
                self.add_error("verification_method", _("Choose how the identity was verified."))
            if not (data.get("verification_note") or "").strip():
                self.add_error("verification_note", _("Say what was checked (document, call back on a known "
                                                      "number…)."))
        return data

    def rectifications(self) -> list[tuple[str, str]]:
        return [(name, self.cleaned_data[self.RECTIFICATION_PREFIX + name].strip())
                for name in services.RECTIFIABLE_FIELDS
                if (self.cleaned_data.get(self.RECTIFICATION_PREFIX + name) or "").strip()]

    # Service error fields → this form's fields.
    SERVICE_FIELDS = {"method": "verification_method", "note": "verification_note", "rectifications": None,
                      "status": None}

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for field, messages in error.message_dict.items():
            target = self.SERVICE_FIELDS.get(field, field)
            if target not in self.fields:
                target = None
            self.add_error(target, messages)
