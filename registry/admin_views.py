"""Admin pages beside the model admins: the data map and the register export."""
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from . import services
from .datamap import datamap
from .exports import DIRECT_FORMATS, register_export
from .forms import RegisterExportForm
from .models import DataCategory, Purpose


def datamap_view(request):
    if not request.user.has_perm("registry.view_processingactivity"):
        raise PermissionDenied
    categories = {c.code: c for c in DataCategory.objects.all()}
    purposes = {p.slug: p for p in Purpose.objects.select_related("activity")}
    sources = []
    for source in datamap.sources():
        meta = source.model._meta
        sources.append({
            "label": source.label,
            "verbose_name": meta.verbose_name,
            "description": source.description,
            "history_table": source.history_model._meta.db_table if source.history_model else "",
            "table": meta.db_table,
            "fields": [
                {
                    "name": name,
                    "verbose_name": meta.get_field(name).verbose_name,
                    "category": categories.get(spec.category) or spec.category,
                    "anonymise": spec.anonymise.describe(),
                    "export": spec.export,
                }
                for name, spec in source.fields.items()
            ],
            "purposes": [purposes.get(slug) or slug for slug in source.purposes],
        })
    context = {
        **admin.site.each_context(request),
        "title": _("Data map"),
        "sources": sources,
        "exemptions": [{"label": e.model._meta.label, "reason": e.reason} for e in datamap.exemptions()],
    }
    return TemplateResponse(request, "admin/registry/datamap.html", context)


def register_export_view(request):
    """Download the register as CSV, ODS or JSON-LD at once, or start the PDF job."""
    if not request.user.has_perm("registry.view_processingactivity"):
        raise PermissionDenied
    form = RegisterExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        fmt = form.cleaned_data["format"]
        if fmt in DIRECT_FORMATS:
            export = register_export(fmt=fmt)
            response = HttpResponse(export.content, content_type=export.content_type)
            response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
            return response
        if not request.user.has_perm("registry.add_job"):
            raise PermissionDenied
        job = services.job_create(kind="register_pdf", params={"language": request.LANGUAGE_CODE},
                                  requested_by=request.user)
        messages.success(request, _("The register PDF is being prepared (job #%(id)s).") % {"id": job.pk})
        return redirect(reverse("admin:registry_job_change", args=[job.pk]))
    context = {**admin.site.each_context(request), "title": _("Export the register"), "form": form}
    return TemplateResponse(request, "admin/registry/register_export.html", context)
