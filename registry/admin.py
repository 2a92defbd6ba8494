"""The DPO's admin for the register. Writes on purposes go through registry.services."""
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import selectors, services
from .admin_users import HistoryAdmin, UsersAsTextMixin
from .forms import PurposeAdminForm
from .models import (
    ActivityDataCategory,
    Channel,
    Country,
    DataCategory,
    DataSubjectCategory,
    Job,
    LegalBasis,
    Organisation,
    ProcessingActivity,
    Processor,
    Purpose,
    PurposeVersion,
    Recipient,
    RecipientType,
    SecurityMeasure,
    Transfer,
    TransferSafeguard,
)
from .readable import readable_html


class ReferenceAdmin(HistoryAdmin):
    list_display = ("code", "label_fr", "label_en", "dpv_concept")
    search_fields = ("code", "label_fr", "label_en")


@admin.register(DataSubjectCategory, RecipientType)
class PlainReferenceAdmin(ReferenceAdmin):
    pass


@admin.register(DataCategory)
class DataCategoryAdmin(ReferenceAdmin):
    list_display = ("code", "label_fr", "label_en", "cnil_group", "special_category", "dpv_concept")
    list_filter = ("cnil_group", "special_category")


@admin.register(SecurityMeasure)
class SecurityMeasureAdmin(ReferenceAdmin):
    list_display = ("code", "label_fr", "label_en", "kind")
    list_filter = ("kind",)


@admin.register(TransferSafeguard)
class TransferSafeguardAdmin(ReferenceAdmin):
    list_display = ("code", "label_fr", "label_en", "gdpr_article", "is_valid")
    list_filter = ("is_valid",)


@admin.register(Country)
class CountryAdmin(ReferenceAdmin):
    list_display = ("label_fr", "label_en", "iso_code", "adequacy", "adequacy_decision")
    list_filter = ("adequacy",)


@admin.register(Channel)
class ChannelAdmin(ReferenceAdmin):
    list_display = ("code", "label_fr", "label_en", "electronic", "dpv_concept")


@admin.register(Recipient)
class RecipientAdmin(HistoryAdmin):
    list_display = ("name", "recipient_type", "country", "notification_email")
    list_filter = ("recipient_type", "country__adequacy")
    search_fields = ("name", "description")


@admin.register(Processor)
class ProcessorAdmin(HistoryAdmin):
    list_display = ("name", "service", "country", "contract_signed_on")
    list_filter = ("country__adequacy",)
    search_fields = ("name", "service")


@admin.register(Organisation)
class OrganisationAdmin(HistoryAdmin):
    list_display = ("name", "siren", "city", "dpo_name", "dpo_email")
    fieldsets = (
        (_("Controller"), {"fields": ("name", "legal_form", "siren", "address", "postal_code", "city", "country",
                                      "email", "phone", "head_name")}),
        (_("EU representative (controllers outside the EU)"), {
            "classes": ("collapse",),
            "fields": ("representative_name", "representative_address", "representative_email"),
        }),
        (_("Data protection officer"), {"fields": ("dpo_name", "dpo_company", "dpo_address", "dpo_postal_code",
                                                   "dpo_city", "dpo_email", "dpo_phone", "cnil_dpo_designation")}),
    )

    def has_add_permission(self, request):
        # One organisation keeps this register.
        return super().has_add_permission(request) and not Organisation.objects.exists()


class PurposeInline(admin.StackedInline):
    model = Purpose
    form = PurposeAdminForm
    extra = 0
    show_change_link = True
    fields = (
        ("slug", "status", "position"),
        ("name_fr", "name_en"),
        ("text_fr", "text_en"),
        ("change_kind", "change_note"),
        ("legal_basis", "dpv_purpose", "direct_marketing"),
        ("legitimate_interest", "legitimate_interest_en"),
        ("channels", "data_subject_categories"),
        ("retention_months", "retention_start"),
        ("retention_note", "retention_note_en"),
        "consent_validity_months",
    )


class DataCategoryInline(admin.TabularInline):
    model = ActivityDataCategory
    extra = 0
    # Each English text beside its French one, which the CNIL exports keep.
    fields = ("category", "description", "description_en", "retention", "retention_en")


class TransferInline(admin.TabularInline):
    model = Transfer
    extra = 0


class TransferFilter(admin.SimpleListFilter):
    title = _("transfers outside the EU")
    parameter_name = "transfers"

    def lookups(self, request, model_admin):
        return [("yes", _("With transfers")), ("no", _("Without transfers")),
                ("unsafe", _("Transfer without a valid safeguard"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(transfers__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(transfers__isnull=True)
        if self.value() == "unsafe":
            ids = [t.activity_id for t in Transfer.objects.select_related("country", "safeguard")
                   if selectors.transfer_needs_safeguard(transfer=t)]
            return queryset.filter(pk__in=ids)
        return queryset


class LegalBasisFilter(admin.SimpleListFilter):
    title = _("legal basis")
    parameter_name = "legal_basis"

    def lookups(self, request, model_admin):
        return LegalBasis.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(purposes__legal_basis=self.value()).distinct()
        return queryset


class SpecialCategoryFilter(admin.SimpleListFilter):
    title = _("special categories (Art. 9)")
    parameter_name = "special"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        special = Q(data_categories__special_category=True)
        if self.value() == "yes":
            return queryset.filter(special).distinct()
        if self.value() == "no":
            return queryset.exclude(special)
        return queryset


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(HistoryAdmin):
    list_display = ("reference", "name", "status", "legal_bases", "special_data", "transfer_count", "completeness")
    list_display_links = ("reference", "name")
    list_filter = ("status", LegalBasisFilter, SpecialCategoryFilter, TransferFilter, "dpia_required",
                   "data_subject_categories")
    search_fields = ("reference", "name", "name_en", "description", "purposes__name_fr", "purposes__name_en", "purposes__slug")
    filter_horizontal = ("data_subject_categories", "recipients", "processors", "security_measures")
    inlines = (PurposeInline, DataCategoryInline, TransferInline)
    fieldsets = (
        (None, {"fields": ("reference", ("name", "name_en"), "description", "status", "role", "owner_department",
                           "joint_controllers", "started_on", "data_source")}),
        (_("People and recipients"), {"fields": ("data_subject_categories", "recipients", "processors")}),
        (_("Security and impact assessment"), {"fields": ("security_measures", "security_details",
                                                          "dpia_required", "dpia_done_on")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            "purposes", "transfers__country", "transfers__safeguard"
        ).annotate(special_count=Count("data_categories", filter=Q(data_categories__special_category=True)))

    @admin.display(description=_("legal bases"))
    def legal_bases(self, obj):
        return ", ".join(sorted({p.get_legal_basis_display() for p in obj.purposes.all() if p.legal_basis}))

    @admin.display(description=_("Art. 9 data"), boolean=True)
    def special_data(self, obj):
        return obj.special_count > 0

    @admin.display(description=_("transfers"))
    def transfer_count(self, obj):
        return len(obj.transfers.all())

    @admin.display(description=_("completeness"))
    def completeness(self, obj):
        problems = selectors.activity_completeness_problems(activity=obj)
        if not problems:
            return mark_safe('<span class="dpo-complete">✔</span>')
        return format_html('<span class="dpo-incomplete" title="{}">⚠ {}</span>', "; ".join(problems), problems[0])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        activity = self.get_object(request, object_id)
        if activity is not None and request.method == "GET":
            problems = selectors.activity_completeness_problems(activity=activity)
            if problems:
                messages.warning(request, _("This activity is incomplete: %(problems)s.") % {
                    "problems": "; ".join(problems)})
        return super().change_view(request, object_id, form_url, extra_context)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the purposes' inline forms, which would otherwise set them back to active.
        retired = services.activity_retire_purposes(activity=form.instance)
        if retired:
            messages.info(request, ngettext(
                "The activity is retired: so is its active purpose, whose consents will lapse.",
                "The activity is retired: so are its %(count)d active purposes, whose consents will lapse.",
                retired) % {"count": retired})

    def save_formset(self, request, form, formset, change):
        if formset.model is not Purpose:
            return super().save_formset(request, form, formset, change)
        # The admin's change message reads these three lists, which formset.save() would fill.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms:
                if inline_form.instance.pk:
                    formset.deleted_objects.append(inline_form.instance)
                    inline_form.instance.delete()
                continue
            if not inline_form.has_changed():
                continue
            created = inline_form.instance.pk is None
            purpose = purpose_save_from_form(inline_form, user=request.user, activity=form.instance)
            if created:
                formset.new_objects.append(purpose)
            else:
                formset.changed_objects.append((purpose, inline_form.changed_data))

def purpose_save_from_form(form: PurposeAdminForm, *, user, activity=None):
    """One path for the purpose admin page and the activity inline: the versioning services."""
    data = {name: value for name, value in form.cleaned_data.items()
            if name not in {"id", "DELETE", "change_kind", "change_note", "channels", "data_subject_categories"}}
    if activity is not None:
        data["activity"] = activity
    relations = {"channels": form.cleaned_data.get("channels", []),
                 "data_subject_categories": form.cleaned_data.get("data_subject_categories", [])}
    if form.instance.pk is None:
        return services.purpose_create(user=user, **relations, **data)
    return services.purpose_update(purpose=form.instance, user=user, change_kind=form.cleaned_data.get("change_kind", ""),
                                   change_note=form.cleaned_data.get("change_note", ""), **relations, **data)


class PurposeVersionInline(UsersAsTextMixin, admin.TabularInline):
    model = PurposeVersion
    user_fields = ("created_by",)
    extra = 0
    can_delete = False
    fields = ("version", "change_kind", "change_note", "name_fr", "text_fr", "text_en", "created_at", "created_by")
    readonly_fields = fields
    ordering = ("-version",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Purpose)
class PurposeAdmin(HistoryAdmin):
    form = PurposeAdminForm
    list_display = ("slug", "name_fr", "activity", "legal_basis", "version", "direct_marketing", "channel_list", "status")
    list_filter = ("legal_basis", "status", "direct_marketing", "channels", "activity__status")
    search_fields = ("slug", "name_fr", "name_en", "text_fr", "text_en", "activity__reference", "activity__name")
    filter_horizontal = ("channels", "data_subject_categories")
    readonly_fields = ("version",)
    inlines = (PurposeVersionInline,)
    fieldsets = (
        (None, {"fields": ("activity", "slug", "status", "position", "version")}),
        (_("Shown to contacts"), {"fields": ("name_fr", "name_en", "text_fr", "text_en", "change_kind", "change_note")}),
        (_("Lawfulness"), {"fields": ("legal_basis", "legitimate_interest", "legitimate_interest_en", "dpv_purpose", "direct_marketing",
                                      "consent_validity_months")}),
        (_("Reach"), {"fields": ("channels", "data_subject_categories")}),
        (_("Retention"), {"fields": ("retention_months", "retention_start", "retention_note", "retention_note_en")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("activity").prefetch_related("channels")

    @admin.display(description=_("channels"))
    def channel_list(self, obj):
        return ", ".join(c.code for c in obj.channels.all())

    def save_model(self, request, obj, form, change):
        saved = purpose_save_from_form(form, user=request.user)
        form.instance = saved

    def save_related(self, request, form, formsets, change):
        # Channels and categories were set by the service; only the (read-only) inlines remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class JobKindFilter(admin.SimpleListFilter):
    """The kinds by their labels (the stored codes mean nothing to the DPO)."""

    title = Job._meta.get_field("kind").verbose_name
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return selectors.job_kind_choices()

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(Job)
class JobAdmin(UsersAsTextMixin, admin.ModelAdmin):
    user_fields = ("requested_by",)
    list_display = ("id", "kind_label", "status", "progress_bar", "attempts", "requested_by", "created_at",
                    "finished_at", "download")
    list_filter = ("status", JobKindFilter)
    readonly_fields = ("kind_label", "status", "progress_bar", "readable_params", "readable_counts", "error",
                       "attempts", "requested_by", "created_at", "enqueued_at", "started_at", "heartbeat_at",
                       "finished_at", "download")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=Job._meta.get_field("kind").verbose_name, ordering="kind")
    def kind_label(self, obj):
        return selectors.job_kind_label(obj.kind)

    @admin.display(description=_("progress"))
    def progress_bar(self, obj):
        return format_html('<progress value="{}" max="100">{} %</progress> {} %', obj.progress, obj.progress,
                           obj.progress)

    @admin.display(description=Job._meta.get_field("params").verbose_name)
    def readable_params(self, obj):
        return readable_html(obj.params) or self.get_empty_value_display()

    @admin.display(description=Job._meta.get_field("counts").verbose_name)
    def readable_counts(self, obj):
        return readable_html(obj.counts) or self.get_empty_value_display()

    @admin.display(description=_("output"))
    def download(self, obj):
        url = selectors.job_download_url(job=obj)
        if not url:
            return "—"
        return format_html('<a class="job-download" href="{}">{}</a>', url, obj.output_name or _("download"))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        job = self.get_object(request, object_id) if object_id else None
        if job is not None and job.status in (Job.Status.PENDING, Job.Status.RUNNING):
            extra_context = {**(extra_context or {}), "refresh_seconds": 2}
        return super().changeform_view(request, object_id, form_url, extra_context)

