"""The consent admin: contacts (written through consent.services), the read-only ledger and the
tables derived from it, and the suppression lists (digests only, filled through the services)."""
from __future__ import annotations

import os

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import get_language, ngettext

from registry.admin_users import HistoryAdmin, UsersAsTextMixin

from . import ledger, selectors, services
from .forms import CollectionFormItemForm, ConsentImportForm, ContactAdminForm, SuppressionAddForm, SuppressionImportForm
from .labels import REASON_LABELS, status_label
from .models import (
    CollectionForm,
    CollectionFormItem,
    ConsentEvent,
    ConsentState,
    Contact,
    Notice,
    SuppressionEntry,
)
from .normalise import normalise_email, normalise_phone

# --- Writes through the services, errors as form errors ---------------------------------------


class _ServiceRefused(Exception):
    def __init__(self, error: ValidationError) -> None:
        super().__init__(error)
        self.error = error


class ServiceWriteAdminMixin:
    """For admins whose save_model calls a service: a ValidationError from the service is shown
    as form errors (never a 500). The admin's changeform transaction rolls the attempt back; the
    view then runs again with the service's errors attached to the form, which makes it invalid
    and re-renders it with everything the user typed."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        error = getattr(request, "_consent_service_error", None)
        if error is not None:
            form = type(form.__name__, (form,), {"service_error": error})
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _ServiceRefused as refused:
            request._consent_service_error = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes here, superusers included: the rows are the ledger or derived from it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Contacts -----------------------------------------------------------------------------


class ContactImportAdminMixin:
    """Adds ``<contact changelist>/import/``: upload a CSV of contacts and their consents; the
    ``consent_import`` job validates and writes it, and the user lands on the job's page."""

    import_permissions = ("consent.add_contact", "consent.add_consentevent")

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_consents_view),
                 name=f"{self.opts.app_label}_{self.opts.model_name}_import"),
        ] + super().get_urls()

    def import_consents_view(self, request):
        if not request.user.has_perms(self.import_permissions):
            raise PermissionDenied
        form = ConsentImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = services.consent_import_start(file_name=upload.name, content=upload.read(),
                                                    valid_rows_only=form.cleaned_data["valid_rows_only"],
                                                    requested_by=request.user, language=get_language())
            except ValidationError as exc:
                form.add_error("file", exc.message_dict.get("file", exc.messages) if hasattr(exc, "error_dict")
                               else exc.messages)
            else:
                messages.success(request, _("The import of %(name)s is running as job #%(id)d: its page shows the "
                                            "progress and, at the end, the per-line report.")
                                 % {"name": upload.name, "id": job.pk})
                return redirect(reverse("admin:registry_job_change", args=[job.pk]))
        changelist_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                   "changelist_url": changelist_url, "title": _("Import contacts and consents"), "form": form}
        return TemplateResponse(request, "admin/consent/import_consents.html", context)




def contact_current_consents(contact: Contact) -> list[dict]:
    """The overview of selectors.contact_consent_overview, with labels for the page."""
    return [
        {
            "purpose": row.purpose, "channel": row.channel, "allowed": row.result.allowed,
            "status": row.result.status, "status_label": status_label(row.result.status),
            "reason": row.result.reason, "reason_label": REASON_LABELS.get(row.result.reason, row.result.reason),
            "regime": row.result.regime, "since": row.result.since, "expires_at": row.result.expires_at,
            "last_event": row.state.last_event if row.state else None,
        }
        for row in selectors.contact_consent_overview(contact=contact)
    ]


@admin.register(Contact)
class ContactAdmin(ContactImportAdminMixin, ServiceWriteAdminMixin, HistoryAdmin):
    form = ContactAdminForm
    list_display = ("display_name", "email", "phone", "external_ref", "source", "categories", "restricted",
                    "anonymised")
    list_display_links = ("display_name", "email")
    list_filter = ("restricted", "data_subject_categories", "source", "language")
    search_fields = ("email", "phone", "first_name", "last_name", "external_ref")
    filter_horizontal = ("data_subject_categories",)
    readonly_fields = ("anonymised_at", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": (("first_name", "last_name"), "email", "phone", "language")}),
        (_("Postal address"), {"fields": ("address_line1", "address_line2", ("postal_code", "city"), "country")}),
        (_("Collection"), {"fields": ("external_ref", "source", "collected_at", "data_subject_categories")}),
        (_("Status"), {"fields": ("restricted", "anonymised_at", ("created_at", "updated_at"))}),
    )
    add_fieldsets = fieldsets[:3]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("data_subject_categories")

    def get_fieldsets(self, request, obj=None):
        # contact_create takes no restriction: Art. 18 applies to a contact that already exists.
        return self.add_fieldsets if obj is None else self.fieldsets

    @admin.display(description=_("name"), ordering="last_name")
    def display_name(self, obj):
        if obj.anonymised_at:
            return str(obj)
        return f"{obj.first_name} {obj.last_name}".strip() or "—"

    @admin.display(description=_("categories"))
    def categories(self, obj):
        return ", ".join(str(category) for category in obj.data_subject_categories.all())

    @admin.display(description=_("anonymised"), boolean=True, ordering="anonymised_at")
    def anonymised(self, obj):
        return obj.anonymised_at is not None

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        exact = Q()
        # Stored values are in normal form: '06 12 34 56 78' finds '+33612345678'.
        for field, normalise in (("email", normalise_email), ("phone", normalise_phone)):
            try:
                value = normalise(term)
            except ValidationError:
                continue
            if value:
                exact |= Q(**{field: value})
        if exact:
            results = results | queryset.filter(exact)
        return results, may_have_duplicates

    def has_change_permission(self, request, obj=None):
        # An anonymised contact is kept for the proofs only: it is read, never changed again.
        if obj is not None and obj.anonymised_at:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Contacts leave through the erasure of a rights request (anonymisation), which keeps the
        # ledger and its proofs; a deletion here would bypass it.
        return False

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # Reverting would write old personal data back around contact_update.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contact = self.get_object(request, unquote(object_id))
        if contact is not None and self.has_view_or_change_permission(request, contact):
            extra_context = {
                **(extra_context or {}),
                "consent_timeline": selectors.contact_consent_timeline(contact=contact),
                "current_consents": contact_current_consents(contact),
                "duplicate_candidates": selectors.contact_duplicate_candidates(contact=contact),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        names = services.CONTACT_FIELDS + (("restricted",) if change else ())
        fields = {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}
        categories = form.cleaned_data.get("data_subject_categories")
        try:
            if change:
                obj._history_user = request.user
                saved = services.contact_update(contact=obj, data_subject_categories=categories, **fields)
            else:
                saved = services.contact_create(data_subject_categories=categories, **fields)
        except ValidationError as exc:
            raise _ServiceRefused(exc) from exc
        if saved is not obj:  # the admin logs and redirects with the object it built
            obj.pk = saved.pk
            obj.refresh_from_db()
            obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # The service set the categories; form.save_m2m() would set them again, around it.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


# --- The ledger and what derives from it --------------------------------------------------


@admin.register(ConsentEvent)
class ConsentEventAdmin(UsersAsTextMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    user_fields = ("recorded_by",)
    list_display = ("sequence", "effective_at", "contact", "purpose", "purpose_version", "channel", "action",
                    "method", "recorded_by", "short_hash")
    list_display_links = ("sequence", "effective_at")
    list_filter = ("action", "method", "purpose", "channel")
    list_select_related = ("contact", "purpose", "channel", "recorded_by")
    search_fields = ("^hash", "idempotency_key", "contact__email", "contact__external_ref")
    ordering = ("-sequence",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("sequence", "contact", ("purpose", "purpose_version"), "channel", "action", "method",
                           ("effective_at", "recorded_at"), "collection_form", "recorded_by", "idempotency_key")}),
        (_("Notice shown"), {"fields": ("notice", "notice_text")}),
        (_("Evidence"), {"fields": ("evidence_ip", "evidence_user_agent", "evidence_note", "evidence_document_link",
                                    "evidence_digest")}),
        (_("Hash chain"), {"fields": ("previous_hash", "hash", "chain_check")}),
    )
    # The scanned document is never a plain field: private storage has no URL (see evidence_view).
    readonly_fields = tuple(
        name for _title, options in fieldsets for line in options["fields"]
        for name in (line if isinstance(line, tuple) else (line,))
    )

    def get_urls(self):
        return [
            path("<path:object_id>/evidence/", self.admin_site.admin_view(self.evidence_view),
                 name=f"{self.opts.app_label}_{self.opts.model_name}_evidence"),
        ] + super().get_urls()

    def evidence_view(self, request, object_id):
        """The scanned document, from private storage, to users allowed to view the ledger."""
        if not request.user.has_perm("consent.view_consentevent"):
            raise PermissionDenied
        event = self.get_object(request, unquote(object_id))
        if event is None or not event.evidence_document:
            raise Http404(_("This event has no evidence document."))
        try:
            handle = event.evidence_document.open("rb")
        except OSError:
            raise Http404(_("The evidence document is missing from storage."))
        response = FileResponse(handle, as_attachment=True, filename=os.path.basename(event.evidence_document.name))
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.display(description=_("hash"))
    def short_hash(self, obj):
        return format_html("<code>{}…</code>", obj.hash[:12])

    @admin.display(description=_("notice text"))
    def notice_text(self, obj):
        if not obj.notice_id:
            return "—"
        return format_html('<pre class="dpo-notice" style="white-space:pre-wrap">{}</pre>', obj.notice.text)

    @admin.display(description=_("scanned document"))
    def evidence_document_link(self, obj):
        if not obj.evidence_document:
            return "—"
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_evidence", args=[obj.pk])
        return format_html('<a class="evidence-download" href="{}">{}</a>', url,
                           os.path.basename(obj.evidence_document.name))

    @admin.display(description=_("chain check"))
    def chain_check(self, obj):
        before = (ConsentEvent.objects.filter(sequence__lt=obj.sequence).order_by("-sequence")
                  .values_list("hash", flat=True).first())
        problems = []
        if obj.previous_hash != (before or ledger.GENESIS_HASH):
            problems.append(_("the previous hash is not the hash of the event before"))
        if ledger.event_hash(obj, obj.previous_hash) != obj.hash:
            problems.append(_("the content does not match its hash"))
        if problems:
            return format_html('<strong class="dpo-incomplete">✘ {}</strong>', "; ".join(str(p) for p in problems))
        return format_html('<span class="dpo-complete">✔ {}</span>', _("this event matches its hash and the chain"))


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("short_sha", "language", "created_at", "excerpt")
    list_filter = ("language",)
    search_fields = ("^sha256", "text")
    fields = ("sha256", "language", "created_at", "text")
    readonly_fields = fields

    @admin.display(description=_("SHA-256"), ordering="sha256")
    def short_sha(self, obj):
        return format_html("<code>{}…</code>", obj.sha256[:12])

    @admin.display(description=_("text"))
    def excerpt(self, obj):
        text = " ".join(obj.text.split())
        return text if len(text) <= 100 else text[:99] + "…"


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    def get_urls(self):
        from .admin_stats import consent_stats_view

        return [path("stats/", self.admin_site.admin_view(consent_stats_view), name="consent_stats"),
                *super().get_urls()]

    list_display = ("contact", "purpose", "channel", "status", "purpose_version", "since", "expires_at",
                    "last_event_link")
    list_filter = ("status", "purpose", "channel")
    list_select_related = ("contact", "purpose", "channel", "last_event")
    search_fields = ("contact__email", "contact__external_ref", "contact__last_name")
    fields = ("contact", "purpose", "channel", "status", "purpose_version", "since", "expires_at", "last_event")
    readonly_fields = fields

    @admin.display(description=_("last event"), ordering="last_event__sequence")
    def last_event_link(self, obj):
        url = reverse("admin:consent_consentevent_change", args=[obj.last_event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.last_event.sequence)


# --- Suppression lists --------------------------------------------------------------------


@admin.register(SuppressionEntry)
class SuppressionEntryAdmin(admin.ModelAdmin):
    list_display = ("digest_prefix", "channel", "source", "created_at", "note")
    list_filter = ("channel", "source")
    search_fields = ("^digest",)
    fields = ("channel", "digest", "source", "note", "created_at")
    readonly_fields = fields

    @admin.display(description=_("keyed digest"), ordering="digest")
    def digest_prefix(self, obj):
        return format_html("<code>{}…</code>", obj.digest[:12])

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view),
                 name=f"{self.opts.app_label}_{self.opts.model_name}_import"),
        ] + super().get_urls()

    def _changelist_url(self) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                "changelist_url": self._changelist_url(), **extra}

    def add_view(self, request, form_url="", extra_context=None):
        """One address or number, typed once: only its keyed digest is written."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuppressionAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                entry, created = services.suppression_add(channel=data["channel"], value=data["value"],
                                                          source=data["source"], note=data["note"])
            except ValidationError as exc:
                form.add_error("value", exc)
            else:
                if created:
                    self.log_addition(request, entry, [{"added": {}}])
                    messages.success(request, _("Added to the %(channel)s suppression list.")
                                     % {"channel": data["channel"]})
                else:
                    messages.info(request, _("Already on the %(channel)s suppression list.")
                                  % {"channel": data["channel"]})
                return redirect(self._changelist_url())
        context = self._context(request, title=_("Add to a suppression list"), form=form, **(extra_context or {}))
        return TemplateResponse(request, "admin/consent/suppressionentry/add_form.html", context)

    def import_view(self, request):
        """An opposition list file: every line checked first; nothing written if one is bad."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuppressionImportForm(request.POST or None, request.FILES or None)
        rejected: list[tuple[int, str]] = []
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            report = services.suppression_import(channel=data["channel"], lines=form.lines(), source=data["source"],
                                                 note=data["note"])
            if report.rejected:
                rejected = report.rejected
                messages.error(request, ngettext(
                    "Nothing was imported: %(count)d line is not valid. Correct it and import the file again.",
                    "Nothing was imported: %(count)d lines are not valid. Correct them and import the file again.",
                    len(rejected)) % {"count": len(rejected)})
            else:
                if report.added or report.already_present:
                    messages.success(request, _(
                        "Opposition list imported on %(channel)s: %(added)d added, %(present)d already on the list."
                    ) % {"channel": data["channel"], "added": report.added, "present": report.already_present})
                else:
                    messages.warning(request, _("The file holds no address or number: nothing was imported."))
                return redirect(self._changelist_url())
        context = self._context(request, title=_("Import an opposition list"), form=form, rejected=rejected)
        return TemplateResponse(request, "admin/consent/suppressionentry/import_form.html", context)


class CollectionFormItemInline(admin.TabularInline):
    model = CollectionFormItem
    form = CollectionFormItemForm
    extra = 1


@admin.register(CollectionForm)
class CollectionFormAdmin(HistoryAdmin):
    """The DPO's collection forms: boxes (purpose x channel), double opt-in, public or staff-only.
    The notice shown on the form is generated from the register (see it on the change page)."""

    list_display = ("name_fr", "name_en", "slug", "public", "double_opt_in", "require_age_15", "active", "links")
    list_filter = ("public", "double_opt_in", "active")
    search_fields = ("name_fr", "name_en", "slug")
    inlines = (CollectionFormItemInline,)
    readonly_fields = ("notice_preview",)
    fields = ("name_fr", "name_en", "slug", "public", "double_opt_in", "require_age_15", "active", "introduction_fr",
              "introduction_en", "notice_preview")

    @admin.display(description=_("pages"))
    def links(self, obj):
        staff = reverse("consent:staff-form", args=[obj.slug])
        if obj.public:
            return format_html('<a href="{}">{}</a> · <a href="{}">{}</a>', reverse("consent:public-form",
                               args=[obj.slug]), _("public"), staff, _("staff"))
        return format_html('<a href="{}">{}</a>', staff, _("staff"))

    @admin.display(description=_("Art. 13 notice shown (generated from the register)"))
    def notice_preview(self, obj):
        from .notices import form_notice_text

        if not obj.pk:
            return "—"
        return format_html('<div style="white-space:pre-line;max-width:60em">{}</div>',
                           form_notice_text(form=obj, language="fr"))
