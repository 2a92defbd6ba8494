"""The rights admin: the staff's list of requests (minimal personal data, urgency at a glance) and
the request page, where every change is an action calling rights.services (see admin_views)."""
from __future__ import annotations

import os
import re

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Replace
from django.http import FileResponse, Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from consent.normalise import keyed_digest, normalise_email
from registry.admin_users import UsersAsTextMixin

from . import admin_views, selectors, services
from .models import OPEN_STATUSES, RecipientTask, RightsRequest, UnverifiedRequestCount

# --- List filters ------------------------------------------------------------------------------


class OpenFilter(admin.SimpleListFilter):
    title = _("open or closed")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("closed", _("Closed"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(status__in=OPEN_STATUSES)
        if self.value() == "closed":
            return queryset.exclude(status__in=OPEN_STATUSES)
        return queryset


class DueFilter(admin.SimpleListFilter):
    title = _("due date")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [(selectors.Urgency.OVERDUE, _("Overdue")), (selectors.Urgency.DUE_SOON, _("Due within 7 days")),
                (selectors.Urgency.OK, _("Later"))]

    def queryset(self, request, queryset):
        if self.value() in (selectors.Urgency.OVERDUE, selectors.Urgency.DUE_SOON, selectors.Urgency.OK):
            return selectors.requests_by_urgency(queryset, urgency=self.value())
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        # Whoever holds a request, including someone who has left since.
        users = (get_user_model().objects.filter(assigned_rights_requests__isnull=False).distinct()
                 .order_by("username"))
        return [("mine", _("Assigned to me")), ("none", _("Unassigned"))] + [
            (str(user.pk), user.get_username()) for user in users]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.filter(assignee=request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


# --- Requests ----------------------------------------------------------------------------------


@admin.register(RightsRequest)
class RightsRequestAdmin(admin.ModelAdmin):
    # The list is what every staff member sees of every request: no name, email or phone (the
    # minimum of personal data); the details open on the request page.
    list_display = ("reference", "kind", "status", "due_on", "urgency", "assignee", "received_via")
    list_filter = (OpenFilter, "kind", "status", DueFilter, AssigneeFilter, "received_via")
    list_select_related = ("assignee",)
    search_fields = ("reference",)
    search_help_text = _("A reference (with or without dashes), or the requester's exact email address.")
    list_per_page = 50
    actions = None
    change_list_template = "rights/admin/change_list.html"

    # --- list

    def get_queryset(self, request):
        # Annotated before ordering (ModelAdmin.get_queryset would order by urgency_rank first);
        # a column sort keeps this order for ties.
        requests = selectors.requests_with_urgency_rank(self.model._default_manager.get_queryset())
        return requests.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ("urgency_rank", "due_on", "received_at")

    @admin.display(description=_("urgency"), ordering="urgency_rank")
    def urgency(self, obj):
        return admin_views.urgency_badge(obj)

    def get_search_results(self, request, queryset, search_term):
        """A reference, or an exact email address. The email never shows on the list, so the search
        reveals no more than the request page does to the same staff; an exact match only, so one
        cannot browse requesters by a fragment (a domain, a first name). A pseudonymised erasure
        request is found by the keyed digest of the email it kept."""
        term = search_term.strip()
        if not term:
            return queryset, False
        compact = re.sub(r"[^0-9A-Za-z]", "", term).upper()
        query = Q(reference__icontains=term.upper())
        if compact:
            query |= Q(_reference_compact__contains=compact)
        if "@" in term:
            try:
                email = normalise_email(term)
            except ValidationError:
                email = ""
            if email:
                query |= Q(requester_email=email) | Q(email_digest=keyed_digest(email))
        queryset = queryset.annotate(_reference_compact=Replace("reference", Value("-"), Value("")))
        return queryset.filter(query), False

    # --- permissions

    def has_change_permission(self, request, obj=None):
        # No model form ever saves a request: each change is an action on the request page, which
        # calls a service and writes the timeline (see action_view and its own permission check).
        return False

    def has_delete_permission(self, request, obj=None):
        # A request is never deleted by hand, whoever asks: it proves how a right was answered.
        # Unverified ones expire into a count, closed erasures are pseudonymised, by the services.
        return False

    def may_act(self, request) -> bool:
        return request.user.has_perm(admin_views.ACT_PERMISSION)

    # --- URLs

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/act/<slug:action>/", self.admin_site.admin_view(self.action_view),
                 name=f"{prefix}_act"),
            path("<path:object_id>/mandate/", self.admin_site.admin_view(self.mandate_view),
                 name=f"{prefix}_mandate"),
            path("<path:object_id>/proofs/<int:proof_id>/", self.admin_site.admin_view(self.proof_view),
                 name=f"{prefix}_proof"),
        ] + super().get_urls()

    def _change_url(self, obj) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                "changelist_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
                **extra}

    def _viewable(self, request, object_id) -> RightsRequest:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("No rights request has this number."))
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    # --- the request page

    def _render_page(self, request, obj, *, bound=None):
        context = self._context(
            request, title=_("Rights request %(reference)s") % {"reference": obj.reference},
            has_view_permission=True, **admin_views.request_page_context(request, obj, bound=bound))
        return TemplateResponse(request, "rights/admin/request.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        return self._render_page(request, self._viewable(request, object_id))

    def action_view(self, request, object_id, action):
        """One action of the request page: the form checked, the service called; its refusal shows
        on the page with what the user typed (never a 500)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        spec = admin_views.ACTIONS.get(action)
        if spec is None:
            raise Http404
        obj = self._viewable(request, object_id)
        if not self.may_act(request):
            raise PermissionDenied
        if spec.dpo_only and not services.user_may_override_tasks(request.user):
            raise PermissionDenied
        probe = spec.form(request.POST)
        key = admin_views.form_key(action, probe)
        form = spec.form(request.POST, auto_id=f"id_{action}{'_' + key if key else ''}_%s")
        if form.is_valid():
            try:
                message = spec.run(obj, form.cleaned_data, request.user)
            except ValidationError as exc:
                admin_views.attach_service_errors(form, exc)
            else:
                messages.success(request, message)
                return redirect(self._change_url(obj))
        # Also as a message: the form may belong to a section the page no longer shows.
        problems = " ".join(str(message) for field_errors in form.errors.values() for message in field_errors)
        messages.error(request, _("Nothing was changed: %(problems)s") % {"problems": problems})
        return self._render_page(request, self._viewable(request, object_id), bound=(action, key, form))

    def _file_response(self, field_file):
        try:
            handle = field_file.open("rb")
        except OSError:
            raise Http404(_("The file is missing from storage."))
        response = FileResponse(handle, as_attachment=True, filename=os.path.basename(field_file.name))
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def mandate_view(self, request, object_id):
        """The proof of mandate, from private storage, to users allowed to view requests."""
        if not request.user.has_perm("rights.view_rightsrequest"):
            raise PermissionDenied
        obj = self._viewable(request, object_id)
        if not obj.mandate_document:
            raise Http404(_("This request has no proof of mandate."))
        return self._file_response(obj.mandate_document)

    def proof_view(self, request, object_id, proof_id):
        """A proof (acknowledgement, certificate, refusal) as it was issued, from private storage."""
        if not request.user.has_perm("rights.view_proof"):
            raise PermissionDenied
        obj = self._viewable(request, object_id)
        proof = obj.proofs.filter(pk=proof_id).first()
        if proof is None or not proof.file:
            raise Http404(_("No such proof for this request."))
        return self._file_response(proof.file)

    # --- requests entered by staff

    def add_view(self, request, form_url="", extra_context=None):
        """A request received by post, phone, email or at the desk, entered by staff; the identity
        may be verified at once (how and what was checked are kept)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = admin_views.StaffRequestForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                # One transaction: a request whose verification is refused is not kept half-entered.
                with transaction.atomic():
                    obj = services.rights_request_create(
                        kind=data["kind"], requester_name=data["requester_name"],
                        requester_email=data["requester_email"], requester_phone=data["requester_phone"],
                        customer_reference=data["customer_reference"], details=data["details"],
                        language=data["language"], received_via=data["received_via"], purposes=data["purposes"],
                        rectifications=form.rectifications(), on_behalf=data["on_behalf"],
                        subject_name=data["subject_name"], representative_capacity=data["representative_capacity"],
                        mandate_document=data["mandate_document"], received_at=data["received_at"],
                        created_by=request.user)
                    if data["verify_now"]:
                        services.rights_request_verify_identity(request=obj, method=data["verification_method"],
                                                                note=data["verification_note"], by=request.user)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                self.log_addition(request, obj, [{"added": {}}])
                messages.success(request, _("Request %(reference)s recorded, due on %(day)s.")
                                 % {"reference": obj.reference, "day": obj.due_on.isoformat()})
                return redirect(self._change_url(obj))
        context = self._context(request, title=_("Enter a request received by post, phone or in person"),
                                form=form, **(extra_context or {}))
        return TemplateResponse(request, "rights/admin/add_form.html", context)


# --- Read-only lists -----------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the services only; read here, acted on from the request page."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RecipientTask)
class RecipientTaskAdmin(UsersAsTextMixin, ReadOnlyAdmin):
    user_fields = ("confirmed_by",)
    list_display = ("name", "request_link", "mode", "status", "notified_at", "confirmed_by", "confirmed_at")
    list_filter = ("status", "mode")
    list_select_related = ("request", "confirmed_by")
    search_fields = ("request__reference", "name")
    fields = ("request_link", "name", "recipient", "processor", "mode", "status", "notified_at", "confirmed_by",
              "confirmed_at", "note")
    readonly_fields = fields

    @admin.display(description=_("request"), ordering="request__reference")
    def request_link(self, obj):
        url = reverse("admin:rights_rightsrequest_change", args=[obj.request_id])
        return format_html('<a href="{}#tasks">{}</a>', url, obj.request.reference)


@admin.register(UnverifiedRequestCount)
class UnverifiedRequestCountAdmin(ReadOnlyAdmin):
    """What is left of web requests never confirmed by their email link: a count per month and kind."""

    list_display = ("month_label", "kind", "count")
    list_filter = ("kind",)
    fields = ("month", "kind", "count")
    readonly_fields = fields

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj):
        return obj.month.strftime("%Y-%m")
